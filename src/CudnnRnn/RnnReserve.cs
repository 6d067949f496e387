using System.Numerics;

namespace CudnnRnn;

/// <summary>What a reserve space holds.</summary>
public enum RnnReserveState
{
    /// <summary>Nothing usable.</summary>
    Empty,
    /// <summary>The saved state of a training forward.</summary>
    ForwardDone,
    /// <summary>After backward data: the gate gradients backward weights needs.</summary>
    BackwardDataDone,
}

/// <summary>
/// The reserve space of a plan: what a training forward saves for backward (cuDNN's reserveSpace), plus the state that
/// lets the plan refuse a backward call in the wrong order.
/// </summary>
public sealed class RnnReserve<T> : IDisposable where T : unmanaged, IFloatingPointIeee754<T>
{
    internal RnnReserve(RnnPlan<T> plan, RnnBuffer<T> storage)
    {
        Plan = plan;
        Storage = storage;
    }

    /// <summary>The plan that created this reserve.</summary>
    public RnnPlan<T> Plan { get; }
    /// <summary>The engine memory (engines read and write it).</summary>
    public RnnBuffer<T> Storage { get; }
    /// <summary>What the reserve holds now.</summary>
    public RnnReserveState State { get; internal set; }
    /// <summary>The weights of the training forward that filled it (BackwardWeights refuses them as dweights).</summary>
    internal RnnBuffer<T>? Weights { get; set; }
    /// <summary>
    /// The data descriptor of the training forward that filled it (its lengths): the backward calls must pass the same
    /// lengths. Null before the first training forward.
    /// </summary>
    public RnnDataDescriptor? XDesc { get; internal set; }
    /// <summary>Index of the training forward that filled it (selects the dropout masks).</summary>
    public ulong DropoutCounter { get; internal set; }
    /// <summary>Size in bytes.</summary>
    public long Bytes => Storage.Length * System.Runtime.CompilerServices.Unsafe.SizeOf<T>();
    /// <summary>True after <see cref="Dispose"/>.</summary>
    public bool IsDisposed => Storage.IsDisposed;

    /// <inheritdoc/>
    public void Dispose() => Storage.Dispose();
}
