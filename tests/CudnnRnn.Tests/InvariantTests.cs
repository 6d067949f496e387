using CudnnRnn.Testing;
using CudnnRnn.Cpu;
using CudnnRnn.Verification;
using Xunit;

namespace CudnnRnn.Tests;

/// <summary>
/// Invariants the golden files cannot show: layouts agree, bidirectional = forward run + run on reversed sequences, one
/// sequence alone = the same sequence inside a batch, inference forward = training forward, bitwise determinism
/// across thread counts, padding never read, dropout only between layers and only in training, reproducible.
/// </summary>
public sealed class InvariantTests
{
    private static readonly int[] Lengths = [3, 6, 1, 6, 4];

    public static TheoryData<RnnMode, bool> ModesAndProjection() => new()
    {
        { RnnMode.RnnTanh, false }, { RnnMode.RnnRelu, false }, { RnnMode.Gru, false }, { RnnMode.Lstm, false }, { RnnMode.Lstm, true },
    };

    private static RnnDescriptor Net(RnnMode mode, bool proj, RnnDirection dir = RnnDirection.Bidirectional, int layers = 2) =>
        new(mode, 3, 5, layers, dir, proj ? 3 : null, dataType: RnnDataType.Float64,
            cellClip: mode == RnnMode.Lstm ? new RnnCellClip(-0.4, 0.4) : null);

    /// <summary>Full pass in the given layout, results converted to seq-major original order.</summary>
    private static Dictionary<string, double[]> RunInLayout(RnnDescriptor rnn, RnnDataLayout layout, int seed)
    {
        var io = new SequenceIo(Lengths, 6, RnnDataLayout.SeqMajorUnpacked);
        var seq = io.Descriptor(rnn.InputSize);
        var x = Rand.Data(seed, seq, padding: 0);
        var dy = Rand.Data(seed + 1, seq.WithVectorSize(rnn.OutputSize), padding: 0);
        long hs = (long)rnn.PseudoLayerCount * Lengths.Length * rnn.StateSize, cs = (long)rnn.PseudoLayerCount * Lengths.Length * rnn.HiddenSize;
        var hx = Rand.Uniform(seed + 2, hs); var dhy = Rand.Uniform(seed + 3, hs);
        var cx = Rand.Uniform(seed + 4, cs); var dcy = Rand.Uniform(seed + 5, cs);
        bool lstm = rnn.Mode == RnnMode.Lstm;
        var eio = new SequenceIo(Lengths, 6, layout);
        var p = Pass<double>.Run(TestCpu.Engine(), rnn, eio.Descriptor(rnn.InputSize), Rand.Weights(seed + 6, rnn),
            eio.ToEngine<double>(x, rnn.InputSize), eio.StateToEngine<double>(hx, rnn.StateSize), lstm ? eio.StateToEngine<double>(cx, rnn.HiddenSize) : null,
            eio.ToEngine<double>(dy, rnn.OutputSize), eio.StateToEngine<double>(dhy, rnn.StateSize), lstm ? eio.StateToEngine<double>(dcy, rnn.HiddenSize) : null);
        var r = new Dictionary<string, double[]>
        {
            ["y"] = eio.FromEngine<double>(p.Y, rnn.OutputSize), ["dx"] = eio.FromEngine<double>(p.Dx, rnn.InputSize),
            ["hy"] = eio.StateFromEngine<double>(p.Hy, rnn.StateSize), ["dhx"] = eio.StateFromEngine<double>(p.Dhx, rnn.StateSize),
            ["dw"] = p.Dw,
        };
        if (lstm) { r["cy"] = eio.StateFromEngine<double>(p.Cy, rnn.HiddenSize); r["dcx"] = eio.StateFromEngine<double>(p.Dcx, rnn.HiddenSize); }
        return r;
    }

    [Theory]
    [MemberData(nameof(ModesAndProjection))]
    public void Layouts_GiveIdenticalResults(RnnMode mode, bool proj)
    {
        var rnn = Net(mode, proj);
        var seq = RunInLayout(rnn, RnnDataLayout.SeqMajorUnpacked, 5);
        foreach (var layout in new[] { RnnDataLayout.SeqMajorPacked, RnnDataLayout.BatchMajorUnpacked })
        {
            var other = RunInLayout(rnn, layout, 5);
            foreach (var (k, v) in seq)
                // Same arithmetic in the same order (the engine works on packed rows whatever the layout): bitwise equal.
                Assert.True(v.AsSpan().SequenceEqual(other[k]), $"{mode}: {k} differs between SeqMajorUnpacked and {layout}");
        }
    }

    [Theory]
    [MemberData(nameof(ModesAndProjection))]
    public void Bidirectional_EqualsForwardPlusReversedRun(RnnMode mode, bool proj)
    {
        // One bidirectional layer = a unidirectional layer with the forward weights on x, and a unidirectional layer with
        // the reverse weights on each sequence reversed within its own length (outputs re-reversed).
        var bi = Net(mode, proj, RnnDirection.Bidirectional, layers: 1);
        var uni = Net(mode, proj, RnnDirection.Unidirectional, layers: 1);
        var xDesc = new RnnDataDescriptor(RnnDataLayout.SeqMajorUnpacked, 6, Lengths.Length, 3, Lengths);
        var x = Rand.Data(11, xDesc, padding: 0);
        var wBi = Rand.Weights(12, bi);
        var lb = RnnWeightLayout.Canonical(bi);
        var lu = RnnWeightLayout.Canonical(uni);
        double[] UniWeights(string sfx)
        {
            var w = new double[lu.TotalElements];
            foreach (var p in lu.PyTorchParameters)
            {
                var v = new double[p.Count];
                lb.ExportPyTorch<double>(wBi, p.Name + sfx, v);
                lu.ImportPyTorch<double>(w, p.Name, v);
            }
            return w;
        }
        var xr = new double[x.Length];
        for (int b = 0; b < Lengths.Length; b++)
            for (int t = 0; t < Lengths[b]; t++)
                Array.Copy(x, (t * Lengths.Length + b) * 3, xr, ((Lengths[b] - 1 - t) * Lengths.Length + b) * 3, 3);
        var engine = TestCpu.Engine();
        var yDy = new double[xDesc.WithVectorSize(bi.OutputSize).ElementCount];
        var full = Pass<double>.Run(engine, bi, xDesc, wBi, x, null, null, yDy, null, null, inferenceOnly: true);
        var fwd = Pass<double>.Run(engine, uni, xDesc, UniWeights(""), x, null, null, new double[xDesc.WithVectorSize(uni.OutputSize).ElementCount], null, null, inferenceOnly: true);
        var rev = Pass<double>.Run(engine, uni, xDesc, UniWeights("_reverse"), xr, null, null, new double[xDesc.WithVectorSize(uni.OutputSize).ElementCount], null, null, inferenceOnly: true);
        int S = bi.StateSize;
        for (int b = 0; b < Lengths.Length; b++)
        {
            for (int t = 0; t < Lengths[b]; t++)
                for (int k = 0; k < S; k++)
                {
                    Assert.Equal(fwd.Y[(t * Lengths.Length + b) * S + k], full.Y[(t * Lengths.Length + b) * 2 * S + k]);
                    Assert.Equal(rev.Y[((Lengths[b] - 1 - t) * Lengths.Length + b) * S + k], full.Y[(t * Lengths.Length + b) * 2 * S + S + k]);
                }
            for (int k = 0; k < S; k++)
            {
                Assert.Equal(fwd.Hy[b * S + k], full.Hy[b * S + k]);
                Assert.Equal(rev.Hy[b * S + k], full.Hy[(Lengths.Length + b) * S + k]);
            }
        }
    }

    [Theory]
    [MemberData(nameof(ModesAndProjection))]
    public void OneSequenceAlone_EqualsTheSameSequenceInABatch(RnnMode mode, bool proj)
    {
        var rnn = Net(mode, proj);
        var xDesc = new RnnDataDescriptor(RnnDataLayout.SeqMajorUnpacked, 6, Lengths.Length, 3, Lengths);
        var x = Rand.Data(21, xDesc, padding: 0);
        var w = Rand.Weights(22, rnn);
        var engine = TestCpu.Engine();
        var batch = Pass<double>.Run(engine, rnn, xDesc, w, x, null, null, new double[xDesc.WithVectorSize(rnn.OutputSize).ElementCount], null, null, inferenceOnly: true);
        const int b0 = 4; // length 4 of 6
        var one = new RnnDataDescriptor(RnnDataLayout.SeqMajorUnpacked, Lengths[b0], 1, 3, [Lengths[b0]]);
        var x1 = new double[one.ElementCount];
        for (int t = 0; t < Lengths[b0]; t++) Array.Copy(x, (t * Lengths.Length + b0) * 3, x1, t * 3, 3);
        var alone = Pass<double>.Run(engine, rnn, one, w, x1, null, null, new double[one.WithVectorSize(rnn.OutputSize).ElementCount], null, null, inferenceOnly: true);
        int O = rnn.OutputSize, S = rnn.StateSize;
        for (int t = 0; t < Lengths[b0]; t++)
            for (int k = 0; k < O; k++)
                Assert.Equal(alone.Y[t * O + k], batch.Y[(t * Lengths.Length + b0) * O + k]);
        for (int pl = 0; pl < rnn.PseudoLayerCount; pl++)
            for (int k = 0; k < S; k++)
                Assert.Equal(alone.Hy[pl * S + k], batch.Hy[(pl * Lengths.Length + b0) * S + k]);
    }

    [Theory]
    [MemberData(nameof(ModesAndProjection))]
    public void InferenceForward_EqualsTrainingForward(RnnMode mode, bool proj)
    {
        var rnn = Net(mode, proj);
        var xDesc = new RnnDataDescriptor(RnnDataLayout.BatchMajorUnpacked, 6, Lengths.Length, 3, Lengths);
        var x = Rand.Data(31, xDesc);
        var w = Rand.Weights(32, rnn);
        var dy = new double[xDesc.WithVectorSize(rnn.OutputSize).ElementCount];
        var hx = Rand.Uniform(33, (long)rnn.PseudoLayerCount * Lengths.Length * rnn.StateSize);
        var engine = TestCpu.Engine();
        var inf = Pass<double>.Run(engine, rnn, xDesc, w, x, hx, null, dy, null, null, inferenceOnly: true);
        var train = Pass<double>.Run(engine, rnn, xDesc, w, x, hx, null, dy, null, null);
        Assert.Equal(inf.Y, train.Y);
        Assert.Equal(inf.Hy, train.Hy);
        Assert.Equal(inf.Cy, train.Cy);
    }

    /// <summary>
    /// Inference keeps a compact layout of its own (two output regions taken in turn, one gates region per direction for
    /// all layers), training the reserve's. Three layers make layer 2 overwrite layer 0's region while both directions of
    /// layer 1 are read; float LSTM takes the fused kernel. Bitwise equal: same arithmetic, only the addresses differ.
    /// </summary>
    [Theory]
    [InlineData(RnnMode.Lstm)]
    [InlineData(RnnMode.Gru)]
    [InlineData(RnnMode.RnnTanh)]
    public void InferenceForward_EqualsTrainingForward_ThreeLayers_Float(RnnMode mode)
    {
        var rnn = new RnnDescriptor(mode, 20, 32, 3, RnnDirection.Bidirectional, dataType: RnnDataType.Float32);
        int[] lengths = [7, 5, 7, 2];
        var xDesc = new RnnDataDescriptor(RnnDataLayout.SeqMajorUnpacked, 7, lengths.Length, 20, lengths);
        float[] F(double[] a) => Array.ConvertAll(a, v => (float)v);
        var x = F(Rand.Data(34, xDesc, padding: 0));
        var w = F(Rand.Weights(35, rnn));
        var hx = F(Rand.Uniform(36, (long)rnn.PseudoLayerCount * lengths.Length * rnn.StateSize));
        var cx = mode == RnnMode.Lstm ? F(Rand.Uniform(37, (long)rnn.PseudoLayerCount * lengths.Length * rnn.HiddenSize)) : null;
        var dy = new float[xDesc.WithVectorSize(rnn.OutputSize).ElementCount];
        var engine = TestCpu.Engine();
        var inf = Pass<float>.Run(engine, rnn, xDesc, w, x, hx, cx, dy, null, null, inferenceOnly: true);
        var train = Pass<float>.Run(engine, rnn, xDesc, w, x, hx, cx, dy, null, null);
        Assert.Equal(inf.Y, train.Y);
        Assert.Equal(inf.Hy, train.Hy);
        Assert.Equal(inf.Cy, train.Cy);
        Assert.All(inf.Y, v => Assert.True(float.IsFinite(v)));
    }

    [Fact]
    public void PaddingIsNeverRead_AndOutputPaddingIsTheFill()
    {
        // x and dy padding is NaN (Rand.Data); any read would poison the results.
        var rnn = Net(RnnMode.Lstm, proj: true);
        var xDesc = new RnnDataDescriptor(RnnDataLayout.SeqMajorUnpacked, 6, Lengths.Length, 3, Lengths, paddingFill: -7.5);
        var yDesc = xDesc.WithVectorSize(rnn.OutputSize);
        var p = Pass<double>.Run(TestCpu.Engine(), rnn, xDesc, Rand.Weights(41, rnn), Rand.Data(42, xDesc), null, null, Rand.Data(43, yDesc), null, null);
        for (int t = 0; t < 6; t++)
            for (int b = 0; b < Lengths.Length; b++)
                for (int k = 0; k < rnn.OutputSize; k++)
                {
                    double v = p.Y[yDesc.PaddedOffset(t, b) + k];
                    if (t < Lengths[b]) Assert.True(double.IsFinite(v), $"y[{t},{b},{k}] = {v}");
                    else Assert.Equal(-7.5, v);
                }
        Assert.All(p.Dw, v => Assert.True(double.IsFinite(v)));
        Assert.All(p.Dhx, v => Assert.True(double.IsFinite(v)));
        for (int t = 0; t < 6; t++)
            for (int b = 0; b < Lengths.Length; b++)
                for (int k = 0; k < 3; k++)
                {
                    double v = p.Dx[xDesc.PaddedOffset(t, b) + k];
                    if (t < Lengths[b]) Assert.True(double.IsFinite(v)); else Assert.Equal(0.0, v);
                }
    }

    [Fact]
    public void Results_AreBitwiseIdentical_AcrossRunsAndThreadCounts()
    {
        var rnn = new RnnDescriptor(RnnMode.Lstm, 24, 40, 2, RnnDirection.Bidirectional, dataType: RnnDataType.Float32);
        var xDesc = new RnnDataDescriptor(RnnDataLayout.SeqMajorUnpacked, 12, 9, 24, [12, 3, 7, 12, 1, 9, 12, 5, 8]);
        float[] F(double[] a) => a.Select(v => (float)v).ToArray();
        var w = F(Rand.Weights(51, rnn)); var x = F(Rand.Data(52, xDesc, 0)); var dy = F(Rand.Data(53, xDesc.WithVectorSize(rnn.OutputSize), 0));
        Pass<float> Go(int threads) => Pass<float>.Run(CpuEngine.Create(threads), rnn, xDesc, w, x, null, null, dy, null, null);
        var a = Go(1);
        foreach (var b in new[] { Go(1), Go(2), Go(3) })
        {
            Assert.Equal(a.Y, b.Y);
            Assert.Equal(a.Dx, b.Dx);
            Assert.Equal(a.Dw, b.Dw);
            Assert.Equal(a.Dhx, b.Dhx);
        }
    }

    [Fact]
    public void Results_AreBitwiseIdentical_AcrossThreadCounts_WhenStepsSplitIntoRowBlocks()
    {
        // Unidirectional with a batch large enough that each time step is split into row blocks across the pool threads
        // (the float LSTM path); H = 72 also takes the fused kernel's tail lanes.
        var rnn = new RnnDescriptor(RnnMode.Lstm, 20, 72, 1, dataType: RnnDataType.Float32);
        int[] lengths = Enumerable.Range(0, 40).Select(b => 10 - b % 7).ToArray();
        var xDesc = new RnnDataDescriptor(RnnDataLayout.SeqMajorUnpacked, 10, 40, 20, lengths);
        float[] F(double[] a) => a.Select(v => (float)v).ToArray();
        var w = F(Rand.Weights(61, rnn)); var x = F(Rand.Data(62, xDesc, 0)); var dy = F(Rand.Data(63, xDesc.WithVectorSize(rnn.OutputSize), 0));
        Pass<float> Go(int threads) => Pass<float>.Run(CpuEngine.Create(threads), rnn, xDesc, w, x, null, null, dy, null, null);
        var a = Go(1);
        foreach (var b in new[] { Go(2), Go(3) })
        {
            Assert.Equal(a.Y, b.Y);
            Assert.Equal(a.Dx, b.Dx);
            Assert.Equal(a.Dw, b.Dw);
            Assert.Equal(a.Dhx, b.Dhx);
        }
    }

    [Fact]
    public void ConcurrentPlans_OnTheSharedPool_GetTheSameBits()
    {
        // Several threads drive their own plans at once; they share the engine's pool of GEMM workers and arrays.
        var rnn = new RnnDescriptor(RnnMode.Gru, 32, 48, 2, RnnDirection.Bidirectional, dataType: RnnDataType.Float32);
        var xDesc = new RnnDataDescriptor(RnnDataLayout.SeqMajorUnpacked, 10, 8, 32, [10, 9, 9, 7, 5, 4, 2, 1]);
        float[] F(double[] a) => a.Select(v => (float)v).ToArray();
        var w = F(Rand.Weights(91, rnn)); var x = F(Rand.Data(92, xDesc, 0)); var dy = F(Rand.Data(93, xDesc.WithVectorSize(rnn.OutputSize), 0));
        var engine = TestCpu.Engine();
        var reference = Pass<float>.Run(engine, rnn, xDesc, w, x, null, null, dy, null, null);
        var results = new Pass<float>[6];
        Parallel.For(0, results.Length, new ParallelOptions { MaxDegreeOfParallelism = 6 }, i =>
        {
            for (int k = 0; k < 3; k++) results[i] = Pass<float>.Run(engine, rnn, xDesc, w, x, null, null, dy, null, null);
        });
        foreach (var r in results)
        {
            Assert.Equal(reference.Y, r.Y);
            Assert.Equal(reference.Dx, r.Dx);
            Assert.Equal(reference.Dw, r.Dw);
        }
    }

    [Fact]
    public void CellClip_ChangesResults_WhenBoundsBite()
    {
        // Guards against a clip that silently does nothing (the FD grid would pass either way).
        var with = new RnnDescriptor(RnnMode.Lstm, 3, 5, dataType: RnnDataType.Float64, cellClip: new RnnCellClip(-0.05, 0.05));
        var without = new RnnDescriptor(RnnMode.Lstm, 3, 5, dataType: RnnDataType.Float64);
        var xDesc = RnnDataDescriptor.Uniform(RnnDataLayout.SeqMajorUnpacked, 6, 3, 3);
        var x = Rand.Data(61, xDesc); var w = Rand.Weights(62, without);
        var dy = new double[xDesc.WithVectorSize(5).ElementCount];
        var a = Pass<double>.Run(TestCpu.Engine(), with, xDesc, w, x, null, null, dy, null, null, inferenceOnly: true);
        var b = Pass<double>.Run(TestCpu.Engine(), without, xDesc, w, x, null, null, dy, null, null, inferenceOnly: true);
        Assert.NotEqual(a.Y, b.Y);
        // |h| = |o·tanh(clip c)| ≤ tanh(0.05) with clipping.
        Assert.All(a.Y, v => Assert.True(Math.Abs(v) <= Math.Tanh(0.05) + 1e-15));
        // cy is the unclipped cell state (documented, unverified cuDNN behaviour): it may exceed the bounds.
        Assert.Contains(a.Cy, v => Math.Abs(v) > 0.05);
    }

    [Fact]
    public void Dropout_OnlyBetweenLayers_OnlyInTraining_AndReproducible()
    {
        var drop = new RnnDescriptor(RnnMode.Gru, 4, 6, 2, RnnDirection.Bidirectional, dataType: RnnDataType.Float64, dropout: 0.5, dropoutSeed: 9);
        var none = drop.WithDropout(0, 9);
        var oneLayer = new RnnDescriptor(RnnMode.Gru, 4, 6, 1, RnnDirection.Bidirectional, dataType: RnnDataType.Float64, dropout: 0.5, dropoutSeed: 9);
        var xDesc = RnnDataDescriptor.Uniform(RnnDataLayout.SeqMajorUnpacked, 5, 3, 4);
        var x = Rand.Data(71, xDesc); var w = Rand.Weights(72, drop);
        var dy = Rand.Data(73, xDesc.WithVectorSize(12));
        var e = TestCpu.Engine();
        var infDrop = Pass<double>.Run(e, drop, xDesc, w, x, null, null, dy, null, null, inferenceOnly: true);
        var infNone = Pass<double>.Run(e, none, xDesc, w, x, null, null, dy, null, null, inferenceOnly: true);
        Assert.Equal(infNone.Y, infDrop.Y); // inference: no dropout
        var t1 = Pass<double>.Run(e, drop, xDesc, w, x, null, null, dy, null, null);
        var t2 = Pass<double>.Run(e, drop, xDesc, w, x, null, null, dy, null, null);
        Assert.NotEqual(infNone.Y, t1.Y);   // training: dropout changes the second layer's input
        Assert.Equal(t1.Y, t2.Y);           // same seed, first forward of a fresh plan: same masks
        Assert.Equal(t1.Dw, t2.Dw);
        var w1 = Rand.Weights(72, oneLayer);
        var a = Pass<double>.Run(e, oneLayer, xDesc, w1, x, null, null, dy, null, null);
        var b = Pass<double>.Run(e, oneLayer.WithDropout(0, 9), xDesc, w1, x, null, null, dy, null, null);
        Assert.Equal(b.Y, a.Y); // a single layer has no dropout at all
    }

    [Fact]
    public void Dropout_Gradient_MatchesFiniteDifferencesWithFixedMasks()
    {
        // With dropout the loss depends on the mask; a second plan's first forward repeats the first plan's masks, so a
        // finite difference over fresh plans sees the same mask as the analytic pass.
        var rnn = new RnnDescriptor(RnnMode.Lstm, 3, 4, 2, dataType: RnnDataType.Float64, dropout: 0.3, dropoutSeed: 5);
        var xDesc = RnnDataDescriptor.Uniform(RnnDataLayout.SeqMajorUnpacked, 4, 2, 3);
        var x = Rand.Data(81, xDesc); var w = Rand.Weights(82, rnn); var dy = Rand.Data(83, xDesc.WithVectorSize(4));
        var e = TestCpu.Engine();
        var p = Pass<double>.Run(e, rnn, xDesc, w, x, null, null, dy, null, null);
        double Loss(double[] xx) => Pass<double>.Run(e, rnn, xDesc, w, xx, null, null, dy, null, null).Y.Zip(dy, (a, b) => a * b).Sum();
        const double h = 1e-5;
        foreach (int i in new[] { 0, 7, 13, 22 })
        {
            var xp = (double[])x.Clone(); xp[i] += h;
            var xm = (double[])x.Clone(); xm[i] -= h;
            double fd = (Loss(xp) - Loss(xm)) / (2 * h);
            // Same budget as GradientCheckOptions: 1e-6 relative plus the rounding term of a central difference.
            Assert.True(Math.Abs(fd - p.Dx[i]) <= 1e-6 * Math.Abs(fd) + 1e-9, $"dx[{i}]: fd {fd:R} analytic {p.Dx[i]:R}");
        }
    }
}

/// <summary>
/// Hot paths allocate nothing: after warm-up, forward and backward calls allocate 0 bytes on the calling thread. Runs
/// alone: when other tests hold the shared GEMM pool, a caller packs on its own thread and allocates its thread-local
/// packing buffers the first time — a one-off that depends on contention, not on the call.
/// </summary>
[Collection(nameof(AllocationTests))]
public sealed class AllocationTests
{
    [Theory]
    [InlineData(RnnMode.Lstm, true)]
    [InlineData(RnnMode.Gru, false)]
    public void ForwardAndBackward_AllocateNothingAfterWarmUp(RnnMode mode, bool proj)
    {
        // Large enough that the two directions run on two threads (the pool path) where the machine has them.
        var rnn = new RnnDescriptor(mode, 64, 96, 2, RnnDirection.Bidirectional, proj ? 48 : null, dataType: RnnDataType.Float32, dropout: 0.2);
        var xDesc = new RnnDataDescriptor(RnnDataLayout.SeqMajorUnpacked, 20, 16, 64, Enumerable.Range(0, 16).Select(i => 20 - i).ToArray());
        using var e = TestCpu.Engine();
        using var plan = e.CreatePlan<float>(rnn, xDesc);
        using var x = e.Allocate<float>(xDesc.ElementCount);
        using var y = e.Allocate<float>(plan.YDesc.ElementCount);
        using var dx = e.Allocate<float>(xDesc.ElementCount);
        using var w = e.Upload<float>(Rand.Weights(1, rnn).Select(v => (float)v).ToArray());
        using var dw = e.Allocate<float>(w.Length);
        using var hx = e.Allocate<float>(plan.HiddenStateElements);
        using var hy = e.Allocate<float>(plan.HiddenStateElements);
        using var cx = mode == RnnMode.Lstm ? e.Allocate<float>(plan.CellStateElements) : null;
        using var r = plan.CreateReserve();
        void Step()
        {
            plan.Forward(RnnForwardMode.Inference, x, y, hx, hy, cx, null, w, null);
            plan.Forward(RnnForwardMode.Training, x, y, hx, hy, cx, null, w, r);
            plan.BackwardData(y, y, dx, hx, hy, null, cx, null, null, w, r);
            plan.BackwardWeights(WeightGradMode.Add, x, hx, y, dw, r);
        }
        SteadyStateAllocation.AssertAllocationFree(Step);
    }
}

/// <summary>Runs <see cref="AllocationTests"/> with no other test in parallel.</summary>
[CollectionDefinition(nameof(AllocationTests), DisableParallelization = true)]
public sealed class AllocationTestsCollection;
