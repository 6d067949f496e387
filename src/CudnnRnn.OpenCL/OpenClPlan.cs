using System.Numerics;
using System.Runtime.CompilerServices;
using CudnnRnn.OpenCL.Interop;

namespace CudnnRnn.OpenCL;

/// <summary>
/// The OpenCL engine's plan: CpuPlan's algorithm, step for step, with every loop turned into a kernel launch on one
/// in-order queue. Internally each layer works on packed rows (sequences ordered by length, descending and stable; row
/// <c>off[t] + i</c> is step t of the i-th longest sequence), so each step works on a shrinking prefix of the batch, the
/// reverse direction of each sequence starts at its own last step, and hy/cy come from each sequence's own last step.
/// </summary>
/// <remarks>
/// The batch schedule and the memory layouts come from <see cref="RnnSchedule"/>, as in CpuPlan: the reserve space has
/// the same layout on both engines, and an inference forward works in the same compact layout
/// (<see cref="RnnSchedule.Inference"/>). Every buffer is allocated when the plan is created (the inference buffer on
/// the first inference forward); no call allocates. Calls enqueue their work and return without waiting (no
/// host synchronisation: <see cref="OpenClEngine.SynchronizingCalls"/>); errors the device reports while running surface
/// at the next synchronising call (a read, <see cref="OpenClEngine.Synchronize"/>). A plan serves every set of lengths of its shape: the index tables are
/// re-uploaded (non-blocking writes) when a call's lengths differ from the previous call's (OpenClPlan.Lengths.cs). Element offsets are 32-bit in the kernels; a plan whose reserve or
/// workspace would exceed 2^31 elements is refused at creation.
/// </remarks>
internal sealed partial class OpenClPlan<T> : RnnPlan<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly OpenClEngine _engine;
    private readonly int _B, _T, _D, _L, _G, _H, _S, _O, _I, _GH, _ts;
    private readonly RnnSchedule _sched;
    private readonly RnnStateLayout _reserveLayout, _inferenceLayout;
    private readonly RnnMode _mode;
    private readonly bool _clip, _clipNanPropagate;
    private readonly T _clipMin, _clipMax;
    private readonly T _dropScale;
    private readonly ulong _dropThreshold;

    // Index tables (device int buffers).
    private readonly SafeClMem _slot;      // packed row -> vector index in x / y / dx / dy
    private readonly SafeClMem _perm;      // sorted position -> batch index
    private readonly SafeClMem[] _prevSrc; // [direction] packed row -> previous packed row, or -1 - batch index (hx/cx)

    // Workspace (device buffers of T).
    private readonly OpenClBuffer<T> _xPacked, _hp, _cp, _rec, _m, _dh, _dc, _dhPrev, _dhTot, _dOut, _dIn, _gr, _hPrevAll, _dummy;
    private OpenClBuffer<T>? _inferenceBuffer;   // the inference forward's compact layout, allocated on first use

    private readonly ClKernel _gemm, _gatherRows, _scatterRows, _copy, _gatherState, _storeFinal, _dropout, _skipInput, _addBias,
        _fwdRnn, _fwdLstm, _fwdGru, _bwdPrep, _bwdRnn, _bwdLstm, _bwdGru, _bwdRoute, _skipInputBwd, _colSums, _gruRecGrads;
    private readonly List<IDisposable> _owned = [];

    public OpenClPlan(OpenClEngine engine, RnnDescriptor rnn, RnnDataDescriptor xDesc, RnnWeightLayout layout)
        : base(engine, rnn, xDesc, layout)
    {
        _engine = engine;
        _mode = rnn.Mode;
        _B = xDesc.Batch; _T = xDesc.MaxSeqLength;
        _D = rnn.NumDirections; _L = rnn.NumLayers; _G = rnn.Gates; _H = rnn.HiddenSize; _S = rnn.StateSize;
        _O = rnn.OutputSize; _I = rnn.InputSize; _GH = _G * _H;
        _ts = engine.TileSize;
        if (rnn.CellClip is { } c)
        {
            _clip = true;
            _clipMin = T.CreateChecked(c.EffectiveMin);
            _clipMax = T.CreateChecked(c.EffectiveMax);
            _clipNanPropagate = c.Nan == ClipNanMode.Propagate;
        }
        // Dropout, as CpuPlan: keep when u = (z >> 11)·2^-53 >= p, i.e. (z >> 11) >= ceil(p·2^53) (p·2^53 is exact).
        _dropScale = T.One / (T.One - T.CreateChecked(rnn.Dropout));
        _dropThreshold = (ulong)Math.Ceiling(rnn.Dropout * 9007199254740992.0);

        _sched = new RnnSchedule(rnn, xDesc);
        _reserveLayout = _sched.Reserve;
        _inferenceLayout = _sched.Inference;
        // The plan serves every set of lengths of its shape: tables and workspace are sized for the most rows the shape
        // allows (every length = T), and a call re-uploads the tables when its lengths change (OpenClPlan.Lengths.cs).
        int maxRows = _sched.MaxRows;
        // Every offset the kernels get is 32-bit: the largest buffers are checked here, so no offset below can overflow.
        Fit(_sched.ReserveCapacity);
        Fit(_sched.InferenceCapacity);
        Fit(WeightLayout.TotalElements);
        Fit((long)maxRows * Math.Max(_I, Math.Max(_O, _GH)));

        // The kernels rely on the canonical layout: each W (R) gate block directly follows the previous one.
        RnnSchedule.RequireContiguousGateBlocks(layout, "OpenCL");

        try
        {
            _slot = IntBuffer(maxRows);
            _perm = IntBuffer(_B);
            _prevSrc = new SafeClMem[_D];
            for (int d = 0; d < _D; d++) _prevSrc[d] = IntBuffer(maxRows);
            _hostTables = new HostTables(maxRows, _B, _D);

            _xPacked = Workspace((long)maxRows * _I);
            _hp = Workspace(_B * _S);
            _cp = Workspace(_B * _H);
            _rec = Workspace(_B * _GH);
            _m = Workspace(_B * _H);
            _dh = Workspace(_B * _S);
            _dc = Workspace(_B * _H);
            _dhPrev = Workspace(_B * _S);
            _dhTot = Workspace(_B * _S);
            _dOut = Workspace((long)maxRows * _O);
            _dIn = Workspace((long)maxRows * Math.Max(_I, _O));
            _gr = Workspace(_mode == RnnMode.Gru ? (long)maxRows * _GH : 0);
            _hPrevAll = Workspace((long)maxRows * _S);
            _dummy = Workspace(1);

            var program = engine.GetProgram<T>();
            ClKernel K(string name)
            {
                var k = new ClKernel(engine, program, name);
                _owned.Add(k);
                return k;
            }
            _gemm = K("gemm");
            _gatherRows = K("gather_rows");
            _scatterRows = K("scatter_rows");
            _copy = K("copy");
            _gatherState = K("gather_state");
            _storeFinal = K("store_final");
            _dropout = K("dropout");
            _skipInput = K("skip_input");
            _addBias = K("add_bias");
            _fwdRnn = K("fwd_rnn");
            _fwdLstm = K("fwd_lstm");
            _fwdGru = K("fwd_gru");
            _bwdPrep = K("bwd_prep");
            _bwdRnn = K("bwd_rnn");
            _bwdLstm = K("bwd_lstm");
            _bwdGru = K("bwd_gru");
            _bwdRoute = K("bwd_route");
            _skipInputBwd = K("skip_input_bwd");
            _colSums = K("col_sums");
            _gruRecGrads = K("gru_rec_grads");
        }
        catch
        {
            DisposeOwned();
            throw;
        }
    }

    private static int Fit(long elements) => elements <= int.MaxValue ? (int)elements
        : throw new NotSupportedException($"The OpenCL engine indexes with 32-bit offsets; this plan needs {elements} elements in one buffer. Use a smaller batch or sequence length.");

    private unsafe SafeClMem IntBuffer(int length)
    {
        var m = _engine.CreateMemory((long)Math.Max(length, 1) * sizeof(int));
        _owned.Add(m);
        return m;
    }

    private OpenClBuffer<T> Workspace(long length)
    {
        var b = _engine.AllocateBuffer<T>(length);
        _owned.Add(b);
        return b;
    }

    // Region offsets as the kernels take them (the constructor checked that every buffer fits in 32-bit offsets).
    private static int Out(RnnStateLayout s, int l) => checked((int)s.Output(l));
    private static int Gates(RnnStateLayout s, int l, int d) => checked((int)s.Gates(l, d));
    private static int Aux(RnnStateLayout s, int l, int d) => checked((int)s.Aux(l, d));

    public override long WorkspaceBytes =>
        (long)Unsafe.SizeOf<T>() * (_xPacked.Length + _hp.Length + _cp.Length + _rec.Length + _m.Length + _dh.Length + _dc.Length
            + _dhPrev.Length + _dhTot.Length + _dOut.Length + _dIn.Length + _gr.Length + _hPrevAll.Length + _dummy.Length
            + (_inferenceBuffer?.Length ?? 0))
        + sizeof(int) * ((long)_sched.MaxRows * (1 + _D) + _B);

    public override long ReserveBytes => _sched.ReserveCapacity * Unsafe.SizeOf<T>();

    protected override RnnBuffer<T> AllocateReserveStorage() => _engine.AllocateBuffer<T>(_sched.ReserveCapacity);

    private static nint H(RnnBuffer<T> b) => ((OpenClBuffer<T>)b).Handle;
    private nint HOpt(RnnBuffer<T>? b) => b is null ? _dummy.Handle : ((OpenClBuffer<T>)b).Handle;

    private int InW(int l) => l == 0 ? _I : _O;

    private RnnWeightEntry W(int l, int d, int id) => WeightLayout[l * _D + d, id];

    /// <summary>C (+)= op(A)·op(B) on the device (see native/opencl/rnn.cl, kernel gemm).</summary>
    private void Gemm(bool transA, bool transB, int m, int n, int k, nint a, long offA, int lda, nint b, long offB, int ldb,
        nint c, long offC, int ldc, bool accumulate)
    {
        if (m == 0 || n == 0) return;
        _gemm.Args().Flag(transA).Flag(transB).Int(m).Int(n).Int(k)
            .Mem(a).Int((int)offA).Int(lda).Mem(b).Int((int)offB).Int(ldb).Mem(c).Int((int)offC).Int(ldc).Flag(accumulate)
            .RunGroups(n, m, _ts, _ts);
    }

    private void GatherState(int n, int r0, int width, int d, nint src, int srcOff, int srcLd, int srcCol, RnnBuffer<T>? init,
        int initOff, nint dst, bool clip)
    {
        _gatherState.Args().Int(n).Int(r0).Int(width).Mem(_prevSrc[d].DangerousGetHandle())
            .Mem(src).Int(srcOff).Int(srcLd).Int(srcCol)
            .Mem(HOpt(init)).Flag(init is not null).Int(initOff)
            .Mem(dst).Int(0)
            .Flag(clip && _clip).Value(_clipMin).Value(_clipMax).Flag(_clipNanPropagate)
            .Run(width, n);
    }

    // ---------------------------------------------------------------- forward

    protected override void ForwardCore(RnnForwardMode mode, RnnDataDescriptor xDesc, RnnBuffer<T> x, RnnBuffer<T> y, RnnBuffer<T>? hx, RnnBuffer<T>? hy,
        RnnBuffer<T>? cx, RnnBuffer<T>? cy, RnnBuffer<T> weights, RnnReserve<T>? reserve)
    {
        EnqueueForward(mode, xDesc, x, y, hx, hy, cx, cy, weights, reserve?.Storage, reserve?.DropoutCounter ?? 0);
    }

    /// <summary>
    /// The forward's kernels, enqueued without waiting (the 16-bit plan, OpenClPlan16, enqueues its conversions around
    /// them on the same in-order queue; calls never wait for the queue). Arguments are validated by the caller; data buffers may be
    /// longer than the call needs (only the call's rows are read and written).
    /// </summary>
    internal void EnqueueForward(RnnForwardMode mode, RnnDataDescriptor xDesc, RnnBuffer<T> x, RnnBuffer<T> y, RnnBuffer<T>? hx, RnnBuffer<T>? hy,
        RnnBuffer<T>? cx, RnnBuffer<T>? cy, RnnBuffer<T> weights, RnnBuffer<T>? reserveStorage, ulong dropoutCounter)
    {
        UseLengths(xDesc);
        // Training fills the reserve; inference works in its own compact layout (RnnSchedule.Inference).
        bool training = mode == RnnForwardMode.Training;
        var layout = _sched.Layout(training);
        nint res = training ? H(reserveStorage!) : (_inferenceBuffer ??= Workspace(_sched.InferenceCapacity)).Handle;
        nint w = H(weights);
        _gatherRows.Args().Int(_N).Int(_I).Mem(_slot.DangerousGetHandle()).Mem(H(x)).Mem(_xPacked.Handle).Int(0).Run(_I, _N);

        for (int l = 0; l < _L; l++)
        {
            var (input, inOff) = LayerInput(l, res, layout);
            for (int d = 0; d < _D; d++)
                ForwardDirection(l, d, layout, input, inOff, w, res, hx, hy, cx, cy);
            if (training && Rnn.Dropout > 0 && l + 1 < _L)
                _dropout.Args().Int(_N * _O).Mem(res).Int(Out(layout, l)).Mem(res).Int(checked((int)layout.Dropped(l + 1)))
                    .Value(Rnn.DropoutSeed).Value(dropoutCounter).Int(l + 1).Value(_dropThreshold).Value(_dropScale)
                    .Run(_N * _O);
        }

        // The last layer's output; padded positions get the padding fill.
        if (YDesc.IsUnpacked) ((OpenClBuffer<T>)y).EnqueueFill(T.CreateChecked(YDesc.PaddingFill));
        _scatterRows.Args().Int(_N).Int(_O).Mem(_slot.DangerousGetHandle()).Mem(res).Int(Out(layout, _L - 1)).Mem(H(y)).Run(_O, _N);
    }

    /// <summary>Input of layer l: packed x, or the previous layer's output (dropout-masked in training).</summary>
    private (nint Mem, int Offset) LayerInput(int l, nint res, RnnStateLayout layout)
    {
        if (l == 0) return (_xPacked.Handle, 0);
        return (res, checked((int)layout.Input(l)));
    }

    private void ForwardDirection(int l, int d, RnnStateLayout layout, nint input, int inOff, nint w, nint res,
        RnnBuffer<T>? hx, RnnBuffer<T>? hy, RnnBuffer<T>? cx, RnnBuffer<T>? cy)
    {
        int pl = l * _D + d, inW = InW(l), N = _N, GH = _GH, H = _H, S = _S, O = _O;
        int gOff = Gates(layout, l, d), auxOff = Aux(layout, l, d), outOff = Out(layout, l);
        var eW = W(l, d, 0);
        var eR = W(l, d, _G);

        // Hoisted input projection for all rows of this layer and direction.
        if (eW.HasMatrix)
            Gemm(false, true, N, GH, inW, input, inOff, inW, w, eW.MatrixOffset, inW, res, gOff, GH, accumulate: false);
        else
            _skipInput.Args().Int(N).Int(_G).Int(H).Mem(input).Int(inOff).Int(inW).Mem(res).Int(gOff).Run(GH, N);

        // Biases: bW for all gates; bR for all gates except GRU's new gate (it sits inside r ⊙ (R h + bR)).
        bool hasBW = eW.HasBias, hasBR = eR.HasBias;
        if (hasBW || hasBR)
            _addBias.Args().Int(N).Int(GH).Mem(res).Int(gOff).Mem(w)
                .Flag(hasBW).Int(hasBW ? (int)eW.BiasOffset : 0).Flag(hasBR).Int(hasBR ? (int)eR.BiasOffset : 0)
                .Int(_mode == RnnMode.Gru ? 2 * H : GH)
                .Run(GH, N);

        long rOff = eR.MatrixOffset;
        long wrOff = Rnn.HasProjection ? W(l, d, 8).MatrixOffset : 0;
        nint hp = _hp.Handle, cp = _cp.Handle, rec = _rec.Handle, m = _m.Handle;

        for (int step = 0; step < _T; step++)
        {
            int t = _sched.StepAt(d, step);
            int n = _sched.BatchSize(t);
            if (n == 0) continue;
            int r0 = _sched.RowOffset(t);

            // h_{prev} (and clip(c_{prev})) of the active rows, then the recurrent product.
            GatherState(n, r0, S, d, res, outOff, O, d * S, hx, pl * _B * S, hp, clip: false);
            if (_mode == RnnMode.Lstm) GatherState(n, r0, H, d, res, auxOff, H, 0, cx, pl * _B * H, cp, clip: true);
            Gemm(false, true, n, GH, S, hp, 0, S, w, rOff, S, rec, 0, GH, accumulate: false);

            int g0 = gOff + r0 * GH, a0 = auxOff + r0 * H, o0 = outOff + r0 * O + d * S;
            switch (_mode)
            {
                case RnnMode.RnnTanh:
                case RnnMode.RnnRelu:
                    _fwdRnn.Args().Int(n).Int(H).Flag(_mode == RnnMode.RnnRelu).Mem(res).Int(g0).Mem(rec).Int(o0).Int(O).Run(H, n);
                    break;
                case RnnMode.Lstm:
                    _fwdLstm.Args().Int(n).Int(H).Mem(res).Int(g0).Mem(rec).Int(a0).Mem(cp).Mem(m)
                        .Flag(!Rnn.HasProjection).Int(o0).Int(O)
                        .Flag(_clip).Value(_clipMin).Value(_clipMax).Flag(_clipNanPropagate)
                        .Run(H, n);
                    break;
                case RnnMode.Gru:
                    {
                        bool hasBRn = eR.HasBias;
                        _fwdGru.Args().Int(n).Int(H).Mem(res).Int(g0).Mem(rec).Int(a0)
                            .Mem(w).Flag(hasBRn).Int(hasBRn ? (int)eR.BiasOffset + 2 * H : 0).Mem(hp)
                            .Int(o0).Int(O)
                            .Run(H, n);
                        break;
                    }
            }
            if (Rnn.HasProjection)
                Gemm(false, true, n, S, H, m, 0, H, w, wrOff, H, res, o0, O, accumulate: false);

            // Final states: forward direction at each sequence's own last step, reverse direction at t = 0.
            int lo = _sched.FirstFinalRow(d, t);
            if ((hy is not null || cy is not null) && n > lo)
                _storeFinal.Args().Int(lo).Int(n - lo).Int(r0).Mem(_perm.DangerousGetHandle())
                    .Mem(res).Int(outOff).Int(O).Int(d * S).Int(S)
                    .Mem(HOpt(hy)).Flag(hy is not null).Int(pl * _B)
                    .Int(auxOff).Int(H).Mem(HOpt(cy)).Flag(cy is not null).Int(pl * _B)
                    .Run(Math.Max(S, H), n - lo);
        }
    }

    // ---------------------------------------------------------------- lifetime

    private void DisposeOwned()
    {
        for (int i = _owned.Count - 1; i >= 0; i--) _owned[i].Dispose();
        _owned.Clear();
    }

    protected override void DisposeCore()
    {
        WaitForTableWrites();
        DisposeOwned();
        _inferenceBuffer = null;
    }
}
