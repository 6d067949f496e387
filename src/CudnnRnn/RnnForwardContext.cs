using System.Numerics;

namespace CudnnRnn;

/// <summary>Host copies of a forward's outputs (<see cref="RnnForwardContext{T}.ReadOutputs"/>).</summary>
/// <param name="Y">Output, YDesc layout ([T, B, D·S] for seq-major unpacked).</param>
/// <param name="Hy">Final hidden state [L·D, B, S].</param>
/// <param name="Cy">Final cell state [L·D, B, H] (LSTM), else empty.</param>
/// <param name="YDesc">Shape of <paramref name="Y"/>.</param>
public sealed record RnnOutput<T>(T[] Y, T[] Hy, T[] Cy, RnnDataDescriptor YDesc);

/// <summary>
/// What one <see cref="RnnLayer{T}"/> forward produced and what its backward needs: the outputs y, hy, cy in engine
/// memory, the reserve space of a training forward, and references to the inputs. Several contexts may be alive at once
/// (weight sharing, siamese networks, truncated BPTT with hy fed back as hx); each is backpropagated at most once, in
/// any order.
/// </summary>
/// <remarks>
/// <para>Lifetime: dispose a context when done with it; its engine memory goes back to the layer's pool (bounded per data
/// shape, see <see cref="RnnLayer{T}.MaxPooledContextsPerShape"/>) for the next forward. A context that is never disposed
/// leaks nothing: its buffers are freed with it (managed arrays on the CPU engine, SafeHandle-owned device memory on GPU
/// engines) and only the pool misses one reuse. Its outputs are invalid after dispose.</para>
/// <para>Inputs given as engine buffers are referenced, not copied: x, hx and cx must not change between the forward and
/// the backward. Changes through <see cref="RnnBuffer{T}.Write"/>, <see cref="RnnBuffer{T}.Fill"/> or
/// <see cref="RnnBuffer{T}.MarkModified"/> are detected (the backward throws); writes through a raw span or device
/// pointer are not, so call <see cref="RnnBuffer{T}.MarkModified"/> after such a write. The layer's weights are checked
/// the same way.</para>
/// </remarks>
public sealed class RnnForwardContext<T> : IDisposable where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly RnnLayer<T> _layer;
    private ContextStorage<T>? _storage;

    private RnnDataDescriptor? _yDesc;

    internal RnnForwardContext(RnnLayer<T> layer, RnnLayerShape<T> shape, ContextStorage<T> storage, bool training,
        RnnDataDescriptor xDesc, RnnBuffer<T> x, RnnBuffer<T>? hx, RnnBuffer<T>? cx, long weightsVersion)
    {
        _layer = layer;
        _storage = storage;
        Shape = shape;
        XDesc = xDesc;
        IsTraining = training;
        X = x;
        Hx = hx;
        Cx = cx;
        XVersion = x.Version;
        HxVersion = hx?.Version ?? 0;
        CxVersion = cx?.Version ?? 0;
        WeightsVersion = weightsVersion;
    }

    /// <summary>Shape and lengths of x in this forward (the backward uses these lengths).</summary>
    public RnnDataDescriptor XDesc { get; }
    /// <summary>Shape and lengths of y (created on first use).</summary>
    public RnnDataDescriptor YDesc => _yDesc ??= XDesc.WithVectorSize(Shape.TrainPlan.Rnn.OutputSize);
    /// <summary>Whether this was a training forward (one that can be backpropagated).</summary>
    public bool IsTraining { get; }
    /// <summary>Whether <see cref="RnnLayer{T}.Backward(RnnForwardContext{T}, RnnBuffer{T}?, RnnBuffer{T}?, RnnBuffer{T}?, RnnBuffer{T}?, RnnBuffer{T}?, RnnBuffer{T}?)"/> has consumed it.</summary>
    public bool IsBackpropagated { get; internal set; }
    /// <summary>True after <see cref="Dispose"/>.</summary>
    public bool IsDisposed => _storage is null;

    /// <summary>Output y in <see cref="YDesc"/>'s layout (engine memory owned by the context).</summary>
    public RnnBuffer<T> Y => Storage.Y;
    /// <summary>Final hidden state [L·D, B, S] (engine memory owned by the context).</summary>
    public RnnBuffer<T> Hy => Storage.Hy;
    /// <summary>Final cell state [L·D, B, H] (LSTM), else null.</summary>
    public RnnBuffer<T>? Cy => Storage.Cy;

    /// <summary>Copies y, hy and cy to new host arrays (a convenience for host code; allocates).</summary>
    public RnnOutput<T> ReadOutputs() => new(Y.ToArray(), Hy.ToArray(), Cy?.ToArray() ?? [], YDesc);

    internal RnnLayerShape<T> Shape { get; }
    internal ContextStorage<T> Storage
    {
        get
        {
            ObjectDisposedException.ThrowIf(_storage is null, this);
            return _storage;
        }
    }
    internal RnnBuffer<T> X { get; }
    internal RnnBuffer<T>? Hx { get; }
    internal RnnBuffer<T>? Cx { get; }
    internal long XVersion { get; }
    internal long HxVersion { get; }
    internal long CxVersion { get; }
    internal long WeightsVersion { get; }
    internal bool BelongsTo(RnnLayer<T> layer) => ReferenceEquals(layer, _layer);

    /// <summary>Returns the context's memory to the layer's pool. Disposing twice is harmless.</summary>
    public void Dispose()
    {
        var s = Interlocked.Exchange(ref _storage, null);
        if (s is null) return;
        _layer.Return(Shape, s);
    }

    /// <inheritdoc/>
    public override string ToString() =>
        $"RnnForwardContext<{typeof(T).Name}>({(IsTraining ? "training" : "inference")}, {XDesc}{(IsBackpropagated ? ", backpropagated" : "")}{(IsDisposed ? ", disposed" : "")})";
}

/// <summary>The engine memory one forward context owns; pooled per data shape by the layer.</summary>
internal sealed class ContextStorage<T> : IDisposable where T : unmanaged, IFloatingPointIeee754<T>
{
    public ContextStorage(IRnnEngine e, RnnPlan<T> plan, long yElements)
    {
        Y = e.Allocate<T>(yElements);
        Hy = e.Allocate<T>(plan.HiddenStateElements);
        if (plan.CellStateElements > 0) Cy = e.Allocate<T>(plan.CellStateElements);
    }

    public RnnBuffer<T> Y { get; }
    public RnnBuffer<T> Hy { get; }
    public RnnBuffer<T>? Cy { get; }
    /// <summary>The reserve of a training forward (allocated on first training use).</summary>
    public RnnReserve<T>? Reserve { get; set; }
    /// <summary>Copies of host inputs (allocated on first host-span forward).</summary>
    public RnnBuffer<T>? HostX { get; set; }
    public RnnBuffer<T>? HostHx { get; set; }
    public RnnBuffer<T>? HostCx { get; set; }

    public void Dispose()
    {
        Reserve?.Dispose();
        Y.Dispose();
        Hy.Dispose();
        Cy?.Dispose();
        HostX?.Dispose();
        HostHx?.Dispose();
        HostCx?.Dispose();
    }
}
