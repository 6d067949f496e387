using CudnnRnn.Cpu;
using CudnnRnn.Training;
using CudnnRnn.Verification;
using Xunit;

namespace CudnnRnn.Training.Tests;

/// <summary>
/// The autocast pattern on the CPU engine's 16-bit path: an <see cref="AutocastRnnLayer{TLow}"/> must compute exactly
/// what a 16-bit <see cref="RnnLayer{T}"/> computes on the rounded master weights and inputs, hand the gradients back to
/// the float32 master exactly, and — with float16 — need the loss scale to keep small gradients.
/// </summary>
public sealed class AutocastRnnLayerTests : IDisposable
{
    private readonly CpuEngine _engine = CpuEngine.Create(2);

    public void Dispose() => _engine.Dispose();

    private static float[] Random(int n, double scale, ulong seed)
    {
        var rng = new SeededRandom(seed);
        var a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float)((2 * rng.NextDouble() - 1) * scale);
        return a;
    }

    private static TLow[] Round<TLow>(float[] v) where TLow : unmanaged
    {
        var r = new TLow[v.Length];
        for (int i = 0; i < v.Length; i++)
            r[i] = typeof(TLow) == typeof(Half) ? (TLow)(object)(Half)v[i] : (TLow)(object)(BFloat16)v[i];
        return r;
    }

    private static float[] Widen<TLow>(TLow[] v) where TLow : unmanaged =>
        v.Select(x => x is Half h ? (float)h : (float)(BFloat16)(object)x).ToArray();

    [Theory]
    [InlineData("fp16")]
    [InlineData("bf16")]
    public void Forward_and_backward_are_the_16_bit_layer_on_rounded_copies(string precision)
    {
        if (precision == "fp16") Check<Half>(); else Check<BFloat16>();
    }

    private void Check<TLow>() where TLow : unmanaged, System.Numerics.IFloatingPointIeee754<TLow>
    {
        var rnn = new RnnDescriptor(RnnMode.Lstm, 5, 7, 2, RnnDirection.Bidirectional, dataType: RnnDataType.Float32);
        var rnn16 = rnn.WithDataType(RnnDescriptor.DataTypeOf<TLow>());
        var xDesc = new RnnDataDescriptor(RnnDataLayout.SeqMajorPacked, 6, 3, 5, [6, 4, 2]);
        int n = (int)xDesc.ElementCount, ny = 12 * 14;
        var master = new Parameter<float>("lstm", checked((int)_engine.GetWeightLayout(rnn16).TotalElements));
        Random(master.Count, 0.4, 1).CopyTo(master.Value, 0);
        float[] x = Random(n, 1, 2), dy = Random(ny, 0.1, 3);
        using var auto = new AutocastRnnLayer<TLow>(_engine, rnn, master);
        using var reference = new RnnLayer<TLow>(_engine, rnn16);
        reference.Weights.CopyFrom(Round<TLow>(master.Value));

        using var ctx = auto.Forward(xDesc, x);
        using var refCtx = reference.Forward(xDesc, Round<TLow>(x));
        Assert.Equal(Widen(refCtx.Y.ToArray()), auto.ReadWidened(ctx.Y));
        Assert.Equal(Widen(refCtx.Hy.ToArray()), auto.ReadWidened(ctx.Hy));

        Array.Fill(master.Grad, 0.5f);                       // backward adds to what is there
        var (inputs, bad) = auto.Backward(ctx, dy);
        var g = reference.Backward(refCtx, Round<TLow>(dy));
        Assert.Equal(-1, bad);
        Assert.Equal(Widen(g.Dx), inputs.Dx);
        var dw = Widen(reference.WeightGradients.ToArray());
        Assert.Equal(dw.Select(v => 0.5f + v).ToArray(), master.Grad);
        Assert.Contains(dw, v => v != 0);
    }

    [Fact]
    public void Loss_scaling_keeps_gradients_that_float16_flushes_to_zero()
    {
        // dy of magnitude ≤ 2e-8 is below half of float16's smallest subnormal (2^-25 ≈ 2.98e-8): it rounds to zero, and so
        // does the whole weight gradient. Scaled by 2^16 it lies in float16's normal range, and the gradient unscaled in
        // float32 agrees with the float64 reference within the bound derived for 16-bit storage (TotalErrorTolerances:
        // every operation as if in the 16-bit type, input rounding included). bfloat16 has float32's range: no scale needed.
        var rnn = new RnnDescriptor(RnnMode.Lstm, 4, 8, 1, RnnDirection.Unidirectional, dataType: RnnDataType.Float32);
        var xDesc = RnnDataDescriptor.Uniform(RnnDataLayout.SeqMajorUnpacked, 4, 3, 4);
        int n = (int)xDesc.ElementCount, ny = 4 * 3 * 8;
        float[] w = Random((int)_engine.GetWeightLayout(rnn).TotalElements, 0.5, 4), x = Random(n, 1, 5);
        float[] dy = Random(ny, 1, 6).Select(v => 2e-8f * (0.5f + 0.5f * MathF.Abs(v)) * MathF.Sign(v + 1e-9f)).ToArray();

        double[] Reference<TLow>() where TLow : unmanaged, System.Numerics.IFloatingPointIeee754<TLow>
        {
            // float64 on the same 16-bit weights and input (the forward is 16-bit in every run), exact dy.
            using var layer = new RnnLayer<double>(_engine, rnn.WithDataType(RnnDataType.Float64));
            layer.Weights.CopyFrom(Widen(Round<TLow>(w)).Select(v => (double)v).ToArray());
            using var ctx = layer.Forward(xDesc, Widen(Round<TLow>(x)).Select(v => (double)v).ToArray());
            layer.Backward(ctx, dy.Select(v => (double)v).ToArray());
            return layer.WeightGradients.ToArray();
        }

        double[] Run<TLow>(float scale) where TLow : unmanaged, System.Numerics.IFloatingPointIeee754<TLow>
        {
            var master = new Parameter<float>("lstm", w.Length);
            w.CopyTo(master.Value, 0);
            using var auto = new AutocastRnnLayer<TLow>(_engine, rnn, master);
            using var ctx = auto.Forward(xDesc, x);
            auto.Backward(ctx, dy.Select(v => v * scale).ToArray());
            var s = new GradScaler(new GradScalerOptions { InitScale = scale });
            Assert.False(s.Unscale([master]));
            return master.Grad.Select(v => (double)v).ToArray();
        }

        var rnn16 = rnn.WithDataType(RnnDataType.Float16);
        var tol = HalfPrecision.TotalErrorTolerances(rnn16, 4, 12, RnnDataType.Float16);
        var expected16 = Reference<Half>();
        Assert.Contains(expected16, v => Math.Abs(v) > 1e-9);
        Assert.All(Run<Half>(1f), v => Assert.Equal(0.0, v));      // unscaled float16: every gradient flushed to zero
        var scaled = TensorComparison.Compare("dw (fp16, scale 2^16)", "dw", Run<Half>(65536f), expected16, tol.Weights, tol.Absolute / 65536);
        Assert.True(scaled.Passed, scaled.ToString());
        // The check the scaled run passes rejects the unscaled one (whose gradients sit at float16's subnormal floor, 2^-25,
        // where nothing of them survives: relative error 1).
        var unscaledCmp = TensorComparison.Compare("dw (fp16, no scale)", "dw", Run<Half>(1f), expected16, tol.Weights, tol.Absolute / 65536);
        Assert.False(unscaledCmp.Passed, "the check must reject the flushed gradient: " + unscaledCmp);

        var tolB = HalfPrecision.TotalErrorTolerances(rnn.WithDataType(RnnDataType.BFloat16), 4, 12, RnnDataType.BFloat16);
        var bf = TensorComparison.Compare("dw (bf16, no scale)", "dw", Run<BFloat16>(1f), Reference<BFloat16>(), tolB.Weights, tolB.Absolute);
        Assert.True(bf.Passed, bf.ToString());
    }

    [Fact]
    public void An_overflowing_float16_step_is_skipped_and_the_scale_halves()
    {
        var rnn = new RnnDescriptor(RnnMode.Gru, 3, 6, 1, RnnDirection.Bidirectional, dataType: RnnDataType.Float32);
        var xDesc = RnnDataDescriptor.Uniform(RnnDataLayout.SeqMajorUnpacked, 5, 2, 3);
        var master = new Parameter<float>("gru", checked((int)_engine.GetWeightLayout(rnn).TotalElements));
        Random(master.Count, 0.3, 7).CopyTo(master.Value, 0);
        var before = master.Value.ToArray();
        float[] x = Random((int)xDesc.ElementCount, 1, 8), dy = Random(5 * 2 * 12, 0.05, 9);
        var opt = new Adam<float>([master], 1e-2);
        // A scale of 2^24 takes dy (|dy| ≤ 0.05) to ~8e5, beyond float16's 65504: the scaled gradient overflows to ±∞.
        var scaler = new GradScaler(new GradScalerOptions { InitScale = 16777216f });
        using var auto = new AutocastRnnLayer<Half>(_engine, rnn, master);

        bool Iterate()
        {
            master.ZeroGrad();
            using var ctx = auto.Forward(xDesc, x);
            auto.Backward(ctx, dy.Select(v => v * scaler.Scale).ToArray());
            bool applied = scaler.Step(opt);
            scaler.Update();
            return applied;
        }

        Assert.False(Iterate());
        Assert.Equal(8388608f, scaler.Scale);
        Assert.Equal(before, master.Value);                 // skipped: the master weights are untouched
        Assert.Equal(0, opt.StepCount);
        // At scales 2^24 down to 2^21 some |dy|·scale exceeds 65504 already in the cast of dy itself (max |dy| > 65504 / 2^21),
        // so at least four steps are skipped; the scale falls by half each time until the gradients fit.
        Assert.True(dy.Max(MathF.Abs) > 65504f / 2097152f);
        int skipped = 1;
        while (!Iterate()) skipped++;
        Assert.InRange(skipped, 4, 24);
        Assert.Equal(skipped, scaler.SkippedSteps);
        Assert.Equal(MathF.ScaleB(1, 24 - skipped), scaler.Scale);
        Assert.NotEqual(before, master.Value);
        Assert.All(master.Value, v => Assert.True(float.IsFinite(v)));
    }
}
