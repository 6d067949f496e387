using System.Numerics;

namespace CudnnRnn.Training;

/// <summary>How <see cref="ICollectiveCommunicator.AllReduce{T}"/> combines the ranks' values.</summary>
public enum ReduceOperation
{
    /// <summary>Element-wise sum over the ranks.</summary>
    Sum,
    /// <summary>Element-wise sum divided by the world size.</summary>
    Average,
}

/// <summary>
/// The collective operations data-parallel training needs, over host memory. The training toolkit defines it and
/// knows nothing of MPI or NCCL; CudnnRnn.Distributed implements it (dependencies point one way: Distributed → Training).
/// Every rank must call the same collectives in the same order with the same lengths.
/// </summary>
public interface ICollectiveCommunicator
{
    /// <summary>This process's rank in [0, <see cref="WorldSize"/>).</summary>
    int Rank { get; }
    /// <summary>Number of ranks.</summary>
    int WorldSize { get; }
    /// <summary>Rank among the processes on this machine (picks the GPU).</summary>
    int LocalRank { get; }
    /// <summary>Combines <paramref name="values"/> over all ranks in place (float or double).</summary>
    void AllReduce<T>(Span<T> values, ReduceOperation operation) where T : unmanaged, IFloatingPointIeee754<T>;
    /// <summary>
    /// Prepares a reusable all-reduce of <paramref name="values"/> (in place, float or double) that can be started and
    /// completed later (<see cref="IPendingAllReduce.Start"/>, <see cref="IPendingAllReduce.Wait"/>), so a reduction can
    /// run while the caller computes (DDP's overlap of the all-reduce with backward). The memory stays pinned until the
    /// returned object is disposed. This default runs the blocking <see cref="AllReduce{T}"/> inside Start; MPI overrides
    /// it with <c>MPI_Iallreduce</c>. The result equals <see cref="AllReduce{T}"/>'s up to the library's algorithm choice
    /// (bitwise for 2 ranks: a + b = b + a).
    /// </summary>
    IPendingAllReduce CreateAllReduce<T>(Memory<T> values, ReduceOperation operation) where T : unmanaged, IFloatingPointIeee754<T> =>
        new BlockingAllReduce<T>(this, values, operation);
    /// <summary>Copies <paramref name="root"/>'s <paramref name="values"/> to every rank, in place (float or double).</summary>
    void Broadcast<T>(Span<T> values, int root) where T : unmanaged, IFloatingPointIeee754<T>;
    /// <summary>Waits until every rank arrives.</summary>
    void Barrier();
    /// <summary>
    /// Ends the whole job (every rank), after writing <paramref name="message"/> to standard error. Called by a rank that
    /// failed, so the others never wait forever in a collective. Does not return.
    /// </summary>
    void Abort(int errorCode, string message);
}

/// <summary>A one-rank communicator: every collective is the identity. The single-process path uses it.</summary>
public sealed class SingleProcessCommunicator : ICollectiveCommunicator
{
    /// <summary>The instance.</summary>
    public static SingleProcessCommunicator Instance { get; } = new();

    /// <inheritdoc/>
    public int Rank => 0;
    /// <inheritdoc/>
    public int WorldSize => 1;
    /// <inheritdoc/>
    public int LocalRank => 0;
    /// <inheritdoc/>
    public void AllReduce<T>(Span<T> values, ReduceOperation operation) where T : unmanaged, IFloatingPointIeee754<T> { }
    /// <inheritdoc/>
    public void Broadcast<T>(Span<T> values, int root) where T : unmanaged, IFloatingPointIeee754<T> =>
        ArgumentOutOfRangeException.ThrowIfNotEqual(root, 0);
    /// <inheritdoc/>
    public void Barrier() { }
    /// <inheritdoc/>
    public void Abort(int errorCode, string message)
    {
        Console.Error.WriteLine(message);
        Environment.Exit(errorCode == 0 ? 1 : errorCode);
    }
}

/// <summary>A reusable all-reduce over fixed memory (see <see cref="ICollectiveCommunicator.CreateAllReduce{T}"/>).</summary>
public interface IPendingAllReduce : IDisposable
{
    /// <summary>Starts the reduction of the memory's current contents; do not touch the memory until <see cref="Wait"/>.</summary>
    void Start();
    /// <summary>True when the started reduction has completed (also lets the library progress); false while it runs.</summary>
    bool Test();
    /// <summary>Blocks until the started reduction completes and the memory holds the result (averaged if asked).</summary>
    void Wait();
}

/// <summary>The default <see cref="IPendingAllReduce"/>: the blocking all-reduce, run by <see cref="Start"/>.</summary>
internal sealed class BlockingAllReduce<T>(ICollectiveCommunicator comm, Memory<T> values, ReduceOperation operation) : IPendingAllReduce
    where T : unmanaged, IFloatingPointIeee754<T>
{
    public void Start() => comm.AllReduce(values.Span, operation);
    public bool Test() => true;
    public void Wait() { }
    public void Dispose() { }
}

/// <summary>
/// Collectives over engine (device) buffers, e.g. NCCL on the cuda engine. <see cref="GradientSynchronizer{T}"/> sends a
/// device-resident gradient here when <see cref="Accepts{T}"/> says so and through the host communicator otherwise
/// (<see cref="CollectiveRouting"/>).
/// </summary>
public interface IDeviceCollectiveCommunicator
{
    /// <summary>True when <paramref name="buffer"/> lives where this communicator reduces (e.g. a CUDA buffer on its GPU).</summary>
    bool Accepts<T>(RnnBuffer<T> buffer) where T : unmanaged, IFloatingPointIeee754<T>;
    /// <summary>Combines <paramref name="buffer"/> over all ranks in place.</summary>
    void AllReduce<T>(RnnBuffer<T> buffer, ReduceOperation operation) where T : unmanaged, IFloatingPointIeee754<T>;
}

/// <summary>Which communicator reduces a gradient.</summary>
public enum CollectiveRoute
{
    /// <summary>The host communicator (MPI), on a host copy when the gradient lives on a device.</summary>
    Host,
    /// <summary>The device communicator (NCCL), in place on the device.</summary>
    Device,
}

/// <summary>The choice between the device and the host communicator (PyTorch DDP: NCCL for GPU tensors, a CPU backend otherwise).</summary>
public static class CollectiveRouting
{
    /// <summary>
    /// <see cref="CollectiveRoute.Device"/> when a device communicator exists and accepts <paramref name="gradient"/>
    /// (a buffer of its GPU); otherwise <see cref="CollectiveRoute.Host"/>: host arrays, buffers of another engine or
    /// device, or no device communicator (no NCCL, or not the cuda engine).
    /// </summary>
    public static CollectiveRoute Select<T>(RnnBuffer<T> gradient, IDeviceCollectiveCommunicator? device) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(gradient);
        return device is not null && device.Accepts(gradient) ? CollectiveRoute.Device : CollectiveRoute.Host;
    }
}
