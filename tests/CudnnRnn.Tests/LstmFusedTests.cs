using System.Runtime.Intrinsics;
using CudnnRnn.Cpu;
using Xunit;

namespace CudnnRnn.Tests;

/// <summary>
/// The fused float LSTM kernel's activations against float64: accuracy over the whole useful range, the saturated ends,
/// and NaN in, NaN out (the exp clamps rely on the x86 min/max operand order for that; if a compiler ever swapped the
/// operands, NaN-poisoned reads would be silently squashed, so this is checked directly).
/// </summary>
public class LstmFusedTests
{
    private static float[] Apply(Func<Vector512<float>, Vector512<float>> f, float[] x)
    {
        var y = new float[x.Length];
        for (int i = 0; i < x.Length; i += 16)
        {
            var v = new float[16];
            Array.Copy(x, i, v, 0, Math.Min(16, x.Length - i));
            var r = f(Vector512.Create(v));
            for (int k = 0; k < 16 && i + k < x.Length; k++) y[i + k] = r[k];
        }
        return y;
    }

    private static float[] Grid()
    {
        var xs = new List<float>();
        for (double x = -30; x <= 30; x += 0.0137) xs.Add((float)x);
        foreach (float v in new[] { 0f, -0f, 1e-30f, -1e-30f, 1e-7f, 1e-4f, -1e-4f, 0.6249f, 0.625f, 0.6251f, -0.625f, 87f, -87f, 88f, -88f, 100f, -100f, 1e30f, -1e30f })
            xs.Add(v);
        return xs.ToArray();
    }

    [Fact]
    public void Sigmoid_And_Tanh_AreAccurateToAFewUlp()
    {
        if (!LstmFused.IsSupported<float>()) Assert.Skip("The fused LSTM kernels need AVX-512 (Vector512 + Avx512F), which this CPU lacks; the generic kernels run instead.");
        var x = Grid();
        var s = Apply(LstmFused.Sigmoid, x);
        var t = Apply(LstmFused.Tanh, x);
        for (int i = 0; i < x.Length; i++)
        {
            double es = 1 / (1 + Math.Exp(-(double)x[i])), et = Math.Tanh(x[i]);
            Assert.True(Math.Abs(s[i] - es) <= 4 * Ulp(es) + 1e-38, $"sigmoid({x[i]:R}) = {s[i]:R}, expected {es:R}");
            Assert.True(Math.Abs(t[i] - et) <= 4 * Ulp(et), $"tanh({x[i]:R}) = {t[i]:R}, expected {et:R}");
        }
    }

    [Fact]
    public void Sigmoid_And_Tanh_MapNaNToNaN_AndInfinitiesToTheirLimits()
    {
        if (!LstmFused.IsSupported<float>()) Assert.Skip("The fused LSTM kernels need AVX-512 (Vector512 + Avx512F), which this CPU lacks; the generic kernels run instead.");
        var x = new[] { float.NaN, -float.NaN, float.PositiveInfinity, float.NegativeInfinity };
        var s = Apply(LstmFused.Sigmoid, x);
        var t = Apply(LstmFused.Tanh, x);
        Assert.True(float.IsNaN(s[0]) && float.IsNaN(s[1]));
        Assert.True(float.IsNaN(t[0]) && float.IsNaN(t[1]));
        Assert.Equal(1f, s[2]);
        Assert.True(s[3] >= 0 && s[3] < 1e-37f);
        Assert.Equal(1f, t[2]);
        Assert.Equal(-1f, t[3]);
    }

    private static double Ulp(double v) => Math.Max(MathF.BitIncrement(MathF.Abs((float)v)) - MathF.Abs((float)v), float.Epsilon);
}
