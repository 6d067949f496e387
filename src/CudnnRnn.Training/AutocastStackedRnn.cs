using System.Numerics;
using System.Numerics.Tensors;

namespace CudnnRnn.Training;

/// <summary>The tagger worker's view of its sentence RNN: <see cref="StackedRnn{T}"/>, or its 16-bit twin <see cref="AutocastStackedRnn{TLow}"/>.</summary>
internal interface ISentenceRnn<T> : IDisposable where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>Plans created by all layers.</summary>
    long PlansCreated { get; }
    /// <summary>Forward over packed rows with keyed dropout between layers; returns the top layer's output rows (reused array).</summary>
    T[] Forward(RnnDataDescriptor xDesc, ReadOnlySpan<T> x, bool training, double p, ulong stepSeed,
        ReadOnlySpan<int> dataIndex, ReadOnlySpan<int> lengths, ReadOnlySpan<int> stepOffsets);
    /// <summary>Backward of the last training forward; returns dx.</summary>
    T[] Backward(ReadOnlySpan<T> dy);
    /// <summary>Adds the weight gradients into the multi-layer gradient space <paramref name="target"/> and zeroes them.</summary>
    void AddGradientsTo(Span<T> target);
    /// <summary>Sets the weight gradients to zero.</summary>
    void ZeroGrad();
}

/// <summary>Creates <see cref="AutocastStackedRnn{TLow}"/> for a precision.</summary>
internal static class AutocastStackedRnn
{
    /// <summary>The 16-bit stack for <paramref name="precision"/> over a float32 master (<typeparamref name="T"/> must be float).</summary>
    public static ISentenceRnn<T> Create<T>(IRnnEngine engine, RnnDescriptor multiLayer, RnnWeightLayout masterLayout, Parameter<T> master, Precision precision)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (typeof(T) != typeof(float))
            throw new NotSupportedException($"Mixed precision ({precision.Word()}) keeps float32 master weights; this tagger's element type is {typeof(T).Name}.");
        var m = (Parameter<float>)(object)master;
        ISentenceRnn<float> r = precision == Precision.Fp16
            ? new AutocastStackedRnn<Half>(engine, multiLayer, masterLayout, m)
            : new AutocastStackedRnn<BFloat16>(engine, multiLayer, masterLayout, m);
        return (ISentenceRnn<T>)(object)r;
    }
}

/// <summary>
/// The tagger's stacked single-layer RNN (<see cref="StackedRnn{T}"/>: keyed dropout between layers, weights in the
/// multi-layer space) in 16 bits: each forward copies layer l's blocks of the float32 master (host arrays) into a
/// float32 single-layer master, which its <see cref="AutocastRnnLayer{TLow}"/> casts to the 16-bit layer; the layers'
/// widened float32 weight gradients are added back block by block. The data between layers (and the dropout on it) is
/// float32, as the rest of the model. Not thread-safe; one per worker.
/// </summary>
internal sealed class AutocastStackedRnn<TLow> : ISentenceRnn<float> where TLow : unmanaged, IFloatingPointIeee754<TLow>
{
    private readonly Parameter<float> _master;
    private readonly AutocastRnnLayer<TLow>[] _layers;
    private readonly Parameter<float>[] _singles;
    private readonly (int Multi, int Single, int Length)[][] _blocks;
    private readonly RnnForwardContext<TLow>?[] _contexts;
    private readonly float[][] _y, _masks;
    private int _rows;

    public AutocastStackedRnn(IRnnEngine engine, RnnDescriptor multiLayer, RnnWeightLayout masterLayout, Parameter<float> master)
    {
        if (!master.HasHostArrays) throw new ArgumentException($"'{master.Name}': mixed-precision master weights live in host arrays.", nameof(master));
        if (master.Count != masterLayout.TotalElements)
            throw new ArgumentException($"'{master.Name}' has {master.Count} elements; its layout has {masterLayout.TotalElements}.", nameof(master));
        _master = master;
        int L = multiLayer.NumLayers;
        var dt = RnnDescriptor.DataTypeOf<TLow>();
        _layers = new AutocastRnnLayer<TLow>[L];
        _singles = new Parameter<float>[L];
        _blocks = new (int, int, int)[L][];
        _contexts = new RnnForwardContext<TLow>?[L];
        _y = new float[L][];
        _masks = new float[L][];
        try
        {
            for (int l = 0; l < L; l++)
            {
                var d = new RnnDescriptor(multiLayer.Mode, multiLayer.LayerInputSize(l), multiLayer.HiddenSize, 1, multiLayer.Direction,
                    dataType: dt, biasMode: multiLayer.BiasMode, cellClip: multiLayer.CellClip);
                var single = engine.GetWeightLayout(d);
                _blocks[l] = StackedRnn<float>.LayerBlocks(masterLayout, single, l);
                _singles[l] = new Parameter<float>($"{master.Name}.layer{l}", checked((int)single.TotalElements));
                _layers[l] = new AutocastRnnLayer<TLow>(engine, d, _singles[l]);
            }
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    public long PlansCreated => _layers.Sum(l => l?.PlansCreated ?? 0);

    public float[] Forward(RnnDataDescriptor xDesc, ReadOnlySpan<float> x, bool training, double p, ulong stepSeed,
        ReadOnlySpan<int> dataIndex, ReadOnlySpan<int> lengths, ReadOnlySpan<int> stepOffsets)
    {
        DisposeContexts();
        var w = _master.Value;
        for (int l = 0; l < _layers.Length; l++)
            foreach (var (multi, single, len) in _blocks[l]) w.AsSpan(multi, len).CopyTo(_singles[l].Value.AsSpan(single, len));
        int rows = checked((int)(x.Length / xDesc.VectorSize));
        _rows = rows;
        var input = x;
        var desc = xDesc;
        for (int l = 0; l < _layers.Length; l++)
        {
            var layer = _layers[l];
            layer.Training = training;
            RnnForwardContext<TLow> ctx;
            try
            {
                ctx = _contexts[l] = layer.Forward(desc, input);   // casts the layer's master and the input to 16 bits
            }
            catch (OverflowException e) when (training)
            {
                throw AutocastWorkerRnn<TLow>.MasterOverflow(e);
            }
            int width = layer.Layer.Descriptor.OutputSize;
            long n = (long)rows * width;
            if (_y[l] is null || _y[l].Length < n) _y[l] = new float[n];
            var y = _y[l].AsSpan(0, (int)n);
            layer.ReadWidened(ctx.Y, y);
            if (training && l + 1 < _layers.Length && p > 0)
            {
                if (_masks[l] is null || _masks[l].Length < n) _masks[l] = new float[n];
                SampleKeys.RowDropout<float>(y, _masks[l], width, p, stepSeed, SampleKeys.RnnLayerDropout(l), dataIndex, lengths, stepOffsets);
            }
            else if (_masks[l] is { } m && l + 1 < _layers.Length) m.AsSpan(0, Math.Min(m.Length, (int)n)).Fill(1f);
            input = y;
            desc = xDesc.WithVectorSize(width);
        }
        return _y[^1];
    }

    public float[] Backward(ReadOnlySpan<float> dy)
    {
        float[] g = dy.ToArray();
        for (int l = _layers.Length - 1; l >= 0; l--)
        {
            var ctx = _contexts[l] ?? throw new InvalidOperationException("Backward needs a training forward first (each forward is backpropagated once).");
            g = _layers[l].Backward(ctx, g).Inputs.Dx;    // adds the widened weight gradients into _singles[l].Grad
            ctx.Dispose();
            _contexts[l] = null;
            if (l > 0 && _masks[l - 1] is { } m) Dropout.Backward<float>(g.AsSpan(0, _rows * _layers[l - 1].Layer.Descriptor.OutputSize), m);
        }
        return g;
    }

    public void AddGradientsTo(Span<float> target)
    {
        if (target.Length != _master.Count) throw new ArgumentException($"target has {target.Length} elements; expected {_master.Count}.", nameof(target));
        for (int l = 0; l < _layers.Length; l++)
        {
            var s = _singles[l].Grad;
            foreach (var (multi, single, len) in _blocks[l])
            {
                var dst = target.Slice(multi, len);
                TensorPrimitives.Add(dst, s.AsSpan(single, len), dst);
            }
            _singles[l].ZeroGrad();
        }
    }

    public void ZeroGrad()
    {
        foreach (var s in _singles) s?.ZeroGrad();
    }

    private void DisposeContexts()
    {
        for (int l = 0; l < _contexts.Length; l++)
        {
            _contexts[l]?.Dispose();
            _contexts[l] = null;
        }
    }

    public void Dispose()
    {
        DisposeContexts();
        foreach (var l in _layers) l?.Dispose();
    }
}
