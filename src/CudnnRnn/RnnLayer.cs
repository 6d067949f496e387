using System.Numerics;

namespace CudnnRnn;

/// <summary>Input gradients returned by the host-span <see cref="RnnLayer{T}.Backward(RnnForwardContext{T}, ReadOnlySpan{T}, ReadOnlySpan{T}, ReadOnlySpan{T})"/>.</summary>
/// <param name="Dx">dL/dx in the input's layout.</param>
/// <param name="Dhx">dL/dhx [L·D, B, S].</param>
/// <param name="Dcx">dL/dcx [L·D, B, H] (LSTM), else empty.</param>
public sealed record RnnInputGradients<T>(T[] Dx, T[] Dhx, T[] Dcx);

/// <summary>
/// A recurrent layer for users — what <c>nn.RNN</c>/<c>nn.GRU</c>/<c>nn.LSTM</c> are to PyTorch users — on any engine.
/// It owns the weights and their gradients in engine memory, caches plans per data shape, and initialises weights like
/// PyTorch (uniform ±1/√hidden, seeded). Each forward returns an <see cref="RnnForwardContext{T}"/> that owns its
/// outputs and reserve space; backward takes that context, so several forwards may be in flight and are
/// backpropagated in any order. Not thread-safe: use one layer from one thread at a time.
/// </summary>
public sealed class RnnLayer<T> : IDisposable where T : unmanaged, IFloatingPointIeee754<T>
{
    // Plans are per data shape (layout, maximum length, batch, vector size, padding fill); the lengths travel with each
    // call, so variable-length batches of one shape share a plan. Evicted shapes give their memory back to the engine.
    private const int MaxCachedPlans = 16;

    /// <summary>
    /// How many disposed contexts' storage (outputs and reserve) each data shape keeps for reuse. More contexts than this
    /// may be alive at once; the excess is freed when they are disposed.
    /// </summary>
    public const int MaxPooledContextsPerShape = 4;

    private readonly Dictionary<RnnDataShape, RnnLayerShape<T>> _shapes = new();
    private readonly LinkedList<RnnDataShape> _lru = new();
    private readonly RnnDescriptor _inference;
    private bool _disposed;

    /// <summary>Creates the layer and initialises its weights.</summary>
    /// <param name="engine">Engine that runs it (the layer does not own it).</param>
    /// <param name="rnn">The network; its data type must match <typeparamref name="T"/>.</param>
    /// <param name="seed">Seed of the weight initialisation.</param>
    public RnnLayer(IRnnEngine engine, RnnDescriptor rnn, ulong seed = 0)
    {
        ArgumentNullException.ThrowIfNull(engine);
        ArgumentNullException.ThrowIfNull(rnn);
        var dt = RnnDescriptor.DataTypeOf<T>();
        if (dt != rnn.DataType)
            throw new ArgumentException($"RnnLayer<{typeof(T).Name}> needs a {dt} descriptor; got {rnn.DataType}.", nameof(rnn));
        if (!engine.Supports(dt, out var why))
            throw new NotSupportedException($"The {engine.Name} engine cannot compute in {dt}: {why}");
        Engine = engine;
        Descriptor = rnn;
        _inference = rnn.Dropout > 0 ? rnn.WithDropout(0, rnn.DropoutSeed) : rnn;
        WeightLayout = engine.GetWeightLayout(rnn);
        Weights = engine.Allocate<T>(WeightLayout.TotalElements);
        WeightGradients = engine.Allocate<T>(WeightLayout.TotalElements);
        ResetParameters(seed);
    }

    /// <summary>The engine.</summary>
    public IRnnEngine Engine { get; }
    /// <summary>The network.</summary>
    public RnnDescriptor Descriptor { get; }
    /// <summary>Weight-space layout.</summary>
    public RnnWeightLayout WeightLayout { get; }
    /// <summary>The weight space (engine memory).</summary>
    public RnnBuffer<T> Weights { get; }
    /// <summary>Accumulated weight gradients (engine memory), same layout as <see cref="Weights"/>.</summary>
    public RnnBuffer<T> WeightGradients { get; }
    /// <summary>Training mode: forward saves a reserve for backward and applies dropout. Default true.</summary>
    public bool Training { get; set; } = true;
    /// <summary>PyTorch parameters of this layer.</summary>
    public IReadOnlyList<PyTorchParameter> Parameters => WeightLayout.PyTorchParameters;

    /// <summary>Re-draws every weight and bias uniformly in [−1/√hidden, 1/√hidden] (PyTorch's init), in PyTorch parameter order.</summary>
    public void ResetParameters(ulong seed)
    {
        ThrowIfDisposed();
        var ws = new T[WeightLayout.TotalElements];
        double k = 1.0 / Math.Sqrt(Descriptor.HiddenSize);
        var rng = SeededRandom.FromState(seed);
        foreach (var p in Parameters)
        {
            var v = new T[p.Count];
            for (int i = 0; i < v.Length; i++) v[i] = T.CreateChecked((2 * rng.NextDouble() - 1) * k);
            WeightLayout.ImportPyTorch<T>(ws, p.Name, v);
        }
        Weights.CopyFrom(ws);
    }

    /// <summary>Sets one PyTorch parameter (row-major, PyTorch shape).</summary>
    public void ImportPyTorch(string name, ReadOnlySpan<T> values)
    {
        ThrowIfDisposed();
        var ws = Weights.ToArray();
        WeightLayout.ImportPyTorch<T>(ws, name, values);
        Weights.CopyFrom(ws);
    }

    /// <summary>
    /// Sets one PyTorch parameter from float32 values (row-major, PyTorch shape), rounded to <typeparamref name="T"/>
    /// (nearest, ties to even). A finite value that overflows T (|x| &gt; 65504 for Half after rounding) throws
    /// <see cref="ArgumentOutOfRangeException"/> naming the parameter, element, value and limit; nothing is changed then.
    /// </summary>
    public void ImportPyTorchFromFloat32(string name, ReadOnlySpan<float> values)
    {
        ThrowIfDisposed();
        var ws = Weights.ToArray();
        WeightLayout.ImportPyTorchFromFloat32<T>(ws, name, values);
        Weights.CopyFrom(ws);
    }

    /// <summary>Reads one PyTorch parameter as float32 (exact for Half and BFloat16; rounded for double).</summary>
    public float[] ExportPyTorchToFloat32(string name)
    {
        ThrowIfDisposed();
        var v = new float[WeightLayout.GetPyTorchParameter(name).Count];
        WeightLayout.ExportPyTorchToFloat32<T>(Weights.ToArray(), name, v);
        return v;
    }

    /// <summary>Reads one PyTorch parameter.</summary>
    public T[] ExportPyTorch(string name)
    {
        ThrowIfDisposed();
        var p = WeightLayout.GetPyTorchParameter(name);
        var v = new T[p.Count];
        WeightLayout.ExportPyTorch<T>(Weights.ToArray(), name, v);
        return v;
    }

    /// <summary>Reads the gradient of one PyTorch parameter.</summary>
    public T[] ExportPyTorchGradient(string name)
    {
        ThrowIfDisposed();
        var p = WeightLayout.GetPyTorchParameter(name);
        var v = new T[p.Count];
        WeightLayout.ExportPyTorch<T>(WeightGradients.ToArray(), name, v);
        return v;
    }

    /// <summary>Sets the weight gradients to zero.</summary>
    public void ZeroGrad()
    {
        ThrowIfDisposed();
        WeightGradients.Clear();
    }

    /// <summary>
    /// Forward pass on engine buffers: <paramref name="x"/> (and <paramref name="hx"/>, <paramref name="cx"/>) are used in
    /// place, without a copy, and must stay unchanged until the context is backpropagated. In training mode
    /// (<see cref="Training"/>) the context holds a reserve space for <see cref="Backward(RnnForwardContext{T}, RnnBuffer{T}?, RnnBuffer{T}?, RnnBuffer{T}?, RnnBuffer{T}?, RnnBuffer{T}?, RnnBuffer{T}?)"/>.
    /// </summary>
    /// <param name="xDesc">Shape of x (its VectorSize must be the input size).</param>
    /// <param name="x">Input in <paramref name="xDesc"/>'s layout, in this layer's engine memory.</param>
    /// <param name="hx">Initial hidden state [L·D, B, S], or null for zeros.</param>
    /// <param name="cx">Initial cell state [L·D, B, H] (LSTM), or null for zeros.</param>
    public RnnForwardContext<T> Forward(RnnDataDescriptor xDesc, RnnBuffer<T> x, RnnBuffer<T>? hx = null, RnnBuffer<T>? cx = null)
    {
        ThrowIfDisposed();
        ArgumentNullException.ThrowIfNull(xDesc);
        ArgumentNullException.ThrowIfNull(x);
        if (cx is not null && Descriptor.Mode != RnnMode.Lstm)
            throw new ArgumentException($"cx is a cell state, which exists for Lstm only (mode is {Descriptor.Mode}); pass null.", nameof(cx));
        var shape = GetShape(xDesc);
        return Run(shape, xDesc, x, hx, cx, shape.Rent(Engine, xDesc));
    }

    /// <summary>
    /// Forward pass on host data (a convenience: the inputs are copied into engine memory the context owns). Read the
    /// outputs with <c>context.Y.CopyTo(span)</c> / <c>ToArray()</c>.
    /// </summary>
    /// <param name="xDesc">Shape of x (its VectorSize must be the input size).</param>
    /// <param name="x">Input in <paramref name="xDesc"/>'s layout.</param>
    /// <param name="hx">Initial hidden state [L·D, B, S], or empty for zeros.</param>
    /// <param name="cx">Initial cell state [L·D, B, H] (LSTM), or empty for zeros.</param>
    public RnnForwardContext<T> Forward(RnnDataDescriptor xDesc, ReadOnlySpan<T> x, ReadOnlySpan<T> hx = default, ReadOnlySpan<T> cx = default)
    {
        ThrowIfDisposed();
        ArgumentNullException.ThrowIfNull(xDesc);
        if (!cx.IsEmpty && Descriptor.Mode != RnnMode.Lstm)
            throw new ArgumentException($"cx is a cell state, which exists for Lstm only (mode is {Descriptor.Mode}); pass an empty span.", nameof(cx));
        var shape = GetShape(xDesc);
        var plan = shape.TrainPlan;
        CheckLength(x, xDesc.ElementCount, nameof(x));
        if (!hx.IsEmpty) CheckLength(hx, plan.HiddenStateElements, nameof(hx));
        if (!cx.IsEmpty) CheckLength(cx, plan.CellStateElements, nameof(cx));
        var s = shape.Rent(Engine, xDesc);
        try
        {
            if (s.HostX is { } old && old.Length != xDesc.ElementCount) { old.Dispose(); s.HostX = null; }   // packed: sized by the lengths
            (s.HostX ??= Engine.Allocate<T>(xDesc.ElementCount)).CopyFrom(x);
            if (!hx.IsEmpty) (s.HostHx ??= Engine.Allocate<T>(plan.HiddenStateElements)).CopyFrom(hx);
            if (!cx.IsEmpty) (s.HostCx ??= Engine.Allocate<T>(plan.CellStateElements)).CopyFrom(cx);
        }
        catch
        {
            shape.Return(s);
            throw;
        }
        return Run(shape, xDesc, s.HostX, hx.IsEmpty ? null : s.HostHx, cx.IsEmpty ? null : s.HostCx, s);
    }

    private RnnForwardContext<T> Run(RnnLayerShape<T> shape, RnnDataDescriptor xDesc, RnnBuffer<T> x, RnnBuffer<T>? hx, RnnBuffer<T>? cx, ContextStorage<T> s)
    {
        bool training = Training;
        try
        {
            if (training)
            {
                s.Reserve ??= shape.TrainPlan.CreateReserve();
                shape.TrainPlan.Forward(RnnForwardMode.Training, xDesc, x, s.Y, hx, s.Hy, cx, s.Cy, Weights, s.Reserve);
            }
            else
            {
                shape.InferPlan.Forward(RnnForwardMode.Inference, xDesc, x, s.Y, hx, s.Hy, cx, s.Cy, Weights, null);
            }
        }
        catch
        {
            shape.Return(s);
            throw;
        }
        s.Y.MarkModified();
        s.Hy.MarkModified();
        s.Cy?.MarkModified();
        return new RnnForwardContext<T>(this, shape, s, training, xDesc, x, hx, cx, Weights.Version);
    }

    /// <summary>
    /// Backward pass of <paramref name="context"/> on engine buffers: writes dx, dhx, dcx (each optional: null = not
    /// wanted) and adds the weight gradients into <see cref="WeightGradients"/> (call <see cref="ZeroGrad"/> between
    /// steps). Any subset of dy, dhy, dcy may be given; absent ones are zeros (e.g. only h_n feeds the loss: pass dhy).
    /// A context is backpropagated once; a second time, after dispose, or after the weights or its inputs changed
    /// throws <see cref="InvalidOperationException"/> / <see cref="ObjectDisposedException"/>.
    /// </summary>
    public void Backward(RnnForwardContext<T> context, RnnBuffer<T>? dy = null, RnnBuffer<T>? dhy = null, RnnBuffer<T>? dcy = null,
        RnnBuffer<T>? dx = null, RnnBuffer<T>? dhx = null, RnnBuffer<T>? dcx = null)
    {
        ThrowIfDisposed();
        var (shape, s) = CheckContext(context);
        if ((dcy is not null || dcx is not null) && Descriptor.Mode != RnnMode.Lstm)
            throw new ArgumentException($"dcy and dcx exist for Lstm only (mode is {Descriptor.Mode}); pass null.", dcy is not null ? nameof(dcy) : nameof(dcx));
        var plan = shape.TrainPlan;
        plan.BackwardData(context.XDesc, s.Y, dy ?? shape.ZeroDy(Engine, s.Y.Length), dx ?? shape.ScratchDx(Engine, context.XDesc.ElementCount), context.Hx, dhy, dhx, context.Cx, dcy, dcx, Weights, s.Reserve!);
        context.IsBackpropagated = true;
        plan.BackwardWeights(WeightGradMode.Add, context.XDesc, context.X, context.Hx, s.Y, WeightGradients, s.Reserve!);
        WeightGradients.MarkModified();
        dx?.MarkModified();
        dhx?.MarkModified();
        dcx?.MarkModified();
    }

    /// <summary>
    /// Backward pass of <paramref name="context"/> on host data (a convenience that copies): returns dx, dhx, dcx and
    /// adds the weight gradients into <see cref="WeightGradients"/>. Empty spans are zeros; pass <c>default</c> for dy
    /// when only the final states feed the loss.
    /// </summary>
    public RnnInputGradients<T> Backward(RnnForwardContext<T> context, ReadOnlySpan<T> dy, ReadOnlySpan<T> dhy = default, ReadOnlySpan<T> dcy = default)
    {
        ThrowIfDisposed();
        var (shape, _) = CheckContext(context);
        var plan = shape.TrainPlan;
        if (!dy.IsEmpty) CheckLength(dy, context.Y.Length, nameof(dy));
        if (!dhy.IsEmpty) CheckLength(dhy, plan.HiddenStateElements, nameof(dhy));
        if (!dcy.IsEmpty)
        {
            if (Descriptor.Mode != RnnMode.Lstm) throw new ArgumentException($"dcy exists for Lstm only (mode is {Descriptor.Mode}); pass an empty span.", nameof(dcy));
            CheckLength(dcy, plan.CellStateElements, nameof(dcy));
        }
        var e = Engine;
        // Staging buffers live with the shape (no engine allocation per call once warm); only the returned arrays are new.
        RnnBuffer<T>? Staged(int which, ReadOnlySpan<T> values)
        {
            if (values.IsEmpty) return null;
            var b = shape.HostStaging(which, e, values.Length);
            b.CopyFrom(values);
            return b;
        }
        var dyB = Staged(0, dy);
        var dhyB = Staged(1, dhy);
        var dcyB = Staged(2, dcy);
        var dxB = shape.HostStaging(3, e, context.XDesc.ElementCount);
        var dhxB = shape.HostStaging(4, e, plan.HiddenStateElements);
        var dcxB = plan.CellStateElements > 0 ? shape.HostStaging(5, e, plan.CellStateElements) : null;
        Backward(context, dyB, dhyB, dcyB, dxB, dhxB, dcxB);
        return new RnnInputGradients<T>(dxB.ToArray(), dhxB.ToArray(), dcxB?.ToArray() ?? []);
    }

    private (RnnLayerShape<T>, ContextStorage<T>) CheckContext(RnnForwardContext<T> context)
    {
        ArgumentNullException.ThrowIfNull(context);
        if (!context.BelongsTo(this))
            throw new ArgumentException("The context comes from another layer's forward; backpropagate it through that layer.", nameof(context));
        if (context.IsDisposed) throw new ObjectDisposedException(nameof(context), "The forward context has been disposed; its saved state is gone.");
        if (!context.IsTraining)
            throw new InvalidOperationException("This context comes from an inference forward (Training = false), which saves nothing for backward.");
        if (context.IsBackpropagated)
            throw new InvalidOperationException("This context has already been backpropagated; each forward context is backpropagated once. Run the forward again.");
        if (Weights.Version != context.WeightsVersion)
            throw new InvalidOperationException("The layer's weights changed after this forward (ImportPyTorch, ResetParameters or a write to Weights); its saved state no longer matches them. Run the forward again.");
        if (context.X.IsDisposed || context.X.Version != context.XVersion)
            throw new InvalidOperationException("The input x of this forward was disposed or changed after the forward; backward needs it unchanged.");
        if (context.Hx is { } hx && (hx.IsDisposed || hx.Version != context.HxVersion))
            throw new InvalidOperationException("The initial state hx of this forward was disposed or changed after the forward; backward needs it unchanged.");
        if (context.Cx is { } cx && (cx.IsDisposed || cx.Version != context.CxVersion))
            throw new InvalidOperationException("The initial cell state cx of this forward was disposed or changed after the forward; backward needs it unchanged.");
        return (context.Shape, context.Storage);
    }

    private static void CheckLength(ReadOnlySpan<T> span, long expected, string name)
    {
        if (span.Length != expected)
            throw new ArgumentException($"{name} has {span.Length} elements; expected {expected}.", name);
    }

    /// <summary>Number of data shapes whose plans are cached now (at most 16).</summary>
    public int CachedShapes => _shapes.Count;

    /// <summary>
    /// Plans this layer has created (one per new data shape, two with dropout: the inference plan has none). Batches that
    /// differ only in their lengths share a shape, so this grows with the number of distinct shapes, not of batches.
    /// </summary>
    public long PlansCreated { get; private set; }

    private RnnLayerShape<T> GetShape(RnnDataDescriptor xDesc)
    {
        var key = RnnDataShape.Of(xDesc);
        if (_shapes.TryGetValue(key, out var shape))
        {
            _lru.Remove(shape.Node);
            _lru.AddFirst(shape.Node);
            return shape;
        }
        if (_shapes.Count >= MaxCachedPlans)
        {
            var old = _lru.Last!;
            _lru.RemoveLast();
            _shapes.Remove(old.Value, out var evicted);
            // Contexts of an evicted shape may still be backpropagated: it is disposed when the last one returns.
            evicted!.Evicted = true;
            if (evicted.LiveContexts == 0) evicted.Dispose();
        }
        shape = new RnnLayerShape<T>(this, xDesc, key, _inference, MaxPooledContextsPerShape);
        PlansCreated += ReferenceEquals(shape.InferPlan, shape.TrainPlan) ? 1 : 2;
        _shapes[key] = shape;
        _lru.AddFirst(shape.Node);
        return shape;
    }

    internal void Return(RnnLayerShape<T> shape, ContextStorage<T> storage)
    {
        if (_disposed)
        {
            storage.Dispose();
            return;
        }
        shape.Return(storage);
    }

    private void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(_disposed, this);

    /// <inheritdoc/>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        foreach (var s in _shapes.Values) s.Dispose();
        _shapes.Clear();
        Weights.Dispose();
        WeightGradients.Dispose();
    }
}
