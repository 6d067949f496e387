using System.Numerics;
using CudnnRnn.Testing;
using CudnnRnn.Verification;
using Xunit;

namespace CudnnRnn.OpenCL.Tests;

/// <summary>
/// Every golden case in Float16 and BFloat16 on the OpenCL engine runs in <see cref="OpenClConformanceTests"/> (inherited
/// from EngineConformance: against the CPU float64 result of the rounded inputs with HalfPrecision's derived tolerances,
/// and the OpenCL 16-bit plans against the CPU 16-bit reference on the random configurations). Here: that the shared
/// 16-bit golden check rejects a wrong OpenCL value a few storage ulps off.
/// </summary>
public sealed class OpenCl16GoldenTests
{
    [Fact]
    public void GoldenCheck_RejectsThreeUlpsOnOneElement_Float16() => AssertCheckRejectsCorruption<Half>();

    [Fact]
    public void GoldenCheck_RejectsThreeUlpsOnOneElement_BFloat16() => AssertCheckRejectsCorruption<BFloat16>();

    private static void AssertCheckRejectsCorruption<T16>() where T16 : unmanaged, IFloatingPointIeee754<T16>
    {
        var engine = SharedOpenCl.Require();
        var g = GoldenCase.Load(SharedData.Path("golden", "p00_rnn_tanh_L1uni_fixed_bias.json"));
        var dt = RnnDescriptor.DataTypeOf<T16>();
        double u = HalfPrecision.UnitRoundoff(dt);
        // The shared tolerance at the largest |e| of y is rtol·(|e| + scale) = 2·rtol·|e| with rtol = r32 + u·(1 + 2·r32).
        // The engine's value is within half an ulp (+ r32) of the reference; moved three ulps it is at least 2.5 ulps off,
        // and an ulp at |v| is at least u·|v|: 2.5·u·|e| > 2·rtol·|e| when r32 is below u/8 (checked, not assumed).
        var io = new SequenceIo(g.SeqLengths, g.MaxSeqLength, RnnDataLayout.SeqMajorUnpacked);
        double r32 = Tolerance.Relative(g.Rnn, g.MaxSeqLength, io.Descriptor(g.Rnn.InputSize).TotalSteps, Tolerance.Epsilon<float>(), backward: false);
        Assert.True(r32 < u / 8, $"precondition: float32 bound {r32:E2} well below the storage rounding {u:E2}");

        var clean = HalfPrecision.RunGolden<T16>(engine, g);
        Assert.True(clean.Passed, string.Join("; ", clean.VsRounded.Where(t => !t.Passed)));
        var bad = HalfPrecision.RunGolden<T16>(engine, g, alterActual: (name, values) =>
        {
            if (name != "y") return;
            int i = Array.IndexOf(values, values.MaxBy(Math.Abs));
            var v = T16.CreateChecked(values[i]);
            for (int k = 0; k < 3; k++) v = T16.IsNegative(v) ? T16.BitDecrement(v) : T16.BitIncrement(v);
            values[i] = double.CreateChecked(v);
        });
        var y = Assert.Single(bad.VsRounded, t => t.Name == "y");
        Assert.False(y.Passed, $"a {typeof(T16).Name} value three ulps off passed: {y}");
        Assert.All(bad.VsRounded.Where(t => t.Name != "y"), t => Assert.True(t.Passed, t.ToString()));
    }
}
