using System.Runtime.CompilerServices;

namespace CudnnRnn.Cpu;

// The plan's memory: the reserve (RnnSchedule.Reserve layout), the inference scratch (RnnSchedule.Inference layout), the
// workspace and the per-direction step buffers, and the job that runs the two directions of a layer.
internal sealed partial class CpuPlan<T>
{
    /// <summary>Per-direction step buffers.</summary>
    private sealed class Scratch(int b, int h, int s, int gh, int input, int output, int layers)
    {
        private readonly GemmPackedB<T> _packedW0 = new(gh, input);                                // layer 0's W^T
        private readonly GemmPackedB<T>? _packedW1 = layers > 1 && output != input ? new(gh, output) : null; // deeper layers'
        /// <summary>Room for the hoisted input GEMM's W^T of layer l, packed once per call.</summary>
        public GemmPackedB<T> PackedW(int l) => l == 0 ? _packedW0 : _packedW1 ?? _packedW0;
        public readonly T[] Hp = new T[b * s];        // previous h of the active rows
        public readonly T[] Cp = new T[b * h];        // previous c of the active rows
        public readonly T[] Rec = new T[b * gh];      // recurrent product / GRU recurrent-side gradients
        public readonly T[] M = new T[b * h];         // o ⊙ tanh(c) before projection; dm in backward
        public readonly T[] Dh = new T[b * s];        // recurrent gradient carried in backward
        public readonly T[] Dc = new T[b * h];        // cell gradient carried in backward
        public readonly T[] DhPrev = new T[b * s];
        public readonly T[] DhTot = new T[b * s];
        public readonly T[] Tmp = new T[2 * h];
        public readonly T[] Bias = new T[gh];
        public readonly GemmPackedB<T> PackedR = new(gh, s);   // R^T packed once per layer for the per-step h·R^T
        public readonly GemmPackedB<T> PackedRT = new(s, gh);  // R packed once per layer for the per-step dG·R
        public long Length => 2L * gh * s + (long)gh * (input + (_packedW1 is null ? 0 : output)) + Bias.Length + Hp.Length + Cp.Length + Rec.Length + M.Length + Dh.Length + Dc.Length + DhPrev.Length + DhTot.Length + Tmp.Length;
    }

    /// <summary>
    /// The per-direction work of one layer as a pool job: both directions at once on two threads when the work is large
    /// enough and the pool is free, else one after the other. The directions are independent, so the results do not
    /// depend on it. Call arguments live in fields so a call allocates nothing (no closures, no tasks).
    /// </summary>
    private sealed class DirectionJob(CpuPlan<T> plan) : TileJob
    {
        public bool Backward, Training;
        public int Layer;
        public Memory<T> Res, W, DOut, Hx, Hy, Cx, Cy, Dhy, Dhx, Dcy, Dcx;
        /// <summary>Layer 0's input rows (x itself when dense, else the gathered copy).</summary>
        public Memory<T> X;
        /// <summary>When set, the last layer writes its output here (y, dense inference) instead of the reserve.</summary>
        public Memory<T> Y;
        /// <summary>Whether <see cref="Y"/> is set (a default Memory is also what an empty y would be).</summary>
        public bool HasY;

        protected override void RunTile(int d)
        {
            if (Backward) plan.BackwardDirection(Layer, d, DOut.Span, W.Span, Res.Span, Hx.Span, Dhy.Span, Dhx.Span, Cx.Span, Dcy.Span, Dcx.Span);
            else plan.ForwardDirection(Layer, d, Training, plan.LayerInput(Layer, X.Span, Res.Span, Training), W.Span, Res.Span,
                Layer == plan._layers - 1 && HasY ? Y.Span[..(plan._rows * plan._output)] : default, Hx.Span, Hy.Span, Cx.Span, Cy.Span);
        }

        public void Run()
        {
            if (plan._parallelDirections && GemmPool.TryRun(this, plan._dirs, plan._threads)) return;
            for (int d = 0; d < plan._dirs; d++) RunTile(d);
        }

        public void Clear()
        {
            Res = W = DOut = Hx = Hy = Cx = Cy = Dhy = Dhx = Dcy = Dcx = X = Y = default;
            HasY = false;
        }
    }

    public override long WorkspaceBytes =>
        (long)Unsafe.SizeOf<T>() * (_xPacked.LongLength + _scratch.Sum(x => x.Length) + _dOut.LongLength + _dIn.LongLength + _gr.LongLength + _hPrevAll.LongLength + _dwT.LongLength
            + (_inferenceScratch?.LongLength ?? 0));

    public override long ReserveBytes => _sched.ReserveCapacity * Unsafe.SizeOf<T>();

    protected override bool Accepts(RnnBuffer<T> buffer) => buffer is CpuBuffer<T>;

    protected override RnnBuffer<T> AllocateReserveStorage() => Engine.Allocate<T>(_sched.ReserveCapacity);

    /// <summary>The inference forward's buffer (compact layout), rented on first use and kept for the plan's life.</summary>
    private T[] InferenceScratch() => _inferenceScratch ??= RentPoisoned(_sched.InferenceCapacity);

    private T[] RentPoisoned(long length)
    {
        var a = _pool.Rent<T>(length);
        a.AsSpan().Fill(T.NaN);
        return a;
    }

    protected override void DisposeCore()
    {
        foreach (var a in new[] { _xPacked, _dOut, _dIn, _gr, _hPrevAll, _dwT, _inferenceScratch })
            if (a is not null) _pool.Return(a);
        _inferenceScratch = null;
    }
}
