using System.Numerics;
using CudnnRnn.Cpu;

namespace CudnnRnn.Tests;

/// <summary>A CPU engine whose backward-weights adds 1e-3 to the first gradient element: proves checks can fail.</summary>
internal sealed class CorruptingEngine : IRnnEngine
{
    private readonly CpuEngine _inner = CpuEngine.Create();
    public string Name => "corrupting-cpu";
    public string DeviceDescription => "test engine";
    public bool Supports(RnnDataType dataType, out string? reason) => _inner.Supports(dataType, out reason);
    public RnnBuffer<T> Allocate<T>(long length) where T : unmanaged, IFloatingPointIeee754<T> => _inner.Allocate<T>(length);
    public RnnWeightLayout GetWeightLayout(RnnDescriptor rnn) => _inner.GetWeightLayout(rnn);
    public RnnPlan<T> CreatePlan<T>(RnnDescriptor rnn, RnnDataDescriptor xDesc) where T : unmanaged, IFloatingPointIeee754<T> =>
        new Plan<T>(this, _inner.CreatePlan<T>(rnn, xDesc));
    public void Dispose() => _inner.Dispose();

    private sealed class Plan<T>(IRnnEngine engine, RnnPlan<T> inner) : RnnPlan<T>(engine, inner.Rnn, inner.XDesc, inner.WeightLayout)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        private readonly Dictionary<RnnReserve<T>, RnnReserve<T>> _map = new();
        public override long WorkspaceBytes => inner.WorkspaceBytes;
        public override long ReserveBytes => inner.ReserveBytes;
        protected override bool Accepts(RnnBuffer<T> buffer) => buffer is CpuBuffer<T>;
        protected override RnnBuffer<T> AllocateReserveStorage() => Engine.Allocate<T>(0);
        private RnnReserve<T> Inner(RnnReserve<T> r) => _map.TryGetValue(r, out var i) ? i : _map[r] = inner.CreateReserve();
        protected override void ForwardCore(RnnForwardMode mode, RnnDataDescriptor xDesc, RnnBuffer<T> x, RnnBuffer<T> y, RnnBuffer<T>? hx, RnnBuffer<T>? hy,
            RnnBuffer<T>? cx, RnnBuffer<T>? cy, RnnBuffer<T> weights, RnnReserve<T>? reserve) =>
            inner.Forward(mode, xDesc, x, y, hx, hy, cx, cy, weights, reserve is null ? null : Inner(reserve));
        protected override void BackwardDataCore(RnnDataDescriptor xDesc, RnnBuffer<T> y, RnnBuffer<T> dy, RnnBuffer<T> dx, RnnBuffer<T>? hx, RnnBuffer<T>? dhy,
            RnnBuffer<T>? dhx, RnnBuffer<T>? cx, RnnBuffer<T>? dcy, RnnBuffer<T>? dcx, RnnBuffer<T> weights, RnnReserve<T> reserve) =>
            inner.BackwardData(xDesc, y, dy, dx, hx, dhy, dhx, cx, dcy, dcx, weights, Inner(reserve));
        protected override void BackwardWeightsCore(RnnDataDescriptor xDesc, RnnBuffer<T> x, RnnBuffer<T>? hx, RnnBuffer<T> y, RnnBuffer<T> dweights, RnnReserve<T> reserve)
        {
            inner.BackwardWeights(WeightGradMode.Add, xDesc, x, hx, y, dweights, Inner(reserve));
            var s = ((CpuBuffer<T>)dweights).Span;
            for (int i = 0; i < s.Length; i++) s[i] += T.CreateChecked(1e-3);
        }
        protected override void DisposeCore() => inner.Dispose();
    }
}
