using CudnnRnn.Cpu;

namespace CudnnRnn.Tests;

/// <summary>A buffer that claims a length but has no memory: lets the plan's checks run on shapes too big to allocate.</summary>
internal sealed class UnbackedBuffer(IRnnEngine engine, long length) : RnnBuffer<float>(engine, length)
{
    protected override void WriteCore(long offset, ReadOnlySpan<float> source) => throw new NotSupportedException();
    protected override void ReadCore(long offset, Span<float> destination) => throw new NotSupportedException();
    protected override void FillCore(float value) { }
    protected override void DisposeCore() { }
}

/// <summary>
/// A plan whose engine part does nothing but count calls, or, with <see cref="Gate"/>, signals that it entered the call
/// and then waits for the test to let it go: two threads meet inside one call without any sleep or timing.
/// </summary>
internal sealed class NullPlan(IRnnEngine engine, RnnDescriptor rnn, RnnDataDescriptor xDesc)
    : RnnPlan<float>(engine, rnn, xDesc, RnnWeightLayout.Canonical(rnn))
{
    public int Calls;
    public ManualResetEventSlim? Entered;
    public ManualResetEventSlim? Gate;

    public override long WorkspaceBytes => 0;
    public override long ReserveBytes => 0;
    protected override bool Accepts(RnnBuffer<float> buffer) => true;
    protected override RnnBuffer<float> AllocateReserveStorage() => new UnbackedBuffer(Engine, 0);

    private void Core()
    {
        Interlocked.Increment(ref Calls);
        Entered?.Set();
        if (Gate is { } g && !g.Wait(TimeSpan.FromMinutes(2))) throw new TimeoutException("the test never released the gate");
    }

    protected override void ForwardCore(RnnForwardMode mode, RnnDataDescriptor xDesc, RnnBuffer<float> x, RnnBuffer<float> y, RnnBuffer<float>? hx, RnnBuffer<float>? hy,
        RnnBuffer<float>? cx, RnnBuffer<float>? cy, RnnBuffer<float> weights, RnnReserve<float>? reserve) => Core();
    protected override void BackwardDataCore(RnnDataDescriptor xDesc, RnnBuffer<float> y, RnnBuffer<float> dy, RnnBuffer<float> dx, RnnBuffer<float>? hx,
        RnnBuffer<float>? dhy, RnnBuffer<float>? dhx, RnnBuffer<float>? cx, RnnBuffer<float>? dcy, RnnBuffer<float>? dcx,
        RnnBuffer<float> weights, RnnReserve<float> reserve) => Core();
    protected override void BackwardWeightsCore(RnnDataDescriptor xDesc, RnnBuffer<float> x, RnnBuffer<float>? hx, RnnBuffer<float> y, RnnBuffer<float> dweights,
        RnnReserve<float> reserve) => Core();
}
