using CudnnRnn.Testing;
using System.Runtime.InteropServices;
using Xunit;

namespace CudnnRnn.OpenCL.Tests;

/// <summary>The 16-bit plans' contract besides their numbers: capability, element types, the float reserve, no
/// allocation after the first call, the layer's training step; the equivalence with the float plan on every random
/// configuration is <see cref="OpenCl16ExactnessTests"/>.</summary>
public sealed class OpenCl16PlanTests
{
    private static readonly RnnDataDescriptor X = new(RnnDataLayout.SeqMajorUnpacked, 4, 3, 3, [4, 2, 3]);

    private static RnnDescriptor Lstm(RnnDataType t) => new(RnnMode.Lstm, 3, 5, 2, RnnDirection.Bidirectional, dataType: t);

    [Fact]
    public void Supports_16BitStorage_OnEveryDeviceTheEngineOpens()
    {
        var engine = SharedOpenCl.Require();
        Assert.True(engine.Supports(RnnDataType.Float16, out var r16), r16);
        Assert.True(engine.Supports(RnnDataType.BFloat16, out var rbf), rbf);
        Assert.Null(r16);
        Assert.Null(rbf);
    }

    [Fact]
    public void ElementTypeOtherThanTheDescriptors_IsRefused()
    {
        var engine = SharedOpenCl.Require();
        var e = Assert.Throws<ArgumentException>(() => engine.CreatePlan<Half>(Lstm(RnnDataType.BFloat16), X));
        Assert.Equal("rnn", e.ParamName);
        Assert.Contains("Half", e.Message);
        Assert.Contains("BFloat16", e.Message);
        e = Assert.Throws<ArgumentException>(() => engine.CreatePlan<BFloat16>(Lstm(RnnDataType.Float32), X));
        Assert.Contains("Float32", e.Message);
        // A floating-point type that is neither of the four: refused by name, before anything is allocated.
        var n = Assert.Throws<NotSupportedException>(() => engine.Allocate<NFloat>(4));
        Assert.Contains("NFloat", n.Message);
        Assert.Throws<NotSupportedException>(() => engine.CreatePlan<NFloat>(Lstm(RnnDataType.Float32), X));
    }

    [Fact]
    public void Reserve_IsFloat_AndNotReadableAs16Bit()
    {
        var engine = SharedOpenCl.Require();
        using var p16 = engine.CreatePlan<Half>(Lstm(RnnDataType.Float16), X);
        using var p32 = engine.CreatePlan<float>(Lstm(RnnDataType.Float32), X);
        Assert.Equal(p32.ReserveBytes, p16.ReserveBytes);
        using var reserve = p16.CreateReserve();
        Assert.Equal(p16.ReserveBytes, reserve.Bytes);
        var e = Assert.Throws<NotSupportedException>(() => reserve.Storage.ToArray());
        Assert.Contains("float32", e.Message);
        Assert.Throws<NotSupportedException>(() => reserve.Storage.Write(0, new Half[1]));
        reserve.Dispose();
        reserve.Dispose(); // harmless
        Assert.True(reserve.IsDisposed);
    }

    [Fact]
    public void AfterTheFirstCalls_NoCallAllocates_AndTheWorkspaceStaysPut()
    {
        var engine = SharedOpenCl.Require();
        var rnn = Lstm(RnnDataType.BFloat16);
        var packed = new RnnDataDescriptor(RnnDataLayout.SeqMajorPacked, 4, 3, 3, [4, 3, 2]);
        var other = new RnnDataDescriptor(RnnDataLayout.SeqMajorPacked, 4, 3, 3, [4, 4, 1]);
        using var plan = engine.CreatePlan<BFloat16>(rnn, packed);
        using var x = engine.Allocate<BFloat16>(packed.ElementCount);
        using var x2 = engine.Allocate<BFloat16>(other.ElementCount);
        using var y = engine.Allocate<BFloat16>(packed.ElementCount / 3 * rnn.OutputSize);
        using var y2 = engine.Allocate<BFloat16>(other.ElementCount / 3 * rnn.OutputSize);
        using var dx = engine.Allocate<BFloat16>(packed.ElementCount);
        using var dx2 = engine.Allocate<BFloat16>(other.ElementCount);
        using var h = engine.Allocate<BFloat16>(plan.HiddenStateElements);
        using var hy = engine.Allocate<BFloat16>(plan.HiddenStateElements);
        using var c = engine.Allocate<BFloat16>(plan.CellStateElements);
        using var w = engine.Allocate<BFloat16>(plan.WeightLayout.TotalElements);
        using var dw = engine.Allocate<BFloat16>(plan.WeightLayout.TotalElements);
        using var r = plan.CreateReserve();
        x.Fill((BFloat16)0.25f);
        x2.Fill((BFloat16)0.5f);
        w.Fill((BFloat16)0.125f);
        void Step(RnnDataDescriptor d, RnnBuffer<BFloat16> xs, RnnBuffer<BFloat16> ys, RnnBuffer<BFloat16> dxs)
        {
            plan.Forward(RnnForwardMode.Inference, d, xs, ys, h, hy, c, null, w, null);
            plan.Forward(RnnForwardMode.Training, d, xs, ys, h, hy, c, null, w, r);
            plan.BackwardData(d, ys, ys, dxs, h, hy, null, c, null, null, w, r);
            plan.BackwardWeights(WeightGradMode.Add, d, xs, h, ys, dw, r);
        }
        Step(packed, x, y, dx);
        long workspace = plan.WorkspaceBytes;
        Step(other, x2, y2, dx2);
        Step(packed, x, y, dx);
        SteadyStateAllocation.AssertAllocationFree(() =>
        {
            Step(other, x2, y2, dx2);
            Step(packed, x, y, dx);
        }, warmUp: 0, windows: 6, stepsPerWindow: 1);
        Assert.Equal(workspace, plan.WorkspaceBytes);
        Assert.True(BFloat16.IsFinite(y.ToArray()[0]));
    }

    /// <summary>
    /// RnnLayer on the OpenCL engine in 16-bit storage trains a step exactly as the float layer on the same engine does,
    /// each output and gradient rounded once: the same kernels run on the same float values.
    /// </summary>
    [Fact]
    public void Layer_TrainsAStepIn16Bit_AndMatchesTheFloatLayerRoundedOnce()
    {
        var engine = SharedOpenCl.Require();
        AssertLayer<Half>(engine, RnnDataType.Float16, v => (Half)v);
        AssertLayer<BFloat16>(engine, RnnDataType.BFloat16, v => (BFloat16)v);
    }

    private static void AssertLayer<T16>(OpenClEngine engine, RnnDataType dt, Func<float, T16> round)
        where T16 : unmanaged, System.Numerics.IFloatingPointIeee754<T16>
    {
        var rnn = new RnnDescriptor(RnnMode.Lstm, 4, 6, dataType: dt);
        using var layer = new RnnLayer<T16>(engine, rnn, seed: 3);
        using var layer32 = new RnnLayer<float>(engine, rnn.WithDataType(RnnDataType.Float32), seed: 3);
        foreach (var p in layer.Parameters) layer32.ImportPyTorch(p.Name, layer.ExportPyTorch(p.Name).Select(float.CreateChecked).ToArray());
        var xDesc = new RnnDataDescriptor(RnnDataLayout.BatchMajorUnpacked, 3, 2, 4, [3, 1]);
        var x = Enumerable.Range(0, 24).Select(i => round(MathF.Sin(i))).ToArray();
        using var ctx = layer.Forward(xDesc, x);
        using var ctx32 = layer32.Forward(xDesc, x.Select(float.CreateChecked).ToArray());
        var dy = Enumerable.Range(0, 36).Select(i => round(MathF.Cos(i))).ToArray();
        var g = layer.Backward(ctx, dy);
        var g32 = layer32.Backward(ctx32, dy.Select(float.CreateChecked).ToArray());
        Assert.Equal(ctx32.Y.ToArray().Select(round), ctx.Y.ToArray());
        Assert.Equal(g32.Dx.Select(round), g.Dx);
        foreach (var p in layer.Parameters)
            Assert.Equal(layer32.ExportPyTorchGradient(p.Name).Select(round), layer.ExportPyTorchGradient(p.Name));
    }
}

/// <summary>
/// The OpenCL engine's 16-bit contract as an exact property on every random configuration of the conformance suite
/// (projection, skip input, clipping, dropout, every layout, ragged lengths): a 16-bit pass (training forward, backward
/// data, backward weights adding onto a 16-bit dW0) equals the float pass on the widened inputs, each output rounded
/// once to nearest even. Exact: the 16-bit plan runs the float plan's own kernels between its conversion kernels, so any
/// difference is a conversion or plumbing error, not arithmetic.
/// </summary>
public sealed class OpenCl16ExactnessTests
{
    public static TheoryData<int> Seeds() => new(Enumerable.Range(0, RandomConfigurations.Count));

    [Theory]
    [MemberData(nameof(Seeds))]
    public void Float16_IsTheFloatPassRoundedOnce(int seed) => Check<Half>(seed, v => (Half)v);

    [Theory]
    [MemberData(nameof(Seeds))]
    public void BFloat16_IsTheFloatPassRoundedOnce(int seed) => Check<BFloat16>(seed, v => (BFloat16)v);

    [Fact]
    public void TheProperty_CatchesARoundingTowardZero()
    {
        // The checker can fail: truncating the float pass (instead of rounding to nearest even) is caught on most seeds.
        int caught = Enumerable.Range(0, 10).Count(seed => Record.Exception(() => Check<BFloat16>(seed,
            v => float.IsNaN(v) ? (BFloat16)v : BFloat16.FromBits((ushort)(BitConverter.SingleToUInt32Bits(v) >> 16)))) is not null);
        Assert.True(caught >= 8, $"truncation caught on {caught} of 10 seeds");
    }

    private static void Check<T>(int seed, Func<float, T> round) where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        var engine = SharedOpenCl.Require();
        var (rnn16, xDesc) = RandomConfigurations.Get(seed, RnnDescriptor.DataTypeOf<T>());
        var rnn32 = rnn16.WithDataType(RnnDataType.Float32);
        var rng = new Random(7000 + seed);
        long states = (long)rnn16.PseudoLayerCount * xDesc.Batch;
        T[] U(long n, double scale = 1) => [.. Enumerable.Range(0, checked((int)n)).Select(_ => T.CreateChecked((float)((2 * rng.NextDouble() - 1) * scale)))];
        var layout16 = engine.GetWeightLayout(rnn16);
        var w = U(layout16.TotalElements, 0.5);
        var dw0 = U(layout16.TotalElements, 0.25);
        var x = U(xDesc.ElementCount);
        var dy = U(xDesc.WithVectorSize(rnn16.OutputSize).ElementCount);
        var hx = U(states * rnn16.StateSize);
        var dhy = U(states * rnn16.StateSize);
        var cx = rnn16.Mode == RnnMode.Lstm ? U(states * rnn16.HiddenSize) : null;
        var dcy = cx is null ? null : U(cx.LongLength);
        static float[]? W(T[]? a) => a is null ? null : [.. a.Select(float.CreateChecked)];
        // The float plan's weights in its own layout, moved parameter by parameter (the layouts may differ by type).
        var layout32 = engine.GetWeightLayout(rnn32);
        float[] Relayout(T[] values)
        {
            var r = new float[layout32.TotalElements];
            foreach (var p in layout16.PyTorchParameters)
            {
                var v = new T[p.Count];
                layout16.ExportPyTorch<T>(values, p.Name, v);
                layout32.ImportPyTorch<float>(r, p.Name, W(v)!);
            }
            return r;
        }
        var r16 = Pass<T>.Run(engine, rnn16, xDesc, w, x, hx, cx, dy, dhy, dcy, new PassOptions<T> { InitialDw = dw0 });
        var r32 = Pass<float>.Run(engine, rnn32, xDesc, Relayout(w), W(x)!, W(hx), W(cx), W(dy)!, W(dhy), W(dcy),
            new PassOptions<float> { InitialDw = Relayout(dw0) });
        // dW in each plan's own layout, so it is compared parameter by parameter below.
        var failures = RoundedOnce.Passes(r16, r32, round, includeDw: false);
        foreach (var p in layout16.PyTorchParameters)
        {
            var g16 = new T[p.Count];
            var g32 = new float[p.Count];
            layout16.ExportPyTorch<T>(r16.Dw, p.Name, g16);
            layout32.ExportPyTorch<float>(r32.Dw, p.Name, g32);
            RoundedOnce.Check(failures, "grad." + p.Name, g16, g32, round);
        }
        if (failures.Count > 0) throw new Xunit.Sdk.XunitException($"seed {seed}, {rnn16} | {xDesc}: {string.Join("; ", failures)}");
    }
}
