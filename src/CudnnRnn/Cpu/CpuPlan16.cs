using System.Numerics;
using System.Runtime.InteropServices;

namespace CudnnRnn.Cpu;

/// <summary>
/// The CPU engine's plan for 16-bit storage (<see cref="Half"/>, <see cref="BFloat16"/>) with float arithmetic: cuDNN's
/// contract for half data with math precision FLOAT. It owns a <see cref="CpuPlan{T}"/> of float and float copies of the
/// call's buffers; each call widens the 16-bit inputs (x, hx, cx, weights, dy, dhy, dcy; exact) once, runs the float plan
/// (so GEMM inner loops see float only, with no per-element conversion), and rounds each output once, to nearest, ties
/// to even, into the caller's 16-bit buffers. Backward-weights adds the new gradients to the widened dweights in float and
/// rounds the sum once.
/// </summary>
/// <remarks>
/// "16-bit storage" means the buffers the caller sees. The reserve space stays float (what cuDNN's math precision FLOAT
/// keeps internally is its own business; ours is documented): <see cref="RnnReserve{T}.Storage"/> of this plan is a 16-bit
/// view over float memory, twice as many 16-bit elements as the float reserve has floats. Weights are widened once per
/// (buffer object, <see cref="RnnBuffer{T}.Version"/>): a change made through a raw span must be followed by
/// <see cref="RnnBuffer{T}.MarkModified"/>, as the forward context already requires. Float copies are rented from the
/// engine pool on first use and kept, so calls of one shape and set of lengths allocate nothing after the first.
/// </remarks>
internal sealed class CpuPlan16<T> : RnnPlan<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly CpuEngine _engine;
    private readonly CpuPlan<float> _plan;
    private readonly Slot _x = new(), _y = new(), _hx = new(), _hy = new(), _cx = new(), _cy = new(), _w = new(),
        _dy = new(), _dx = new(), _dhy = new(), _dhx = new(), _dcy = new(), _dcx = new(), _dw = new();
    private RnnBuffer<T>? _wSource;   // the 16-bit weights _w holds, at _wVersion
    private long _wVersion;

    public CpuPlan16(CpuEngine engine, RnnDescriptor rnn, RnnDataDescriptor xDesc, RnnWeightLayout layout)
        : base(engine, rnn, xDesc, layout)
    {
        if (!Storage16.Is16Bit<T>()) throw new NotSupportedException($"{typeof(T)} is not a 16-bit storage type.");
        _engine = engine;
        var floatRnn = rnn.WithDataType(RnnDataType.Float32);
        _plan = new CpuPlan<float>(engine, floatRnn, xDesc, RnnWeightLayout.Canonical(floatRnn));
    }

    /// <summary>A float copy of one argument, reallocated only when the call's length changes.</summary>
    private sealed class Slot
    {
        public CpuBuffer<float>? Buffer;

        public CpuBuffer<float> Get(CpuEngine engine, long length)
        {
            if (Buffer is { } b && b.Length == length) return b;
            Buffer?.Dispose();
            return Buffer = (CpuBuffer<float>)engine.Allocate<float>(length);
        }

        public long Bytes => (Buffer?.Length ?? 0) * sizeof(float);
    }

    private IEnumerable<Slot> Slots => [_x, _y, _hx, _hy, _cx, _cy, _w, _dy, _dx, _dhy, _dhx, _dcy, _dcx, _dw];

    public override long WorkspaceBytes => _plan.WorkspaceBytes + Slots.Sum(s => s.Bytes);

    public override long ReserveBytes => _plan.ReserveBytes;

    protected override bool Accepts(RnnBuffer<T> buffer) => buffer is CpuBuffer<T>;

    protected override RnnBuffer<T> AllocateReserveStorage() => new ReserveView(_engine, _plan.CreateReserve());

    private static RnnReserve<float> Inner(RnnReserve<T> reserve) => ((ReserveView)reserve.Storage).Reserve;

    /// <summary>Widens a 16-bit buffer into its float slot (exact).</summary>
    private CpuBuffer<float> In(Slot slot, RnnBuffer<T> source)
    {
        var f = slot.Get(_engine, source.Length);
        Storage16.ToSingle<T>(((CpuBuffer<T>)source).Span, f.Span);
        return f;
    }

    private CpuBuffer<float>? InOpt(Slot slot, RnnBuffer<T>? source) => source is null ? null : In(slot, source);

    private CpuBuffer<float>? OutOpt(Slot slot, RnnBuffer<T>? destination) => destination is null ? null : slot.Get(_engine, destination.Length);

    /// <summary>Rounds a float result into its 16-bit output buffer, once.</summary>
    private static void Round(CpuBuffer<float>? result, RnnBuffer<T>? destination)
    {
        if (result is null || destination is null) return;
        Storage16.FromSingle<T>(result.Span, ((CpuBuffer<T>)destination).Span);
    }

    private CpuBuffer<float> WidenWeights(RnnBuffer<T> weights)
    {
        long version = weights.Version;
        if (ReferenceEquals(weights, _wSource) && version == _wVersion && _w.Buffer is { } cached) return cached;
        _wSource = null;                 // stays unset if the conversion throws
        var f = In(_w, weights);
        _wSource = weights;
        _wVersion = version;
        return f;
    }

    protected override void ForwardCore(RnnForwardMode mode, RnnDataDescriptor xDesc, RnnBuffer<T> x, RnnBuffer<T> y, RnnBuffer<T>? hx, RnnBuffer<T>? hy,
        RnnBuffer<T>? cx, RnnBuffer<T>? cy, RnnBuffer<T> weights, RnnReserve<T>? reserve)
    {
        var fy = _y.Get(_engine, y.Length);
        var fhy = OutOpt(_hy, hy);
        var fcy = OutOpt(_cy, cy);
        _plan.Forward(mode, xDesc, In(_x, x), fy, InOpt(_hx, hx), fhy, InOpt(_cx, cx), fcy, WidenWeights(weights),
            reserve is null ? null : Inner(reserve));
        Round(fy, y);
        Round(fhy, hy);
        Round(fcy, cy);
    }

    protected override void BackwardDataCore(RnnDataDescriptor xDesc, RnnBuffer<T> y, RnnBuffer<T> dy, RnnBuffer<T> dx, RnnBuffer<T>? hx, RnnBuffer<T>? dhy,
        RnnBuffer<T>? dhx, RnnBuffer<T>? cx, RnnBuffer<T>? dcy, RnnBuffer<T>? dcx, RnnBuffer<T> weights, RnnReserve<T> reserve)
    {
        var fdx = _dx.Get(_engine, dx.Length);
        var fdhx = OutOpt(_dhx, dhx);
        var fdcx = OutOpt(_dcx, dcx);
        _plan.BackwardData(xDesc, In(_y, y), In(_dy, dy), fdx, InOpt(_hx, hx), InOpt(_dhy, dhy), fdhx, InOpt(_cx, cx), InOpt(_dcy, dcy), fdcx,
            WidenWeights(weights), Inner(reserve));
        Round(fdx, dx);
        Round(fdhx, dhx);
        Round(fdcx, dcx);
    }

    protected override void BackwardWeightsCore(RnnDataDescriptor xDesc, RnnBuffer<T> x, RnnBuffer<T>? hx, RnnBuffer<T> y, RnnBuffer<T> dweights, RnnReserve<T> reserve)
    {
        // RnnPlan has cleared dweights for Set; for Add the widened old gradients and the new ones are summed in float and
        // the sum is rounded once.
        var fdw = In(_dw, dweights);
        _plan.BackwardWeights(WeightGradMode.Add, xDesc, In(_x, x), InOpt(_hx, hx), In(_y, y), fdw, Inner(reserve));
        Round(fdw, dweights);
    }

    protected override void DisposeCore()
    {
        _plan.Dispose();
        foreach (var s in Slots) { s.Buffer?.Dispose(); s.Buffer = null; }
        _wSource = null;
    }

    /// <summary>
    /// The storage of a 16-bit plan's reserve: the float reserve of the inner plan, seen as 16-bit elements (two per float)
    /// so that <see cref="RnnReserve{T}.Bytes"/> is its true size. Only the plan interprets it.
    /// </summary>
    private sealed class ReserveView(CpuEngine engine, RnnReserve<float> reserve) : RnnBuffer<T>(engine, reserve.Storage.Length * 2)
    {
        public RnnReserve<float> Reserve { get; } = reserve;

        private Span<T> Raw => MemoryMarshal.Cast<float, T>(((CpuBuffer<float>)Reserve.Storage).Span);

        protected override void WriteCore(long offset, ReadOnlySpan<T> source) => source.CopyTo(Raw.Slice(checked((int)offset)));
        protected override void ReadCore(long offset, Span<T> destination) => Raw.Slice(checked((int)offset), destination.Length).CopyTo(destination);
        protected override void FillCore(T value) => Raw.Fill(value);
        protected override void DisposeCore() => Reserve.Dispose();
    }
}
