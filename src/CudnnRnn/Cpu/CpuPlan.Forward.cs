namespace CudnnRnn.Cpu;

// Forward: the hoisted input GEMM of each layer and direction, then the step loop (recurrent GEMM + cell).
internal sealed partial class CpuPlan<T>
{
    protected override void ForwardCore(RnnForwardMode mode, RnnDataDescriptor xDesc, RnnBuffer<T> x, RnnBuffer<T> y, RnnBuffer<T>? hx, RnnBuffer<T>? hy,
        RnnBuffer<T>? cx, RnnBuffer<T>? cy, RnnBuffer<T> weights, RnnReserve<T>? reserve)
    {
        UseLengths(xDesc);
        // Training fills the reserve (RnnPlan checked it is there); inference, which gets none, its own compact layout in
        // the plan's scratch.
        bool training = mode == RnnForwardMode.Training;
        var layout = _sched.Layout(training);
        Memory<T> resArr = training ? ((CpuBuffer<T>)reserve!.Storage).Memory : InferenceScratch();
        Span<T> res = resArr.Span;
        Memory<T> w = ((CpuBuffer<T>)weights).Memory;
        var job = _directionJob;
        job.X = LayerZeroInput(x);
        // Dense inference: the last layer writes y directly (training keeps it in the reserve for the backward pass).
        job.HasY = _dense && !training;
        job.Y = job.HasY ? ((CpuBuffer<T>)y).Memory : default;
        job.Backward = false; job.Training = training; job.Res = resArr; job.W = w;
        job.Hx = Mem(hx); job.Hy = Mem(hy); job.Cx = Mem(cx); job.Cy = Mem(cy);
        for (int l = 0; l < _layers; l++)
        {
            job.Layer = l;
            job.Run();
            if (training && Rnn.Dropout > 0 && l + 1 < _layers)
                ApplyDropout(Region(res, layout.Output(l), layout.OutputLength), Region(res, layout.Dropped(l + 1), layout.OutputLength),
                    l + 1, reserve!.DropoutCounter);
        }

        // Scatter the last layer's output; padded positions get the padding fill.
        if (!job.HasY)
        {
            Span<T> ys = S(y);
            if (YDesc.IsUnpacked && !_dense) ys.Fill(T.CreateChecked(YDesc.PaddingFill));
            ScatterRows(Region(res, layout.Output(_layers - 1), layout.OutputLength), _output, ys);
        }
        job.Clear();
    }

    private void ForwardDirection(int l, int d, bool training, ReadOnlySpan<T> input, ReadOnlySpan<T> w, Span<T> res, Span<T> outOverride,
        ReadOnlySpan<T> hx, Span<T> hy, ReadOnlySpan<T> cx, Span<T> cy)
    {
        var sc = _scratch[d];
        var layout = _sched.Layout(training);
        int pl = l * _dirs + d, inW = InW(l), N = _rows, GH = _gh, H = _hidden, S = _state, O = _output;
        Span<T> gates = Region(res, layout.Gates(l, d), layout.GatesLength);
        Span<T> aux = Region(res, layout.Aux(l, d), layout.AuxLength);
        Span<T> outp = outOverride.IsEmpty ? Region(res, layout.Output(l), layout.OutputLength) : outOverride;
        var eW = W(l, d, 0);
        var eR = W(l, d, _gates);

        // Biases: bW for all gates; bR for all gates except GRU's new gate (it sits inside r ⊙ (R h + bR)), combined into
        // one row per call.
        bool hasBW = eW.HasBias, hasBR = eR.HasBias;
        ReadOnlySpan<T> bW = hasBW ? Weights(w, eW.BiasOffset, GH) : default;
        ReadOnlySpan<T> bR = hasBR ? Weights(w, eR.BiasOffset, GH) : default;
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
            packedW.Pack(true, Weights(w, eW.MatrixOffset, GH * inW), inW, _threads);
            Gemm.Multiply(false, N, input, inW, packedW, gates, GH, accumulate: false, _threads, bias);
        }
        else
        {
            for (int r = 0; r < N; r++)      // skip input: x feeds every gate as-is
                for (int g = 0; g < _gates; g++)
                    input.Slice(r * inW, H).CopyTo(gates.Slice(r * GH + g * H, H));
            if (!bias.IsEmpty)
                for (int r = 0; r < N; r++) Add(gates.Slice(r * GH, GH), bias);
        }

        ReadOnlySpan<T> R = Weights(w, eR.MatrixOffset, GH * S);
        ReadOnlySpan<T> Wr = Rnn.HasProjection ? Weights(w, W(l, d, 8).MatrixOffset, S * H) : default;
        ReadOnlySpan<T> bRn = hasBR && _mode == RnnMode.Gru ? bR.Slice(2 * H, H) : default;
        sc.PackedR.Pack(true, R, S, _threads);
        bool fused = _kernels.FusedLstmForward;

        for (int step = 0; step < _seqLength; step++)
        {
            int t = _sched.StepAt(d, step);
            int n = _sched.BatchSize(t);
            if (n == 0) continue;
            int r0 = _sched.RowOffset(t);
            int nCont = _sched.ContinuingRows(d, t); // rows whose previous state is in outp
            int prevRow0 = _sched.PreviousRowOffset(d, t);

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
            for (int i = _sched.FirstFinalRow(d, t); i < n; i++)
            {
                int b = _sched.BatchIndex(i);
                if (!hy.IsEmpty) outp.Slice((r0 + i) * O + d * S, S).CopyTo(hy.Slice((pl * _batch + b) * S, S));
                if (!cy.IsEmpty) aux.Slice((r0 + i) * H, H).CopyTo(cy.Slice((pl * _batch + b) * H, H));
            }
        }
    }
}
