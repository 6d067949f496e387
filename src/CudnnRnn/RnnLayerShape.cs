using System.Numerics;

namespace CudnnRnn;

/// <summary>
/// One data shape of an <see cref="RnnLayer{T}"/>: its plans (training and, with dropout, an inference plan without
/// dropout), a bounded pool of context storage, and scratch buffers a backward uses for arguments the caller left out
/// (a zero dy, a dx nobody reads). Owned by the layer; disposed on eviction or with the layer.
/// </summary>
internal sealed class RnnLayerShape<T> : IDisposable where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly Stack<ContextStorage<T>> _free = new();
    private readonly int _maxPooled;
    private RnnBuffer<T>? _zeroDy, _scratchDx;
    private bool _disposed;

    public RnnLayerShape(RnnLayer<T> owner, RnnDataDescriptor xDesc, RnnDataShape key, RnnDescriptor inference, int maxPooled)
    {
        var e = owner.Engine;
        XDesc = xDesc;
        _maxPooled = maxPooled;
        TrainPlan = e.CreatePlan<T>(owner.Descriptor, xDesc);
        try
        {
            InferPlan = ReferenceEquals(inference, owner.Descriptor) ? TrainPlan : e.CreatePlan<T>(inference, xDesc);
        }
        catch
        {
            TrainPlan.Dispose();
            throw;
        }
        Node = new LinkedListNode<RnnDataShape>(key);
    }

    /// <summary>The descriptor the plans were created with (its lengths are only the first call's).</summary>
    public RnnDataDescriptor XDesc { get; }
    public RnnPlan<T> TrainPlan { get; }
    public RnnPlan<T> InferPlan { get; }
    public LinkedListNode<RnnDataShape> Node { get; }
    /// <summary>Contexts of this shape not yet disposed (they keep the shape alive after eviction).</summary>
    public int LiveContexts { get; set; }
    /// <summary>Evicted from the layer's cache: dispose once the last live context returns.</summary>
    public bool Evicted { get; set; }
    public int PooledCount => _free.Count;

    /// <summary>Storage for a call with <paramref name="xDesc"/>'s lengths (packed y is sized by them: reallocated when it differs).</summary>
    public ContextStorage<T> Rent(IRnnEngine engine, RnnDataDescriptor xDesc)
    {
        long yElements = RnnDataShape.Vectors(xDesc) * TrainPlan.Rnn.OutputSize;
        var s = _free.Count > 0 ? _free.Pop() : null;
        if (s is not null && s.Y.Length != yElements) { s.Dispose(); s = null; }
        s ??= new ContextStorage<T>(engine, TrainPlan, yElements);
        LiveContexts++;
        return s;
    }

    /// <summary>Takes storage back; keeps it for reuse unless the pool is full or the shape is gone.</summary>
    public void Return(ContextStorage<T> storage)
    {
        LiveContexts--;
        if (_disposed || Evicted || _free.Count >= _maxPooled) storage.Dispose();
        else _free.Push(storage);
        if (Evicted && LiveContexts == 0) Dispose();
    }

    /// <summary>A dy of zeros for a backward whose loss does not depend on y (allocated once, never written).</summary>
    public RnnBuffer<T> ZeroDy(IRnnEngine e, long elements) => Sized(ref _zeroDy, e, elements, zero: true);

    /// <summary>A dx for a backward whose caller does not want dx (contents undefined).</summary>
    public RnnBuffer<T> ScratchDx(IRnnEngine e, long elements) => Sized(ref _scratchDx, e, elements, zero: false);

    private RnnBuffer<T>? _hostDy, _hostDhy, _hostDcy, _hostDx, _hostDhx, _hostDcx;

    /// <summary>
    /// Staging buffers of the host-span backward (dy, dhy, dcy in; dx, dhx, dcx out), kept with the shape so that a
    /// host-span training loop does not allocate engine buffers per call (packed data: reallocated when the call's size
    /// differs). <paramref name="which"/> is 0..5 in that order.
    /// </summary>
    public RnnBuffer<T> HostStaging(int which, IRnnEngine e, long elements) => which switch
    {
        0 => Sized(ref _hostDy, e, elements, zero: false),
        1 => Sized(ref _hostDhy, e, elements, zero: false),
        2 => Sized(ref _hostDcy, e, elements, zero: false),
        3 => Sized(ref _hostDx, e, elements, zero: false),
        4 => Sized(ref _hostDhx, e, elements, zero: false),
        5 => Sized(ref _hostDcx, e, elements, zero: false),
        _ => throw new ArgumentOutOfRangeException(nameof(which)),
    };

    /// <summary>The buffer of <paramref name="elements"/> (packed data: sized by the call's lengths; reallocated when that differs).</summary>
    private static RnnBuffer<T> Sized(ref RnnBuffer<T>? b, IRnnEngine e, long elements, bool zero)
    {
        if (b is not null && b.Length == elements) return b;
        b?.Dispose();
        b = e.Allocate<T>(elements);
        if (zero) b.Clear();
        return b;
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        while (_free.Count > 0) _free.Pop().Dispose();
        foreach (var b in new[] { _zeroDy, _scratchDx, _hostDy, _hostDhy, _hostDcy, _hostDx, _hostDhx, _hostDcx }) b?.Dispose();
        if (!ReferenceEquals(InferPlan, TrainPlan)) InferPlan.Dispose();
        TrainPlan.Dispose();
    }
}

/// <summary>
/// The part of a data descriptor a plan is bound to: layout, maximum length, batch, vector size and padding fill. The
/// lengths are not part of it (they travel with each call).
/// </summary>
internal readonly record struct RnnDataShape(RnnDataLayout Layout, int MaxSeqLength, int Batch, int VectorSize, double PaddingFill)
{
    public static RnnDataShape Of(RnnDataDescriptor d) => new(d.Layout, d.MaxSeqLength, d.Batch, d.VectorSize, d.PaddingFill);

    /// <summary>Vectors a buffer of this call holds: T·B unpacked, the sum of the lengths packed.</summary>
    public static long Vectors(RnnDataDescriptor d) => d.IsUnpacked ? (long)d.MaxSeqLength * d.Batch : d.TotalSteps;
}
