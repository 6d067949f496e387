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
/// The reserve space has exactly CpuPlan's layout (per layer: out, then per direction gates, aux, proj; then dropped),
/// so what it holds between the calls means the same thing on both engines. Every buffer is allocated when the plan is
/// created (the inference reserve on the first inference forward); no call allocates. Each call ends with clFinish, so
/// errors surface in the call that caused them. Element offsets are 32-bit in the kernels; a plan whose reserve or
/// workspace would exceed 2^31 elements is refused at creation.
/// </remarks>
internal sealed class OpenClPlan<T> : RnnPlan<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly OpenClEngine _engine;
    private readonly int _B, _T, _N, _D, _L, _G, _H, _S, _O, _I, _GH, _ts;
    private readonly int[] _bs;        // [T + 1] batch size at step t (bs[T] = 0)
    private readonly int[] _off;       // [T + 1] first packed row of step t
    private readonly int[] _outOff, _dropOff;
    private readonly int[,] _gatesOff, _auxOff, _projOff;
    private readonly int _reserveLength;
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
    private OpenClBuffer<T>? _inferenceReserve;

    private readonly ClKernel _gemm, _gatherRows, _scatterRows, _copy, _gatherState, _storeFinal, _dropout, _skipInput, _addBias,
        _fwdRnn, _fwdLstm, _fwdGru, _bwdPrep, _bwdRnn, _bwdLstm, _bwdGru, _bwdRoute, _skipInputBwd, _colSums, _gruRecGrads;
    private readonly List<IDisposable> _owned = [];

    public OpenClPlan(OpenClEngine engine, RnnDescriptor rnn, RnnDataDescriptor xDesc, RnnWeightLayout layout)
        : base(engine, rnn, xDesc, layout)
    {
        _engine = engine;
        _mode = rnn.Mode;
        _B = xDesc.Batch; _T = xDesc.MaxSeqLength; _N = checked((int)xDesc.TotalSteps); // OpenClEngine.CreatePlan checked the 32-bit reach
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

        var lengths = xDesc.SeqLengths.ToArray();
        var perm = Enumerable.Range(0, _B).OrderByDescending(b => lengths[b]).ThenBy(b => b).ToArray();
        _bs = new int[_T + 1];
        _off = new int[_T + 1];
        for (int t = 0; t < _T; t++) { _bs[t] = xDesc.BatchSizeAt(t); _off[t + 1] = _off[t] + _bs[t]; }
        var slot = new int[_N];
        for (int t = 0; t < _T; t++)
            for (int i = 0; i < _bs[t]; i++)
                slot[_off[t] + i] = checked((int)(xDesc.Offset(t, perm[i]) / xDesc.VectorSize));
        var prevSrc = new int[_D][];
        for (int d = 0; d < _D; d++)
        {
            prevSrc[d] = new int[_N];
            for (int t = 0; t < _T; t++)
            {
                int n = _bs[t];
                int nCont = NCont(d, t);
                int prevRow0 = PrevRow0(d, t);
                for (int i = 0; i < n; i++) prevSrc[d][_off[t] + i] = i < nCont ? prevRow0 + i : -1 - perm[i];
            }
        }

        long pos = 0;
        _outOff = new int[_L];
        _dropOff = new int[_L];
        _gatesOff = new int[_L, _D];
        _auxOff = new int[_L, _D];
        _projOff = new int[_L, _D];
        for (int l = 0; l < _L; l++)
        {
            _outOff[l] = Fit(pos); pos += (long)_N * _O;
            for (int d = 0; d < _D; d++)
            {
                _gatesOff[l, d] = Fit(pos); pos += (long)_N * _GH;
                _auxOff[l, d] = Fit(pos); if (_mode is RnnMode.Lstm or RnnMode.Gru) pos += (long)_N * _H;
                _projOff[l, d] = Fit(pos); if (rnn.HasProjection) pos += (long)_N * _S;
            }
            _dropOff[l] = -1;
            if (l > 0 && rnn.Dropout > 0) { _dropOff[l] = Fit(pos); pos += (long)_N * _O; }
        }
        _reserveLength = Fit(pos);
        Fit(WeightLayout.TotalElements);
        Fit((long)_N * Math.Max(_I, Math.Max(_O, _GH)));

        // The kernels rely on the canonical layout: each W (R) gate block directly follows the previous one.
        for (int pl = 0; pl < rnn.PseudoLayerCount; pl++)
            for (int id = 1; id < 2 * _G; id++)
            {
                var prev = layout[pl, id - 1];
                var cur = layout[pl, id];
                if (id != _G && prev.HasMatrix && cur.MatrixOffset != prev.MatrixOffset + (long)prev.Rows * prev.Cols)
                    throw new InvalidOperationException("The OpenCL engine needs gate blocks stored contiguously (the canonical layout).");
            }

        try
        {
            _slot = IntBuffer(slot);
            _perm = IntBuffer(perm);
            _prevSrc = prevSrc.Select(IntBuffer).ToArray();

            _xPacked = Workspace((long)_N * _I);
            _hp = Workspace(_B * _S);
            _cp = Workspace(_B * _H);
            _rec = Workspace(_B * _GH);
            _m = Workspace(_B * _H);
            _dh = Workspace(_B * _S);
            _dc = Workspace(_B * _H);
            _dhPrev = Workspace(_B * _S);
            _dhTot = Workspace(_B * _S);
            _dOut = Workspace((long)_N * _O);
            _dIn = Workspace((long)_N * Math.Max(_I, _O));
            _gr = Workspace(_mode == RnnMode.Gru ? (long)_N * _GH : 0);
            _hPrevAll = Workspace((long)_N * _S);
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

    private unsafe SafeClMem IntBuffer(int[] data)
    {
        fixed (int* p = data)
        {
            var m = _engine.CreateMemory((long)Math.Max(data.Length, 1) * sizeof(int), data.Length > 0 ? p : null);
            _owned.Add(m);
            return m;
        }
    }

    private OpenClBuffer<T> Workspace(long length)
    {
        var b = _engine.AllocateBuffer<T>(length);
        _owned.Add(b);
        return b;
    }

    // Rows of step t whose previous state is in the layer output (the others start from hx/cx), and where those rows are.
    private int NCont(int d, int t) => d == 0 ? (t > 0 ? _bs[t] : 0) : (t + 1 < _T ? _bs[t + 1] : 0);
    private int PrevRow0(int d, int t) => d == 0 ? (t > 0 ? _off[t - 1] : 0) : (t + 1 < _T ? _off[t + 1] : 0);
    // First sorted position whose sequence ends (forward) or begins its backward pass (reverse) at step t.
    private int FirstFinal(int d, int t) => d == 0 ? _bs[t + 1] : (t == 0 ? 0 : _bs[t]);

    public override long WorkspaceBytes =>
        (long)Unsafe.SizeOf<T>() * (_xPacked.Length + _hp.Length + _cp.Length + _rec.Length + _m.Length + _dh.Length + _dc.Length
            + _dhPrev.Length + _dhTot.Length + _dOut.Length + _dIn.Length + _gr.Length + _hPrevAll.Length + _dummy.Length
            + (_inferenceReserve?.Length ?? 0))
        + sizeof(int) * ((long)_N * (1 + _D) + _B);

    public override long ReserveBytes => (long)_reserveLength * Unsafe.SizeOf<T>();

    protected override RnnBuffer<T> AllocateReserveStorage() => _engine.AllocateBuffer<T>(_reserveLength);

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

    protected override void ForwardCore(RnnForwardMode mode, RnnBuffer<T> x, RnnBuffer<T> y, RnnBuffer<T>? hx, RnnBuffer<T>? hy,
        RnnBuffer<T>? cx, RnnBuffer<T>? cy, RnnBuffer<T> weights, RnnReserve<T>? reserve)
    {
        nint res = reserve is not null ? H(reserve.Storage) : (_inferenceReserve ??= Workspace(_reserveLength)).Handle;
        bool training = mode == RnnForwardMode.Training;
        nint w = H(weights);
        _gatherRows.Args().Int(_N).Int(_I).Mem(_slot.DangerousGetHandle()).Mem(H(x)).Mem(_xPacked.Handle).Int(0).Run(_I, _N);

        for (int l = 0; l < _L; l++)
        {
            var (input, inOff) = LayerInput(l, res, training);
            for (int d = 0; d < _D; d++)
                ForwardDirection(l, d, input, inOff, w, res, hx, hy, cx, cy);
            if (training && Rnn.Dropout > 0 && l + 1 < _L)
                _dropout.Args().Int(_N * _O).Mem(res).Int(_outOff[l]).Mem(res).Int(_dropOff[l + 1])
                    .Value(Rnn.DropoutSeed).Value(reserve!.DropoutCounter).Int(l + 1).Value(_dropThreshold).Value(_dropScale)
                    .Run(_N * _O);
        }

        // The last layer's output; padded positions get the padding fill.
        if (YDesc.IsUnpacked) ((OpenClBuffer<T>)y).EnqueueFill(T.CreateChecked(YDesc.PaddingFill));
        _scatterRows.Args().Int(_N).Int(_O).Mem(_slot.DangerousGetHandle()).Mem(res).Int(_outOff[_L - 1]).Mem(H(y)).Run(_O, _N);
        _engine.Finish();
    }

    /// <summary>Input of layer l: packed x, or the previous layer's output (dropout-masked in training).</summary>
    private (nint Mem, int Offset) LayerInput(int l, nint res, bool training)
    {
        if (l == 0) return (_xPacked.Handle, 0);
        return (res, training && _dropOff[l] >= 0 ? _dropOff[l] : _outOff[l - 1]);
    }

    private void ForwardDirection(int l, int d, nint input, int inOff, nint w, nint res,
        RnnBuffer<T>? hx, RnnBuffer<T>? hy, RnnBuffer<T>? cx, RnnBuffer<T>? cy)
    {
        int pl = l * _D + d, inW = InW(l), N = _N, GH = _GH, H = _H, S = _S, O = _O;
        int gOff = _gatesOff[l, d], auxOff = _auxOff[l, d], outOff = _outOff[l];
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
            int t = d == 0 ? step : _T - 1 - step;
            int n = _bs[t];
            if (n == 0) continue;
            int r0 = _off[t];

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
            int lo = FirstFinal(d, t);
            if ((hy is not null || cy is not null) && n > lo)
                _storeFinal.Args().Int(lo).Int(n - lo).Int(r0).Mem(_perm.DangerousGetHandle())
                    .Mem(res).Int(outOff).Int(O).Int(d * S).Int(S)
                    .Mem(HOpt(hy)).Flag(hy is not null).Int(pl * _B)
                    .Int(auxOff).Int(H).Mem(HOpt(cy)).Flag(cy is not null).Int(pl * _B)
                    .Run(Math.Max(S, H), n - lo);
        }
    }

    // ---------------------------------------------------------------- backward data

    protected override void BackwardDataCore(RnnBuffer<T> y, RnnBuffer<T> dy, RnnBuffer<T> dx, RnnBuffer<T>? hx, RnnBuffer<T>? dhy,
        RnnBuffer<T>? dhx, RnnBuffer<T>? cx, RnnBuffer<T>? dcy, RnnBuffer<T>? dcx, RnnBuffer<T> weights, RnnReserve<T> reserve)
    {
        nint res = H(reserve.Storage);
        nint w = H(weights);
        nint dOut = _dOut.Handle, dIn = _dIn.Handle;
        _gatherRows.Args().Int(_N).Int(_O).Mem(_slot.DangerousGetHandle()).Mem(H(dy)).Mem(dOut).Int(0).Run(_O, _N);

        for (int l = _L - 1; l >= 0; l--)
        {
            for (int d = 0; d < _D; d++)
                BackwardDirection(l, d, accumulateDIn: d > 0, w, res, hx, dhy, dhx, cx, dcy, dcx);
            if (l > 0)
            {
                int count = _N * _O;
                if (Rnn.Dropout > 0)
                    _dropout.Args().Int(count).Mem(dIn).Int(0).Mem(dOut).Int(0)
                        .Value(Rnn.DropoutSeed).Value(reserve.DropoutCounter).Int(l).Value(_dropThreshold).Value(_dropScale)
                        .Run(count);
                else
                    _copy.Args().Int(count).Mem(dIn).Int(0).Mem(dOut).Int(0).Run(count);
            }
            else
            {
                if (XDesc.IsUnpacked) ((OpenClBuffer<T>)dx).EnqueueFill(T.Zero);
                _scatterRows.Args().Int(_N).Int(_I).Mem(_slot.DangerousGetHandle()).Mem(dIn).Int(0).Mem(H(dx)).Run(_I, _N);
            }
        }
        _engine.Finish();
    }

    private void BackwardDirection(int l, int d, bool accumulateDIn, nint w, nint res,
        RnnBuffer<T>? hx, RnnBuffer<T>? dhy, RnnBuffer<T>? dhx, RnnBuffer<T>? cx, RnnBuffer<T>? dcy, RnnBuffer<T>? dcx)
    {
        int pl = l * _D + d, inW = InW(l), N = _N, GH = _GH, H = _H, S = _S, O = _O;
        int gOff = _gatesOff[l, d], auxOff = _auxOff[l, d], outOff = _outOff[l], projOff = _projOff[l, d];
        bool lstm = _mode == RnnMode.Lstm, proj = Rnn.HasProjection;
        long rOff = W(l, d, _G).MatrixOffset;
        long wrOff = proj ? W(l, d, 8).MatrixOffset : 0;
        nint hp = _hp.Handle, cp = _cp.Handle, rec = _rec.Handle, m = _m.Handle, dh = _dh.Handle, dc = _dc.Handle,
            dhPrev = _dhPrev.Handle, dhTot = _dhTot.Handle, perm = _perm.DangerousGetHandle();

        for (int step = _T - 1; step >= 0; step--)
        {
            int t = d == 0 ? step : _T - 1 - step;
            int n = _bs[t];
            if (n == 0) continue;
            int r0 = _off[t];
            // Rows whose backward pass starts here take dhy/dcy; the others carry dh/dc from the step processed before.
            int firstStart = FirstFinal(d, t);

            _bwdPrep.Args().Int(n).Int(r0).Int(firstStart).Int(S).Int(H).Flag(lstm).Mem(perm)
                .Mem(dh).Mem(dc).Mem(dhTot)
                .Mem(HOpt(dhy)).Flag(dhy is not null).Int(pl * _B)
                .Mem(_dOut.Handle).Int(O).Int(d * S)
                .Mem(res).Flag(proj).Int(projOff)
                .Run(Math.Max(S, H), n);
            if (_mode == RnnMode.Gru) GatherState(n, r0, S, d, res, outOff, O, d * S, hx, pl * _B * S, hp, clip: false);
            if (lstm) GatherState(n, r0, H, d, res, auxOff, H, 0, cx, pl * _B * H, cp, clip: false); // raw c_{prev}

            // dm: gradient w.r.t. the cell output before projection.
            if (proj) Gemm(false, false, n, H, S, dhTot, 0, S, w, wrOff, H, m, 0, H, accumulate: false);

            int g0 = gOff + r0 * GH, a0 = auxOff + r0 * H;
            switch (_mode)
            {
                case RnnMode.RnnTanh:
                case RnnMode.RnnRelu:
                    _bwdRnn.Args().Int(n).Int(H).Flag(_mode == RnnMode.RnnRelu).Mem(res).Int(g0).Mem(dhTot).Run(H, n);
                    break;
                case RnnMode.Lstm:
                    _bwdLstm.Args().Int(n).Int(r0).Int(firstStart).Int(H).Mem(perm)
                        .Mem(res).Int(g0).Int(a0)
                        .Mem(cp).Mem(dc).Mem(proj ? m : dhTot)
                        .Mem(HOpt(dcy)).Flag(dcy is not null).Int(pl * _B).Flag(proj)
                        .Flag(_clip).Value(_clipMin).Value(_clipMax).Flag(_clipNanPropagate)
                        .Run(H, n);
                    break;
                case RnnMode.Gru:
                    _bwdGru.Args().Int(n).Int(H).Mem(res).Int(g0).Int(a0).Mem(hp).Mem(dhTot).Mem(dhPrev).Mem(rec).Run(H, n);
                    break;
            }

            // dh_{prev} = (recurrent-side gate gradients) · R; GRU adds to the direct part dh ⊙ z already there.
            if (_mode == RnnMode.Gru) Gemm(false, false, n, S, GH, rec, 0, GH, w, rOff, S, dhPrev, 0, S, accumulate: true);
            else Gemm(false, false, n, S, GH, res, g0, GH, w, rOff, S, dhPrev, 0, S, accumulate: false);

            // Route: to the next row processed (carry) or, where the previous state was hx/cx, to dhx/dcx.
            _bwdRoute.Args().Int(n).Int(NCont(d, t)).Int(S).Int(H).Flag(lstm).Mem(perm)
                .Mem(dhPrev).Mem(dh)
                .Mem(HOpt(dhx)).Flag(dhx is not null).Int(pl * _B)
                .Mem(dc).Mem(cp)
                .Mem(HOpt(dcx)).Flag(dcx is not null).Int(pl * _B)
                .Flag(_clip).Value(_clipMin).Value(_clipMax)
                .Run(Math.Max(S, H), n);
        }

        // dIn (+)= dG · W  (or, under skip input, the sum of the gate gradients).
        var eW = W(l, d, 0);
        if (eW.HasMatrix)
            Gemm(false, false, N, inW, GH, res, gOff, GH, w, eW.MatrixOffset, inW, _dIn.Handle, 0, inW, accumulateDIn);
        else
            _skipInputBwd.Args().Int(N).Int(_G).Int(H).Mem(res).Int(gOff).Mem(_dIn.Handle).Int(inW).Flag(accumulateDIn).Run(H, N);
    }

    // ---------------------------------------------------------------- backward weights

    protected override void BackwardWeightsCore(RnnBuffer<T> x, RnnBuffer<T>? hx, RnnBuffer<T> y, RnnBuffer<T> dweights, RnnReserve<T> reserve)
    {
        nint res = H(reserve.Storage);
        nint dw = H(dweights);
        _gatherRows.Args().Int(_N).Int(_I).Mem(_slot.DangerousGetHandle()).Mem(H(x)).Mem(_xPacked.Handle).Int(0).Run(_I, _N);
        int N = _N, GH = _GH, H_ = _H, S = _S, O = _O;

        for (int l = 0; l < _L; l++)
        {
            int inW = InW(l);
            var (input, inOff) = LayerInput(l, res, training: true);
            for (int d = 0; d < _D; d++)
            {
                int pl = l * _D + d, gOff = _gatesOff[l, d], auxOff = _auxOff[l, d];
                var eW = W(l, d, 0);
                var eR = W(l, d, _G);
                if (eW.HasMatrix)
                    Gemm(true, false, GH, inW, N, res, gOff, GH, input, inOff, inW, dw, eW.MatrixOffset, inW, accumulate: true);
                if (eW.HasBias)
                    _colSums.Args().Int(N).Int(GH).Mem(res).Int(gOff).Mem(dw).Int((int)eW.BiasOffset).Run(GH);

                // Recurrent-side gate gradients: the gates, except GRU's new gate, whose R-side gradient is in aux.
                nint gRec = res;
                int gRecOff = gOff;
                if (_mode == RnnMode.Gru)
                {
                    _gruRecGrads.Args().Int(N).Int(H_).Mem(res).Int(gOff).Int(auxOff).Mem(_gr.Handle).Run(GH, N);
                    gRec = _gr.Handle;
                    gRecOff = 0;
                }

                // Previous hidden state of every row.
                GatherState(N, 0, S, d, res, _outOff[l], O, d * S, hx, pl * _B * S, _hPrevAll.Handle, clip: false);
                Gemm(true, false, GH, S, N, gRec, gRecOff, GH, _hPrevAll.Handle, 0, S, dw, eR.MatrixOffset, S, accumulate: true);
                if (eR.HasBias)
                    _colSums.Args().Int(N).Int(GH).Mem(gRec).Int(gRecOff).Mem(dw).Int((int)eR.BiasOffset).Run(GH);

                if (Rnn.HasProjection)
                    Gemm(true, false, S, H_, N, res, _projOff[l, d], S, res, auxOff, H_, dw, W(l, d, 8).MatrixOffset, H_, accumulate: true);
            }
        }
        _engine.Finish();
    }

    // ---------------------------------------------------------------- lifetime

    private void DisposeOwned()
    {
        for (int i = _owned.Count - 1; i >= 0; i--) _owned[i].Dispose();
        _owned.Clear();
    }

    protected override void DisposeCore()
    {
        DisposeOwned();
        _inferenceReserve = null;
    }
}
