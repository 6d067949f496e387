using Xunit;

namespace CudnnRnn.OpenCL.Tests;

/// <summary>
/// Issue 16 items 4 and 7 on the OpenCL engine: the 32-bit reach of the kernels is checked when a plan is created, the
/// device's OpenCL version is checked when the engine is created, and a plan call holds a reference on every cl_mem it
/// was given, so a buffer disposed during the call is released after it.
/// </summary>
public sealed class HardeningTests
{
    [Theory]
    [InlineData("OpenCL 1.2 pocl 6.0", true)]
    [InlineData("OpenCL 3.0 CUDA", true)]
    [InlineData("OpenCL 2.1 ", true)]
    [InlineData("OpenCL 1.10 vendor", true)]
    [InlineData("OpenCL 1.1 Apple", false)]
    [InlineData("OpenCL 1.0", false)]
    [InlineData("OpenCL C 1.2", false)]  // the C version string, not the device version: unknown
    [InlineData("1.2", false)]
    [InlineData("", false)]
    public void DeviceVersion_Below12OrMalformed_IsRefused(string version, bool accepted)
    {
        Assert.Equal(accepted, OpenClEngine.IsAtLeast12(version, out string? problem));
        if (!accepted) Assert.False(string.IsNullOrEmpty(problem));
        if (version.StartsWith("OpenCL 1.", StringComparison.Ordinal) && !accepted) Assert.Contains("1.2 or later", problem, StringComparison.Ordinal);
    }

    [Fact]
    public void TheDeviceHere_PassesTheVersionCheck()
    {
        var engine = SharedOpenCl.Require();
        Assert.True(OpenClEngine.IsAtLeast12(engine.Device.Version, out var problem), problem);
    }

    [Fact]
    public void Plan_BeyondThe32BitReachOfTheKernels_IsRefusedAtCreation()
    {
        var engine = SharedOpenCl.Require();
        // Batch-major, 2^20 steps × 2049 sequences of length 1: only 2049 valid steps, but x spans 2^20 · 2049 > 2^31
        // elements, and the kernels index x with 32-bit ints. Before: an OverflowException deep in the plan's set-up.
        var lengths = Enumerable.Repeat(1, 2049).ToArray();
        var xDesc = new RnnDataDescriptor(RnnDataLayout.BatchMajorUnpacked, 1 << 20, 2049, 1, lengths);
        var rnn = new RnnDescriptor(RnnMode.RnnTanh, 1, 2, dataType: RnnDataType.Float32);
        var ex = Assert.Throws<ArgumentOutOfRangeException>(() => engine.CreatePlan<float>(rnn, xDesc));
        Assert.Equal("xDesc", ex.ParamName);
        Assert.Contains("32-bit", ex.Message, StringComparison.Ordinal);
        Assert.Contains(int.MaxValue.ToString(System.Globalization.CultureInfo.InvariantCulture), ex.Message, StringComparison.Ordinal);
    }

    /// <summary>A plan whose engine part disposes the input buffer (as another thread could) and records whether its
    /// cl_mem was released while the call still ran.</summary>
    private sealed class DisposingPlan(OpenClEngine engine, RnnDescriptor rnn, RnnDataDescriptor xDesc)
        : RnnPlan<float>(engine, rnn, xDesc, RnnWeightLayout.Canonical(rnn))
    {
        public bool? ReleasedDuringCall;
        public override long WorkspaceBytes => 0;
        public override long ReserveBytes => 0;
        protected override RnnBuffer<float> AllocateReserveStorage() => Engine.Allocate<float>(1);
        protected override void ForwardCore(RnnForwardMode mode, RnnDataDescriptor xDesc, RnnBuffer<float> x, RnnBuffer<float> y, RnnBuffer<float>? hx,
            RnnBuffer<float>? hy, RnnBuffer<float>? cx, RnnBuffer<float>? cy, RnnBuffer<float> weights, RnnReserve<float>? reserve)
        {
            x.Dispose();
            ReleasedDuringCall = ((OpenClBuffer<float>)x).IsMemoryReleased;
        }
        protected override void BackwardDataCore(RnnDataDescriptor xDesc, RnnBuffer<float> y, RnnBuffer<float> dy, RnnBuffer<float> dx, RnnBuffer<float>? hx,
            RnnBuffer<float>? dhy, RnnBuffer<float>? dhx, RnnBuffer<float>? cx, RnnBuffer<float>? dcy, RnnBuffer<float>? dcx,
            RnnBuffer<float> weights, RnnReserve<float> reserve) => throw new NotSupportedException();
        protected override void BackwardWeightsCore(RnnDataDescriptor xDesc, RnnBuffer<float> x, RnnBuffer<float>? hx, RnnBuffer<float> y, RnnBuffer<float> dweights,
            RnnReserve<float> reserve) => throw new NotSupportedException();
    }

    [Fact]
    public void Buffer_DisposedDuringACall_KeepsItsClMemUntilTheCallEnds()
    {
        var engine = SharedOpenCl.Require();
        var rnn = new RnnDescriptor(RnnMode.RnnTanh, 2, 3, dataType: RnnDataType.Float32);
        var xDesc = RnnDataDescriptor.Uniform(RnnDataLayout.SeqMajorUnpacked, 2, 2, 2);
        using var plan = new DisposingPlan(engine, rnn, xDesc);
        var x = engine.AllocateBuffer<float>(xDesc.ElementCount);
        using var y = engine.Allocate<float>(plan.YDesc.ElementCount);
        using var w = engine.Allocate<float>(plan.WeightLayout.TotalElements);
        plan.Forward(RnnForwardMode.Inference, x, y, null, null, null, null, w, null);
        Assert.False(plan.ReleasedDuringCall, "clReleaseMemObject ran while the plan call still used the cl_mem");
        Assert.True(x.IsDisposed);
        Assert.True(x.IsMemoryReleased); // released by the call's end, not leaked
        Assert.False(((OpenClBuffer<float>)y).IsMemoryReleased);
    }

    [Fact]
    public void Buffer_RetainAndRelease_DeferTheReleaseToTheLastReference()
    {
        var engine = SharedOpenCl.Require();
        var b = engine.AllocateBuffer<float>(4);
        b.Retain();
        b.Dispose();
        Assert.False(b.IsMemoryReleased);
        b.ReleaseRetained();
        Assert.True(b.IsMemoryReleased);
        Assert.Throws<ObjectDisposedException>(b.Retain);
        b.Dispose(); // twice: harmless
    }
}
