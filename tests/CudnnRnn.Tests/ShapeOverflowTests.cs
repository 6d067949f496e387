using CudnnRnn.Cpu;
using Xunit;

namespace CudnnRnn.Tests;

/// <summary>
/// Issue 16 item 4: shape products are 64-bit everywhere, and a shape an engine cannot address is refused when the
/// descriptor or the plan is created, naming the argument and the limit. Nothing here allocates a big buffer.
/// </summary>
public sealed class ShapeOverflowTests
{
    private const long Big = 65536L * 65537L; // 4295032832 = 2^32 + 2^16: wraps to 65536 as an int product

    [Theory]
    [InlineData(RnnDataLayout.SeqMajorUnpacked)]
    [InlineData(RnnDataLayout.BatchMajorUnpacked)]
    [InlineData(RnnDataLayout.SeqMajorPacked)]
    public void DataDescriptor_65536x65537x1_ReportsItsTrueElementCount(RnnDataLayout layout)
    {
        var d = RnnDataDescriptor.Uniform(layout, 65536, 65537, 1);
        Assert.Equal(Big, d.ElementCount);
        Assert.Equal(Big, d.TotalSteps);
        Assert.Equal(65537, d.BatchSizeAt(65535));
        Assert.Equal(Big - 1, d.Offset(65535, 65536)); // the last vector is the last element, in every layout
    }

    [Fact]
    public void DataDescriptor_VaryingLengths_CountsEachStep()
    {
        // Lengths 3, 1, 2: batch sizes per step 3, 2, 1 and 6 valid steps (the counting pass, not a loop per step).
        var d = new RnnDataDescriptor(RnnDataLayout.SeqMajorUnpacked, 3, 3, 5, [3, 1, 2]);
        Assert.Equal([3, 2, 1], Enumerable.Range(0, 3).Select(d.BatchSizeAt));
        Assert.Equal(6, d.TotalSteps);
        Assert.Equal(45, d.ElementCount);
        var p = new RnnDataDescriptor(RnnDataLayout.SeqMajorPacked, 3, 3, 5, [3, 2, 1]);
        Assert.Equal(30, p.ElementCount);
        Assert.Equal(5 * 5, p.Offset(2, 0)); // step 2 starts after 3 + 2 rows
    }

    [Fact]
    public void DataDescriptor_BeyondMaxElementCount_IsRefusedNamingTheLimit()
    {
        // 2^20 × 2^20 × 2^21 = 2^61 elements > MaxElementCount = 2^60 - 1 (but it fits a long: the limit, not a wrap, decides).
        var ex = Assert.Throws<ArgumentOutOfRangeException>(() => RnnDataDescriptor.Uniform(RnnDataLayout.SeqMajorUnpacked, 1 << 20, 1 << 20, 1 << 21));
        Assert.Equal("vectorSize", ex.ParamName);
        Assert.Contains(RnnDataDescriptor.MaxElementCount.ToString(System.Globalization.CultureInfo.InvariantCulture), ex.Message, StringComparison.Ordinal);
        // 2^20 × 2^20 × (2^31 - 1) does not even fit 64 bits.
        ex = Assert.Throws<ArgumentOutOfRangeException>(() => RnnDataDescriptor.Uniform(RnnDataLayout.SeqMajorUnpacked, 1 << 20, 1 << 20, int.MaxValue));
        Assert.Contains("more than 2^63", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Plan_TooSmallBufferForABigShape_FailsTheSizeCheck()
    {
        // A plan that computes nothing (no workspace) on the big shape: the base class's checks are what is tested.
        using var cpu = TestCpu.Engine();
        var rnn = new RnnDescriptor(RnnMode.RnnTanh, 1, 1, dataType: RnnDataType.Float32);
        var xDesc = RnnDataDescriptor.Uniform(RnnDataLayout.SeqMajorUnpacked, 65536, 65537, 1);
        using var plan = new NullPlan(cpu, rnn, xDesc);
        using var x = new UnbackedBuffer(cpu, 65536);     // what the wrapped int count would have asked for
        using var y = new UnbackedBuffer(cpu, Big);
        using var w = cpu.Allocate<float>(plan.WeightLayout.TotalElements);
        var ex = Assert.Throws<ArgumentException>(() => plan.Forward(RnnForwardMode.Inference, x, y, null, null, null, null, w, null));
        Assert.Equal("x", ex.ParamName);
        Assert.Contains("expected 4295032832", ex.Message, StringComparison.Ordinal);
        using var xOk = new UnbackedBuffer(cpu, Big);
        plan.Forward(RnnForwardMode.Inference, xOk, y, null, null, null, null, w, null); // the right sizes pass
        Assert.Equal(1, plan.Calls);
    }

    [Fact]
    public void Descriptor_WeightCountsAre64Bit()
    {
        // weight_ih_l0 is 4·2^20 × 2^20 = 2^42 elements: an int product wraps it to 0.
        var rnn = new RnnDescriptor(RnnMode.Lstm, 1 << 20, 1 << 20);
        var layout = RnnWeightLayout.Canonical(rnn);
        Assert.Equal(1L << 42, layout.GetPyTorchParameter("weight_ih_l0").Count);
        Assert.Equal(layout.PyTorchParameters.Sum(p => p.Count), layout.TotalElements);
        Assert.Equal(layout.TotalElements, rnn.CanonicalWeightCount);
        Assert.Equal((1L << 42) * 2 + 8L * (1 << 20), rnn.CanonicalWeightCount);
    }

    [Fact]
    public void Descriptor_GatesTimesHiddenBeyondInt_IsRefused()
    {
        // 4 × 2^29 = 2^31: the row count of weight_ih (an int in the PyTorch shape) would wrap negative.
        var ex = Assert.Throws<ArgumentOutOfRangeException>(() => new RnnDescriptor(RnnMode.Lstm, 1, 1 << 29));
        Assert.Equal("hiddenSize", ex.ParamName);
        Assert.Contains(int.MaxValue.ToString(System.Globalization.CultureInfo.InvariantCulture), ex.Message, StringComparison.Ordinal);
        _ = new RnnDescriptor(RnnMode.Gru, 1, 1 << 29); // 3 × 2^29 fits
        ex = Assert.Throws<ArgumentOutOfRangeException>(() => new RnnDescriptor(RnnMode.RnnTanh, 1, 1 << 30, direction: RnnDirection.Bidirectional));
        Assert.Equal("hiddenSize", ex.ParamName); // y would be 2 × 2^30 wide
    }

    [Fact]
    public void Descriptor_WeightSpaceBeyondMaxElementCount_IsRefused()
    {
        // Per layer ≈ 2 × 4·2^28 × 2^28 = 2^59 elements; 8 layers pass 2^60.
        var ex = Assert.Throws<ArgumentOutOfRangeException>(() => new RnnDescriptor(RnnMode.Lstm, 1 << 28, 1 << 28, numLayers: 8));
        Assert.Equal("numLayers", ex.ParamName);
        Assert.Contains("MaxElementCount", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void CpuPlan_InferenceScratchBeyondOneArray_FailsAtPlanCreation()
    {
        // LSTM with projection 1: x, y, weights and every workspace are small, but the inference scratch (and the reserve)
        // need N × 4H = 65536 × 32768 = 2^31 elements, more than one managed array. Before: the plan was created and the
        // first forward threw OverflowException. Now: CreatePlan refuses, naming xDesc and the limit.
        using var cpu = TestCpu.Engine();
        var rnn = new RnnDescriptor(RnnMode.Lstm, 1, 8192, projSize: 1, dataType: RnnDataType.Float32);
        var xDesc = RnnDataDescriptor.Uniform(RnnDataLayout.SeqMajorUnpacked, 65536, 1, 1);
        var ex = Assert.Throws<ArgumentOutOfRangeException>(() => cpu.CreatePlan<float>(rnn, xDesc));
        Assert.Equal("xDesc", ex.ParamName);
        Assert.Contains(Array.MaxLength.ToString(System.Globalization.CultureInfo.InvariantCulture), ex.Message, StringComparison.Ordinal);
        Assert.Contains("reserve space", ex.Message, StringComparison.Ordinal);
        Assert.True(RnnPlanLimits.ReferenceReserveElements(rnn, xDesc) > Array.MaxLength);
    }

    [Fact]
    public void CpuPlan_DataBeyondOneArray_IsRefusedBeforeAnyWork()
    {
        using var cpu = TestCpu.Engine();
        var rnn = new RnnDescriptor(RnnMode.RnnTanh, 1, 1, dataType: RnnDataType.Float32);
        var ex = Assert.Throws<ArgumentOutOfRangeException>(() => cpu.CreatePlan<float>(rnn, RnnDataDescriptor.Uniform(RnnDataLayout.SeqMajorPacked, 65536, 65537, 1)));
        Assert.Equal("xDesc", ex.ParamName);
        Assert.Contains("4295032832", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ReferenceReserve_MatchesTheCpuPlansReserve()
    {
        // The limit check's count is the CPU plan's own reserve length, for every feature that changes it.
        using var cpu = TestCpu.Engine();
        var xDesc = new RnnDataDescriptor(RnnDataLayout.SeqMajorUnpacked, 4, 3, 3, [4, 2, 3]);
        foreach (var rnn in new[]
        {
            new RnnDescriptor(RnnMode.Lstm, 3, 5, 2, RnnDirection.Bidirectional, projSize: 2, dropout: 0.3),
            new RnnDescriptor(RnnMode.Gru, 3, 4, 3),
            new RnnDescriptor(RnnMode.RnnRelu, 3, 6, 1, RnnDirection.Bidirectional),
        })
        {
            using var plan = cpu.CreatePlan<float>(rnn, xDesc);
            Assert.Equal(plan.ReserveBytes / sizeof(float), RnnPlanLimits.ReferenceReserveElements(rnn, xDesc));
        }
    }
}
