using System.Numerics;
using System.Numerics.Tensors;

namespace CudnnRnn.Training;

// The character CNN of a TaggerWorker: im2col rows per character window, a linear map, max over each word's rows.
public sealed partial class TaggerWorker<T>
{
    /// <summary>
    /// Char CNN: for each unique word, one im2col row per character position (window of 3 over the word padded with
    /// the padding char on both sides, columns c·3 + k), Z = rows·Wᵀ + b, feature = max over the word's rows.
    /// </summary>
    private void CharCnnForward()
    {
        var hp = _m.Hyper;
        int U = _u, dc = hp.CharDim, K = Tagger<T>.CharKernel, F = hp.CharFilters, cols = dc * K;
        Grow(ref _uRow, U + 1);
        _uRow[0] = 0;
        for (int u = 0; u < U; u++) _uRow[u + 1] = _uRow[u] + CharLength(_uniqueForms[u]);
        int rows = _uRow[U];
        _nChars = rows;
        Grow(ref _convIds, (long)rows * K);
        Grow(ref _xc, (long)rows * cols);
        var table = _m.CharEmbedding!.Value.AsSpan();
        var xc = _xc.AsSpan(0, rows * cols);
        for (int u = 0; u < U; u++)
        {
            string w = _uniqueForms[u];
            int len = _uRow[u + 1] - _uRow[u];
            for (int p = 0; p < len; p++)
            {
                int r = _uRow[u] + p;
                var row = xc.Slice(r * cols, cols);
                for (int k = 0; k < K; k++)
                {
                    int q = p + k - 1; // position in the word; -1 and len are padding
                    int id = q < 0 || q >= len ? Vocabulary.PaddingId : _m.CharId(CharAt(w, len, q));
                    _convIds[r * K + k] = id;
                    var e = table.Slice(id * dc, dc);
                    for (int c = 0; c < dc; c++) row[c * K + k] = e[c];
                }
            }
        }
        Grow(ref _z, (long)rows * F);
        var z = _z.AsSpan(0, rows * F);
        Linear.Forward<T>(xc, rows, cols, _m.CharConvWeight!.Value, _m.CharConvBias!.Value, F, z);
        Grow(ref _charFeat, (long)U * F);
        Grow(ref _argmax, (long)U * F);
        for (int u = 0; u < U; u++)
        {
            var feat = _charFeat.AsSpan(u * F, F);
            var arg = _argmax.AsSpan(u * F, F);
            z.Slice(_uRow[u] * F, F).CopyTo(feat);
            arg.Fill(_uRow[u]);
            for (int r = _uRow[u] + 1; r < _uRow[u + 1]; r++)
            {
                var zr = z.Slice(r * F, F);
                for (int f = 0; f < F; f++)
                    if (zr[f] > feat[f]) { feat[f] = zr[f]; arg[f] = r; }
            }
        }
    }

    private void CharCnnBackward(ReadOnlySpan<T> dFeat)
    {
        var hp = _m.Hyper;
        int U = _u, dc = hp.CharDim, K = Tagger<T>.CharKernel, F = hp.CharFilters, cols = dc * K, rows = _nChars;
        var xc = _xc.AsSpan(0, rows * cols);
        var w = _m.CharConvWeight!.Value.AsSpan();
        var dW = _grads[_iConvW].AsSpan();
        var dB = _grads[_iConvB].AsSpan();
        Grow(ref _dxc, (long)rows * cols);
        var dxc = _dxc.AsSpan(0, rows * cols);
        dxc.Clear();
        for (int u = 0; u < U; u++)
            for (int f = 0; f < F; f++)
            {
                T d = dFeat[u * F + f];
                if (d == T.Zero) continue;
                int r = _argmax[u * F + f];
                dB[f] += d;
                TensorPrimitives.MultiplyAdd(xc.Slice(r * cols, cols), d, dW.Slice(f * cols, cols), dW.Slice(f * cols, cols));
                TensorPrimitives.MultiplyAdd(w.Slice(f * cols, cols), d, dxc.Slice(r * cols, cols), dxc.Slice(r * cols, cols));
            }
        var dE = _grads[_iChar].AsSpan();
        for (int r = 0; r < rows; r++)
            for (int k = 0; k < K; k++)
            {
                var g = dE.Slice(_convIds[r * K + k] * dc, dc);
                var row = dxc.Slice(r * cols, cols);
                for (int c = 0; c < dc; c++) g[c] += row[c * K + k];
            }
    }
}
