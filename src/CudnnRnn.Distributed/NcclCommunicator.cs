// Written against NCCL's documented contract (nccl.h; the user guide's "Creating a communicator" with the unique id
// broadcast over MPI, and "Fault tolerance": poll ncclCommGetAsyncError while waiting, then ncclCommAbort).
// UNTESTED on hardware here: the development machine has no GPU and no libnccl.so.2. Its tests skip visibly.

using System.Diagnostics;
using System.Numerics;
using CudnnRnn.Cuda;
using CudnnRnn.Distributed.Native;
using CudnnRnn.Interop;
using CudnnRnn.Training;

namespace CudnnRnn.Distributed;

/// <summary>
/// NCCL collectives over device buffers of the cuda engine (<see cref="CudaBuffer{T}"/>): all-reduce (sum, average),
/// broadcast, barrier. One communicator per process and GPU; the unique id is created on rank 0 and broadcast with
/// MPI. Every wait for a collective polls <c>ncclCommGetAsyncError</c>; an asynchronous error, or a collective not
/// finished within <see cref="Timeout"/>, aborts the communicator (<c>ncclCommAbort</c>) and throws, so a peer that dies
/// during a collective does not hang a rank. Not covered (blocking NCCL calls): a peer that dies during
/// <c>ncclCommInitRank</c> or while NCCL connects at the first collective (NCCL ≥ 2.22 connects lazily inside
/// <c>ncclGroupEnd</c>); there the MPI job's own fault handling (a failing rank calls <c>MPI_Abort</c>) ends the job.
/// </summary>
public sealed unsafe class NcclCommunicator : IDeviceCollectiveCommunicator, IDisposable
{
    private readonly SafeNcclComm _comm;
    private readonly SafeCudaStream _stream;
    private readonly MpiCommunicator? _mpi;

    private NcclCommunicator(SafeNcclComm comm, SafeCudaStream stream, int rank, int size, int device, MpiCommunicator? mpi)
    {
        _comm = comm;
        _stream = stream;
        Rank = rank;
        WorldSize = size;
        Device = device;
        _mpi = mpi;
    }

    /// <summary>This rank.</summary>
    public int Rank { get; }
    /// <summary>Ranks in the communicator.</summary>
    public int WorldSize { get; }
    /// <summary>The CUDA device this rank drives.</summary>
    public int Device { get; }
    /// <summary>How long one collective may take, from launch to completion, before the communicator is aborted (60 s).</summary>
    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>
    /// Creates the communicator of all MPI ranks, each on <paramref name="device"/> (by default its local rank: one GPU
    /// per process; NCCL refuses two ranks on one GPU). Collective: every rank must call it.
    /// </summary>
    public static NcclCommunicator Create(MpiCommunicator mpi, int? device = null)
    {
        ArgumentNullException.ThrowIfNull(mpi);
        DistributedLibraries.LoadNccl();
        var id = new ncclUniqueId();
        if (mpi.Rank == 0) NcclException.ThrowIfFailed(Nccl.ncclGetUniqueId(&id));
        mpi.BroadcastBytes(new Span<byte>(&id, ncclUniqueId.Bytes), 0);
        return Init(id, mpi.Rank, mpi.WorldSize, device ?? mpi.LocalRank, mpi);
    }

    /// <summary>A one-rank communicator on <paramref name="device"/> (no MPI needed): the single-GPU case.</summary>
    public static NcclCommunicator CreateSingle(int device = 0)
    {
        DistributedLibraries.LoadNccl();
        var id = new ncclUniqueId();
        NcclException.ThrowIfFailed(Nccl.ncclGetUniqueId(&id));
        return Init(id, 0, 1, device, null);
    }

    private static NcclCommunicator Init(ncclUniqueId id, int rank, int size, int device, MpiCommunicator? mpi)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(device);
        CudaException.ThrowIfFailed(Cudart.cudaSetDevice(device));
        var stream = SafeCudaStream.Create();
        try
        {
            NcclException.ThrowIfFailed(Nccl.ncclCommInitRank(out var comm, size, id, rank));
            return new NcclCommunicator(comm, stream, rank, size, device, mpi);
        }
        catch
        {
            stream.Dispose();
            throw;
        }
    }

    /// <summary>NCCL's version.</summary>
    public static Version LibraryVersion => Nccl.Version();

    /// <summary>All-reduces <paramref name="buffer"/> in place over the ranks.</summary>
    public void AllReduce<T>(CudaBuffer<T> buffer, ReduceOperation operation) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var op = operation switch
        {
            ReduceOperation.Sum => ncclRedOp_t.ncclSum,
            ReduceOperation.Average => ncclRedOp_t.ncclAvg,
            _ => throw new ArgumentOutOfRangeException(nameof(operation), operation, "Expected Sum or Average."),
        };
        Launch(buffer, p => Nccl.ncclAllReduce(p, p, (nuint)buffer.Length, DataType<T>(), op, _comm, _stream.DangerousGetHandle()));
    }

    /// <summary>
    /// True for a live communicator and a <see cref="CudaBuffer{T}"/> of a cuda engine on <see cref="Device"/> in the
    /// device's primary context (<see cref="CudaEngine.Create(int)"/>). An engine made in the caller's context
    /// (<see cref="CudaEngine.UsesCallerContext"/>) is not accepted: the communicator orders its work after the engine's
    /// with a device synchronize of the primary context, which would not wait for another context's stream; such
    /// buffers go through MPI and a host copy.
    /// </summary>
    public bool Accepts<T>(RnnBuffer<T> buffer) where T : unmanaged, IFloatingPointIeee754<T> =>
        buffer is CudaBuffer<T> { Engine: CudaEngine { Device: var d, UsesCallerContext: false } } && d == Device && !_comm.IsClosed;

    /// <summary>All-reduces an engine buffer; it must be accepted (<see cref="Accepts{T}"/>).</summary>
    public void AllReduce<T>(RnnBuffer<T> buffer, ReduceOperation operation) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(buffer);
        if (buffer is not CudaBuffer<T> cuda)
            throw new ArgumentException($"NCCL reduces CudaBuffer<{typeof(T).Name}> of the cuda engine, not {buffer.GetType().Name}; route host memory through MPI.", nameof(buffer));
        AllReduce(cuda, operation);
    }

    /// <summary>Copies <paramref name="root"/>'s <paramref name="buffer"/> to every rank, in place.</summary>
    public void Broadcast<T>(CudaBuffer<T> buffer, int root) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentOutOfRangeException.ThrowIfNegative(root);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(root, WorldSize);
        Launch(buffer, p => Nccl.ncclBroadcast(p, p, (nuint)buffer.Length, DataType<T>(), root, _comm, _stream.DangerousGetHandle()));
    }

    /// <summary>Waits for every rank (MPI barrier when built over MPI; a one-rank communicator has nothing to wait for).</summary>
    public void Barrier() => _mpi?.Barrier();

    private delegate ncclResult_t Call(void* pointer);

    private void Launch<T>(CudaBuffer<T> buffer, Call call) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(buffer);
        ObjectDisposedException.ThrowIf(_comm.IsClosed, this);
        if (buffer.Engine is not CudaEngine { Device: var d } engine || d != Device)
            throw new ArgumentException($"The buffer must live on this communicator's device {Device} (cuda engine).", nameof(buffer));
        if (engine.UsesCallerContext)
            throw new ArgumentException("The buffer belongs to a cuda engine made in the caller's context (CreateInCurrentContext); " +
                "NCCL here orders its work after the engine's in the device's primary context only. Route it through MPI (a host copy).", nameof(buffer));
        if (buffer.Length == 0) return;
        bool added = false;
        buffer.Memory.DangerousAddRef(ref added);
        try
        {
            CudaException.ThrowIfFailed(Cudart.cudaSetDevice(Device));
            // The engine's work on the buffer runs on its own stream: let it finish before NCCL reads the buffer.
            CudaException.ThrowIfFailed(Cudart.cudaDeviceSynchronize());
            NcclException.ThrowIfFailed(Nccl.ncclGroupStart());
            var launched = call((void*)buffer.Memory.DangerousGetHandle());
            try
            {
                NcclException.ThrowIfFailed(Nccl.ncclGroupEnd());
                NcclException.ThrowIfFailed(launched);
                Wait();
            }
            catch when (!_comm.IsClosed)
            {
                // A failed launch or stream leaves the communicator unusable; abort it now, so that Dispose does not call
                // ncclCommDestroy (which synchronizes NCCL's streams and can block when peers are gone).
                Abort();
                throw;
            }
            buffer.MarkModified();   // NCCL wrote the buffer on the device: contexts and caches keyed on Version must see it
        }
        finally
        {
            if (added) buffer.Memory.DangerousRelease();
        }
    }

    /// <summary>Polls the stream and NCCL's asynchronous error; aborts the communicator on an error or a timeout.</summary>
    private void Wait()
    {
        var clock = Stopwatch.StartNew();
        nint stream = _stream.DangerousGetHandle();
        while (true)
        {
            var q = CudartExtra.cudaStreamQuery(stream);
            if (q == cudaError_t.cudaSuccess) return;
            if (q != cudaError_t.cudaErrorNotReady) CudaException.ThrowIfFailed(q, "cudaStreamQuery(NCCL stream)");
            NcclException.ThrowIfFailed(Nccl.ncclCommGetAsyncError(_comm, out var async));
            if (async is not (ncclResult_t.ncclSuccess or ncclResult_t.ncclInProgress))
            {
                Abort();
                throw NcclException.Create(async, $"NCCL collective on rank {Rank} (ncclCommGetAsyncError; the communicator was aborted)");
            }
            if (clock.Elapsed > Timeout)
            {
                Abort();
                throw new TimeoutException($"NCCL collective on rank {Rank} did not finish within {Timeout.TotalSeconds:F0} s (a peer died?); the communicator was aborted.");
            }
            Thread.Sleep(clock.Elapsed < TimeSpan.FromMilliseconds(5) ? 0 : 1);
        }
    }

    /// <summary>NCCL's asynchronous error state of this communicator (<c>ncclCommGetAsyncError</c>); ncclSuccess when healthy.</summary>
    public ncclResult_t QueryAsyncError()
    {
        ObjectDisposedException.ThrowIf(_comm.IsClosed, this);
        NcclException.ThrowIfFailed(Nccl.ncclCommGetAsyncError(_comm, out var async));
        return async;
    }

    /// <summary>Aborts the communicator (<c>ncclCommAbort</c>): pending operations are dropped, nothing waits.</summary>
    public void Abort()
    {
        _comm.MarkFailed();
        _comm.Dispose();
    }

    private static ncclDataType_t DataType<T>() =>
        typeof(T) == typeof(float) ? ncclDataType_t.ncclFloat32
        : typeof(T) == typeof(double) ? ncclDataType_t.ncclFloat64
        : typeof(T) == typeof(Half) ? ncclDataType_t.ncclFloat16
        : typeof(T) == typeof(BFloat16) ? ncclDataType_t.ncclBfloat16
        : throw new NotSupportedException($"NCCL collectives here take float, double, Half or BFloat16, not {typeof(T).Name}.");

    /// <summary>Destroys the communicator (<c>ncclCommDestroy</c>, or abort after a failure) and the stream; harmless twice.</summary>
    public void Dispose()
    {
        _comm.Dispose();
        _stream.Dispose();
    }
}
