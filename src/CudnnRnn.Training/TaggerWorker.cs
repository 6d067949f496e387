using System.Numerics;
using System.Numerics.Tensors;

namespace CudnnRnn.Training;

/// <summary>
/// Runs a <see cref="Tagger{T}"/> on one batch at a time: its own RNN layers on the engine and its own scratch, so
/// workers can run in parallel. Scratch arrays grow to the largest batch seen and are reused (nothing is allocated
/// per token). Not thread-safe; one thread per worker.
/// </summary>
public sealed partial class TaggerWorker<T> : IDisposable where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly Tagger<T> _m;
    private readonly ISentenceRnn<T> _rnn;
    private readonly WorkerRnn<T>? _charRnn;
    private readonly T[][] _grads;
    private readonly int _iWord, _iChar = -1, _iCharRnn = -1, _iConvW = -1, _iConvB = -1, _iShape = -1, _iRnn, _iOutW, _iOutB;
    private readonly bool _chars;
    private readonly Dictionary<string, int> _unique = new(StringComparer.Ordinal);
    private readonly List<string> _uniqueForms = new();
    private readonly Dictionary<string, (int Id, int Shape)> _formCache = new(StringComparer.Ordinal);
    private readonly bool _layersWriteMasterGradients;

    // Scratch (grown on demand).
    private int[] _order = [], _lengths = [], _stepOff = [], _wordIds = [], _shapeIds = [], _charSlot = [], _targets = [], _pred = [];
    private int[] _uOrder = [], _uPos = [], _uLen = [], _cStepOff = [], _charIds = [];
    private int[] _uRow = [], _convIds = [], _argmax = [];
    private T[] _charFeat = [], _dFeat = [], _xc = [], _z = [], _dxc = [];
    private T[] _x = [], _xMask = [], _yMask = [], _logits = [], _dLogits = [], _dY = [], _cx = [], _dHy = [];

    // State of the last training forward.
    private int _n, _batch, _u, _nChars;
    private ulong _stepSeed;

    internal TaggerWorker(Tagger<T> model, bool ownGradients)
    {
        _m = model;
        var ps = model.Parameters;
        _grads = ps.Select(p => ownGradients ? new T[p.Count] : p.HasHostArrays ? p.Grad : []).ToArray();
        int Index(Parameter<T>? p) => p is null ? -1 : IndexOf(ps, p);
        _iWord = Index(model.WordEmbedding);
        _iChar = Index(model.CharEmbedding);
        _iCharRnn = Index(model.CharRnnWeights);
        _iShape = Index(model.ShapeEmbedding);
        _iConvW = Index(model.CharConvWeight);
        _iConvB = Index(model.CharConvBias);
        _chars = model.Hyper.UsesChars;
        _iRnn = Index(model.RnnWeights);
        _iOutW = Index(model.OutputWeight);
        _iOutB = Index(model.OutputBias);
        _layersWriteMasterGradients = !model.RnnWeights.HasHostArrays;
        // Fp32: the stacked RNN in T over the master weights; Fp16/Bf16: 16-bit layers cast from the float32 master weights
        // at each forward (the autocast pattern), their weight gradients widened into _grads. Same for the char BiLSTM.
        _rnn = model.Precision.IsMixed()
            ? AutocastStackedRnn.Create<T>(model.Engine, model.RnnDescriptor, model.RnnLayout, model.RnnWeights, model.Precision)
            : new StackedRnn<T>(model.Engine, model.RnnDescriptor, model.RnnWeights, MasterGradient(model.RnnWeights, ownGradients));
        if (model.CharRnnDescriptor is not null)
            _charRnn = WorkerRnn<T>.Create(model.Engine, model.CharRnnDescriptor, model.CharRnnWeights!, _grads[_iCharRnn], model.Precision, ownGradients);
    }

    private static int IndexOf(IReadOnlyList<Parameter<T>> ps, Parameter<T> p)
    {
        for (int i = 0; i < ps.Count; i++) if (ReferenceEquals(ps[i], p)) return i;
        throw new InvalidOperationException($"{p.Name} is not a parameter of this tagger.");
    }

    /// <summary>This worker's gradient arrays, aligned with <see cref="Tagger{T}.Parameters"/> (worker 0: the master gradients).</summary>
    public IReadOnlyList<T[]> Gradients => _grads;

    /// <summary>RNN plans this worker's layers have created (one per data shape, not per batch; see RnnLayer.PlansCreated).</summary>
    public long PlansCreated => _rnn.PlansCreated + (_charRnn?.PlansCreated ?? 0);

    /// <summary>
    /// Called during <see cref="TrainStep"/> with a parameter's index as soon as its gradient in <see cref="Gradients"/>
    /// is final for the step (the output layer's before the RNN backward, the RNN's before the embeddings'), so a
    /// data-parallel trainer can start reducing it while backward goes on; parameters not announced are final when
    /// TrainStep returns. Only meaningful when this worker's gradients are the step's whole gradient (one worker).
    /// </summary>
    public Action<int>? GradientReady { get; set; }

    /// <summary>Sets this worker's gradients to zero.</summary>
    public void ZeroGrad()
    {
        foreach (var g in _grads) Array.Clear(g);
        if (_layersWriteMasterGradients) _rnn.ZeroGrad();
        _charRnn?.ZeroGrad();
    }

    // The layers read the master RNN weights in place (one buffer shared by every worker). On a device engine (one
    // worker) they also accumulate straight into the master gradient in engine memory; on the CPU engine each worker's
    // layers have their own gradient, added into this worker's arrays (AddRnnGradients).
    private static RnnBuffer<T>? MasterGradient(Parameter<T> p, bool ownGradients)
    {
        if (p.HasHostArrays) return null;
        if (ownGradients)
            throw new InvalidOperationException($"'{p.Name}' lives in {p.ValueBuffer!.Engine.Name} engine memory, where the tagger runs one worker (see WorkerCount.For).");
        return p.GradientBuffer;
    }

    private static void Grow<TItem>(ref TItem[] a, long n)
    {
        if (a.Length < n) a = new TItem[Math.Max(n, a.Length * 3L / 2)];
    }

    /// <summary>
    /// Forward and backward on the sentences <paramref name="batch"/> of <paramref name="data"/>; adds the gradients of
    /// <c>scale · Σ token losses</c> into <see cref="Gradients"/> and returns that loss.
    /// </summary>
    /// <param name="data">Sentences.</param>
    /// <param name="batch">Indices into <paramref name="data"/> (any order; non-empty sentences).</param>
    /// <param name="scale">Loss scale, typically 1 / tokens in the whole (multi-worker) batch.</param>
    /// <param name="seed">
    /// Seed of this step. Word dropout and the dropout masks of a sentence are drawn from generators keyed by
    /// (<paramref name="seed"/>, the sentence's index in <paramref name="data"/>, purpose) — see <see cref="SampleKeys"/> —
    /// so they do not depend on which worker, thread or rank processes the sentence, nor on its batch neighbours.
    /// </param>
    public double TrainStep(IReadOnlyList<TaggedSentence> data, ReadOnlySpan<int> batch, double scale, ulong seed)
    {
        _stepSeed = seed;
        Encode(i => data[i].Words, batch, training: true);
        // Targets in packed row order; tags unseen in training are masked.
        for (int b = 0; b < _batch; b++)
        {
            var tags = data[_order[b]].Tags;
            for (int t = 0; t < _lengths[b]; t++) _targets[_stepOff[t] + b] = _m.Tags.IdOf(tags[t]);
        }
        var y = ForwardRnn(training: true);
        int n = _n, O = _m.Hyper.OutputSize, K = _m.Tags.Count, I = _m.Hyper.InputSize;

        // Dropout before the output layer (per sentence, keyed).
        Grow(ref _yMask, (long)n * O);
        SampleKeys.RowDropout<T>(y.AsSpan(0, n * O), _yMask, O, _m.Hyper.Dropout, _stepSeed, SampleKeys.OutputDropout, _order, _lengths.AsSpan(0, _batch), _stepOff);
        Grow(ref _logits, (long)n * K);
        Grow(ref _dLogits, (long)n * K);
        var logits = _logits.AsSpan(0, n * K);
        var dLogits = _dLogits.AsSpan(0, n * K);
        Linear.Forward<T>(y.AsSpan(0, n * O), n, O, _m.OutputWeight.Value, _m.OutputBias.Value, K, logits);
        double loss = SoftmaxCrossEntropy.Compute<T>(logits, K, _targets.AsSpan(0, n), scale, dLogits);

        Grow(ref _dY, (long)n * O);
        var dY = _dY.AsSpan(0, n * O);
        Linear.Backward<T>(y.AsSpan(0, n * O), n, O, _m.OutputWeight.Value, dLogits, K, dY, _grads[_iOutW], _grads[_iOutB]);
        if (GradientReady is { } ready) { ready(_iOutB); ready(_iOutW); }
        Dropout.Backward<T>(dY, _yMask);

        var dx = _rnn.Backward(dY);
        if (!_layersWriteMasterGradients) _rnn.AddGradientsTo(_grads[_iRnn]); // else the backward accumulated into the master gradient
        GradientReady?.Invoke(_iRnn);
        var dxs = dx.AsSpan(0, n * I);
        Dropout.Backward<T>(dxs, _xMask);

        int dw = _m.Hyper.WordDim, col = dw;
        Embedding.Backward<T>(_grads[_iWord], dw, _wordIds.AsSpan(0, n), dxs, I, 0);
        if (_chars)
        {
            int F = _m.Hyper.CharFeatureSize, U = _u;
            Grow(ref _dFeat, (long)U * F);
            var dFeat = _dFeat.AsSpan(0, U * F);
            dFeat.Clear();
            for (int r = 0; r < n; r++)
            {
                var dst = dFeat.Slice(_charSlot[r] * F, F);
                TensorPrimitives.Add(dst, dxs.Slice(r * I + col, F), dst);
            }
            if (_charRnn is not null) CharLstmBackward(dFeat);
            else CharCnnBackward(dFeat);
            col += F;
        }
        if (_iShape >= 0) Embedding.Backward<T>(_grads[_iShape], _m.Hyper.ShapeDim, _shapeIds.AsSpan(0, n), dxs, I, col);
        return loss;
    }

    /// <summary>Predicts tag ids for the sentences <paramref name="batch"/> into <paramref name="output"/>[i].</summary>
    public void Predict(IReadOnlyList<string[]> sentences, ReadOnlySpan<int> batch, int[][] output)
    {
        Encode(i => sentences[i], batch, training: false);
        var y = ForwardRnn(training: false);
        int n = _n, O = _m.Hyper.OutputSize, K = _m.Tags.Count;
        Grow(ref _logits, (long)n * K);
        Grow(ref _pred, n);
        var logits = _logits.AsSpan(0, n * K);
        Linear.Forward<T>(y.AsSpan(0, n * O), n, O, _m.OutputWeight.Value, _m.OutputBias.Value, K, logits);
        SoftmaxCrossEntropy.ArgMax<T>(logits, K, _pred.AsSpan(0, n));
        for (int b = 0; b < _batch; b++)
        {
            var dst = output[_order[b]];
            for (int t = 0; t < _lengths[b]; t++) dst[t] = _pred[_stepOff[t] + b];
        }
    }

    /// <summary>Sorts the batch (longest first), builds ids, char features and the RNN input x (packed rows).</summary>
    private void Encode(Func<int, string[]> wordsOf, ReadOnlySpan<int> batch, bool training)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        var hp = _m.Hyper;
        int B = batch.Length;
        if (B == 0) throw new ArgumentException("Empty batch.", nameof(batch));
        Grow(ref _order, B);
        Grow(ref _lengths, B);
        batch.CopyTo(_order);
        for (int b = 0; b < B; b++)
        {
            _lengths[b] = wordsOf(_order[b]).Length;
            if (_lengths[b] == 0) throw new ArgumentException($"Sentence {_order[b]} is empty.", nameof(batch));
        }
        // Longest first, stable on position (insertion sort on keys would be O(B²); use Array.Sort with negated keys).
        var keys = new long[B];
        for (int b = 0; b < B; b++) keys[b] = ((long)(int.MaxValue - _lengths[b]) << 20) | (uint)b;
        var ord = _order.AsSpan(0, B).ToArray();
        Array.Sort(keys, ord);
        ord.CopyTo(_order, 0);
        for (int b = 0; b < B; b++) _lengths[b] = wordsOf(_order[b]).Length;
        int T0 = _lengths[0];
        Grow(ref _stepOff, T0 + 1);
        _stepOff[0] = 0;
        for (int t = 0, bs = B; t < T0; t++)
        {
            while (bs > 0 && _lengths[bs - 1] <= t) bs--;
            _stepOff[t + 1] = _stepOff[t] + bs;
        }
        int n = _stepOff[T0];
        _n = n; _batch = B;
        Grow(ref _wordIds, n); Grow(ref _shapeIds, n); Grow(ref _charSlot, n); Grow(ref _targets, n);

        _unique.Clear();
        _uniqueForms.Clear();
        for (int b = 0; b < B; b++)
        {
            var words = wordsOf(_order[b]);
            var rng = new SeededRandom(SampleKeys.Key(_stepSeed, _order[b], SampleKeys.WordDropout));
            for (int t = 0; t < words.Length; t++)
            {
                int row = _stepOff[t] + b;
                string w = words[t];
                if (!_formCache.TryGetValue(w, out var f))
                {
                    if (_formCache.Count > 500_000) _formCache.Clear();
                    f = (_m.Words.IdOf(WordFeatures.Normalize(w, hp.Lowercase, hp.NormalizeDigits)), WordFeatures.Shape(w));
                    _formCache.Add(w, f);
                }
                int id = f.Id;
                if (training && hp.WordDropout > 0 && id != Vocabulary.UnknownId)
                {
                    double a = hp.WordDropout;
                    if (rng.NextDouble() < a / (a + _m.Words.CountOf(id))) id = Vocabulary.UnknownId;
                }
                _wordIds[row] = id;
                _shapeIds[row] = f.Shape;
                if (_chars)
                {
                    if (!_unique.TryGetValue(w, out int u))
                    {
                        u = _uniqueForms.Count;
                        _unique.Add(w, u);
                        _uniqueForms.Add(w);
                    }
                    _charSlot[row] = u;
                }
            }
        }

        int I = hp.InputSize, dw = hp.WordDim;
        Grow(ref _x, (long)n * I);
        var x = _x.AsSpan(0, n * I);
        Embedding.Forward<T>(_m.WordEmbedding.Value, dw, _wordIds.AsSpan(0, n), x, I, 0);
        int col = dw;
        if (_chars)
        {
            _u = _uniqueForms.Count;
            if (_charRnn is not null) CharLstmForward(training); else CharCnnForward();
            int F = hp.CharFeatureSize;
            for (int r = 0; r < n; r++) _charFeat.AsSpan(_charSlot[r] * F, F).CopyTo(x.Slice(r * I + col, F));
            col += F;
        }
        if (_m.ShapeEmbedding is not null)
            Embedding.Forward<T>(_m.ShapeEmbedding.Value, hp.ShapeDim, _shapeIds.AsSpan(0, n), x, I, col);
        Grow(ref _xMask, (long)n * I);
        if (training) SampleKeys.RowDropout<T>(x, _xMask, I, hp.EmbeddingDropout, _stepSeed, SampleKeys.EmbeddingDropout, _order, _lengths.AsSpan(0, _batch), _stepOff);
    }

    /// <summary>Truncated length of a word: longer words keep their first and last MaxCharsPerWord/2 characters.</summary>
    private int CharLength(string w) => Math.Min(w.Length, _m.Hyper.MaxCharsPerWord);

    /// <summary>Character t of the truncated word.</summary>
    private char CharAt(string w, int len, int t)
    {
        int head = len == w.Length ? len : _m.Hyper.MaxCharsPerWord / 2;
        return t < head ? w[t] : w[w.Length - (len - t)];
    }

    /// <summary>Char BiLSTM over the batch's unique words (sorted longest first, packed); features [U, 2·hc] in unique order.</summary>
    private void CharLstmForward(bool training)
    {
        var hp = _m.Hyper;
        int U = _u;
        Grow(ref _uOrder, U); Grow(ref _uPos, U); Grow(ref _uLen, U);
        var keys = new long[U];
        var ord = new int[U];
        for (int u = 0; u < U; u++) { keys[u] = ((long)(int.MaxValue - CharLength(_uniqueForms[u])) << 24) | (uint)u; ord[u] = u; }
        Array.Sort(keys, ord);
        for (int p = 0; p < U; p++)
        {
            _uOrder[p] = ord[p];
            _uPos[ord[p]] = p;
            _uLen[p] = CharLength(_uniqueForms[ord[p]]);
        }
        int T0 = _uLen[0];
        Grow(ref _cStepOff, T0 + 1);
        _cStepOff[0] = 0;
        for (int t = 0, bs = U; t < T0; t++)
        {
            while (bs > 0 && _uLen[bs - 1] <= t) bs--;
            _cStepOff[t + 1] = _cStepOff[t] + bs;
        }
        int nc = _cStepOff[T0];
        _nChars = nc;
        Grow(ref _charIds, nc);
        for (int p = 0; p < U; p++)
        {
            string w = _uniqueForms[_uOrder[p]];
            int len = _uLen[p];
            for (int t = 0; t < len; t++) _charIds[_cStepOff[t] + p] = _m.CharId(CharAt(w, len, t));
        }
        int dc = hp.CharDim, hc = hp.CharHidden;
        Grow(ref _cx, (long)nc * dc);
        var cx = _cx.AsSpan(0, nc * dc);
        Embedding.Forward<T>(_m.CharEmbedding!.Value, dc, _charIds.AsSpan(0, nc), cx, dc);
        var desc = new RnnDataDescriptor(RnnDataLayout.SeqMajorPacked, T0, U, dc, _uLen.AsSpan(0, U));
        _charRnn!.Forward(desc, cx, training);
        var hy = _charRnn.ReadHy(); // [2, U, hc]
        Grow(ref _charFeat, (long)U * 2 * hc);
        for (int u = 0; u < U; u++)
        {
            int p = _uPos[u];
            hy.AsSpan(p * hc, hc).CopyTo(_charFeat.AsSpan(u * 2 * hc, hc));
            hy.AsSpan((U + p) * hc, hc).CopyTo(_charFeat.AsSpan(u * 2 * hc + hc, hc));
        }
    }

    private void CharLstmBackward(ReadOnlySpan<T> dFeat)
    {
        int hc = _m.Hyper.CharHidden, U = _u;
        Grow(ref _dHy, 2L * U * hc);
        var dHy = _dHy.AsSpan(0, 2 * U * hc);
        for (int u = 0; u < U; u++)
        {
            int p = _uPos[u];
            dFeat.Slice(u * 2 * hc, hc).CopyTo(dHy.Slice(p * hc, hc));
            dFeat.Slice(u * 2 * hc + hc, hc).CopyTo(dHy.Slice((U + p) * hc, hc));
        }
        // Only h_n of the char LSTM feeds the loss: no dy.
        var cdx = _charRnn!.Backward(default, dHy);
        Embedding.Backward<T>(_grads[_iChar], _m.Hyper.CharDim, _charIds.AsSpan(0, _nChars), cdx, _m.Hyper.CharDim);
    }

    private T[] ForwardRnn(bool training)
    {
        // maxSeqLength rounded up to a multiple of 8: packed data does not depend on it, and batches of one bucket then
        // share a shape (one plan), whatever their exact lengths.
        int maxLen = (_lengths[0] + 7) / 8 * 8;
        var desc = new RnnDataDescriptor(RnnDataLayout.SeqMajorPacked, maxLen, _batch, _m.Hyper.InputSize, _lengths.AsSpan(0, _batch));
        // Between layers: dropout keyed by (step, sentence, layer), as the other dropout (SampleKeys).
        return _rnn.Forward(desc, _x.AsSpan(0, _n * _m.Hyper.InputSize), training, _m.Hyper.Dropout, _stepSeed, _order, _lengths.AsSpan(0, _batch), _stepOff);
    }

    private bool _disposed;

    /// <inheritdoc/>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _rnn.Dispose();
        _charRnn?.Dispose();
    }
}
