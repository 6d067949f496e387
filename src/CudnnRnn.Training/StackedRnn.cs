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
internal sealed class StackedRnn<T> : ISentenceRnn<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly RnnLayer<T>[] _layers;
    private readonly (int Multi, int Single, int Length)[][] _blocks; // per layer: copies between the two weight spaces
    private readonly RnnForwardContext<T>?[] _contexts;
    private readonly T[][] _y, _masks;
    private readonly Parameter<T> _master;
    private readonly RnnBuffer<T>? _masterGradient;
    private readonly RnnBuffer<T>[] _views = [];     // the per-layer views of the master weights (CPU engine), owned
    private long _loadedVersion = -1;                // master value version the layers' own weights were copied from
    private T[] _scratch = [], _masterCopy = [];
    private int _rows;

    /// <summary>
    /// Creates one single-layer RNN per layer of <paramref name="multiLayer"/> (whose dropout is ignored) over the master
    /// weights <paramref name="master"/> (the multi-layer weight space). How the layers reach those weights, cheapest first:
    /// one layer runs on the master buffers themselves; on the CPU engine, where layer l's weights are one contiguous block
    /// of the multi-layer space laid out as a single-layer network's, each layer runs on a view of its block (no copy);
    /// otherwise (device engines, whose library chooses the layout) each layer keeps its own weights, copied from the
    /// master when its <see cref="RnnBuffer{T}.Version"/> moved (once per optimizer step), and its gradients are added
    /// into the master gradient through host copies. <paramref name="masterGradient"/>, when given, is where the layers'
    /// weight gradients accumulate (one worker on a device engine); otherwise each layer keeps its own and
    /// <see cref="AddGradientsTo"/> moves them. <paramref name="allowViews"/> false forces the copying path (tests).
    /// </summary>
    public StackedRnn(IRnnEngine engine, RnnDescriptor multiLayer, Parameter<T> master, RnnBuffer<T>? masterGradient = null, bool allowViews = true)
    {
        ArgumentNullException.ThrowIfNull(engine);
        ArgumentNullException.ThrowIfNull(multiLayer);
        ArgumentNullException.ThrowIfNull(master);
        if (multiLayer.InputMode == RnnInputMode.Skip || multiLayer.HasProjection)
            throw new ArgumentException($"Stacking supports linear input without projection; got {multiLayer}.", nameof(multiLayer));
        MultiLayerLayout = engine.GetWeightLayout(multiLayer);
        if (master.Count != MultiLayerLayout.TotalElements)
            throw new ArgumentException($"'{master.Name}' has {master.Count} elements; the weight space of {multiLayer} has {MultiLayerLayout.TotalElements}.", nameof(master));
        _master = master;
        _masterGradient = masterGradient;
        int L = multiLayer.NumLayers;
        _layers = new RnnLayer<T>[L];
        _blocks = new (int, int, int)[L][];
        _contexts = new RnnForwardContext<T>?[L];
        _y = new T[L][];
        _masks = new T[L][];
        try
        {
            if (L == 1)
            {
                _layers[0] = new RnnLayer<T>(engine, multiLayer.WithDropout(0, multiLayer.DropoutSeed), master.ValueBuffer!, masterGradient);
                _blocks[0] = [];
                InPlace = true;
                return;
            }
            var singles = new RnnDescriptor[L];
            for (int l = 0; l < L; l++)
            {
                var d = singles[l] = new RnnDescriptor(multiLayer.Mode, multiLayer.LayerInputSize(l), multiLayer.HiddenSize, 1, multiLayer.Direction,
                    dataType: multiLayer.DataType, biasMode: multiLayer.BiasMode, cellClip: multiLayer.CellClip);
                _blocks[l] = LayerBlocks(MultiLayerLayout, engine.GetWeightLayout(d), l);
            }
            if (allowViews && engine is Cpu.CpuEngine cpu && master.HasHostArrays && masterGradient is null && _blocks.Select((b, l) => BlockOffset(b, engine.GetWeightLayout(singles[l]))).All(o => o >= 0))
            {
                // Zero copy: each layer reads its block of the master array through a view.
                _views = new RnnBuffer<T>[L];
                for (int l = 0; l < L; l++)
                {
                    long n = engine.GetWeightLayout(singles[l]).TotalElements;
                    _views[l] = cpu.Wrap(master.Value.AsMemory(BlockOffset(_blocks[l], engine.GetWeightLayout(singles[l])), checked((int)n)));
                    _layers[l] = new RnnLayer<T>(engine, singles[l], _views[l]);
                }
                InPlace = true;
            }
            else
            {
                for (int l = 0; l < L; l++) _layers[l] = new RnnLayer<T>(engine, singles[l]);
            }
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    /// <summary>
    /// The copies between layer <paramref name="l"/> of the multi-layer weight space and the single-layer network's:
    /// (offset in the multi-layer space, offset in the single-layer space, length) per matrix and bias.
    /// </summary>
    internal static (int Multi, int Single, int Length)[] LayerBlocks(RnnWeightLayout multi, RnnWeightLayout single, int l)
    {
        int D = single.Descriptor.NumDirections;
        var blocks = new List<(int, int, int)>();
        for (int dir = 0; dir < D; dir++)
            for (int lin = 0; lin < single.Descriptor.LinLayerIdCount; lin++)
            {
                var m = multi[l * D + dir, lin];
                var s = single[dir, lin];
                if (m.HasMatrix != s.HasMatrix || m.Rows != s.Rows || m.Cols != s.Cols || m.HasBias != s.HasBias || m.BiasLength != s.BiasLength)
                    throw new InvalidOperationException($"Layer {l} direction {dir} id {lin}: the single-layer entry {s} does not match the multi-layer entry {m}.");
                if (m.HasMatrix) blocks.Add((checked((int)m.MatrixOffset), checked((int)s.MatrixOffset), m.Rows * m.Cols));
                if (m.HasBias) blocks.Add((checked((int)m.BiasOffset), checked((int)s.BiasOffset), m.BiasLength));
            }
        return [.. blocks];
    }

    /// <summary>
    /// The offset at which a layer's blocks sit in the multi-layer space when they form one contiguous region laid out as
    /// the single-layer network's (every block moved by the same amount, covering the single-layer space exactly), else −1.
    /// </summary>
    private static int BlockOffset((int Multi, int Single, int Length)[] blocks, RnnWeightLayout single)
    {
        if (blocks.Length == 0) return -1;
        int delta = blocks[0].Multi - blocks[0].Single;
        long covered = 0;
        foreach (var (m, s, n) in blocks)
        {
            if (m - s != delta) return -1;
            covered += n;
        }
        return delta >= 0 && covered == single.TotalElements ? delta : -1;
    }

    /// <summary>True when the layers run on the master weights themselves (one layer) or views of them (CPU engine): no copies.</summary>
    public bool InPlace { get; }

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

    /// <summary>Copies the master weights into the layers' own weights when they changed (only when not <see cref="InPlace"/>).</summary>
    private void LoadWeightsIfStale()
    {
        if (InPlace) return;
        long version = _master.ValueBuffer?.Version ?? -2;
        if (version == _loadedVersion && version != -2) return;
        int total = checked((int)MultiLayerLayout.TotalElements);
        if (_masterCopy.Length < total) _masterCopy = new T[total];
        var weights = _masterCopy.AsSpan(0, total);
        _master.CopyValueTo(weights);
        for (int l = 0; l < _layers.Length; l++)
        {
            var s = Scratch(_layers[l].WeightLayout.TotalElements);
            foreach (var (multi, single, len) in _blocks[l]) weights.Slice(multi, len).CopyTo(s.Slice(single, len));
            _layers[l].Weights.CopyFrom(s);
        }
        _loadedVersion = version;
    }

    /// <summary>Sets the layers' weight gradients to zero, and the master gradient buffer when there is one.</summary>
    public void ZeroGrad()
    {
        foreach (var l in _layers) l.ZeroGrad();
        if (_masterGradient is not null && _layers.Length > 1) _masterGradient.Clear();
    }

    /// <summary>
    /// Adds the layers' weight gradients into the multi-layer gradient space <paramref name="target"/> and zeroes them
    /// (the path without a master gradient buffer).
    /// </summary>
    public void AddGradientsTo(Span<T> target)
    {
        if (target.Length != MultiLayerLayout.TotalElements)
            throw new ArgumentException($"target has {target.Length} elements; expected {MultiLayerLayout.TotalElements}.", nameof(target));
        if (_layers.Length == 1)
        {
            var s1 = Scratch(target.Length);
            _layers[0].WeightGradients.Read(0, s1);
            TensorPrimitives.Add(target, s1, target);
            _layers[0].ZeroGrad();
            return;
        }
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

    /// <summary>With a master gradient buffer and layers that keep their own gradients: adds them into it (host copies).</summary>
    private void AddGradientsToMaster()
    {
        if (_masterGradient is null || _layers.Length == 1) return; // one layer accumulates into the master gradient itself
        int total = checked((int)MultiLayerLayout.TotalElements);
        if (_masterCopy.Length < total) _masterCopy = new T[total];
        var g = _masterCopy.AsSpan(0, total);
        _master.CopyGradientTo(g);
        AddGradientsTo(g);
        _master.CopyGradientFrom(g);
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
        LoadWeightsIfStale();
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
        AddGradientsToMaster();
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
        foreach (var v in _views) v?.Dispose();
    }
}
