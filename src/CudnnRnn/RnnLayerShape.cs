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

    public RnnLayerShape(RnnLayer<T> owner, RnnDataDescriptor xDesc, RnnDescriptor inference, int maxPooled)
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
        Node = new LinkedListNode<RnnDataDescriptor>(xDesc);
    }

    public RnnDataDescriptor XDesc { get; }
    public RnnPlan<T> TrainPlan { get; }
    public RnnPlan<T> InferPlan { get; }
    public LinkedListNode<RnnDataDescriptor> Node { get; }
    /// <summary>Contexts of this shape not yet disposed (they keep the shape alive after eviction).</summary>
    public int LiveContexts { get; set; }
    /// <summary>Evicted from the layer's cache: dispose once the last live context returns.</summary>
    public bool Evicted { get; set; }
    public int PooledCount => _free.Count;

    public ContextStorage<T> Rent(IRnnEngine engine)
    {
        LiveContexts++;
        return _free.Count > 0 ? _free.Pop() : new ContextStorage<T>(engine, TrainPlan);
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
    public RnnBuffer<T> ZeroDy(IRnnEngine e) => _zeroDy ??= e.Allocate<T>(TrainPlan.YDesc.ElementCount);

    /// <summary>A dx for a backward whose caller does not want dx (contents undefined).</summary>
    public RnnBuffer<T> ScratchDx(IRnnEngine e) => _scratchDx ??= e.Allocate<T>(XDesc.ElementCount);

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        while (_free.Count > 0) _free.Pop().Dispose();
        _zeroDy?.Dispose();
        _scratchDx?.Dispose();
        if (!ReferenceEquals(InferPlan, TrainPlan)) InferPlan.Dispose();
        TrainPlan.Dispose();
    }
}
