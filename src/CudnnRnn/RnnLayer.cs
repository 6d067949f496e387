using System.Numerics;

namespace CudnnRnn;

/// <summary>Outputs of <see cref="RnnLayer{T}.Forward"/>: y in the input's layout, and the final states.</summary>
/// <param name="Y">Output, YDesc layout ([T, B, D·S] for seq-major unpacked).</param>
/// <param name="Hy">Final hidden state [L·D, B, S].</param>
/// <param name="Cy">Final cell state [L·D, B, H] (LSTM), else empty.</param>
/// <param name="YDesc">Shape of <paramref name="Y"/>.</param>
public sealed record RnnOutput<T>(T[] Y, T[] Hy, T[] Cy, RnnDataDescriptor YDesc);

/// <summary>Input gradients from <see cref="RnnLayer{T}.Backward"/>.</summary>
/// <param name="Dx">dL/dx in the input's layout.</param>
/// <param name="Dhx">dL/dhx [L·D, B, S].</param>
/// <param name="Dcx">dL/dcx [L·D, B, H] (LSTM), else empty.</param>
public sealed record RnnInputGradients<T>(T[] Dx, T[] Dhx, T[] Dcx);

/// <summary>
/// A recurrent layer for users — what <c>nn.RNN</c>/<c>nn.GRU</c>/<c>nn.LSTM</c> are to PyTorch users — on any engine.
/// It owns the weights and their gradients, caches one plan and its buffers per data shape, keeps the reserve space
/// between <see cref="Forward"/> and <see cref="Backward"/>, and initialises weights like PyTorch (uniform ±1/√hidden,
/// seeded). Not thread-safe.
/// </summary>
public sealed class RnnLayer<T> : IDisposable where T : unmanaged, IFloatingPointIeee754<T>
{
    // Plans are per data shape; variable-length batches bring new shapes all the time. Evicted plans give their memory
    // back to the engine (the CPU engine pools it), so a small cache costs little and bounds memory.
    private const int MaxCachedPlans = 8;
    private readonly Dictionary<RnnDataDescriptor, Slot> _slots = new();
    private readonly LinkedList<RnnDataDescriptor> _lru = new();
    private RnnDescriptor _inference;
    private Slot? _last;
    private bool _lastWasTraining;
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
    /// Forward pass on host data. In training mode the reserve is kept for <see cref="Backward"/>.
    /// </summary>
    /// <param name="xDesc">Shape of x (its VectorSize must be the input size).</param>
    /// <param name="x">Input in <paramref name="xDesc"/>'s layout.</param>
    /// <param name="hx">Initial hidden state [L·D, B, S], or empty for zeros.</param>
    /// <param name="cx">Initial cell state [L·D, B, H] (LSTM), or empty for zeros.</param>
    public RnnOutput<T> Forward(RnnDataDescriptor xDesc, ReadOnlySpan<T> x, ReadOnlySpan<T> hx = default, ReadOnlySpan<T> cx = default)
    {
        ThrowIfDisposed();
        ArgumentNullException.ThrowIfNull(xDesc);
        var slot = GetSlot(xDesc);
        var plan = Training ? slot.TrainPlan : slot.InferPlan;
        slot.X.CopyFrom(x);
        bool hasHx = !hx.IsEmpty, hasCx = !cx.IsEmpty;
        if (hasHx) slot.Hx.CopyFrom(hx);
        if (hasCx)
        {
            if (slot.Cx is null) throw new ArgumentException($"cx is a cell state, which exists for Lstm only (mode is {Descriptor.Mode}); pass an empty span.", nameof(cx));
            slot.Cx.CopyFrom(cx);
        }
        slot.HasHx = hasHx;
        slot.HasCx = hasCx;
        if (Training)
            plan.Forward(RnnForwardMode.Training, slot.X, slot.Y, hasHx ? slot.Hx : null, slot.Hy, hasCx ? slot.Cx : null, slot.Cy, Weights, slot.Reserve);
        else
            plan.Forward(RnnForwardMode.Inference, slot.X, slot.Y, hasHx ? slot.Hx : null, slot.Hy, hasCx ? slot.Cx : null, slot.Cy, Weights, null);
        _last = slot;
        _lastWasTraining = Training;
        return new RnnOutput<T>(slot.Y.ToArray(), slot.Hy.ToArray(), slot.Cy?.ToArray() ?? [], plan.YDesc);
    }

    /// <summary>
    /// Backward pass for the last training forward: returns dx, dhx, dcx and adds the weight gradients into
    /// <see cref="WeightGradients"/> (call <see cref="ZeroGrad"/> between steps).
    /// </summary>
    /// <param name="dy">dL/dy in the forward's y layout.</param>
    /// <param name="dhy">dL/dhy, or empty for zeros.</param>
    /// <param name="dcy">dL/dcy (LSTM), or empty for zeros.</param>
    public RnnInputGradients<T> Backward(ReadOnlySpan<T> dy, ReadOnlySpan<T> dhy = default, ReadOnlySpan<T> dcy = default)
    {
        ThrowIfDisposed();
        if (_last is null) throw new InvalidOperationException("Backward needs a forward pass first.");
        if (!_lastWasTraining) throw new InvalidOperationException("Backward needs a training forward; the last forward ran with Training = false.");
        var slot = _last;
        slot.Dy.CopyFrom(dy);
        bool hasDhy = !dhy.IsEmpty, hasDcy = !dcy.IsEmpty;
        if (hasDhy) slot.Dhy.CopyFrom(dhy);
        if (hasDcy)
        {
            if (slot.Dcy is null) throw new ArgumentException($"dcy exists for Lstm only (mode is {Descriptor.Mode}); pass an empty span.", nameof(dcy));
            slot.Dcy.CopyFrom(dcy);
        }
        var hx = slot.HasHx ? slot.Hx : null;
        var cx = slot.HasCx ? slot.Cx : null;
        slot.TrainPlan.BackwardData(slot.Y, slot.Dy, slot.Dx, hx, hasDhy ? slot.Dhy : null, slot.Dhx, cx, hasDcy ? slot.Dcy : null, slot.Dcx, Weights, slot.Reserve);
        slot.TrainPlan.BackwardWeights(WeightGradMode.Add, slot.X, hx, slot.Y, WeightGradients, slot.Reserve);
        _last = null;
        return new RnnInputGradients<T>(slot.Dx.ToArray(), slot.Dhx.ToArray(), slot.Dcx?.ToArray() ?? []);
    }

    private Slot GetSlot(RnnDataDescriptor xDesc)
    {
        if (_slots.TryGetValue(xDesc, out var slot))
        {
            _lru.Remove(slot.Node);
            _lru.AddFirst(slot.Node);
            return slot;
        }
        if (_slots.Count >= MaxCachedPlans)
        {
            var old = _lru.Last!;
            _lru.RemoveLast();
            _slots.Remove(old.Value, out var evicted);
            if (ReferenceEquals(evicted, _last)) _last = null;
            evicted!.Dispose();
        }
        slot = new Slot(this, xDesc);
        _slots[xDesc] = slot;
        _lru.AddFirst(slot.Node);
        return slot;
    }

    private void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(_disposed, this);

    /// <inheritdoc/>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        foreach (var s in _slots.Values) s.Dispose();
        _slots.Clear();
        Weights.Dispose();
        WeightGradients.Dispose();
    }

    /// <summary>One data shape: its plans (training and, with dropout, an inference one without dropout) and buffers.</summary>
    private sealed class Slot : IDisposable
    {
        public Slot(RnnLayer<T> owner, RnnDataDescriptor xDesc)
        {
            var e = owner.Engine;
            TrainPlan = e.CreatePlan<T>(owner.Descriptor, xDesc);
            InferPlan = ReferenceEquals(owner._inference, owner.Descriptor) ? TrainPlan : e.CreatePlan<T>(owner._inference, xDesc);
            Node = new LinkedListNode<RnnDataDescriptor>(xDesc);
            X = e.Allocate<T>(xDesc.ElementCount);
            Dx = e.Allocate<T>(xDesc.ElementCount);
            Y = e.Allocate<T>(TrainPlan.YDesc.ElementCount);
            Dy = e.Allocate<T>(TrainPlan.YDesc.ElementCount);
            Hx = e.Allocate<T>(TrainPlan.HiddenStateElements);
            Hy = e.Allocate<T>(TrainPlan.HiddenStateElements);
            Dhy = e.Allocate<T>(TrainPlan.HiddenStateElements);
            Dhx = e.Allocate<T>(TrainPlan.HiddenStateElements);
            if (owner.Descriptor.Mode == RnnMode.Lstm)
            {
                Cx = e.Allocate<T>(TrainPlan.CellStateElements);
                Cy = e.Allocate<T>(TrainPlan.CellStateElements);
                Dcy = e.Allocate<T>(TrainPlan.CellStateElements);
                Dcx = e.Allocate<T>(TrainPlan.CellStateElements);
            }
            Reserve = TrainPlan.CreateReserve();
        }

        public RnnPlan<T> TrainPlan { get; }
        public RnnPlan<T> InferPlan { get; }
        public LinkedListNode<RnnDataDescriptor> Node { get; }
        public RnnBuffer<T> X { get; }
        public RnnBuffer<T> Dx { get; }
        public RnnBuffer<T> Y { get; }
        public RnnBuffer<T> Dy { get; }
        public RnnBuffer<T> Hx { get; }
        public RnnBuffer<T> Hy { get; }
        public RnnBuffer<T> Dhy { get; }
        public RnnBuffer<T> Dhx { get; }
        public RnnBuffer<T>? Cx { get; }
        public RnnBuffer<T>? Cy { get; }
        public RnnBuffer<T>? Dcy { get; }
        public RnnBuffer<T>? Dcx { get; }
        public RnnReserve<T> Reserve { get; }
        public bool HasHx { get; set; }
        public bool HasCx { get; set; }

        public void Dispose()
        {
            Reserve.Dispose();
            if (!ReferenceEquals(InferPlan, TrainPlan)) InferPlan.Dispose();
            TrainPlan.Dispose();
            foreach (var b in new[] { X, Dx, Y, Dy, Hx, Hy, Dhy, Dhx, Cx, Cy, Dcy, Dcx }) b?.Dispose();
        }
    }
}
