namespace CudnnRnn.Cpu;

// Backward weights: from the gate gradients backward-data left in the reserve, dW += dG^T·input, dR += dG_rec^T·h_prev,
// the bias sums and (LSTM projection) dW_r.
internal sealed partial class CpuPlan<T>
{
    protected override void BackwardWeightsCore(RnnDataDescriptor xDesc, RnnBuffer<T> x, RnnBuffer<T>? hx, RnnBuffer<T> y, RnnBuffer<T> dweights, RnnReserve<T> reserve)
    {
        UseLengths(xDesc);   // the lengths of the reserve's forward (RnnPlan checked)
        Span<T> res = S(reserve.Storage);
        Span<T> dw = S(dweights);
        ReadOnlySpan<T> hxs = SOpt(hx);
        ReadOnlySpan<T> x0 = LayerZeroInput(x).Span;
        var layout = _reserveLayout;
        int N = _rows, GH = _gh, H = _hidden, S_ = _state;

        for (int l = 0; l < _layers; l++)
        {
            int inW = InW(l);
            ReadOnlySpan<T> input = LayerInput(l, x0, res, training: true);
            ReadOnlySpan<T> outp = Region(res, layout.Output(l), layout.OutputLength);
            for (int d = 0; d < _dirs; d++)
            {
                ReadOnlySpan<T> gates = Region(res, layout.Gates(l, d), layout.GatesLength);
                var eW = W(l, d, 0);
                var eR = W(l, d, _gates);
                if (eW.HasMatrix)
                    AddWeightGradient(gates, input, inW, Region(dw, eW.MatrixOffset, (long)GH * inW));
                if (eW.HasBias) ColumnSums(gates, N, GH, Region(dw, eW.BiasOffset, GH));

                ReadOnlySpan<T> gRec = gates;
                if (_mode == RnnMode.Gru)
                {
                    ReadOnlySpan<T> dhn = Region(res, layout.Aux(l, d), layout.AuxLength);
                    for (int r = 0; r < N; r++)
                    {
                        gates.Slice(r * GH, 2 * H).CopyTo(_gr.AsSpan(r * GH, 2 * H));
                        dhn.Slice(r * H, H).CopyTo(_gr.AsSpan(r * GH + 2 * H, H));
                    }
                    gRec = _gr.AsSpan(0, N * GH);
                }

                // Previous hidden state of every row.
                for (int t = 0; t < _seqLength; t++)
                    GatherPrevious(l, d, t, outp, hxs, _hPrevAll.AsSpan(_sched.RowOffset(t) * S_), default, default, default);
                AddWeightGradient(gRec, _hPrevAll, S_, Region(dw, eR.MatrixOffset, (long)GH * S_));
                if (eR.HasBias) ColumnSums(gRec, N, GH, Region(dw, eR.BiasOffset, GH));

                if (Rnn.HasProjection)
                {
                    var eP = W(l, d, 8);
                    Gemm.Multiply(true, false, S_, H, N, Region(res, layout.Projection(l, d), layout.ProjectionLength), S_,
                        Region(res, layout.Aux(l, d), layout.AuxLength), H, Region(dw, eP.MatrixOffset, (long)S_ * H), H,
                        accumulate: true, maxThreads: _threads);
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
        int GH = _gh, nr = GemmDriver<T>.NR;
        if (width % nr == 0 || GH % nr != 0 || _dwT.Length < GH * width)
        {
            Gemm.Multiply(true, false, GH, width, _rows, dG, GH, x, width, dw, width, accumulate: true, maxThreads: _threads);
            return;
        }
        Span<T> t = _dwT.AsSpan(0, GH * width);
        Gemm.Multiply(true, false, width, GH, _rows, x, width, dG, GH, t, GH, accumulate: false, maxThreads: _threads);
        for (int g0 = 0; g0 < GH; g0 += 16)        // 16-row blocks keep the strided reads of t in cache
            for (int i = 0; i < width; i++)
            {
                ReadOnlySpan<T> src = t.Slice(i * GH + g0, Math.Min(16, GH - g0));
                for (int g = 0; g < src.Length; g++) dw[(g0 + g) * width + i] += src[g];
            }
    }

    private static void ColumnSums(ReadOnlySpan<T> m, int rows, int cols, Span<T> acc)
    {
        for (int r = 0; r < rows; r++) Add(acc, m.Slice(r * cols, cols));
    }
}
