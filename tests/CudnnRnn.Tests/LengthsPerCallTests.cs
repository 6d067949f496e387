using CudnnRnn.Testing;
using Xunit;
using System.Numerics;
using System.Runtime.InteropServices;
using CudnnRnn.Cpu;

namespace CudnnRnn.Tests;

/// <summary>Plans per shape, lengths per call on the CPU engine: bitwise identical to a plan built for the exact lengths.</summary>
public sealed class LengthsPerCallTests
{
    public static TheoryData<int> Seeds() => new(Enumerable.Range(0, RandomConfigurations.Count));

    [Theory]
    [MemberData(nameof(Seeds))]
    public void OnePlanPerShape_IsBitwiseIdenticalToAPlanPerLengths_Float64(int seed) => Check<double>(seed, RnnDataType.Float64);

    [Theory]
    [MemberData(nameof(Seeds))]
    public void OnePlanPerShape_IsBitwiseIdenticalToAPlanPerLengths_Float32(int seed) => Check<float>(seed, RnnDataType.Float32);

    /// <summary>
    /// Every mode, uni/bi, all layouts (RandomConfigurations), training and inference, forward and both backwards: five
    /// sets of lengths (the worst case first) through one plan, each compared with a fresh plan for its exact lengths.
    /// The plan is built on the configuration's own lengths, so it starts with other lengths than its first call.
    /// </summary>
    private static void Check<T>(int seed, RnnDataType dataType) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var (rnn, shape) = RandomConfigurations.Get(seed, dataType);
        using var cpu = CpuEngine.Create();
        var calls = LengthsPerCall.RandomLengthSets(shape, 5, 31 * seed + 1);
        var w = LengthsPerCall.Weights<T>(cpu, rnn, seed);
        var shared = LengthsPerCall.RunShared(cpu, rnn, shape, calls, w, 100 * seed);
        for (int i = 0; i < calls.Length; i++)
        {
            var fresh = LengthsPerCall.RunFresh(cpu, rnn, calls[i], i, w, 100 * seed);
            string? diff = LengthsPerCall.FirstDifference(fresh, shared[i], Marshal.SizeOf<T>());
            Assert.True(diff is null, $"call {i} {calls[i]}: {diff}");
        }
    }

    [Fact]
    public void TheBitwiseComparison_FailsOnOneUlp()
    {
        var a = new LengthsPerCall.Outputs(new() { ["y"] = BitConverter.GetBytes(1.0) });
        var b = new LengthsPerCall.Outputs(new() { ["y"] = BitConverter.GetBytes(Math.BitIncrement(1.0)) });
        Assert.Equal("y[0] differs", LengthsPerCall.FirstDifference(a, b, 8));
        Assert.Null(LengthsPerCall.FirstDifference(a, a, 8));
    }

    [Fact]
    public void AnotherShape_IsRefusedNamingWhatDiffers_BeforeAnyWork()
    {
        var rnn = new RnnDescriptor(RnnMode.Gru, 3, 4, 1, RnnDirection.Unidirectional, dataType: RnnDataType.Float64);
        var shape = new RnnDataDescriptor(RnnDataLayout.SeqMajorUnpacked, 5, 2, 3, [5, 3]);
        using var e = CpuEngine.Create();
        using var plan = e.CreatePlan<double>(rnn, shape);
        using var w = e.Allocate<double>(plan.WeightLayout.TotalElements);
        foreach (var (other, word) in new[]
        {
            (new RnnDataDescriptor(RnnDataLayout.SeqMajorUnpacked, 5, 3, 3, [5, 3, 1]), "batch"),
            (new RnnDataDescriptor(RnnDataLayout.SeqMajorUnpacked, 6, 2, 3, [5, 3]), "maxSeqLength"),
            (new RnnDataDescriptor(RnnDataLayout.BatchMajorUnpacked, 5, 2, 3, [5, 3]), "layout"),
            (new RnnDataDescriptor(RnnDataLayout.SeqMajorUnpacked, 5, 2, 3, [5, 3], paddingFill: 1), "paddingFill"),
        })
        {
            using var x = e.Allocate<double>(other.ElementCount);
            using var y = e.Allocate<double>(other.ElementCount / 3 * 4);
            y.Fill(7);
            var ex = Assert.Throws<ArgumentException>(() => plan.Forward(RnnForwardMode.Inference, other, x, y, null, null, null, null, w, null));
            Assert.Equal("xDesc", ex.ParamName);
            Assert.Contains(word, ex.Message);
            Assert.All(y.ToArray(), v => Assert.Equal(7, v));
        }
    }

    [Fact]
    public void ABackwardWithOtherLengthsThanItsForward_IsRefused()
    {
        var rnn = new RnnDescriptor(RnnMode.Lstm, 3, 4, 1, RnnDirection.Bidirectional, dataType: RnnDataType.Float64);
        var a = new RnnDataDescriptor(RnnDataLayout.SeqMajorUnpacked, 5, 2, 3, [5, 3]);
        var b = new RnnDataDescriptor(RnnDataLayout.SeqMajorUnpacked, 5, 2, 3, [2, 4]);
        using var e = CpuEngine.Create();
        using var plan = e.CreatePlan<double>(rnn, a);
        using var w = e.Upload(Rand.Weights(1, rnn));
        using var x = e.Upload(Rand.Uniform(2, a.ElementCount));
        using var y = e.Allocate<double>(a.ElementCount / 3 * 8);
        using var dx = e.Allocate<double>(a.ElementCount);
        using var dw = e.Allocate<double>(w.Length);
        using var r = plan.CreateReserve();
        plan.Forward(RnnForwardMode.Training, b, x, y, null, null, null, null, w, r);
        Assert.Same(b, r.XDesc);
        dx.Fill(7);
        var ex = Assert.Throws<ArgumentException>(() => plan.BackwardData(a, y, y, dx, null, null, null, null, null, null, w, r));
        Assert.Contains("lengths", ex.Message);
        Assert.All(dx.ToArray(), v => Assert.Equal(7, v));
        // The signature without a descriptor uses the reserve's lengths.
        plan.BackwardData(y, y, dx, null, null, null, null, null, null, w, r);
        Assert.Throws<ArgumentException>(() => plan.BackwardWeights(WeightGradMode.Set, a, x, null, y, dw, r));
        plan.BackwardWeights(WeightGradMode.Set, x, null, y, dw, r);
    }

    [Fact]
    public void PackedBuffers_AreSizedByTheCallsLengths()
    {
        var rnn = new RnnDescriptor(RnnMode.RnnTanh, 2, 3, 1, RnnDirection.Unidirectional, dataType: RnnDataType.Float64);
        var shape = new RnnDataDescriptor(RnnDataLayout.SeqMajorPacked, 4, 2, 2, [4, 4]);
        var call = new RnnDataDescriptor(RnnDataLayout.SeqMajorPacked, 4, 2, 2, [3, 1]);
        using var e = CpuEngine.Create();
        using var plan = e.CreatePlan<double>(rnn, shape);
        using var w = e.Upload(Rand.Weights(1, rnn));
        using var x = e.Upload(Rand.Uniform(2, call.ElementCount));
        using var yWrong = e.Allocate<double>(8 * 3);
        using var y = e.Allocate<double>(4 * 3);
        var ex = Assert.Throws<ArgumentException>(() => plan.Forward(RnnForwardMode.Inference, call, x, yWrong, null, null, null, null, w, null));
        Assert.Equal("y", ex.ParamName);
        plan.Forward(RnnForwardMode.Inference, call, x, y, null, null, null, null, w, null);
        Assert.All(y.ToArray(), v => Assert.True(double.IsFinite(v)));
    }
}

public sealed class LayerPlansPerShapeTests
{
    [Fact]
    public void BatchesThatDifferOnlyInLengths_ShareOnePlan_AndContextsKeepTheirLengths()
    {
        var rnn = new RnnDescriptor(RnnMode.Gru, 3, 4, 2, RnnDirection.Bidirectional, dataType: RnnDataType.Float64, dropout: 0.25);
        var shape = RnnDataDescriptor.Uniform(RnnDataLayout.SeqMajorPacked, 6, 3, 3);
        var calls = LengthsPerCall.RandomLengthSets(shape, 6, 3);
        using var e = CpuEngine.Create();
        using var layer = new RnnLayer<double>(e, rnn, seed: 2);
        using var reference = new RnnLayer<double>(e, rnn, seed: 2);
        var contexts = calls.Select(d => layer.Forward(d, Rand.Uniform(7, d.ElementCount))).ToList();
        Assert.Equal(1, layer.CachedShapes);
        Assert.Equal(2, layer.PlansCreated);   // training plan + the inference plan without dropout
        for (int i = contexts.Count - 1; i >= 0; i--)
        {
            Assert.Same(calls[i], contexts[i].XDesc);
            Assert.Equal(calls[i].TotalSteps * 8, contexts[i].Y.Length);
            var dx = layer.Backward(contexts[i], Rand.Uniform(8, contexts[i].Y.Length)).Dx;
            Assert.Equal(calls[i].ElementCount, dx.Length);
            contexts[i].Dispose();
        }
        // Another batch size is another shape.
        using var c = layer.Forward(RnnDataDescriptor.Uniform(RnnDataLayout.SeqMajorPacked, 6, 2, 3), Rand.Uniform(7, 36));
        Assert.Equal(2, layer.CachedShapes);
        Assert.Equal(4, layer.PlansCreated);
    }
}

[Collection(nameof(AllocationTests))]
public sealed class LengthsPerCallAllocationTests
{
    [Theory]
    [InlineData(RnnMode.Lstm, RnnDataLayout.SeqMajorUnpacked)]
    [InlineData(RnnMode.Gru, RnnDataLayout.SeqMajorPacked)]
    public void VariableLengthCalls_AllocateNothingAfterWarmUp(RnnMode mode, RnnDataLayout layout)
    {
        var rnn = new RnnDescriptor(mode, 32, 48, 2, RnnDirection.Bidirectional, dataType: RnnDataType.Float32, dropout: 0.2);
        var shape = RnnDataDescriptor.Uniform(layout, 12, 8, 32);
        var calls = LengthsPerCall.RandomLengthSets(shape, 4, 5);
        using var e = CpuEngine.Create();
        using var plan = e.CreatePlan<float>(rnn, shape);
        var bufs = calls.Select(d => (X: e.Allocate<float>(d.ElementCount), Y: e.Allocate<float>(d.ElementCount / 32 * 96), Dx: e.Allocate<float>(d.ElementCount))).ToArray();
        using var w = e.Upload<float>(Rand.Weights(1, rnn).Select(v => (float)v).ToArray());
        using var dw = e.Allocate<float>(w.Length);
        using var hx = e.Allocate<float>(plan.HiddenStateElements);
        using var r = plan.CreateReserve();
        void Step()
        {
            for (int i = 0; i < calls.Length; i++)
            {
                var (x, y, dx) = bufs[i];
                plan.Forward(RnnForwardMode.Inference, calls[i], x, y, hx, null, null, null, w, null);
                plan.Forward(RnnForwardMode.Training, calls[i], x, y, hx, null, null, null, w, r);
                plan.BackwardData(calls[i], y, y, dx, hx, null, null, null, null, null, w, r);
                plan.BackwardWeights(WeightGradMode.Add, calls[i], x, hx, y, dw, r);
            }
        }
        try { SteadyStateAllocation.AssertAllocationFree(Step, warmUp: 2, windows: 6, stepsPerWindow: 1); }
        finally { foreach (var (x, y, dx) in bufs) { x.Dispose(); y.Dispose(); dx.Dispose(); } }
    }
}
