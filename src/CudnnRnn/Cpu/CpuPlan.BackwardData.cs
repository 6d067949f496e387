namespace CudnnRnn.Cpu;

// Backward data: per layer (last first) the backward recurrence of each direction, which leaves the gate gradients in the
// reserve, then the input gradient dG·W of the layer.
internal sealed partial class CpuPlan<T>
{
    protected override void BackwardDataCore(RnnDataDescriptor xDesc, RnnBuffer<T> y, RnnBuffer<T> dy, RnnBuffer<T> dx, RnnBuffer<T>? hx, RnnBuffer<T>? dhy,
        RnnBuffer<T>? dhx, RnnBuffer<T>? cx, RnnBuffer<T>? dcy, RnnBuffer<T>? dcx, RnnBuffer<T> weights, RnnReserve<T> reserve)
    {
        UseLengths(xDesc);   // the lengths of the reserve's forward (RnnPlan checked)
        Memory<T> resArr = ((CpuBuffer<T>)reserve.Storage).Memory;
        Span<T> res = resArr.Span;
        Memory<T> w = ((CpuBuffer<T>)weights).Memory;
        Span<T> dOut = _dOut.AsSpan(0, _rows * _output);
        var job = _directionJob;
        // Dense: the last layer reads dy in place; deeper layers' output gradients go through _dOut.
        if (!_dense) GatherRows(S(dy), _output, dOut);
        job.Backward = true; job.Res = resArr; job.W = w; job.DOut = _dense ? ((CpuBuffer<T>)dy).Memory : _dOut;
        job.Hx = Mem(hx); job.Dhy = Mem(dhy); job.Dhx = Mem(dhx); job.Cx = Mem(cx); job.Dcy = Mem(dcy); job.Dcx = Mem(dcx);

        for (int l = _layers - 1; l >= 0; l--)
        {
            int inW = InW(l);
            // Dense: layer 0's input gradient goes straight into dx.
            Span<T> dIn = l == 0 && _dense ? S(dx)[..(_rows * inW)] : _dIn.AsSpan(0, _rows * inW);
            job.Layer = l;
            job.Run();
            job.DOut = _dOut;
            for (int d = 0; d < _dirs; d++) InputGradient(l, d, dIn, accumulateDIn: d > 0, w.Span, res);
            if (l > 0)
            {
                dIn.CopyTo(dOut);
                if (Rnn.Dropout > 0) ApplyDropout(dOut, dOut, l, reserve.DropoutCounter);
            }
            else if (!_dense)
            {
                Span<T> dxs = S(dx);
                if (XDesc.IsUnpacked) dxs.Clear();
                ScatterRows(dIn, _input, dxs);
            }
        }
        job.Clear();
    }

    /// <summary>The backward recurrence of one layer and direction: leaves the gate gradients in the reserve.</summary>
    private void BackwardDirection(int l, int d, ReadOnlySpan<T> dOut, ReadOnlySpan<T> w, Span<T> res,
        ReadOnlySpan<T> hx, ReadOnlySpan<T> dhy, Span<T> dhx, ReadOnlySpan<T> cx, ReadOnlySpan<T> dcy, Span<T> dcx)
    {
        var sc = _scratch[d];
        var layout = _reserveLayout;
        int pl = l * _dirs + d, GH = _gh, H = _hidden, S = _state, O = _output;
        Span<T> gates = Region(res, layout.Gates(l, d), layout.GatesLength);
        Span<T> aux = Region(res, layout.Aux(l, d), layout.AuxLength);
        Span<T> proj = Region(res, layout.Projection(l, d), layout.ProjectionLength);
        ReadOnlySpan<T> outp = Region(res, layout.Output(l), layout.OutputLength);
        ReadOnlySpan<T> R = Weights(w, W(l, d, _gates).MatrixOffset, GH * S);
        ReadOnlySpan<T> Wr = Rnn.HasProjection ? Weights(w, W(l, d, 8).MatrixOffset, S * H) : default;
        sc.PackedRT.Pack(false, R, S, _threads);
        if (_kernels.FusedLstmBackward)
        {
            FusedLstmBackward(l, d, dOut, gates, aux, dhy, dhx, cx, dcy, dcx);
            return;
        }

        for (int step = _seqLength - 1; step >= 0; step--)
        {
            int t = _sched.StepAt(d, step);
            int n = _sched.BatchSize(t);
            if (n == 0) continue;
            int r0 = _sched.RowOffset(t);
            int nCont = _sched.ContinuingRows(d, t);
            // Rows whose backward pass starts here take dhy/dcy; the others carry dh/dc from the step processed before.
            int firstStart = _sched.FirstFinalRow(d, t);

            for (int i = 0; i < n; i++)
            {
                Span<T> dht = sc.DhTot.AsSpan(i * S, S);
                if (i >= firstStart)
                {
                    if (!dhy.IsEmpty) dhy.Slice((pl * _batch + _sched.BatchIndex(i)) * S, S).CopyTo(sc.Dh.AsSpan(i * S, S)); else sc.Dh.AsSpan(i * S, S).Clear();
                    // dcy reaches the unclipped c_t; the carried _dc is the gradient w.r.t. clip(c_t). Fold dcy in below.
                    if (_mode == RnnMode.Lstm) sc.Dc.AsSpan(i * H, H).Clear();
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
                            ReadOnlySpan<T> dcyRow = i >= firstStart && !dcy.IsEmpty ? dcy.Slice((pl * _batch + _sched.BatchIndex(i)) * H, H) : default;
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
                    int b = _sched.BatchIndex(i);
                    if (!dhx.IsEmpty) src.CopyTo(dhx.Slice((pl * _batch + b) * S, S));
                    if (_mode == RnnMode.Lstm && !dcx.IsEmpty)
                    {
                        Span<T> dst = dcx.Slice((pl * _batch + b) * H, H);
                        ReadOnlySpan<T> carry = sc.Dc.AsSpan(i * H, H);
                        ReadOnlySpan<T> cxRow = sc.Cp.AsSpan(i * H, H);
                        for (int j = 0; j < H; j++) dst[j] = carry[j] * _cellClip.Grad(cxRow[j]);
                    }
                }
            }
        }
    }

    /// <summary>dIn (+)= dG · W (or, under skip input, the sum of the gate gradients).</summary>
    private void InputGradient(int l, int d, Span<T> dIn, bool accumulateDIn, ReadOnlySpan<T> w, Span<T> res)
    {
        int inW = InW(l), N = _rows, GH = _gh, H = _hidden;
        ReadOnlySpan<T> gates = Region(res, _reserveLayout.Gates(l, d), _reserveLayout.GatesLength);
        var eW = W(l, d, 0);
        if (eW.HasMatrix)
            Gemm.Multiply(false, false, N, inW, GH, gates, GH, Weights(w, eW.MatrixOffset, GH * inW), inW, dIn, inW, accumulateDIn, _threads);
        else
        {
            if (!accumulateDIn) dIn.Clear();
            for (int r = 0; r < N; r++)
                for (int g = 0; g < _gates; g++)
                    Add(dIn.Slice(r * inW, H), gates.Slice(r * GH + g * H, H));
        }
    }
}
