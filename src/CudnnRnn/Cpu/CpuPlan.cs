using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace CudnnRnn.Cpu;

/// <summary>
/// The CPU engine's plan. Internally every layer works on "packed rows": the sequences are ordered by length
/// (descending, stable), and row <c>off[t] + i</c> is step t of the i-th longest sequence, for i &lt; batchSize(t).
/// So each step works on a shrinking prefix of the batch (no padded work), the reverse direction of each sequence starts
/// at its own last step, and hy/cy are taken at each sequence's own last step (API.md §7.11).
/// </summary>
/// <remarks>
/// Reserve space (per layer l): out[l] (N × D·S, layer output before dropout); per direction: gates (N × G·H,
/// post-activation values; backward-data overwrites them with the pre-activation gradients), aux (N × H: LSTM c_t,
/// overwritten by backward-data with o⊙tanh(clip c_t) when projecting; GRU R_n·h + bR_n, overwritten with its gradient),
/// proj (N × P, LSTM projection only: backward-data stores dL/dh there for dW_r); dropped[l] (N × D·S, l ≥ 1, only
/// with dropout) is the dropout-masked input of layer l.
/// </remarks>
internal sealed class CpuPlan<T> : RnnPlan<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly int _B, _T, _N, _D, _L, _G, _H, _S, _O, _I, _GH;
    private readonly int[] _perm;      // sorted position i -> batch index b
    private readonly int[] _bs;        // [T + 1] batch size at t (bs[T] = 0)
    private readonly int[] _off;       // [T + 1] first packed row of step t
    private readonly int[] _xSlot;     // packed row -> vector index in x / y buffers
    private readonly bool _dense;      // _xSlot is the identity and x / y have no padding
    private readonly long[] _outOff, _dropOff;
    private readonly long[,] _gatesOff, _auxOff, _projOff;
    private readonly long _reserveLength;
    // Inference needs no history across layers: two output regions used in turn and one gates / aux region per direction
    // shared by all layers. Less memory, and a deep stack's gates stay in the same (cache-warm) addresses.
    private readonly long[] _infOutOff;
    private readonly long[,] _infGatesOff, _infAuxOff;
    private readonly long _infLength;
    private readonly RnnMode _mode;

    // Workspace (allocated once).
    private readonly T[] _xPacked;  // N × I
    private readonly Scratch[] _scratch; // one per direction, so the directions can run on separate threads
    private readonly T[] _dOut;     // N × O
    private readonly T[] _dIn;      // N × max(I, O)
    private readonly T[] _gr;       // N × GH  recurrent-side gate gradients (GRU) for dR
    private readonly T[] _hPrevAll; // N × S
    private readonly T[] _dwT;      // GH × width: a weight gradient computed transposed (see AddWeightGradient)
    private T[]? _inferenceScratch; // inference forward's compact layout (_infOutOff …), rented on first use

    public CpuPlan(CpuEngine engine, RnnDescriptor rnn, RnnDataDescriptor xDesc, RnnWeightLayout layout)
        : base(engine, rnn, xDesc, layout)
    {
        _mode = rnn.Mode;
        // CpuEngine.CreatePlan has checked every count against Array.MaxLength (RnnPlanLimits), so these fit an int.
        _B = xDesc.Batch; _T = xDesc.MaxSeqLength; _N = checked((int)xDesc.TotalSteps);
        _D = rnn.NumDirections; _L = rnn.NumLayers; _G = rnn.Gates; _H = rnn.HiddenSize; _S = rnn.StateSize;
        _O = rnn.OutputSize; _I = rnn.InputSize; _GH = _G * _H;

        var lengths = xDesc.SeqLengths.ToArray();
        _perm = Enumerable.Range(0, _B).OrderByDescending(b => lengths[b]).ThenBy(b => b).ToArray();
        _bs = new int[_T + 1];
        _off = new int[_T + 1];
        for (int t = 0; t < _T; t++) { _bs[t] = xDesc.BatchSizeAt(t); _off[t + 1] = _off[t] + _bs[t]; }
        _xSlot = new int[_N];
        for (int t = 0; t < _T; t++)
            for (int i = 0; i < _bs[t]; i++)
                _xSlot[_off[t] + i] = checked((int)(xDesc.Offset(t, _perm[i]) / xDesc.VectorSize));
        // Dense: packed row r is vector r of x / y and there is no padding (e.g. [T, B, I] with every length T). Then x,
        // y, dy and dx are used in place: no gather into _xPacked, no scatter of y or dx.
        _dense = xDesc.ElementCount == (long)_N * _I;
        for (int r = 0; r < _N && _dense; r++) _dense = _xSlot[r] == r;

        long pos = 0;
        _outOff = new long[_L];
        _dropOff = new long[_L];
        _gatesOff = new long[_L, _D];
        _auxOff = new long[_L, _D];
        _projOff = new long[_L, _D];
        for (int l = 0; l < _L; l++)
        {
            _outOff[l] = pos; pos += (long)_N * _O;
            for (int d = 0; d < _D; d++)
            {
                _gatesOff[l, d] = pos; pos += (long)_N * _GH;
                _auxOff[l, d] = pos; if (_mode is RnnMode.Lstm or RnnMode.Gru) pos += (long)_N * _H;
                _projOff[l, d] = pos; if (rnn.HasProjection) pos += (long)_N * _S;
            }
            _dropOff[l] = -1;
            if (l > 0 && rnn.Dropout > 0) { _dropOff[l] = pos; pos += (long)_N * _O; }
        }
        _reserveLength = pos;

        _infOutOff = new long[_L];
        _infGatesOff = new long[_L, _D];
        _infAuxOff = new long[_L, _D];
        pos = 0;
        long out1 = _L > 1 ? (long)_N * _O : 0;
        pos += (long)_N * _O + out1;
        long[] gatesD = new long[_D], auxD = new long[_D];
        for (int d = 0; d < _D; d++)
        {
            gatesD[d] = pos; pos += (long)_N * _GH;
            auxD[d] = pos; if (_mode is RnnMode.Lstm or RnnMode.Gru) pos += (long)_N * _H;
        }
        for (int l = 0; l < _L; l++)
        {
            _infOutOff[l] = l % 2 == 0 ? 0 : out1;
            for (int d = 0; d < _D; d++) { _infGatesOff[l, d] = gatesD[d]; _infAuxOff[l, d] = auxD[d]; }
        }
        _infLength = pos;
        // Issue 16: the reserve and the inference scratch (rented at the first inference forward) are sized here, once, as
        // 64-bit counts; a shape beyond one managed array fails now with the argument named, not at the first call.
        ThrowIfBeyondArray(_reserveLength, "reserve space");
        ThrowIfBeyondArray(_infLength, "inference scratch");

        // The engine relies on the canonical layout: each W (R) gate block directly follows the previous one.
        for (int pl = 0; pl < rnn.PseudoLayerCount; pl++)
            for (int id = 1; id < 2 * _G; id++)
            {
                var prev = layout[pl, id - 1];
                var cur = layout[pl, id];
                if (id != _G && prev.HasMatrix && cur.MatrixOffset != prev.MatrixOffset + (long)prev.Rows * prev.Cols)
                    throw new InvalidOperationException("The CPU engine needs gate blocks stored contiguously (the canonical layout).");
            }

        // Workspace comes from the engine's pool (a plan per batch shape is then cheap) and starts as NaN, so a read of
        // anything the engine did not write first poisons the results and shows up in the tests.
        _pool = engine.Pool;
        _xPacked = RentPoisoned((long)_N * _I);
        _scratch = new Scratch[_D];
        for (int d = 0; d < _D; d++) _scratch[d] = new Scratch(_B, _H, _S, _GH, _I, _O, _L);
        _cellClip = new CellClip<T>(rnn.CellClip);
        _threads = engine.MaxThreads;
        _directionJob = new DirectionJob(this);
        _stepJobs = new FusedStepJob[_D];
        for (int d = 0; d < _D; d++) _stepJobs[d] = new FusedStepJob(this, d);
        _parallelDirections = _D == 2 && engine.MaxThreads > 1 && (long)_N * _GH * (_S + _I) >= 100_000;
        _dOut = RentPoisoned((long)_N * _O);
        _dIn = RentPoisoned((long)_N * Math.Max(_I, _O));
        _gr = _mode == RnnMode.Gru ? RentPoisoned((long)_N * _GH) : [];
        _hPrevAll = RentPoisoned((long)_N * _S);
        int nr = GemmDriver<T>.NR, widest = Math.Max(_I, Math.Max(_O, _S));
        _dwT = _GH % nr == 0 && (_I % nr != 0 || _O % nr != 0 || _S % nr != 0) ? RentPoisoned((long)_GH * widest) : [];
    }

    private static void ThrowIfBeyondArray(long elements, string what)
    {
        if (elements > Array.MaxLength)
            throw new ArgumentOutOfRangeException("xDesc",
                $"The CPU engine's {what} for this shape would hold {elements} elements; one managed array holds at most {Array.MaxLength}.");
    }

    private readonly CpuArrayPool _pool;
    private readonly CellClip<T> _cellClip;
    private readonly int _threads;
    private readonly DirectionJob _directionJob;
    private readonly bool _parallelDirections;

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
        public T[]? Res, W, DOut, Hx, Hy, Cx, Cy, Dhy, Dhx, Dcy, Dcx;
        /// <summary>Layer 0's input rows (x itself when dense, else the gathered copy).</summary>
        public T[]? X;
        /// <summary>When set, the last layer writes its output here (y, dense inference) instead of the reserve.</summary>
        public T[]? Y;

        protected override void RunTile(int d)
        {
            if (Backward) plan.BackwardDirection(Layer, d, DOut, W, Res, Hx, Dhy, Dhx, Cx, Dcy, Dcx);
            else plan.ForwardDirection(Layer, d, Training, plan.LayerInput(Layer, X!, Res!, Training), W, Res,
                Layer == plan._L - 1 && Y is not null ? Y.AsSpan(0, plan._N * plan._O) : default, Hx, Hy, Cx, Cy);
        }

        public void Run()
        {
            if (plan._parallelDirections && GemmPool.TryRun(this, plan._D, plan._threads)) return;
            for (int d = 0; d < plan._D; d++) RunTile(d);
        }

        public void Clear() => Res = W = DOut = Hx = Hy = Cx = Cy = Dhy = Dhx = Dcy = Dcx = X = Y = null;
    }

    public override long WorkspaceBytes =>
        (long)Unsafe.SizeOf<T>() * (_xPacked.LongLength + _scratch.Sum(x => x.Length) + _dOut.LongLength + _dIn.LongLength + _gr.LongLength + _hPrevAll.LongLength + _dwT.LongLength
            + (_inferenceScratch?.LongLength ?? 0));

    public override long ReserveBytes => _reserveLength * Unsafe.SizeOf<T>();

    protected override bool Accepts(RnnBuffer<T> buffer) => buffer is CpuBuffer<T>;

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

    protected override RnnBuffer<T> AllocateReserveStorage() => Engine.Allocate<T>(_reserveLength);

    private static Span<T> S(RnnBuffer<T> b) => ((CpuBuffer<T>)b).Span;
    private static Span<T> SOpt(RnnBuffer<T>? b) => b is null ? default : ((CpuBuffer<T>)b).Span;
    private static T[]? Arr(RnnBuffer<T>? b) => b is null ? null : ((CpuBuffer<T>)b).Array;

    private int InW(int l) => l == 0 ? _I : _O;

    private RnnWeightEntry W(int l, int d, int id) => WeightLayout[l * _D + d, id];

    // Where forward keeps layer l's output, gates and aux: the reserve's layout in training, the compact one in inference.
    private long OutOff(int l, bool training) => training ? _outOff[l] : _infOutOff[l];
    private long GatesOff(int l, int d, bool training) => training ? _gatesOff[l, d] : _infGatesOff[l, d];
    private long AuxOff(int l, int d, bool training) => training ? _auxOff[l, d] : _infAuxOff[l, d];

    // ---------------------------------------------------------------- forward

    protected override void ForwardCore(RnnForwardMode mode, RnnBuffer<T> x, RnnBuffer<T> y, RnnBuffer<T>? hx, RnnBuffer<T>? hy,
        RnnBuffer<T>? cx, RnnBuffer<T>? cy, RnnBuffer<T> weights, RnnReserve<T>? reserve)
    {
        // Training fills the reserve (RnnPlan checked it is there); inference, which gets none, its own compact layout in
        // the plan's scratch.
        bool training = mode == RnnForwardMode.Training;
        T[] resArr = training ? ((CpuBuffer<T>)reserve!.Storage).Array : (_inferenceScratch ??= RentPoisoned(_infLength));
        Span<T> res = resArr;
        T[] w = ((CpuBuffer<T>)weights).Array;
        var job = _directionJob;
        job.X = LayerZeroInput(x);
        // Dense inference: the last layer writes y directly (training keeps it in the reserve for the backward pass).
        job.Y = _dense && !training ? ((CpuBuffer<T>)y).Array : null;
        job.Backward = false; job.Training = training; job.Res = resArr; job.W = w;
        job.Hx = Arr(hx); job.Hy = Arr(hy); job.Cx = Arr(cx); job.Cy = Arr(cy);
        for (int l = 0; l < _L; l++)
        {
            job.Layer = l;
            job.Run();
            if (training && Rnn.Dropout > 0 && l + 1 < _L)
                ApplyDropout(res.Slice((int)_outOff[l], _N * _O), res.Slice((int)_dropOff[l + 1], _N * _O), l + 1, reserve!.DropoutCounter);
        }

        // Scatter the last layer's output; padded positions get the padding fill.
        if (job.Y is null)
        {
            Span<T> ys = S(y);
            if (YDesc.IsUnpacked && !_dense) ys.Fill(T.CreateChecked(YDesc.PaddingFill));
            ScatterRows(res.Slice((int)OutOff(_L - 1, training), _N * _O), _O, ys);
        }
        job.Clear();
    }

    /// <summary>Layer 0's input rows: x itself when dense, else x gathered into packed row order.</summary>
    private T[] LayerZeroInput(RnnBuffer<T> x)
    {
        if (_dense) return ((CpuBuffer<T>)x).Array;
        GatherRows(S(x), _I, _xPacked);
        return _xPacked;
    }

    /// <summary>Input of layer l: packed x, or the previous layer's output (dropout-masked in training).</summary>
    private ReadOnlySpan<T> LayerInput(int l, T[] x, Span<T> res, bool training)
    {
        if (l == 0) return x.AsSpan(0, _N * _I);
        long src = training && _dropOff[l] >= 0 ? _dropOff[l] : OutOff(l - 1, training);
        return res.Slice((int)src, _N * _O);
    }

    private void ForwardDirection(int l, int d, bool training, ReadOnlySpan<T> input, ReadOnlySpan<T> w, Span<T> res, Span<T> outOverride,
        ReadOnlySpan<T> hx, Span<T> hy, ReadOnlySpan<T> cx, Span<T> cy)
    {
        var sc = _scratch[d];
        int pl = l * _D + d, inW = InW(l), N = _N, GH = _GH, H = _H, S = _S, O = _O;
        Span<T> gates = res.Slice((int)GatesOff(l, d, training), N * GH);
        Span<T> aux = _mode is RnnMode.Lstm or RnnMode.Gru ? res.Slice((int)AuxOff(l, d, training), N * H) : default;
        Span<T> outp = outOverride.IsEmpty ? res.Slice((int)OutOff(l, training), N * O) : outOverride;
        var eW = W(l, d, 0);
        var eR = W(l, d, _G);

        // Biases: bW for all gates; bR for all gates except GRU's new gate (it sits inside r ⊙ (R h + bR)), combined into
        // one row per call.
        bool hasBW = W(l, d, 0).HasBias, hasBR = W(l, d, _G).HasBias;
        ReadOnlySpan<T> bW = hasBW ? w.Slice((int)W(l, d, 0).BiasOffset, GH) : default;
        ReadOnlySpan<T> bR = hasBR ? w.Slice((int)W(l, d, _G).BiasOffset, GH) : default;
        Span<T> bias = default;
        if (hasBW || hasBR)
        {
            bias = sc.Bias;
            if (hasBW) bW.CopyTo(bias); else bias.Clear();
            if (hasBR) Add(bias[..(_mode == RnnMode.Gru ? 2 * H : GH)], bR[..(_mode == RnnMode.Gru ? 2 * H : GH)]);
        }

        // Hoisted input projection for all rows of this layer and direction; the GEMM adds the bias in its store (the
        // same bits as a pass adding it afterwards, without that extra pass over N × GH values).
        // W is packed once here rather than by each of the GEMM's row tiles (a dozen or more for N rows).
        if (eW.HasMatrix)
        {
            var packedW = sc.PackedW(l);
            packedW.Pack(true, w.Slice((int)eW.MatrixOffset, GH * inW), inW, _threads);
            Gemm.Multiply(false, N, input, inW, packedW, gates, GH, accumulate: false, _threads, bias);
        }
        else
        {
            for (int r = 0; r < N; r++)      // skip input: x feeds every gate as-is
                for (int g = 0; g < _G; g++)
                    input.Slice(r * inW, H).CopyTo(gates.Slice(r * GH + g * H, H));
            if (!bias.IsEmpty)
                for (int r = 0; r < N; r++) Add(gates.Slice(r * GH, GH), bias);
        }

        ReadOnlySpan<T> R = w.Slice((int)eR.MatrixOffset, GH * S);
        ReadOnlySpan<T> Wr = Rnn.HasProjection ? w.Slice((int)W(l, d, 8).MatrixOffset, S * H) : default;
        ReadOnlySpan<T> bRn = hasBR && _mode == RnnMode.Gru ? bR.Slice(2 * H, H) : default;
        sc.PackedR.Pack(true, R, S, _threads);
        bool fused = _mode == RnnMode.Lstm && !_cellClip.Enabled && LstmFused.IsSupported<T>();

        for (int step = 0; step < _T; step++)
        {
            int t = d == 0 ? step : _T - 1 - step;
            int n = _bs[t];
            if (n == 0) continue;
            int r0 = _off[t];
            int nCont = d == 0 ? (t > 0 ? n : 0) : (t + 1 < _T ? _bs[t + 1] : 0); // rows whose previous state is in outp
            int prevRow0 = d == 0 ? (t > 0 ? _off[t - 1] : 0) : (t + 1 < _T ? _off[t + 1] : 0);

            // h_{t-1}: when every active row continues a sequence, its rows lie in outp O apart and the GEMM reads them in
            // place; otherwise (a sequence starts here) gather them with hx or zeros. GRU's kernel reads them per row from
            // the gathered copy. The fused LSTM kernel reads c_{t-1} in place too; the generic one wants it gathered.
            bool gatherH = nCont < n || _mode == RnnMode.Gru;
            GatherPrevious(l, d, t, outp, hx, gatherH ? sc.Hp : default, _mode == RnnMode.Lstm && !fused ? aux : default, cx, sc.Cp);
            if (_cellClip.Enabled) _cellClip.Apply(sc.Cp.AsSpan(0, n * H), sc.Cp.AsSpan(0, n * H));
            ReadOnlySpan<T> hPrev = gatherH ? sc.Hp : outp.Slice(prevRow0 * O + d * S);
            int ldh = gatherH ? S : O;

            // RNN and LSTM: the recurrent product goes straight onto the step's gate rows (contiguous), C = C + h·R^T.
            // GRU's new gate needs r ⊙ (R h + bR) first, so it keeps the product apart and its kernel adds per row.
            Span<T> rec = sc.Rec.AsSpan(0, n * GH);
            if (fused) FusedLstmForwardStep(l, d, t, nCont, prevRow0, hPrev, ldh, gates, aux, outp, cx, sc.M);
            else if (_mode != RnnMode.Gru) Gemm.Multiply(false, n, hPrev, ldh, sc.PackedR, gates.Slice(r0 * GH), GH, accumulate: true, _threads);
            else Gemm.Multiply(false, n, hPrev, ldh, sc.PackedR, rec, GH, accumulate: false, _threads);

            if (!fused)
            {
                for (int i = 0; i < n; i++)
                {
                    int row = r0 + i;
                    Span<T> gRow = gates.Slice(row * GH, GH);
                    ReadOnlySpan<T> recRow = rec.Slice(i * GH, GH);
                    Span<T> hOut = outp.Slice(row * O + d * S, S);
                    switch (_mode)
                    {
                        case RnnMode.RnnTanh:
                        case RnnMode.RnnRelu:
                            CellKernels.RnnForward(_mode == RnnMode.RnnRelu, gRow, hOut);
                            break;
                        case RnnMode.Lstm:
                            {
                                Span<T> m = sc.M.AsSpan(i * H, H);
                                CellKernels.LstmForward(gRow, sc.Cp.AsSpan(i * H, H), aux.Slice(row * H, H), m, sc.Tmp, _cellClip);
                                if (!Rnn.HasProjection) m.CopyTo(hOut);
                                break;
                            }
                        case RnnMode.Gru:
                            CellKernels.GruForward(gRow, recRow, bRn, sc.Hp.AsSpan(i * S, S), aux.Slice(row * H, H), hOut);
                            break;
                    }
                }
            }
            if (Rnn.HasProjection)
                Gemm.Multiply(false, true, n, S, H, sc.M, H, Wr, H, outp.Slice(r0 * O + d * S), O, accumulate: false, maxThreads: _threads);

            // Final states: forward direction at each sequence's own last step, reverse direction at t = 0.
            int firstFinal = d == 0 ? _bs[t + 1] : (t == 0 ? 0 : n);
            for (int i = firstFinal; i < n; i++)
            {
                int b = _perm[i];
                if (!hy.IsEmpty) outp.Slice((r0 + i) * O + d * S, S).CopyTo(hy.Slice((pl * _B + b) * S, S));
                if (!cy.IsEmpty) aux.Slice((r0 + i) * H, H).CopyTo(cy.Slice((pl * _B + b) * H, H));
            }
        }
    }

    /// <summary>
    /// One time step of the fused LSTM path (float, no clipping), split into row blocks that run on the pool: a block does
    /// its rows' recurrent GEMM and cell (forward), or cell and dh_{t-1} GEMM (backward). A row's values depend on its
    /// own row only and the GEMM's bits never depend on the tiling, so the split changes nothing in the results; it puts
    /// the otherwise serial cell work on every thread and needs one barrier per step instead of a GEMM barrier plus a
    /// serial cell pass. Inside a per-direction job (both directions already busy) the blocks run inline.
    /// Pointers are pinned by the caller for the duration of <see cref="Run"/>.
    /// </summary>
    private sealed unsafe class FusedStepJob(CpuPlan<T> plan, int direction) : TileJob
    {
        public bool Backward;
        public int Layer, Step, NCont, PrevRow0, FirstStart, Ldh, RowsPerBlock;
        public float* Gates, Aux, Out, Cx, M, HPrev, DOut, Dhy, Dcy, Dhx, Dcx;

        protected override void RunTile(int k)
        {
            int n = plan._bs[Step], i0 = k * RowsPerBlock, i1 = Math.Min(n, i0 + RowsPerBlock);
            if (i0 >= i1) return;
            if (Backward) plan.FusedBackwardRows(this, direction, i0, i1);
            else plan.FusedForwardRows(this, direction, i0, i1);
        }

        /// <summary>Runs the step: on the pool when it is worth a barrier and free, else inline (same bits either way).</summary>
        public void Run()
        {
            int n = plan._bs[Step];
            // Worth splitting: at least a micro-panel (8 rows) per thread and ~1 MFLOP of recurrent GEMM.
            int blocks = plan._threads > 1 && 2L * n * plan._GH * plan._S >= 1 << 20 ? Math.Min(plan._threads, n / 8) : 1;
            blocks = Math.Max(blocks, 1);
            RowsPerBlock = (n + blocks - 1) / blocks;
            if (blocks > 1) RowsPerBlock = (RowsPerBlock + 7) / 8 * 8;
            if (blocks > 1 && GemmPool.TryRun(this, blocks, plan._threads)) return;
            for (int k = 0; k < blocks; k++) RunTile(k);
        }
    }

    private readonly FusedStepJob[] _stepJobs;

    /// <summary>
    /// Step t of direction d with the fused float LSTM kernel: h_{t-1}·R^T onto the gate rows, then the cell with
    /// c_{t-1} read in place from the saved cell states (or cx, or zeros where a sequence starts), c_t into aux, h_t
    /// straight into the layer output (or m into <paramref name="m"/> for the projection).
    /// </summary>
    private unsafe void FusedLstmForwardStep(int l, int d, int t, int nCont, int prevRow0, ReadOnlySpan<T> hPrev, int ldh,
        Span<T> gates, Span<T> aux, Span<T> outp, ReadOnlySpan<T> cx, Span<T> m)
    {
        fixed (T* pg = gates)
        fixed (T* pa = aux)
        fixed (T* po = outp)
        fixed (T* pcx = cx)
        fixed (T* pm = m)
        fixed (T* ph = hPrev)
        {
            var job = _stepJobs[d];
            job.Backward = false; job.Layer = l; job.Step = t; job.NCont = nCont; job.PrevRow0 = prevRow0; job.Ldh = ldh;
            job.Gates = (float*)pg; job.Aux = (float*)pa; job.Out = (float*)po; job.Cx = (float*)pcx; job.M = (float*)pm;
            job.HPrev = (float*)ph;
            job.Run();
        }
    }

    private unsafe void FusedForwardRows(FusedStepJob j, int d, int i0, int i1)
    {
        int t = j.Step, r0 = _off[t], rows = i1 - i0, H = _H, GH = _GH, O = _O, S = _S, pl = j.Layer * _D + d;
        Gemm.Multiply(false, rows, new ReadOnlySpan<T>(j.HPrev + (long)i0 * j.Ldh, (rows - 1) * j.Ldh + S), j.Ldh,
            _scratch[d].PackedR, new Span<T>(j.Gates + (long)(r0 + i0) * GH, rows * GH), GH, accumulate: true, maxThreads: 1);
        bool proj = Rnn.HasProjection;
        float* g = j.Gates, c = j.Aux, cx = j.Cx;
        for (int i = i0; i < i1; i++)
        {
            int row = r0 + i;
            float* cPrev = i < j.NCont ? c + (long)(j.PrevRow0 + i) * H : cx == null ? null : cx + (long)(pl * _B + _perm[i]) * H;
            float* h = proj ? j.M + (long)i * H : j.Out + (long)row * O + d * S;
            LstmFused.Forward(g + (long)row * GH, cPrev, c + (long)row * H, h, H);
        }
    }

    private void ApplyDropout(ReadOnlySpan<T> src, Span<T> dst, int layer, ulong counter)
    {
        T scale = T.One / (T.One - T.CreateChecked(Rnn.Dropout));
        for (int k = 0; k < src.Length; k++)
            dst[k] = Keep(layer, counter, k) ? src[k] * scale : T.Zero;
    }

    /// <summary>Dropout mask bit: a counter-based hash of (seed, forward index, layer, element), so masks are reproducible.</summary>
    private bool Keep(int layer, ulong counter, int index)
    {
        ulong z = Rnn.DropoutSeed ^ (counter * 0x9E3779B97F4A7C15UL) ^ ((ulong)layer << 48) ^ (ulong)(uint)index;
        z += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        z ^= z >> 31;
        double u = (z >> 11) * (1.0 / (1UL << 53));
        return u >= Rnn.Dropout;
    }

    // ---------------------------------------------------------------- backward data

    protected override void BackwardDataCore(RnnBuffer<T> y, RnnBuffer<T> dy, RnnBuffer<T> dx, RnnBuffer<T>? hx, RnnBuffer<T>? dhy,
        RnnBuffer<T>? dhx, RnnBuffer<T>? cx, RnnBuffer<T>? dcy, RnnBuffer<T>? dcx, RnnBuffer<T> weights, RnnReserve<T> reserve)
    {
        T[] resArr = ((CpuBuffer<T>)reserve.Storage).Array;
        Span<T> res = resArr;
        T[] w = ((CpuBuffer<T>)weights).Array;
        Span<T> dOut = _dOut.AsSpan(0, _N * _O);
        var job = _directionJob;
        // Dense: the last layer reads dy in place; deeper layers' output gradients go through _dOut.
        if (!_dense) GatherRows(S(dy), _O, dOut);
        job.Backward = true; job.Res = resArr; job.W = w; job.DOut = _dense ? ((CpuBuffer<T>)dy).Array : _dOut;
        job.Hx = Arr(hx); job.Dhy = Arr(dhy); job.Dhx = Arr(dhx); job.Cx = Arr(cx); job.Dcy = Arr(dcy); job.Dcx = Arr(dcx);

        for (int l = _L - 1; l >= 0; l--)
        {
            int inW = InW(l);
            // Dense: layer 0's input gradient goes straight into dx.
            Span<T> dIn = l == 0 && _dense ? S(dx)[..(_N * inW)] : _dIn.AsSpan(0, _N * inW);
            job.Layer = l;
            job.Run();
            job.DOut = _dOut;
            for (int d = 0; d < _D; d++) InputGradient(l, d, dIn, accumulateDIn: d > 0, w, res);
            if (l > 0)
            {
                dIn.CopyTo(dOut);
                if (Rnn.Dropout > 0)
                {
                    T scale = T.One / (T.One - T.CreateChecked(Rnn.Dropout));
                    for (int k = 0; k < dOut.Length; k++) dOut[k] = Keep(l, reserve.DropoutCounter, k) ? dOut[k] * scale : T.Zero;
                }
            }
            else if (!_dense)
            {
                Span<T> dxs = S(dx);
                if (XDesc.IsUnpacked) dxs.Clear();
                ScatterRows(dIn, _I, dxs);
            }
        }
        job.Clear();
    }

    /// <summary>The backward recurrence of one layer and direction: leaves the gate gradients in the reserve.</summary>
    private void BackwardDirection(int l, int d, ReadOnlySpan<T> dOut, ReadOnlySpan<T> w, Span<T> res,
        ReadOnlySpan<T> hx, ReadOnlySpan<T> dhy, Span<T> dhx, ReadOnlySpan<T> cx, ReadOnlySpan<T> dcy, Span<T> dcx)
    {
        var sc = _scratch[d];
        int pl = l * _D + d, inW = InW(l), N = _N, GH = _GH, H = _H, S = _S, O = _O;
        Span<T> gates = res.Slice((int)_gatesOff[l, d], N * GH);
        Span<T> aux = _mode is RnnMode.Lstm or RnnMode.Gru ? res.Slice((int)_auxOff[l, d], N * H) : default;
        Span<T> proj = Rnn.HasProjection ? res.Slice((int)_projOff[l, d], N * S) : default;
        ReadOnlySpan<T> outp = res.Slice((int)_outOff[l], N * O);
        ReadOnlySpan<T> R = w.Slice((int)W(l, d, _G).MatrixOffset, GH * S);
        ReadOnlySpan<T> Wr = Rnn.HasProjection ? w.Slice((int)W(l, d, 8).MatrixOffset, S * H) : default;
        sc.PackedRT.Pack(false, R, S, _threads);
        if (_mode == RnnMode.Lstm && !_cellClip.Enabled && !Rnn.HasProjection && LstmFused.IsSupported<T>())
        {
            FusedLstmBackward(l, d, dOut, gates, aux, dhy, dhx, cx, dcy, dcx);
            return;
        }

        for (int step = _T - 1; step >= 0; step--)
        {
            int t = d == 0 ? step : _T - 1 - step;
            int n = _bs[t];
            if (n == 0) continue;
            int r0 = _off[t];
            int nCont = d == 0 ? (t > 0 ? n : 0) : (t + 1 < _T ? _bs[t + 1] : 0);
            int prevRow0 = d == 0 ? (t > 0 ? _off[t - 1] : 0) : (t + 1 < _T ? _off[t + 1] : 0);
            // Rows whose backward pass starts here take dhy/dcy; the others carry dh/dc from the step processed before.
            int firstStart = d == 0 ? _bs[t + 1] : (t == 0 ? 0 : n);

            for (int i = 0; i < n; i++)
            {
                Span<T> dht = sc.DhTot.AsSpan(i * S, S);
                if (i >= firstStart)
                {
                    if (!dhy.IsEmpty) dhy.Slice((pl * _B + _perm[i]) * S, S).CopyTo(sc.Dh.AsSpan(i * S, S)); else sc.Dh.AsSpan(i * S, S).Clear();
                    if (_mode == RnnMode.Lstm)
                    {
                        // dcy reaches the unclipped c_t; the carried _dc is the gradient w.r.t. clip(c_t). Fold dcy in below.
                        sc.Dc.AsSpan(i * H, H).Clear();
                    }
                }
                ReadOnlySpan<T> dhCarry = sc.Dh.AsSpan(i * S, S);
                ReadOnlySpan<T> dyRow = dOut.Slice((r0 + i) * O + d * S, S);
                System.Numerics.Tensors.TensorPrimitives.Add(dhCarry, dyRow, dht);
            }
            // GRU needs h_{prev} for dz; LSTM needs the raw c_{prev} for df.
            GatherPrevious(l, d, t, outp, hx, _mode == RnnMode.Gru ? sc.Hp : default, _mode == RnnMode.Lstm ? aux : default, cx, sc.Cp);

            // dm: gradient w.r.t. the cell output before projection.
            Span<T> dm = sc.M.AsSpan(0, n * H);
            if (Rnn.HasProjection)
            {
                sc.DhTot.AsSpan(0, n * S).CopyTo(proj.Slice(r0 * S, n * S));
                Gemm.Multiply(false, false, n, H, S, sc.DhTot, S, Wr, H, dm, H, accumulate: false, maxThreads: _threads);
            }

            for (int i = 0; i < n; i++)
            {
                int row = r0 + i;
                Span<T> gRow = gates.Slice(row * GH, GH);
                ReadOnlySpan<T> dht = sc.DhTot.AsSpan(i * S, S);
                switch (_mode)
                {
                    case RnnMode.RnnTanh:
                    case RnnMode.RnnRelu:
                        CellKernels.RnnBackward(_mode == RnnMode.RnnRelu, gRow, dht);
                        break;
                    case RnnMode.Lstm:
                        {
                            // dcy reaches the unclipped c_t only at each sequence's first backward step.
                            ReadOnlySpan<T> dcyRow = i >= firstStart && !dcy.IsEmpty ? dcy.Slice((pl * _B + _perm[i]) * H, H) : default;
                            CellKernels.LstmBackward(gRow, aux.Slice(row * H, H), sc.Cp.AsSpan(i * H, H),
                                Rnn.HasProjection ? dm.Slice(i * H, H) : dht, sc.Dc.AsSpan(i * H, H), dcyRow, Rnn.HasProjection, sc.Tmp, _cellClip);
                            break;
                        }
                    case RnnMode.Gru:
                        CellKernels.GruBackward(gRow, aux.Slice(row * H, H), sc.Hp.AsSpan(i * S, S), dht, sc.DhPrev.AsSpan(i * S, S));
                        break;
                }
            }

            // dh_{prev} = (recurrent-side gate gradients) · R
            Span<T> dhPrev = sc.DhPrev.AsSpan(0, n * S);
            if (_mode == RnnMode.Gru)
            {
                Span<T> gRec = sc.Rec.AsSpan(0, n * GH);
                for (int i = 0; i < n; i++)
                {
                    gates.Slice((r0 + i) * GH, 2 * H).CopyTo(gRec.Slice(i * GH, 2 * H));
                    aux.Slice((r0 + i) * H, H).CopyTo(gRec.Slice(i * GH + 2 * H, H));
                }
                Gemm.Multiply(false, n, gRec, GH, sc.PackedRT, dhPrev, S, accumulate: true, _threads);
            }
            else
            {
                Gemm.Multiply(false, n, gates.Slice(r0 * GH), GH, sc.PackedRT, dhPrev, S, accumulate: false, _threads);
            }

            // Route: to the next row processed (carry) or, where the previous state was hx/cx, to dhx/dcx.
            for (int i = 0; i < n; i++)
            {
                ReadOnlySpan<T> src = dhPrev.Slice(i * S, S);
                if (i < nCont) src.CopyTo(sc.Dh.AsSpan(i * S, S));
                else
                {
                    int b = _perm[i];
                    if (!dhx.IsEmpty) src.CopyTo(dhx.Slice((pl * _B + b) * S, S));
                    if (_mode == RnnMode.Lstm && !dcx.IsEmpty)
                    {
                        Span<T> dst = dcx.Slice((pl * _B + b) * H, H);
                        ReadOnlySpan<T> carry = sc.Dc.AsSpan(i * H, H);
                        ReadOnlySpan<T> cxRow = sc.Cp.AsSpan(i * H, H);
                        for (int j = 0; j < H; j++) dst[j] = carry[j] * _cellClip.Grad(cxRow[j]);
                    }
                }
            }
        }

    }

    /// <summary>
    /// <see cref="BackwardDirection"/> for LSTM without clipping or projection, with the fused float kernel: dL/dh_t is
    /// summed inside the kernel (carry + output gradient), c_{t−1} is read in place, and the step's dh_{t−1} GEMM writes
    /// straight into the carry buffer (rows that do not continue are routed to dhx from there).
    /// </summary>
    private unsafe void FusedLstmBackward(int l, int d, ReadOnlySpan<T> dOut, Span<T> gates, Span<T> aux,
        ReadOnlySpan<T> dhy, Span<T> dhx, ReadOnlySpan<T> cx, ReadOnlySpan<T> dcy, Span<T> dcx)
    {
        var job = _stepJobs[d];
        fixed (T* pg = gates)
        fixed (T* pa = aux)
        fixed (T* pdy = dOut)
        fixed (T* pcx = cx)
        fixed (T* pdhy = dhy)
        fixed (T* pdcy = dcy)
        fixed (T* pdhx = dhx)
        fixed (T* pdcx = dcx)
        {
            job.Backward = true; job.Layer = l;
            job.Gates = (float*)pg; job.Aux = (float*)pa; job.DOut = (float*)pdy; job.Cx = (float*)pcx;
            job.Dhy = (float*)pdhy; job.Dcy = (float*)pdcy; job.Dhx = (float*)pdhx; job.Dcx = (float*)pdcx;
            for (int step = _T - 1; step >= 0; step--)
            {
                int t = d == 0 ? step : _T - 1 - step;
                if (_bs[t] == 0) continue;
                job.Step = t;
                job.NCont = d == 0 ? (t > 0 ? _bs[t] : 0) : (t + 1 < _T ? _bs[t + 1] : 0);
                job.PrevRow0 = d == 0 ? (t > 0 ? _off[t - 1] : 0) : (t + 1 < _T ? _off[t + 1] : 0);
                // Rows whose backward pass starts here take dhy/dcy; the others carry dh/dc from the step processed before.
                job.FirstStart = d == 0 ? _bs[t + 1] : (t == 0 ? 0 : _bs[t]);
                job.Run();
            }
        }
    }

    /// <summary>Rows i0..i1 of one backward step: the cell, then dh_{t-1} = dG·R straight into the carry buffer.</summary>
    private unsafe void FusedBackwardRows(FusedStepJob j, int d, int i0, int i1)
    {
        var sc = _scratch[d];
        int t = j.Step, r0 = _off[t], rows = i1 - i0, H = _H, GH = _GH, O = _O, S = _S, pl = j.Layer * _D + d;
        fixed (T* pdhT = sc.Dh)
        fixed (T* pdcT = sc.Dc)
        {
            float* dh = (float*)pdhT, dc = (float*)pdcT, g = j.Gates, c = j.Aux;
            for (int i = Math.Max(i0, j.FirstStart); i < i1; i++)
            {
                var dst = new Span<float>(dh + (long)i * S, S);
                if (j.Dhy != null) new ReadOnlySpan<float>(j.Dhy + (long)(pl * _B + _perm[i]) * S, S).CopyTo(dst);
                else dst.Clear();
                new Span<float>(dc + (long)i * H, H).Clear();
            }
            for (int i = i0; i < i1; i++)
            {
                int row = r0 + i;
                float* cPrev = i < j.NCont ? c + (long)(j.PrevRow0 + i) * H : j.Cx == null ? null : j.Cx + (long)(pl * _B + _perm[i]) * H;
                float* dcyRow = i >= j.FirstStart && j.Dcy != null ? j.Dcy + (long)(pl * _B + _perm[i]) * H : null;
                LstmFused.Backward(g + (long)row * GH, c + (long)row * H, cPrev, dh + (long)i * S, j.DOut + (long)row * O + d * S,
                    dc + (long)i * H, dcyRow, H);
            }

            // dh_{t-1} = dG · R, straight into the carry: the kernel above has consumed it.
            Gemm.Multiply(false, rows, new ReadOnlySpan<T>(j.Gates + (long)(r0 + i0) * GH, rows * GH), GH, sc.PackedRT,
                sc.Dh.AsSpan(i0 * S, rows * S), S, accumulate: false, maxThreads: 1);

            // Rows whose previous state was hx/cx: their gradients go to dhx/dcx.
            for (int i = Math.Max(i0, j.NCont); i < i1; i++)
            {
                int b = _perm[i];
                if (j.Dhx != null) new ReadOnlySpan<float>(dh + (long)i * S, S).CopyTo(new Span<float>(j.Dhx + (long)(pl * _B + b) * S, S));
                if (j.Dcx != null) new ReadOnlySpan<float>(dc + (long)i * H, H).CopyTo(new Span<float>(j.Dcx + (long)(pl * _B + b) * H, H));
            }
        }
    }

    /// <summary>dIn (+)= dG · W (or, under skip input, the sum of the gate gradients).</summary>
    private void InputGradient(int l, int d, Span<T> dIn, bool accumulateDIn, ReadOnlySpan<T> w, ReadOnlySpan<T> res)
    {
        int inW = InW(l), N = _N, GH = _GH, H = _H;
        ReadOnlySpan<T> gates = res.Slice((int)_gatesOff[l, d], N * GH);
        var eW = W(l, d, 0);
        if (eW.HasMatrix)
            Gemm.Multiply(false, false, N, inW, GH, gates, GH, w.Slice((int)eW.MatrixOffset, GH * inW), inW, dIn, inW, accumulateDIn, _threads);
        else
        {
            if (!accumulateDIn) dIn.Clear();
            for (int r = 0; r < N; r++)
                for (int g = 0; g < _G; g++)
                    Add(dIn.Slice(r * inW, H), gates.Slice(r * GH + g * H, H));
        }
    }

    // ---------------------------------------------------------------- backward weights

    protected override void BackwardWeightsCore(RnnBuffer<T> x, RnnBuffer<T>? hx, RnnBuffer<T> y, RnnBuffer<T> dweights, RnnReserve<T> reserve)
    {
        Span<T> res = S(reserve.Storage);
        Span<T> dw = S(dweights);
        ReadOnlySpan<T> hxs = SOpt(hx);
        T[] x0 = LayerZeroInput(x);
        int N = _N, GH = _GH, H = _H, S_ = _S, O = _O;

        for (int l = 0; l < _L; l++)
        {
            int inW = InW(l);
            ReadOnlySpan<T> input = LayerInput(l, x0, res, training: true);
            ReadOnlySpan<T> outp = res.Slice((int)_outOff[l], N * O);
            for (int d = 0; d < _D; d++)
            {
                int pl = l * _D + d;
                ReadOnlySpan<T> gates = res.Slice((int)_gatesOff[l, d], N * GH);
                var eW = W(l, d, 0);
                var eR = W(l, d, _G);
                if (eW.HasMatrix)
                    AddWeightGradient(gates, input, inW, dw.Slice((int)eW.MatrixOffset, GH * inW));
                if (eW.HasBias) ColumnSums(gates, N, GH, dw.Slice((int)eW.BiasOffset, GH));

                ReadOnlySpan<T> gRec = gates;
                if (_mode == RnnMode.Gru)
                {
                    ReadOnlySpan<T> dhn = res.Slice((int)_auxOff[l, d], N * H);
                    for (int r = 0; r < N; r++)
                    {
                        gates.Slice(r * GH, 2 * H).CopyTo(_gr.AsSpan(r * GH, 2 * H));
                        dhn.Slice(r * H, H).CopyTo(_gr.AsSpan(r * GH + 2 * H, H));
                    }
                    gRec = _gr.AsSpan(0, N * GH);
                }

                // Previous hidden state of every row.
                for (int t = 0; t < _T; t++)
                    GatherPrevious(l, d, t, outp, hxs, _hPrevAll.AsSpan(_off[t] * S_), default, default, default);
                AddWeightGradient(gRec, _hPrevAll, S_, dw.Slice((int)eR.MatrixOffset, GH * S_));
                if (eR.HasBias) ColumnSums(gRec, N, GH, dw.Slice((int)eR.BiasOffset, GH));

                if (Rnn.HasProjection)
                {
                    var eP = W(l, d, 8);
                    Gemm.Multiply(true, false, S_, H, N, res.Slice((int)_projOff[l, d], N * S_), S_,
                        res.Slice((int)_auxOff[l, d], N * H), H, dw.Slice((int)eP.MatrixOffset, S_ * H), H, accumulate: true, maxThreads: _threads);
                }
            }
        }
    }

    /// <summary>
    /// dW (GH × width) += dG^T · X over all N rows. The GEMM's n is width; when that is not a whole number of NR-column
    /// panels (input size 100: 3 panels and a 4-wide remainder computed 32 wide) while GH is, the product is computed
    /// transposed instead, X^T · dG (n = GH, no waste), and added back transposed: a small pass over GH × width values.
    /// The summation order of every element is the same either way; only the final add into dW is separate.
    /// </summary>
    private void AddWeightGradient(ReadOnlySpan<T> dG, ReadOnlySpan<T> x, int width, Span<T> dw)
    {
        int GH = _GH, nr = GemmDriver<T>.NR;
        if (width % nr == 0 || GH % nr != 0 || _dwT.Length < GH * width)
        {
            Gemm.Multiply(true, false, GH, width, _N, dG, GH, x, width, dw, width, accumulate: true, maxThreads: _threads);
            return;
        }
        Span<T> t = _dwT.AsSpan(0, GH * width);
        Gemm.Multiply(true, false, width, GH, _N, x, width, dG, GH, t, GH, accumulate: false, maxThreads: _threads);
        for (int g0 = 0; g0 < GH; g0 += 16)        // 16-row blocks keep the strided reads of t in cache
            for (int i = 0; i < width; i++)
            {
                ReadOnlySpan<T> src = t.Slice(i * GH + g0, Math.Min(16, GH - g0));
                for (int g = 0; g < src.Length; g++) dw[(g0 + g) * width + i] += src[g];
            }
    }

    // ---------------------------------------------------------------- helpers

    /// <summary>
    /// Copies the previous state of the active rows of step t, in processing order of direction d: h_{prev} from the
    /// layer output (or hx, or zeros where a sequence starts) into <paramref name="hp"/>, and, when <paramref name="aux"/>
    /// is given, the raw c_{prev} from the saved cell states (or cx, or zeros) into <paramref name="cp"/>. An empty
    /// destination is skipped.
    /// </summary>
    private void GatherPrevious(int l, int d, int t, ReadOnlySpan<T> outp, ReadOnlySpan<T> hx, Span<T> hp,
        ReadOnlySpan<T> aux, ReadOnlySpan<T> cx, Span<T> cp)
    {
        int n = _bs[t], S = _S, H = _H, O = _O, pl = l * _D + d;
        int nCont = d == 0 ? (t > 0 ? n : 0) : (t + 1 < _T ? _bs[t + 1] : 0); // rows whose previous state is in outp
        int prevRow0 = d == 0 ? (t > 0 ? _off[t - 1] : 0) : (t + 1 < _T ? _off[t + 1] : 0);
        for (int i = 0; i < n; i++)
        {
            if (!hp.IsEmpty)
            {
                Span<T> dst = hp.Slice(i * S, S);
                if (i < nCont) outp.Slice((prevRow0 + i) * O + d * S, S).CopyTo(dst);
                else if (!hx.IsEmpty) hx.Slice((pl * _B + _perm[i]) * S, S).CopyTo(dst);
                else dst.Clear();
            }
            if (!aux.IsEmpty)
            {
                Span<T> dst = cp.Slice(i * H, H);
                if (i < nCont) aux.Slice((prevRow0 + i) * H, H).CopyTo(dst);
                else if (!cx.IsEmpty) cx.Slice((pl * _B + _perm[i]) * H, H).CopyTo(dst);
                else dst.Clear();
            }
        }
    }

    private void GatherRows(ReadOnlySpan<T> src, int width, Span<T> packed)
    {
        for (int r = 0; r < _N; r++) src.Slice(_xSlot[r] * width, width).CopyTo(packed.Slice(r * width, width));
    }

    private void ScatterRows(ReadOnlySpan<T> packed, int width, Span<T> dst)
    {
        for (int r = 0; r < _N; r++) packed.Slice(r * width, width).CopyTo(dst.Slice(_xSlot[r] * width, width));
    }

    private static void ColumnSums(ReadOnlySpan<T> m, int rows, int cols, Span<T> acc)
    {
        for (int r = 0; r < rows; r++) Add(acc, m.Slice(r * cols, cols));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Add(Span<T> dst, ReadOnlySpan<T> src) => System.Numerics.Tensors.TensorPrimitives.Add(dst, src, dst);


}
