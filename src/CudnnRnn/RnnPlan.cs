using System.Numerics;

namespace CudnnRnn;

/// <summary>
/// One network on one data shape, on one engine: cuDNN's RNN descriptor + data descriptors + workspace, with its three
/// calls. The shape is the data descriptor's layout, maxSeqLength, batch, vector size and padding fill; each call may
/// pass its own descriptor of that shape with other lengths (RnnPlan.Lengths.cs), and workspace and reserve are sized
/// for the worst case of the shape. Every argument is validated here, identically for every engine, before any engine
/// work starts. A plan is not thread-safe: a call made while another call on the same plan is running (from another
/// thread) throws <see cref="InvalidOperationException"/> instead of sharing the plan's workspace; use one plan per thread.
/// </summary>
/// <remarks>
/// Buffers: x [xDesc.ElementCount] and y [the same with the output vector size] of the call's descriptor, hx/hy/dhx/dhy [NumLayers·NumDirections · Batch · StateSize],
/// cx/cy/dcx/dcy [NumLayers·NumDirections · Batch · HiddenSize] (LSTM only), weights [WeightLayout.TotalElements].
/// hx, cx, dhy and dcy may be null (zeros); hy, cy, dhx and dcx may be null (not written). The batch index of
/// hx/hy/cx/cy is the batch order of the data descriptor.
/// Aliasing: no engine computes in place. An output buffer (y, hy, cy; dx, dhx, dcx; dweights) must not be an input of
/// the same call, another output, the reserve's storage, or (for dweights) the weights the reserve's forward used; such a
/// call throws <see cref="ArgumentException"/> naming both arguments. Inputs may share a buffer (they are only read).
/// </remarks>
public abstract partial class RnnPlan<T> : IDisposable where T : unmanaged, IFloatingPointIeee754<T>
{
    private int _disposed;
    private int _busy;
    private readonly RnnBuffer<T>?[] _held = new RnnBuffer<T>?[12];
    private int _heldCount;
    private ulong _trainingForwards;

    /// <summary>Validates the shape and sets up the common part of a plan.</summary>
    protected RnnPlan(IRnnEngine engine, RnnDescriptor rnn, RnnDataDescriptor xDesc, RnnWeightLayout weightLayout)
    {
        ArgumentNullException.ThrowIfNull(engine);
        ArgumentNullException.ThrowIfNull(rnn);
        ArgumentNullException.ThrowIfNull(xDesc);
        ArgumentNullException.ThrowIfNull(weightLayout);
        var dt = RnnDescriptor.DataTypeOf<T>();
        if (dt != rnn.DataType)
            throw new ArgumentException($"The plan's element type is {typeof(T).Name} ({dt}), but the descriptor says {rnn.DataType}.", nameof(rnn));
        if (xDesc.VectorSize != rnn.InputSize)
            throw new ArgumentException($"xDesc.VectorSize is {xDesc.VectorSize}; expected the network's inputSize {rnn.InputSize}.", nameof(xDesc));
        if (!ReferenceEquals(weightLayout.Descriptor, rnn) && !weightLayout.Descriptor.Equals(rnn))
            throw new ArgumentException("The weight layout belongs to another network descriptor.", nameof(weightLayout));
        // Every buffer count must be a valid 64-bit element count (engines with a smaller reach check theirs first).
        RnnPlanLimits.ThrowIfBeyond(rnn, xDesc, RnnDataDescriptor.MaxElementCount, engine.Name,
            "element counts × 8 bytes must fit a signed 64-bit byte offset", includeReferenceReserve: false);
        Engine = engine;
        Rnn = rnn;
        XDesc = xDesc;
        YDesc = xDesc.WithVectorSize(rnn.OutputSize);
        WeightLayout = weightLayout;
    }

    /// <summary>The engine that runs this plan.</summary>
    public IRnnEngine Engine { get; }
    /// <summary>The network.</summary>
    public RnnDescriptor Rnn { get; }
    /// <summary>Input data shape.</summary>
    public RnnDataDescriptor XDesc { get; }
    /// <summary>Output data shape: XDesc with vector size NumDirections × StateSize.</summary>
    public RnnDataDescriptor YDesc { get; }
    /// <summary>The weight-space layout.</summary>
    public RnnWeightLayout WeightLayout { get; }
    /// <summary>Elements of hx, hy, dhx, dhy.</summary>
    public long HiddenStateElements => (long)Rnn.PseudoLayerCount * XDesc.Batch * Rnn.StateSize;
    /// <summary>Elements of cx, cy, dcx, dcy (0 unless LSTM).</summary>
    public long CellStateElements => Rnn.Mode == RnnMode.Lstm ? (long)Rnn.PseudoLayerCount * XDesc.Batch * Rnn.HiddenSize : 0;
    /// <summary>Workspace bytes this plan holds (allocated once, reused by every call).</summary>
    public abstract long WorkspaceBytes { get; }
    /// <summary>Bytes of one reserve space (what a training forward saves for backward).</summary>
    public abstract long ReserveBytes { get; }
    /// <summary>True after <see cref="Dispose()"/>.</summary>
    public bool IsDisposed => Volatile.Read(ref _disposed) != 0;

    /// <summary>Allocates a reserve space for this plan's training forward and backward calls.</summary>
    public RnnReserve<T> CreateReserve()
    {
        ThrowIfDisposed();
        return new RnnReserve<T>(this, AllocateReserveStorage());
    }

    /// <summary>Forward pass. Training fills <paramref name="reserve"/>; inference needs none (pass null).</summary>
    /// <param name="mode">Inference or training.</param>
    /// <param name="xDesc">This call's data: the plan's shape (<see cref="CheckShape"/>) with this call's lengths.</param>
    /// <param name="x">Input.</param><param name="y">Output.</param><param name="hx">Initial hidden state, or null.</param>
    /// <param name="hy">Final hidden state, or null.</param><param name="cx">Initial cell state, or null.</param>
    /// <param name="cy">Final cell state, or null.</param><param name="weights">Weights.</param>
    /// <param name="reserve">Training: the reserve to fill (it remembers <paramref name="xDesc"/>); inference: null.</param>
    public void Forward(RnnForwardMode mode, RnnDataDescriptor xDesc, RnnBuffer<T> x, RnnBuffer<T> y, RnnBuffer<T>? hx, RnnBuffer<T>? hy,
        RnnBuffer<T>? cx, RnnBuffer<T>? cy, RnnBuffer<T> weights, RnnReserve<T>? reserve)
    {
        ThrowIfDisposed();
        Enter();
        try { ForwardChecked(mode, xDesc, x, y, hx, hy, cx, cy, weights, reserve); }
        finally { Exit(); }
    }

    private void ForwardChecked(RnnForwardMode mode, RnnDataDescriptor xDesc, RnnBuffer<T> x, RnnBuffer<T> y, RnnBuffer<T>? hx, RnnBuffer<T>? hy,
        RnnBuffer<T>? cx, RnnBuffer<T>? cy, RnnBuffer<T> weights, RnnReserve<T>? reserve)
    {
        if (!Enum.IsDefined(mode))
            throw new ArgumentOutOfRangeException(nameof(mode), mode, "Expected Inference or Training.");
        CheckShape(xDesc);
        CheckData(x, xDesc, Rnn.InputSize, nameof(x));
        CheckData(y, xDesc, Rnn.OutputSize, nameof(y));
        CheckState(hx, HiddenStateElements, nameof(hx));
        CheckState(hy, HiddenStateElements, nameof(hy));
        CheckCell(cx, nameof(cx));
        CheckCell(cy, nameof(cy));
        CheckWeights(weights, nameof(weights));
        if (reserve is not null) CheckReserve(reserve);
        var storage = mode == RnnForwardMode.Training ? reserve?.Storage : null;
        CheckOutput(y, nameof(y), x, nameof(x), hx, nameof(hx), cx, nameof(cx), weights, nameof(weights), storage);
        CheckOutput(hy, nameof(hy), x, nameof(x), hx, nameof(hx), cx, nameof(cx), weights, nameof(weights), storage, y, nameof(y));
        CheckOutput(cy, nameof(cy), x, nameof(x), hx, nameof(hx), cx, nameof(cx), weights, nameof(weights), storage, y, nameof(y), hy, nameof(hy));
        CheckInputNotReserve(storage, x, nameof(x), hx, nameof(hx), cx, nameof(cx), weights, nameof(weights));
        if (mode == RnnForwardMode.Training)
        {
            if (reserve is null)
                throw new ArgumentNullException(nameof(reserve), "A training forward needs a reserve space (plan.CreateReserve()) to save what backward needs.");
            reserve.State = RnnReserveState.Empty;
            reserve.Weights = null;
            reserve.DropoutCounter = _trainingForwards++;
            reserve.XDesc = xDesc;
            Hold(x, y, hx, hy, cx, cy, weights, reserve.Storage);
            ForwardCore(mode, xDesc, x, y, hx, hy, cx, cy, weights, reserve);
            reserve.Weights = weights;
            reserve.State = RnnReserveState.ForwardDone;
        }
        else
        {
            Hold(x, y, hx, hy, cx, cy, weights, null);
            ForwardCore(mode, xDesc, x, y, hx, hy, cx, cy, weights, null);
        }
    }

    /// <summary>
    /// Backward data: from y, dy (and optional dhy/dcy) computes dx and optional dhx/dcx. Needs the reserve of a training
    /// forward; it updates the reserve for <c>BackwardWeights</c> (as cuDNN does), so call it once per forward.
    /// </summary>
    /// <param name="xDesc">This call's data: the lengths of the training forward that filled <paramref name="reserve"/>.</param>
    /// <param name="y">Forward output.</param><param name="dy">Output gradient.</param><param name="dx">Input gradient (written).</param>
    /// <param name="hx">Initial hidden state of the forward, or null.</param><param name="dhy">Gradient of hy, or null.</param>
    /// <param name="dhx">Gradient of hx (written), or null.</param><param name="cx">Initial cell state, or null.</param>
    /// <param name="dcy">Gradient of cy, or null.</param><param name="dcx">Gradient of cx (written), or null.</param>
    /// <param name="weights">Weights.</param><param name="reserve">The reserve of the training forward.</param>
    public void BackwardData(RnnDataDescriptor xDesc, RnnBuffer<T> y, RnnBuffer<T> dy, RnnBuffer<T> dx, RnnBuffer<T>? hx, RnnBuffer<T>? dhy,
        RnnBuffer<T>? dhx, RnnBuffer<T>? cx, RnnBuffer<T>? dcy, RnnBuffer<T>? dcx, RnnBuffer<T> weights, RnnReserve<T> reserve)
    {
        ThrowIfDisposed();
        Enter();
        try { BackwardDataChecked(xDesc, y, dy, dx, hx, dhy, dhx, cx, dcy, dcx, weights, reserve); }
        finally { Exit(); }
    }

    private void BackwardDataChecked(RnnDataDescriptor xDesc, RnnBuffer<T> y, RnnBuffer<T> dy, RnnBuffer<T> dx, RnnBuffer<T>? hx, RnnBuffer<T>? dhy,
        RnnBuffer<T>? dhx, RnnBuffer<T>? cx, RnnBuffer<T>? dcy, RnnBuffer<T>? dcx, RnnBuffer<T> weights, RnnReserve<T> reserve)
    {
        CheckShape(xDesc);
        CheckData(y, xDesc, Rnn.OutputSize, nameof(y));
        CheckData(dy, xDesc, Rnn.OutputSize, nameof(dy));
        CheckData(dx, xDesc, Rnn.InputSize, nameof(dx));
        CheckState(hx, HiddenStateElements, nameof(hx));
        CheckState(dhy, HiddenStateElements, nameof(dhy));
        CheckState(dhx, HiddenStateElements, nameof(dhx));
        CheckCell(cx, nameof(cx));
        CheckCell(dcy, nameof(dcy));
        CheckCell(dcx, nameof(dcx));
        CheckWeights(weights, nameof(weights));
        ArgumentNullException.ThrowIfNull(reserve);
        CheckReserve(reserve);
        if (reserve.State == RnnReserveState.Empty)
            throw new InvalidOperationException("BackwardData needs the reserve space of a training forward; this reserve holds none (was the forward an inference forward?).");
        if (reserve.State == RnnReserveState.BackwardDataDone)
            throw new InvalidOperationException("BackwardData was already called on this reserve; it consumes the saved forward state. Run a training forward again.");
        CheckReserveLengths(xDesc, reserve);
        var st = reserve.Storage;
        CheckOutput(dx, nameof(dx), y, nameof(y), dy, nameof(dy), hx, nameof(hx), weights, nameof(weights), st, dhy, nameof(dhy), cx, nameof(cx), dcy, nameof(dcy));
        CheckOutput(dhx, nameof(dhx), y, nameof(y), dy, nameof(dy), hx, nameof(hx), weights, nameof(weights), st, dhy, nameof(dhy), cx, nameof(cx), dcy, nameof(dcy), dx, nameof(dx));
        CheckOutput(dcx, nameof(dcx), y, nameof(y), dy, nameof(dy), hx, nameof(hx), weights, nameof(weights), st, dhy, nameof(dhy), cx, nameof(cx), dcy, nameof(dcy), dx, nameof(dx), dhx, nameof(dhx));
        CheckInputNotReserve(st, y, nameof(y), dy, nameof(dy), hx, nameof(hx), weights, nameof(weights), dhy, nameof(dhy), cx, nameof(cx), dcy, nameof(dcy));
        Hold(y, dy, dx, hx, dhy, dhx, cx, dcy, dcx, weights, st);
        BackwardDataCore(xDesc, y, dy, dx, hx, dhy, dhx, cx, dcy, dcx, weights, reserve);
        reserve.State = RnnReserveState.BackwardDataDone;
    }

    /// <summary>
    /// Backward weights: adds (<see cref="WeightGradMode.Add"/>, cuDNN's mode) or writes (<see cref="WeightGradMode.Set"/>)
    /// the weight gradients into <paramref name="dweights"/>. Must follow <c>BackwardData</c> on the same reserve.
    /// </summary>
    /// <param name="mode">Add or Set.</param>
    /// <param name="xDesc">This call's data: the lengths of the training forward that filled <paramref name="reserve"/>.</param>
    /// <param name="x">Forward input.</param><param name="hx">Initial hidden state of the forward, or null.</param>
    /// <param name="y">Forward output.</param><param name="dweights">Weight gradients (added to or written).</param>
    /// <param name="reserve">The reserve, after <c>BackwardData</c>.</param>
    public void BackwardWeights(WeightGradMode mode, RnnDataDescriptor xDesc, RnnBuffer<T> x, RnnBuffer<T>? hx, RnnBuffer<T> y, RnnBuffer<T> dweights,
        RnnReserve<T> reserve)
    {
        ThrowIfDisposed();
        Enter();
        try { BackwardWeightsChecked(mode, xDesc, x, hx, y, dweights, reserve); }
        finally { Exit(); }
    }

    private void BackwardWeightsChecked(WeightGradMode mode, RnnDataDescriptor xDesc, RnnBuffer<T> x, RnnBuffer<T>? hx, RnnBuffer<T> y, RnnBuffer<T> dweights,
        RnnReserve<T> reserve)
    {
        if (!Enum.IsDefined(mode))
            throw new ArgumentOutOfRangeException(nameof(mode), mode, "Expected Add or Set.");
        CheckShape(xDesc);
        CheckData(x, xDesc, Rnn.InputSize, nameof(x));
        CheckState(hx, HiddenStateElements, nameof(hx));
        CheckData(y, xDesc, Rnn.OutputSize, nameof(y));
        CheckWeights(dweights, nameof(dweights));
        ArgumentNullException.ThrowIfNull(reserve);
        CheckReserve(reserve);
        if (reserve.State != RnnReserveState.BackwardDataDone)
            throw new InvalidOperationException(reserve.State == RnnReserveState.Empty
                ? "BackwardWeights needs a training forward and then BackwardData on this reserve; it holds no training forward."
                : "BackwardWeights must come after BackwardData (which leaves the gate gradients in the reserve); call BackwardData first.");
        CheckReserveLengths(xDesc, reserve);
        CheckOutput(dweights, nameof(dweights), x, nameof(x), hx, nameof(hx), y, nameof(y), reserve.Weights, "weights", reserve.Storage);
        CheckInputNotReserve(reserve.Storage, x, nameof(x), hx, nameof(hx), y, nameof(y), null, "");
        Hold(x, hx, y, dweights, reserve.Storage);
        if (mode == WeightGradMode.Set) dweights.Clear();
        BackwardWeightsCore(xDesc, x, hx, y, dweights, reserve);
    }

    /// <summary>Engine part of <c>Forward</c>; arguments are already validated.</summary>
    protected abstract void ForwardCore(RnnForwardMode mode, RnnDataDescriptor xDesc, RnnBuffer<T> x, RnnBuffer<T> y, RnnBuffer<T>? hx, RnnBuffer<T>? hy,
        RnnBuffer<T>? cx, RnnBuffer<T>? cy, RnnBuffer<T> weights, RnnReserve<T>? reserve);

    /// <summary>Engine part of <c>BackwardData</c>; arguments are already validated.</summary>
    protected abstract void BackwardDataCore(RnnDataDescriptor xDesc, RnnBuffer<T> y, RnnBuffer<T> dy, RnnBuffer<T> dx, RnnBuffer<T>? hx, RnnBuffer<T>? dhy,
        RnnBuffer<T>? dhx, RnnBuffer<T>? cx, RnnBuffer<T>? dcy, RnnBuffer<T>? dcx, RnnBuffer<T> weights, RnnReserve<T> reserve);

    /// <summary>Engine part of <c>BackwardWeights</c>, always accumulating (Set mode has cleared dweights).</summary>
    protected abstract void BackwardWeightsCore(RnnDataDescriptor xDesc, RnnBuffer<T> x, RnnBuffer<T>? hx, RnnBuffer<T> y, RnnBuffer<T> dweights, RnnReserve<T> reserve);

    /// <summary>Allocates the engine memory of one reserve space.</summary>
    protected abstract RnnBuffer<T> AllocateReserveStorage();

    /// <summary>Whether a buffer lives in memory this plan can use. Default: allocated by the same engine object.</summary>
    protected virtual bool Accepts(RnnBuffer<T> buffer) => ReferenceEquals(buffer.Engine, Engine);

    /// <summary>Frees engine resources; called once.</summary>
    protected virtual void DisposeCore() { }

    /// <summary>Throws when disposed.</summary>
    protected void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(IsDisposed, this);

    /// <inheritdoc/>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        DisposeCore();
        GC.SuppressFinalize(this);
    }

    /// <summary>Marks the plan busy; a second call while one runs (another thread) is refused, not raced.</summary>
    private void Enter()
    {
        if (Interlocked.CompareExchange(ref _busy, 1, 0) != 0)
            throw new InvalidOperationException(
                $"This plan ({Rnn} on {XDesc.Layout} T={XDesc.MaxSeqLength} B={XDesc.Batch}) is already running a call on another thread. " +
                "A plan owns one workspace and is not thread-safe: create one plan per thread (plans of one engine may run concurrently where the engine allows).");
    }

    private void Exit()
    {
        ReleaseHeld();
        Volatile.Write(ref _busy, 0);
    }

    /// <summary>
    /// Takes a reference on the memory of every buffer of the call (<see cref="RnnBuffer{T}.AcquireForCall"/>) until
    /// <see cref="Exit"/>, so a buffer disposed on another thread mid-call is freed after the call, never under it.
    /// </summary>
    private void Hold(RnnBuffer<T>? a, RnnBuffer<T>? b, RnnBuffer<T>? c, RnnBuffer<T>? d, RnnBuffer<T>? e, RnnBuffer<T>? f,
        RnnBuffer<T>? g, RnnBuffer<T>? h, RnnBuffer<T>? i = null, RnnBuffer<T>? j = null, RnnBuffer<T>? k = null)
    {
        Hold(a); Hold(b); Hold(c); Hold(d); Hold(e); Hold(f); Hold(g); Hold(h); Hold(i); Hold(j); Hold(k);
    }

    private void Hold(RnnBuffer<T>? a, RnnBuffer<T>? b, RnnBuffer<T>? c, RnnBuffer<T>? d, RnnBuffer<T>? e)
    {
        Hold(a); Hold(b); Hold(c); Hold(d); Hold(e);
    }

    private void Hold(RnnBuffer<T>? buffer)
    {
        if (buffer is null) return;
        for (int n = 0; n < _heldCount; n++)
            if (ReferenceEquals(_held[n], buffer)) return; // an input passed twice is held once
        buffer.AcquireForCall();
        _held[_heldCount++] = buffer;
    }

    private void ReleaseHeld()
    {
        for (int n = _heldCount - 1; n >= 0; n--)
        {
            var b = _held[n]!;
            _held[n] = null;
            b.ReleaseAfterCall();
        }
        _heldCount = 0;
    }

    /// <summary>
    /// Refuses an output that shares memory with an input, an earlier output or the reserve storage (no engine computes
    /// in place: the output would overwrite what is still to be read). Allocation-free: pairs, not a params array.
    /// </summary>
    private static void CheckOutput(RnnBuffer<T>? output, string name,
        RnnBuffer<T>? a, string aName, RnnBuffer<T>? b, string bName, RnnBuffer<T>? c, string cName, RnnBuffer<T>? d, string dName,
        RnnBuffer<T>? reserveStorage,
        RnnBuffer<T>? e = null, string eName = "", RnnBuffer<T>? f = null, string fName = "", RnnBuffer<T>? g = null, string gName = "",
        RnnBuffer<T>? h = null, string hName = "", RnnBuffer<T>? i = null, string iName = "")
    {
        if (output is null) return;
        Distinct(output, name, a, aName);
        Distinct(output, name, b, bName);
        Distinct(output, name, c, cName);
        Distinct(output, name, d, dName);
        Distinct(output, name, reserveStorage, "reserve.Storage");
        Distinct(output, name, e, eName);
        Distinct(output, name, f, fName);
        Distinct(output, name, g, gName);
        Distinct(output, name, h, hName);
        Distinct(output, name, i, iName);
    }

    /// <summary>The reserve's storage is the engine's own; passing it as an input of the same call is refused too.</summary>
    private static void CheckInputNotReserve(RnnBuffer<T>? storage, RnnBuffer<T>? a, string aName, RnnBuffer<T>? b, string bName,
        RnnBuffer<T>? c, string cName, RnnBuffer<T>? d, string dName,
        RnnBuffer<T>? e = null, string eName = "", RnnBuffer<T>? f = null, string fName = "", RnnBuffer<T>? g = null, string gName = "")
    {
        if (storage is null) return;
        Distinct(a, aName, storage, "reserve.Storage");
        Distinct(b, bName, storage, "reserve.Storage");
        Distinct(c, cName, storage, "reserve.Storage");
        Distinct(d, dName, storage, "reserve.Storage");
        Distinct(e, eName, storage, "reserve.Storage");
        Distinct(f, fName, storage, "reserve.Storage");
        Distinct(g, gName, storage, "reserve.Storage");
    }

    private static void Distinct(RnnBuffer<T>? first, string firstName, RnnBuffer<T>? second, string secondName)
    {
        if (first is null || second is null || !first.SharesMemoryWith(second)) return;
        throw new ArgumentException(
            $"'{firstName}' and '{secondName}' are the same memory{(ReferenceEquals(first, second) ? " (the same buffer object)" : " (two buffers over one array)")}. " +
            $"'{firstName}' is written by this call while '{secondName}' is still needed, and no engine computes in place: pass separate buffers.",
            firstName);
    }

    /// <summary>Checks one buffer; the description of what was expected is only formatted on failure (no allocation per call).</summary>
    private void CheckBuffer(RnnBuffer<T> b, long expected, string name, Func<RnnPlan<T>, string> what)
    {
        if (b.IsDisposed) throw new ObjectDisposedException(name, $"Buffer '{name}' has been disposed.");
        if (!Accepts(b))
            throw new ArgumentException($"Buffer '{name}' belongs to the {b.Engine.Name} engine ({b.Engine.DeviceDescription}); this plan runs on {Engine.Name} ({Engine.DeviceDescription}).", name);
        if (b.Length != expected)
            throw new ArgumentException($"Buffer '{name}' has {b.Length} elements; expected {expected} ({what(this)}).", name);
    }

    /// <summary>Checks a data buffer of this call (x, dx: the input width; y, dy: the output width).</summary>
    private void CheckData(RnnBuffer<T> b, RnnDataDescriptor desc, int vectorSize, string name)
    {
        ArgumentNullException.ThrowIfNull(b, name);
        long expected = CallVectors(desc) * vectorSize;
        if (b.Length != expected && !b.IsDisposed && Accepts(b))
            throw new ArgumentException($"Buffer '{name}' has {b.Length} elements; expected {expected} ({desc.Layout} T={desc.MaxSeqLength} B={desc.Batch} V={vectorSize}, lengths [{string.Join(",", desc.SeqLengthArray)}]).", name);
        CheckBuffer(b, expected, name, static _ => "");
    }

    private void CheckState(RnnBuffer<T>? b, long expected, string name)
    {
        if (b is null) return;
        CheckBuffer(b, expected, name, static p => $"[{p.Rnn.PseudoLayerCount}, {p.XDesc.Batch}, {p.Rnn.StateSize}]");
    }

    private void CheckCell(RnnBuffer<T>? b, string name)
    {
        if (b is null) return;
        if (Rnn.Mode != RnnMode.Lstm)
            throw new ArgumentException($"'{name}' is a cell state, which exists for Lstm only (mode is {Rnn.Mode}); pass null.", name);
        CheckBuffer(b, CellStateElements, name, static p => $"[{p.Rnn.PseudoLayerCount}, {p.XDesc.Batch}, {p.Rnn.HiddenSize}]");
    }

    private void CheckWeights(RnnBuffer<T> b, string name)
    {
        ArgumentNullException.ThrowIfNull(b, name);
        CheckBuffer(b, WeightLayout.TotalElements, name, static _ => "the weight layout's TotalElements");
    }

    private void CheckReserve(RnnReserve<T> reserve)
    {
        if (reserve.IsDisposed) throw new ObjectDisposedException(nameof(reserve), "The reserve space has been disposed.");
        if (!ReferenceEquals(reserve.Plan, this))
        {
            var other = reserve.Plan;
            string why = !other.Rnn.Equals(Rnn) ? $"its network is {other.Rnn}, this plan's is {Rnn}"
                : ShapeDifference(other.XDesc) is { } diff ? $"its data shape is different ({diff})"
                : "it was created by another plan of the same shape";
            throw new ArgumentException($"The reserve space belongs to another plan: {why}. Use this plan's CreateReserve().", nameof(reserve));
        }
    }
}
