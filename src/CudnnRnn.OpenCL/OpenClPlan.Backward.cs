namespace CudnnRnn.OpenCL;

// Backward data and backward weights: CpuPlan's backward passes as kernel launches on the plan's queue.
internal sealed partial class OpenClPlan<T>
{
    // ---------------------------------------------------------------- backward data

    protected override void BackwardDataCore(RnnDataDescriptor xDesc, RnnBuffer<T> y, RnnBuffer<T> dy, RnnBuffer<T> dx, RnnBuffer<T>? hx, RnnBuffer<T>? dhy,
        RnnBuffer<T>? dhx, RnnBuffer<T>? cx, RnnBuffer<T>? dcy, RnnBuffer<T>? dcx, RnnBuffer<T> weights, RnnReserve<T> reserve)
    {
        EnqueueBackwardData(xDesc, dy, dx, hx, dhy, dhx, cx, dcy, dcx, weights, reserve.Storage, reserve.DropoutCounter);
    }

    /// <summary>Backward data's kernels, enqueued without waiting (see <see cref="EnqueueForward"/>). y is not an argument:
    /// the kernels read the forward's outputs from the reserve.</summary>
    internal void EnqueueBackwardData(RnnDataDescriptor xDesc, RnnBuffer<T> dy, RnnBuffer<T> dx, RnnBuffer<T>? hx, RnnBuffer<T>? dhy,
        RnnBuffer<T>? dhx, RnnBuffer<T>? cx, RnnBuffer<T>? dcy, RnnBuffer<T>? dcx, RnnBuffer<T> weights, RnnBuffer<T> reserveStorage, ulong dropoutCounter)
    {
        UseLengths(xDesc);
        nint res = H(reserveStorage);
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
                        .Value(Rnn.DropoutSeed).Value(dropoutCounter).Int(l).Value(_dropThreshold).Value(_dropScale)
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
    }

    private void BackwardDirection(int l, int d, bool accumulateDIn, nint w, nint res,
        RnnBuffer<T>? hx, RnnBuffer<T>? dhy, RnnBuffer<T>? dhx, RnnBuffer<T>? cx, RnnBuffer<T>? dcy, RnnBuffer<T>? dcx)
    {
        int pl = l * _D + d, inW = InW(l), N = _N, GH = _GH, H = _H, S = _S, O = _O;
        var layout = _reserveLayout;
        int gOff = Gates(layout, l, d), auxOff = Aux(layout, l, d), outOff = Out(layout, l), projOff = checked((int)layout.Projection(l, d));
        bool lstm = _mode == RnnMode.Lstm, proj = Rnn.HasProjection;
        long rOff = W(l, d, _G).MatrixOffset;
        long wrOff = proj ? W(l, d, 8).MatrixOffset : 0;
        nint hp = _hp.Handle, cp = _cp.Handle, rec = _rec.Handle, m = _m.Handle, dh = _dh.Handle, dc = _dc.Handle,
            dhPrev = _dhPrev.Handle, dhTot = _dhTot.Handle, perm = _perm.DangerousGetHandle();

        for (int step = _T - 1; step >= 0; step--)
        {
            int t = _sched.StepAt(d, step);
            int n = _sched.BatchSize(t);
            if (n == 0) continue;
            int r0 = _sched.RowOffset(t);
            // Rows whose backward pass starts here take dhy/dcy; the others carry dh/dc from the step processed before.
            int firstStart = _sched.FirstFinalRow(d, t);

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
            _bwdRoute.Args().Int(n).Int(_sched.ContinuingRows(d, t)).Int(S).Int(H).Flag(lstm).Mem(perm)
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

    protected override void BackwardWeightsCore(RnnDataDescriptor xDesc, RnnBuffer<T> x, RnnBuffer<T>? hx, RnnBuffer<T> y, RnnBuffer<T> dweights, RnnReserve<T> reserve)
    {
        EnqueueBackwardWeights(xDesc, x, hx, dweights, reserve.Storage);
    }

    /// <summary>Backward weights' kernels (always accumulating), enqueued without waiting (see <see cref="EnqueueForward"/>).</summary>
    internal void EnqueueBackwardWeights(RnnDataDescriptor xDesc, RnnBuffer<T> x, RnnBuffer<T>? hx, RnnBuffer<T> dweights, RnnBuffer<T> reserveStorage)
    {
        UseLengths(xDesc);
        nint res = H(reserveStorage);
        nint dw = H(dweights);
        _gatherRows.Args().Int(_N).Int(_I).Mem(_slot.DangerousGetHandle()).Mem(H(x)).Mem(_xPacked.Handle).Int(0).Run(_I, _N);
        int N = _N, GH = _GH, H_ = _H, S = _S, O = _O;

        for (int l = 0; l < _L; l++)
        {
            int inW = InW(l);
            var (input, inOff) = LayerInput(l, res, _reserveLayout);
            for (int d = 0; d < _D; d++)
            {
                int pl = l * _D + d, gOff = Gates(_reserveLayout, l, d), auxOff = Aux(_reserveLayout, l, d);
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
                GatherState(N, 0, S, d, res, Out(_reserveLayout, l), O, d * S, hx, pl * _B * S, _hPrevAll.Handle, clip: false);
                Gemm(true, false, GH, S, N, gRec, gRecOff, GH, _hPrevAll.Handle, 0, S, dw, eR.MatrixOffset, S, accumulate: true);
                if (eR.HasBias)
                    _colSums.Args().Int(N).Int(GH).Mem(gRec).Int(gRecOff).Mem(dw).Int((int)eR.BiasOffset).Run(GH);

                if (Rnn.HasProjection)
                    Gemm(true, false, S, H_, N, res, checked((int)_reserveLayout.Projection(l, d)), S, res, auxOff, H_, dw, W(l, d, 8).MatrixOffset, H_, accumulate: true);
            }
        }
    }
}
