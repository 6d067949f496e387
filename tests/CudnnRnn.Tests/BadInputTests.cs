using CudnnRnn.Testing;
using CudnnRnn.Cpu;
using CudnnRnn.Verification;
using Xunit;

namespace CudnnRnn.Tests;

/// <summary>Bad input gets a clear .NET exception naming the argument and the expected value, before any work.</summary>
public sealed class BadInputTests
{
    private static T Throws<T>(string param, string messagePart, Action a) where T : ArgumentException
    {
        var ex = Assert.Throws<T>(a);
        Assert.Equal(param, ex.ParamName);
        Assert.Contains(messagePart, ex.Message, StringComparison.Ordinal);
        return ex;
    }

    [Theory]
    [InlineData(0, 4, 1, "inputSize")]
    [InlineData(-3, 4, 1, "inputSize")]
    [InlineData(3, 0, 1, "hiddenSize")]
    [InlineData(3, 4, 0, "numLayers")]
    public void Descriptor_RejectsNonPositiveSizes(int input, int hidden, int layers, string param) =>
        Throws<ArgumentOutOfRangeException>(param, "at least 1", () => _ = new RnnDescriptor(RnnMode.Lstm, input, hidden, layers));

    [Fact]
    public void Descriptor_RejectsSkipInputWithDifferentSizes() =>
        Throws<ArgumentException>("inputMode", "inputSize must equal hiddenSize", () => _ = new RnnDescriptor(RnnMode.Gru, 3, 4, inputMode: RnnInputMode.Skip));

    [Theory]
    [InlineData(RnnMode.Gru)]
    [InlineData(RnnMode.RnnTanh)]
    [InlineData(RnnMode.RnnRelu)]
    public void Descriptor_RejectsProjectionAndClipOnNonLstm(RnnMode mode)
    {
        Throws<ArgumentException>("projSize", "Lstm only", () => _ = new RnnDescriptor(mode, 3, 4, projSize: 2));
        Throws<ArgumentException>("cellClip", "Lstm only", () => _ = new RnnDescriptor(mode, 3, 4, cellClip: new RnnCellClip(-1, 1)));
    }

    [Theory]
    [InlineData(5)]
    [InlineData(0)]
    [InlineData(-1)]
    public void Descriptor_RejectsProjSizeOutsideRange(int proj) =>
        Throws<ArgumentOutOfRangeException>("projSize", "1..hiddenSize (4)", () => _ = new RnnDescriptor(RnnMode.Lstm, 3, 4, projSize: proj));

    [Theory]
    [InlineData(1.0, 0.5, "must not exceed")]
    [InlineData(double.NaN, 1.0, "NaN")]
    [InlineData(-1.0, double.NaN, "NaN")]
    public void Descriptor_RejectsBadClip(double min, double max, string message) =>
        Throws<ArgumentOutOfRangeException>("cellClip", message, () => _ = new RnnDescriptor(RnnMode.Lstm, 3, 4, cellClip: new RnnCellClip(min, max)));

    [Theory]
    [InlineData(-0.1)]
    [InlineData(1.0)]
    [InlineData(double.NaN)]
    public void Descriptor_RejectsDropoutOutsideUnitInterval(double p) =>
        Throws<ArgumentOutOfRangeException>("dropout", "[0, 1)", () => _ = new RnnDescriptor(RnnMode.Lstm, 3, 4, 2, dropout: p));

    [Fact]
    public void Descriptor_RejectsUndefinedEnums()
    {
        Throws<ArgumentOutOfRangeException>("mode", "Expected", () => _ = new RnnDescriptor((RnnMode)7, 3, 4));
        Throws<ArgumentOutOfRangeException>("biasMode", "Expected", () => _ = new RnnDescriptor(RnnMode.Lstm, 3, 4, biasMode: (RnnBiasMode)9));
    }

    [Theory]
    [InlineData(0, 2, 3, "maxSeqLength")]
    [InlineData(4, 0, 3, "batch")]
    [InlineData(4, 2, 0, "vectorSize")]
    public void DataDescriptor_RejectsNonPositiveSizes(int t, int b, int v, string param) =>
        Throws<ArgumentOutOfRangeException>(param, "at least 1", () => _ = new RnnDataDescriptor(RnnDataLayout.SeqMajorUnpacked, t, b, v, new int[Math.Max(b, 0)]));

    [Theory]
    [InlineData(0)]
    [InlineData(5)]
    [InlineData(-2)]
    public void DataDescriptor_RejectsLengthsOutsideRange(int bad) =>
        Throws<ArgumentOutOfRangeException>("seqLengths", "expected 1..maxSeqLength (4)", () => _ = new RnnDataDescriptor(RnnDataLayout.SeqMajorUnpacked, 4, 2, 3, [2, bad]));

    [Fact]
    public void DataDescriptor_RejectsWrongLengthCount() =>
        Throws<ArgumentException>("seqLengths", "expected one per sequence (3)", () => _ = new RnnDataDescriptor(RnnDataLayout.SeqMajorUnpacked, 4, 3, 3, [1, 2]));

    [Fact]
    public void DataDescriptor_RejectsUnsortedLengthsWhenPacked() =>
        Throws<ArgumentException>("seqLengths", "descending", () => _ = new RnnDataDescriptor(RnnDataLayout.SeqMajorPacked, 4, 3, 3, [4, 2, 3]));

    private static (CpuEngine, RnnPlan<float>) Plan(RnnMode mode = RnnMode.Lstm)
    {
        var e = TestCpu.Engine();
        return (e, e.CreatePlan<float>(new RnnDescriptor(mode, 3, 4, 2), RnnDataDescriptor.Uniform(RnnDataLayout.SeqMajorUnpacked, 5, 2, 3)));
    }

    [Fact]
    public void Plan_RejectsTypeMismatchAndWrongVectorSize()
    {
        var e = TestCpu.Engine();
        Throws<ArgumentException>("rnn", "Float32", () => e.CreatePlan<double>(new RnnDescriptor(RnnMode.Gru, 3, 4), RnnDataDescriptor.Uniform(RnnDataLayout.SeqMajorUnpacked, 5, 2, 3)));
        Throws<ArgumentException>("xDesc", "expected the network's inputSize 3", () => e.CreatePlan<float>(new RnnDescriptor(RnnMode.Gru, 3, 4), RnnDataDescriptor.Uniform(RnnDataLayout.SeqMajorUnpacked, 5, 2, 4)));
    }

    [Fact]
    public void Forward_RejectsWrongLengthsAndNulls()
    {
        var (e, plan) = Plan();
        using var x = e.Allocate<float>(plan.XDesc.ElementCount);
        using var y = e.Allocate<float>(plan.YDesc.ElementCount);
        using var w = e.Allocate<float>(plan.WeightLayout.TotalElements);
        using var shortX = e.Allocate<float>(plan.XDesc.ElementCount - 1);
        using var badHx = e.Allocate<float>(plan.HiddenStateElements + 1);
        using var badCx = e.Allocate<float>(3);
        using var r = plan.CreateReserve();
        Throws<ArgumentException>("x", $"expected {plan.XDesc.ElementCount}", () => plan.Forward(RnnForwardMode.Inference, shortX, y, null, null, null, null, w, null));
        Throws<ArgumentException>("hx", $"expected {plan.HiddenStateElements}", () => plan.Forward(RnnForwardMode.Inference, x, y, badHx, null, null, null, w, null));
        Throws<ArgumentException>("cx", $"expected {plan.CellStateElements}", () => plan.Forward(RnnForwardMode.Inference, x, y, null, null, badCx, null, w, null));
        Throws<ArgumentNullException>("x", "", () => plan.Forward(RnnForwardMode.Inference, null!, y, null, null, null, null, w, null));
        Throws<ArgumentNullException>("weights", "", () => plan.Forward(RnnForwardMode.Inference, x, y, null, null, null, null, null!, null));
        Throws<ArgumentNullException>("reserve", "reserve space", () => plan.Forward(RnnForwardMode.Training, x, y, null, null, null, null, w, null));
        Throws<ArgumentException>("weights", $"expected {plan.WeightLayout.TotalElements}", () => plan.Forward(RnnForwardMode.Inference, x, y, null, null, null, null, x, null));
    }

    [Fact]
    public void CellStateOnNonLstm_IsRejected()
    {
        var (e, plan) = Plan(RnnMode.Gru);
        using var x = e.Allocate<float>(plan.XDesc.ElementCount);
        using var y = e.Allocate<float>(plan.YDesc.ElementCount);
        using var w = e.Allocate<float>(plan.WeightLayout.TotalElements);
        using var c = e.Allocate<float>(16);
        Throws<ArgumentException>("cx", "Lstm only", () => plan.Forward(RnnForwardMode.Inference, x, y, null, null, c, null, w, null));
    }

    [Fact]
    public void CallOrder_IsEnforced()
    {
        var (e, plan) = Plan();
        using var x = e.Allocate<float>(plan.XDesc.ElementCount);
        using var y = e.Allocate<float>(plan.YDesc.ElementCount);
        using var dx = e.Allocate<float>(plan.XDesc.ElementCount);
        using var w = e.Allocate<float>(plan.WeightLayout.TotalElements);
        using var dw = e.Allocate<float>(plan.WeightLayout.TotalElements);
        using var r = plan.CreateReserve();
        // Backward after an inference forward (the reserve holds no training forward).
        plan.Forward(RnnForwardMode.Inference, x, y, null, null, null, null, w, r);
        Assert.Contains("inference forward", Assert.Throws<InvalidOperationException>(() => plan.BackwardData(y, y, dx, null, null, null, null, null, null, w, r)).Message);
        plan.Forward(RnnForwardMode.Training, x, y, null, null, null, null, w, r);
        // BackwardWeights before BackwardData.
        Assert.Contains("after BackwardData", Assert.Throws<InvalidOperationException>(() => plan.BackwardWeights(WeightGradMode.Add, x, null, y, dw, r)).Message);
        plan.BackwardData(y, y, dx, null, null, null, null, null, null, w, r);
        // BackwardData twice on one forward.
        Assert.Contains("already called", Assert.Throws<InvalidOperationException>(() => plan.BackwardData(y, y, dx, null, null, null, null, null, null, w, r)).Message);
        plan.BackwardWeights(WeightGradMode.Add, x, null, y, dw, r);
    }

    [Fact]
    public void ReserveFromAnotherShape_IsRejected()
    {
        var (e, plan) = Plan();
        using var other = e.CreatePlan<float>(plan.Rnn, RnnDataDescriptor.Uniform(RnnDataLayout.SeqMajorUnpacked, 4, 2, 3));
        using var foreign = other.CreateReserve();
        using var x = e.Allocate<float>(plan.XDesc.ElementCount);
        using var y = e.Allocate<float>(plan.YDesc.ElementCount);
        using var w = e.Allocate<float>(plan.WeightLayout.TotalElements);
        Throws<ArgumentException>("reserve", "its data shape is", () => plan.Forward(RnnForwardMode.Training, x, y, null, null, null, null, w, foreign));
    }

    [Fact]
    public void DisposedObjects_AreRejected_AndDoubleDisposeIsHarmless()
    {
        var (e, plan) = Plan();
        var x = e.Allocate<float>(plan.XDesc.ElementCount);
        using var y = e.Allocate<float>(plan.YDesc.ElementCount);
        using var w = e.Allocate<float>(plan.WeightLayout.TotalElements);
        var r = plan.CreateReserve();
        x.Dispose(); x.Dispose();
        Assert.Throws<ObjectDisposedException>(() => plan.Forward(RnnForwardMode.Inference, x, y, null, null, null, null, w, null));
        Assert.Throws<ObjectDisposedException>(() => x.ToArray());
        using var x2 = e.Allocate<float>(plan.XDesc.ElementCount);
        r.Dispose(); r.Dispose();
        Assert.Throws<ObjectDisposedException>(() => plan.Forward(RnnForwardMode.Training, x2, y, null, null, null, null, w, r));
        plan.Dispose(); plan.Dispose();
        Assert.Throws<ObjectDisposedException>(() => plan.Forward(RnnForwardMode.Inference, x2, y, null, null, null, null, w, null));
        e.Dispose(); e.Dispose();
        Assert.Throws<ObjectDisposedException>(() => e.Allocate<float>(3));
        var layer = new RnnLayer<float>(TestCpu.Engine(), new RnnDescriptor(RnnMode.Gru, 3, 4));
        layer.Dispose(); layer.Dispose();
        Assert.Throws<ObjectDisposedException>(() => layer.ZeroGrad());
    }

    [Fact]
    public void BufferFromAnotherEngine_IsRejected()
    {
        var (e, plan) = Plan();
        using var foreign = new ForeignBuffer(plan.XDesc.ElementCount);
        using var y = e.Allocate<float>(plan.YDesc.ElementCount);
        using var w = e.Allocate<float>(plan.WeightLayout.TotalElements);
        Throws<ArgumentException>("x", "belongs to the fake engine", () => plan.Forward(RnnForwardMode.Inference, foreign, y, null, null, null, null, w, null));
    }

    [Fact]
    public void WeightImport_RejectsUnknownNamesAndWrongSizes()
    {
        var layout = RnnWeightLayout.Canonical(new RnnDescriptor(RnnMode.Lstm, 3, 4, 1, RnnDirection.Bidirectional));
        var ws = new float[layout.TotalElements];
        Throws<ArgumentException>("name", "weight_ih_l0_reverse", () => layout.ImportPyTorch<float>(ws, "weight_ih_l1", new float[48]));
        Throws<ArgumentException>("values", "has 48", () => layout.ImportPyTorch<float>(ws, "weight_ih_l0", new float[47]));
        Throws<ArgumentException>("weightSpace", $"exactly {layout.TotalElements}", () => layout.ImportPyTorch<float>(new float[5], "weight_ih_l0", new float[48]));
    }

    [Theory]
    [InlineData("{", "not valid JSON")]
    [InlineData("{\"tensors\":{}}", "missing field 'config'")]
    [InlineData("{\"config\":{\"name\":\"c\",\"mode\":\"lstmx\"}}", "config.mode = 'lstmx'")]
    [InlineData("{\"config\":{\"name\":\"c\",\"mode\":\"gru\",\"inputSize\":0,\"hiddenSize\":2,\"projSize\":0,\"numLayers\":1,\"batch\":1,\"maxSeqLen\":2,\"bidirectional\":false,\"bias\":true}}", "invalid configuration")]
    [InlineData("{\"config\":{\"name\":\"c\",\"mode\":\"gru\",\"inputSize\":1,\"hiddenSize\":2,\"projSize\":0,\"numLayers\":1,\"batch\":2,\"maxSeqLen\":2,\"bidirectional\":false,\"bias\":true},\"seqLengths\":[1]}", "seqLengths has 1 entries")]
    [InlineData("{\"config\":{\"name\":\"c\",\"mode\":\"gru\",\"inputSize\":1,\"hiddenSize\":2,\"projSize\":0,\"numLayers\":1,\"batch\":1,\"maxSeqLen\":2,\"bidirectional\":false,\"bias\":true},\"seqLengths\":[3]}", "expected 1..maxSeqLen")]
    [InlineData("{\"config\":{\"name\":\"c\",\"mode\":\"gru\",\"inputSize\":1,\"hiddenSize\":2,\"projSize\":0,\"numLayers\":1,\"batch\":1,\"maxSeqLen\":2,\"bidirectional\":false,\"bias\":true},\"seqLengths\":[2],\"tensors\":{\"x\":{\"shape\":[2,1,1],\"data\":[1]}}}", "tensors.x.data has 1 values")]
    [InlineData("{\"config\":{\"name\":\"c\",\"mode\":\"gru\",\"inputSize\":1,\"hiddenSize\":2,\"projSize\":0,\"numLayers\":1,\"batch\":1,\"maxSeqLen\":2,\"bidirectional\":false,\"bias\":true},\"seqLengths\":[2],\"tensors\":{\"x\":{\"shape\":[2,1,2],\"data\":[1,2,3,4]}}}", "tensor 'x' has shape [2,1,2]; expected [2,1,1]")]
    public void GoldenFile_Malformed_IsAFormatError(string json, string message)
    {
        var ex = Assert.Throws<FormatException>(() => GoldenCase.Parse(json, "case.json"));
        Assert.Contains(message, ex.Message, StringComparison.Ordinal);
        Assert.StartsWith("case.json", ex.Message, StringComparison.Ordinal);
    }

    private sealed class FakeEngine : IRnnEngine
    {
        public string Name => "fake";
        public string DeviceDescription => "nowhere";
        public bool Supports(RnnDataType dataType, out string? reason) { reason = null; return true; }
        public RnnBuffer<T> Allocate<T>(long length) where T : unmanaged, System.Numerics.IFloatingPointIeee754<T> => throw new NotSupportedException();
        public RnnWeightLayout GetWeightLayout(RnnDescriptor rnn) => RnnWeightLayout.Canonical(rnn);
        public RnnPlan<T> CreatePlan<T>(RnnDescriptor rnn, RnnDataDescriptor xDesc) where T : unmanaged, System.Numerics.IFloatingPointIeee754<T> => throw new NotSupportedException();
        public void Dispose() { }
    }

    private sealed class ForeignBuffer(long n) : RnnBuffer<float>(new FakeEngine(), n)
    {
        protected override void WriteCore(long offset, ReadOnlySpan<float> source) { }
        protected override void ReadCore(long offset, Span<float> destination) { }
        protected override void FillCore(float value) { }
        protected override void DisposeCore() { }
    }
}
