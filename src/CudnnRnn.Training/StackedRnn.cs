using System.Numerics;
using System.Numerics.Tensors;

namespace CudnnRnn.Training;

/// <summary>
/// A multi-layer RNN run as a stack of single-layer <see cref="RnnLayer{T}"/>s (the input of layer l is the output of
/// layer l−1), with the dropout between layers applied here and keyed by sample (<see cref="SampleKeys"/>) instead of
/// drawn inside the engine. Its weights live in the flat weight space of the equivalent multi-layer network
/// (<see cref="MultiLayerLayout"/>), so models, checkpoints and the gradient buckets keep the multi-layer format
/// (<c>weight_ih_l{k}</c>, …): layer l's matrices and biases are copied to and from pseudo-layers l·D + d of that space.
/// With dropout 0 it computes what the multi-layer network computes (the same sums per layer).
/// Not thread-safe; one per worker.
/// </summary>
internal sealed class StackedRnn<T> : IDisposable where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly RnnLayer<T>[] _layers;
    private readonly (int Multi, int Single, int Length)[][] _blocks; // per layer: copies between the two weight spaces
    private readonly RnnForwardContext<T>?[] _contexts;
    private readonly T[][] _y, _masks;
    private T[] _scratch = [];
    private int _rows;

    /// <summary>Creates one single-layer RNN per layer of <paramref name="multiLayer"/> (whose dropout is ignored).</summary>
    public StackedRnn(IRnnEngine engine, RnnDescriptor multiLayer)
    {
        ArgumentNullException.ThrowIfNull(engine);
        ArgumentNullException.ThrowIfNull(multiLayer);
        if (multiLayer.InputMode == RnnInputMode.Skip || multiLayer.HasProjection)
            throw new ArgumentException($"Stacking supports linear input without projection; got {multiLayer}.", nameof(multiLayer));
        MultiLayerLayout = engine.GetWeightLayout(multiLayer);
        int L = multiLayer.NumLayers, D = multiLayer.NumDirections;
        _layers = new RnnLayer<T>[L];
        _blocks = new (int, int, int)[L][];
        _contexts = new RnnForwardContext<T>?[L];
        _y = new T[L][];
        _masks = new T[L][];
        try
        {
            for (int l = 0; l < L; l++)
            {
                var d = new RnnDescriptor(multiLayer.Mode, multiLayer.LayerInputSize(l), multiLayer.HiddenSize, 1, multiLayer.Direction,
                    dataType: multiLayer.DataType, biasMode: multiLayer.BiasMode, cellClip: multiLayer.CellClip);
                _layers[l] = new RnnLayer<T>(engine, d);
                var single = _layers[l].WeightLayout;
                var blocks = new List<(int, int, int)>();
                for (int dir = 0; dir < D; dir++)
                    for (int lin = 0; lin < d.LinLayerIdCount; lin++)
                    {
                        var m = MultiLayerLayout[l * D + dir, lin];
                        var s = single[dir, lin];
                        if (m.HasMatrix != s.HasMatrix || m.Rows != s.Rows || m.Cols != s.Cols || m.HasBias != s.HasBias || m.BiasLength != s.BiasLength)
                            throw new InvalidOperationException($"Layer {l} direction {dir} id {lin}: the single-layer entry {s} does not match the multi-layer entry {m}.");
                        if (m.HasMatrix) blocks.Add((checked((int)m.MatrixOffset), checked((int)s.MatrixOffset), m.Rows * m.Cols));
                        if (m.HasBias) blocks.Add((checked((int)m.BiasOffset), checked((int)s.BiasOffset), m.BiasLength));
                    }
                _blocks[l] = [.. blocks];
            }
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    /// <summary>The layout of the multi-layer weight space the stack reads and writes.</summary>
    public RnnWeightLayout MultiLayerLayout { get; }

    /// <summary>The single-layer RNNs, bottom first.</summary>
    public IReadOnlyList<RnnLayer<T>> Layers => _layers;

    /// <summary>Plans created by all layers.</summary>
    public long PlansCreated => _layers.Sum(l => l?.PlansCreated ?? 0);

    private Span<T> Scratch(long n)
    {
        if (_scratch.Length < n) _scratch = new T[n];
        return _scratch.AsSpan(0, checked((int)n));
    }

    /// <summary>Copies the multi-layer weight space <paramref name="weights"/> into the layers.</summary>
    public void LoadWeights(ReadOnlySpan<T> weights)
    {
        if (weights.Length != MultiLayerLayout.TotalElements)
            throw new ArgumentException($"weights has {weights.Length} elements; expected {MultiLayerLayout.TotalElements}.", nameof(weights));
        for (int l = 0; l < _layers.Length; l++)
        {
            var s = Scratch(_layers[l].WeightLayout.TotalElements);
            foreach (var (multi, single, len) in _blocks[l]) weights.Slice(multi, len).CopyTo(s.Slice(single, len));
            _layers[l].Weights.CopyFrom(s);
        }
    }

    /// <summary>Adds the layers' weight gradients into the multi-layer gradient space <paramref name="target"/> and zeroes them.</summary>
    public void AddGradientsTo(Span<T> target)
    {
        if (target.Length != MultiLayerLayout.TotalElements)
            throw new ArgumentException($"target has {target.Length} elements; expected {MultiLayerLayout.TotalElements}.", nameof(target));
        for (int l = 0; l < _layers.Length; l++)
        {
            var s = Scratch(_layers[l].WeightLayout.TotalElements);
            _layers[l].WeightGradients.Read(0, s);
            foreach (var (multi, single, len) in _blocks[l])
            {
                var dst = target.Slice(multi, len);
                TensorPrimitives.Add(dst, s.Slice(single, len), dst);
            }
            _layers[l].ZeroGrad();
        }
    }

    /// <summary>
    /// Forward over packed rows <paramref name="x"/>; returns the top layer's output rows (an array at least that long, reused: valid until the next call). In
    /// training, the output of every layer but the last goes through dropout <paramref name="p"/> whose mask rows of
    /// sentence b are drawn from <see cref="SampleKeys.Key"/>(<paramref name="stepSeed"/>, dataIndex[b],
    /// <see cref="SampleKeys.RnnLayerDropout"/>(l)), as the tagger's other dropout is.
    /// </summary>
    public T[] Forward(RnnDataDescriptor xDesc, ReadOnlySpan<T> x, bool training, double p, ulong stepSeed,
        ReadOnlySpan<int> dataIndex, ReadOnlySpan<int> lengths, ReadOnlySpan<int> stepOffsets)
    {
        DisposeContexts();
        int rows = checked((int)(x.Length / xDesc.VectorSize));
        _rows = rows;
        var input = x;
        var desc = xDesc;
        for (int l = 0; l < _layers.Length; l++)
        {
            var layer = _layers[l];
            layer.Training = training;
            var ctx = _contexts[l] = layer.Forward(desc, input);
            int width = layer.Descriptor.OutputSize;
            long n = (long)rows * width;
            if (_y[l] is null || _y[l].Length < n) _y[l] = new T[n];
            var y = _y[l].AsSpan(0, (int)n);
            ctx.Y.CopyTo(y);
            if (training && l + 1 < _layers.Length && p > 0)
            {
                if (_masks[l] is null || _masks[l].Length < n) _masks[l] = new T[n];
                SampleKeys.RowDropout<T>(y, _masks[l], width, p, stepSeed, SampleKeys.RnnLayerDropout(l), dataIndex, lengths, stepOffsets);
            }
            else if (_masks[l] is { } m && l + 1 < _layers.Length) m.AsSpan(0, Math.Min(m.Length, (int)n)).Fill(T.One);
            input = y;
            desc = xDesc.WithVectorSize(width);
        }
        return _y[^1];
    }

    /// <summary>
    /// Backward of the last training <see cref="Forward"/> from the top output's gradient <paramref name="dy"/>: adds the
    /// weight gradients into the layers (see <see cref="AddGradientsTo"/>) and returns dx.
    /// </summary>
    public T[] Backward(ReadOnlySpan<T> dy)
    {
        T[] g = dy.ToArray();
        for (int l = _layers.Length - 1; l >= 0; l--)
        {
            var ctx = _contexts[l] ?? throw new InvalidOperationException("Backward needs a training forward first (each forward is backpropagated once).");
            g = _layers[l].Backward(ctx, g).Dx;
            ctx.Dispose();
            _contexts[l] = null;
            if (l > 0 && _masks[l - 1] is { } m) Dropout.Backward<T>(g.AsSpan(0, _rows * _layers[l - 1].Descriptor.OutputSize), m);
        }
        return g;
    }

    private void DisposeContexts()
    {
        for (int l = 0; l < _contexts.Length; l++)
        {
            _contexts[l]?.Dispose();
            _contexts[l] = null;
        }
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        DisposeContexts();
        foreach (var l in _layers) l?.Dispose();
    }
}
