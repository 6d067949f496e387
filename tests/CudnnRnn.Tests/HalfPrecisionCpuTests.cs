using System.Numerics;
using CudnnRnn.Cpu;
using CudnnRnn.Testing;
using CudnnRnn.Verification;
using Xunit;

namespace CudnnRnn.Tests;

/// <summary>
/// The CPU engine's 16-bit storage path (CpuPlan16): its contract (float arithmetic, each output rounded once) checked
/// bitwise against the float plan, its vectorised conversions against the scalar ones, its memory behaviour, the layer
/// API, and that the golden 16-bit checker rejects a wrong value. The golden and parity runs themselves are in
/// <see cref="CpuConformanceTests"/> (EngineConformance's Golden_Float16/BFloat16, Parity_Float16/BFloat16).
/// </summary>
public sealed class HalfPrecisionCpuTests
{
    [Fact]
    public void VectorisedConversions_EqualTheScalarOnes_OnEveryPatternAndEveryTie()
    {
        // Odd lengths so both the vector body and the scalar tail run.
        var bits = Enumerable.Range(0, 65536).Select(i => (ushort)i).Append((ushort)0x3C00).ToArray();
        var halves = bits.Select(BitConverter.UInt16BitsToHalf).ToArray();
        var bf = bits.Select(BFloat16.FromBits).ToArray();
        var fromHalf = new float[bits.Length];
        var fromBf = new float[bits.Length];
        Storage16.ToSingle<Half>(halves, fromHalf);
        Storage16.ToSingle<BFloat16>(bf, fromBf);
        for (int i = 0; i < bits.Length; i++)
        {
            Assert.Equal(BitConverter.SingleToUInt32Bits((float)halves[i]), BitConverter.SingleToUInt32Bits(fromHalf[i]));
            Assert.Equal(BitConverter.SingleToUInt32Bits((float)bf[i]), BitConverter.SingleToUInt32Bits(fromBf[i]));
        }

        // Floats: random bit patterns (NaN payloads, infinities, subnormals), every bf16 halfway point and its neighbours.
        var rng = new Random(14);
        var floats = new List<float>();
        for (int i = 0; i < 100_001; i++) floats.Add(BitConverter.UInt32BitsToSingle((uint)rng.NextInt64(0, 1L << 32)));
        for (uint p = 0; p < 0x10000; p += 7)
            foreach (uint low in new uint[] { 0x7FFF, 0x8000, 0x8001 }) floats.Add(BitConverter.UInt32BitsToSingle((p << 16) | low));
        foreach (float f in new[] { 65504f, 65519.99f, 65520f, 6.1e-5f, 2.98e-8f, 5.96e-8f })
        { floats.Add(f); floats.Add(-f); }
        var src = floats.ToArray();
        var toHalf = new Half[src.Length];
        var toBf = new BFloat16[src.Length];
        Storage16.FromSingle<Half>(src, toHalf);
        Storage16.FromSingle<BFloat16>(src, toBf);
        for (int i = 0; i < src.Length; i++)
        {
            var h = (Half)src[i];
            if (Half.IsNaN(h)) Assert.True(Half.IsNaN(toHalf[i]));
            else Assert.Equal(BitConverter.HalfToUInt16Bits(h), BitConverter.HalfToUInt16Bits(toHalf[i]));
            Assert.Equal(((BFloat16)src[i]).Bits, toBf[i].Bits);
        }
    }

    /// <summary>Float inputs, the float plan, each output rounded once: the 16-bit plan must give exactly that, bit for bit.</summary>
    [Theory]
    [InlineData(RnnMode.Lstm, RnnDataLayout.SeqMajorPacked, 0)]
    [InlineData(RnnMode.Gru, RnnDataLayout.BatchMajorUnpacked, 1)]
    [InlineData(RnnMode.RnnTanh, RnnDataLayout.SeqMajorUnpacked, 2)]
    public void Float16AndBFloat16_AreTheFloatComputationRoundedOnce(RnnMode mode, RnnDataLayout layout, int seed)
    {
        CheckRoundedOnce<Half>(mode, layout, seed);
        CheckRoundedOnce<BFloat16>(mode, layout, seed);
    }

    private static void CheckRoundedOnce<T>(RnnMode mode, RnnDataLayout layout, int seed) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var rng = new Random(seed);
        var rnn = new RnnDescriptor(mode, 5, 7, 2, RnnDirection.Bidirectional, projSize: mode == RnnMode.Lstm ? 4 : null,
            dataType: RnnDescriptor.DataTypeOf<T>());
        var xDesc = new RnnDataDescriptor(layout, 6, 3, 5, layout == RnnDataLayout.SeqMajorPacked ? [6, 4, 2] : [3, 6, 5]);
        var yDesc = xDesc.WithVectorSize(rnn.OutputSize);
        long h = (long)rnn.PseudoLayerCount * 3 * rnn.StateSize, c = mode == RnnMode.Lstm ? (long)rnn.PseudoLayerCount * 3 * rnn.HiddenSize : 0;
        T[] U(long n) => Enumerable.Range(0, checked((int)n)).Select(_ => T.CreateChecked(2 * rng.NextDouble() - 1)).ToArray();
        var layout16 = RnnWeightLayout.Canonical(rnn);
        T[] w = U(layout16.TotalElements), dw0 = U(layout16.TotalElements), x = U(xDesc.ElementCount), dy = U(yDesc.ElementCount),
            hx = U(h), dhy = U(h);
        T[]? cx = c > 0 ? U(c) : null, dcy = c > 0 ? U(c) : null;
        static float[] F(T[] a) => a.Select(float.CreateChecked).ToArray();
        static float[]? Fo(T[]? a) => a is null ? null : F(a);

        using var cpu = CpuEngine.Create();
        var p16 = Pass<T>.Run(cpu, rnn, xDesc, w, x, hx, cx, dy, dhy, dcy,
            new PassOptions<T> { InferenceFirst = true, TrainingForwards = 2, InitialDw = dw0 });
        var p32 = Pass<float>.Run(cpu, rnn.WithDataType(RnnDataType.Float32), xDesc, F(w), F(x), F(hx), Fo(cx), F(dy), F(dhy), Fo(dcy),
            new PassOptions<float> { InferenceFirst = true, TrainingForwards = 2, InitialDw = F(dw0) });
        // Every output, dW included (Add onto dw0: summed in float, rounded once).
        var failures = RoundedOnce.Passes(p16, p32, T.CreateChecked);
        Assert.True(failures.Count == 0, $"{typeof(T).Name} {mode}: {string.Join("; ", failures)}");
    }

    [Fact]
    public void GoldenChecker_RejectsAValueOffByEightUlps_AndAcceptsTheRealOne()
    {
        var golden = GoldenCase.Load(SharedData.Path("golden", "p21_lstm_L2bi_fixed_bias.json"));
        using var cpu = CpuEngine.Create();
        Assert.True(HalfPrecision.RunGolden<Half>(cpu, golden).Passed);
        foreach (var target in new[] { "y", "dx", "grad.weight_hh_l1_reverse" })
        {
            var bad = HalfPrecision.RunGolden<Half>(cpu, golden, alterActual: (name, v) =>
            {
                if (name != target) return;
                int i = Array.IndexOf(v, v.MaxBy(Math.Abs));    // the largest element: where |e| + scale is largest
                v[i] += 8 * double.CreateChecked(Half.BitIncrement((Half)Math.Abs(v[i])) - (Half)Math.Abs(v[i]));
            });
            Assert.False(bad.Passed, $"8 fp16 ulps added to the largest element of {target} went unnoticed");
            Assert.Single(bad.VsRounded, t => !t.Passed);
        }
        var bf = HalfPrecision.RunGolden<BFloat16>(cpu, golden, alterActual: (name, v) => { if (name == "hy") v[0] = -v[0] + 0.5; });
        Assert.False(bf.Passed);
    }

    [Fact]
    public void WeightsChangedThroughTheBuffer_AreSeenByTheNextCall()
    {
        using var e = CpuEngine.Create();
        var rnn = new RnnDescriptor(RnnMode.Gru, 3, 4, dataType: RnnDataType.Float16);
        var xDesc = new RnnDataDescriptor(RnnDataLayout.SeqMajorUnpacked, 2, 2, 3, [2, 2]);
        using var plan = e.CreatePlan<Half>(rnn, xDesc);
        using var x = e.Upload<Half>(Enumerable.Range(0, 12).Select(i => (Half)(i * 0.1f)).ToArray());
        using var y = e.Allocate<Half>(2 * 2 * 4);
        using var w = e.Allocate<Half>(plan.WeightLayout.TotalElements);
        w.Fill((Half)0.25f);
        plan.Forward(RnnForwardMode.Inference, xDesc, x, y, null, null, null, null, w, null);
        var first = y.ToArray();
        w.Fill((Half)(-0.5f)); // Version changes: the widened copy must be refreshed
        plan.Forward(RnnForwardMode.Inference, xDesc, x, y, null, null, null, null, w, null);
        var second = y.ToArray();
        using var fresh = e.CreatePlan<Half>(rnn, xDesc);
        using var y2 = e.Allocate<Half>(y.Length);
        fresh.Forward(RnnForwardMode.Inference, xDesc, x, y2, null, null, null, null, w, null);
        Assert.Equal(y2.ToArray(), second);
        Assert.NotEqual(first, second);
    }

    [Fact]
    public void Layer_TrainsAStepInBFloat16_AndMatchesTheFloatLayerRoundedOnce()
    {
        using var e = CpuEngine.Create();
        var rnn = new RnnDescriptor(RnnMode.Lstm, 4, 6, dataType: RnnDataType.BFloat16);
        using var layer = new RnnLayer<BFloat16>(e, rnn, seed: 3);
        using var layer32 = new RnnLayer<float>(e, rnn.WithDataType(RnnDataType.Float32), seed: 3);
        foreach (var p in layer.Parameters) layer32.ImportPyTorch(p.Name, layer.ExportPyTorch(p.Name).Select(v => (float)v).ToArray());
        var xDesc = new RnnDataDescriptor(RnnDataLayout.BatchMajorUnpacked, 3, 2, 4, [3, 1]);
        var x = Enumerable.Range(0, 24).Select(i => (BFloat16)MathF.Sin(i)).ToArray();
        using var ctx = layer.Forward(xDesc, x);
        using var ctx32 = layer32.Forward(xDesc, x.Select(v => (float)v).ToArray());
        var dy = Enumerable.Range(0, 36).Select(i => (BFloat16)MathF.Cos(i)).ToArray();
        var g = layer.Backward(ctx, dy);
        var g32 = layer32.Backward(ctx32, dy.Select(v => (float)v).ToArray());
        Assert.Equal(ctx32.Y.ToArray().Select(v => (BFloat16)v), ctx.Y.ToArray());
        Assert.Equal(g32.Dx.Select(v => (BFloat16)v), g.Dx);
        foreach (var p in layer.Parameters)
            Assert.Equal(layer32.ExportPyTorchGradient(p.Name).Select(v => (BFloat16)v), layer.ExportPyTorchGradient(p.Name));
    }
}

public sealed class HalfPrecisionImportTests
{
    [Fact]
    public void ImportFromFloat32_RoundsToNearestEven_AndExportIsExact()
    {
        using var e = CpuEngine.Create();
        using var layer = new RnnLayer<Half>(e, new RnnDescriptor(RnnMode.RnnTanh, 2, 2, dataType: RnnDataType.Float16));
        // 1 + 2^-11 is the fp16 halfway point between 1 and 1 + 2^-10: ties to even gives 1; just above goes up.
        float tie = 1f + MathF.Pow(2, -11), above = BitConverter.UInt32BitsToSingle(BitConverter.SingleToUInt32Bits(tie) + 1);
        layer.ImportPyTorchFromFloat32("bias_ih_l0", [tie, above]);
        Assert.Equal([1f, 1f + MathF.Pow(2, -10)], layer.ExportPyTorchToFloat32("bias_ih_l0"));
        Assert.Equal([(Half)1f, (Half)(1f + MathF.Pow(2, -10))], layer.ExportPyTorch("bias_ih_l0"));

        using var bl = new RnnLayer<BFloat16>(e, new RnnDescriptor(RnnMode.RnnTanh, 2, 2, dataType: RnnDataType.BFloat16));
        bl.ImportPyTorchFromFloat32("bias_hh_l0", [float.NaN, 1e38f]);
        var back = bl.ExportPyTorchToFloat32("bias_hh_l0");
        Assert.True(float.IsNaN(back[0]));
        Assert.Equal((float)(BFloat16)1e38f, back[1]);
    }

    [Fact]
    public void ImportFromFloat32_RefusesAnFp16Overflow_NamingParameterIndexValueAndLimit()
    {
        using var e = CpuEngine.Create();
        using var layer = new RnnLayer<Half>(e, new RnnDescriptor(RnnMode.RnnTanh, 2, 3, dataType: RnnDataType.Float16));
        var before = layer.Weights.ToArray();
        // 65519.99 rounds to 65504 (the largest finite fp16); 65520 is the halfway point to 65536 and rounds to Infinity.
        layer.ImportPyTorchFromFloat32("weight_ih_l0", [0, 0, 0, 0, 65519.99f, -65504f]);
        Assert.Equal((Half)65504f, layer.ExportPyTorch("weight_ih_l0")[4]);
        before = layer.Weights.ToArray();
        var ex = Assert.Throws<ArgumentOutOfRangeException>(() => layer.ImportPyTorchFromFloat32("weight_hh_l0", [0, 0, 0, 0, 0, 0, 0, -65520f, 0]));
        Assert.Equal("values", ex.ParamName);
        Assert.Contains("'weight_hh_l0'", ex.Message);
        Assert.Contains("element 7", ex.Message);
        Assert.Contains("-65520", ex.Message);
        Assert.Contains("65504", ex.Message);
        Assert.Equal(before, layer.Weights.ToArray()); // nothing written
        // bfloat16 has float32's range but a smaller largest finite value: float.MaxValue overflows it.
        using var bl = new RnnLayer<BFloat16>(e, new RnnDescriptor(RnnMode.RnnTanh, 2, 2, dataType: RnnDataType.BFloat16));
        Assert.Throws<ArgumentOutOfRangeException>(() => bl.ImportPyTorchFromFloat32("bias_ih_l0", [1, float.MaxValue]));
        // An infinity that was already there is not an overflow of the conversion.
        layer.ImportPyTorchFromFloat32("bias_ih_l0", [float.PositiveInfinity, 0, 0]);
        Assert.True(Half.IsPositiveInfinity(layer.ExportPyTorch("bias_ih_l0")[0]));
    }
}

/// <summary>The 16-bit plan's steady state allocates nothing; runs alone with the other allocation tests.</summary>
[Collection(nameof(AllocationTests))]
public sealed class HalfPrecisionAllocationTests
{
    [Fact]
    public void Plan_AllocatesNothingPerCallAfterTheFirst_AndReserveIsFloat()
    {
        using var e = CpuEngine.Create(1);
        var rnn = new RnnDescriptor(RnnMode.Lstm, 8, 16, 2, dataType: RnnDataType.BFloat16);
        var xDesc = new RnnDataDescriptor(RnnDataLayout.SeqMajorUnpacked, 5, 4, 8, [5, 5, 3, 2]);
        using var plan = e.CreatePlan<BFloat16>(rnn, xDesc);
        using var plan32 = e.CreatePlan<float>(rnn.WithDataType(RnnDataType.Float32), xDesc);
        using var x = e.Allocate<BFloat16>(xDesc.ElementCount);
        using var y = e.Allocate<BFloat16>(xDesc.ElementCount / 8 * 16);
        using var dx = e.Allocate<BFloat16>(xDesc.ElementCount);
        using var w = e.Allocate<BFloat16>(plan.WeightLayout.TotalElements);
        using var dw = e.Allocate<BFloat16>(plan.WeightLayout.TotalElements);
        using var hx = e.Allocate<BFloat16>(plan.HiddenStateElements);
        using var hy = e.Allocate<BFloat16>(plan.HiddenStateElements);
        using var r = plan.CreateReserve();
        Assert.Equal(plan32.ReserveBytes, plan.ReserveBytes);
        Assert.Equal(plan32.ReserveBytes, r.Bytes);
        w.Fill((BFloat16)0.1f);
        x.Fill((BFloat16)0.5f);
        void Step()
        {
            plan.Forward(RnnForwardMode.Inference, xDesc, x, y, hx, hy, null, null, w, null);
            plan.Forward(RnnForwardMode.Training, xDesc, x, y, hx, hy, null, null, w, r);
            plan.BackwardData(xDesc, y, y, dx, hx, hy, null, null, null, null, w, r);
            plan.BackwardWeights(WeightGradMode.Add, xDesc, x, hx, y, dw, r);
        }
        SteadyStateAllocation.AssertAllocationFree(Step);
    }
}
