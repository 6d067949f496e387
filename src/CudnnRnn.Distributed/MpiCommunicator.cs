using System.Numerics;
using System.Numerics.Tensors;
using CudnnRnn.Distributed.Native;
using CudnnRnn.Training;

namespace CudnnRnn.Distributed;

/// <summary>
/// The MPI world communicator over host memory (Open MPI). <see cref="Initialize"/> calls <c>MPI_Init_thread</c> once per
/// process and sets <c>MPI_ERRORS_RETURN</c> on <c>MPI_COMM_WORLD</c>, so every failure comes back as an error code
/// and is thrown as <see cref="MpiException"/> with MPI's own text; <see cref="Dispose"/> calls <c>MPI_Finalize</c>
/// (MPI cannot be initialised again in the same process). One thread at a time may call it (MPI_THREAD_SERIALIZED).
/// </summary>
public sealed unsafe class MpiCommunicator : ICollectiveCommunicator, IDisposable
{
    private static readonly Lock s_lock = new();
    private static MpiCommunicator? s_world;
    private readonly MpiHandles _h;
    private int _disposed;

    private MpiCommunicator(MpiHandles handles, int rank, int size, int localRank, bool ownsInit)
    {
        _h = handles;
        Rank = rank;
        WorldSize = size;
        LocalRank = localRank;
        OwnsInitialization = ownsInit;
    }

    /// <inheritdoc/>
    public int Rank { get; }
    /// <inheritdoc/>
    public int WorldSize { get; }
    /// <inheritdoc/>
    public int LocalRank { get; }
    /// <summary>True when this object called MPI_Init (and will call MPI_Finalize).</summary>
    public bool OwnsInitialization { get; }
    /// <summary>The MPI library's version text.</summary>
    public string LibraryVersion => Mpi.LibraryVersion();

    /// <summary>
    /// Initialises MPI (unless something else already did) and returns the world communicator; later calls return the
    /// same object. Throws <see cref="DistributedLibraryNotFoundException"/> without MPI, <see cref="NotSupportedException"/> for MPICH.
    /// </summary>
    public static MpiCommunicator Initialize()
    {
        lock (s_lock)
        {
            if (s_world is { } w) return w._disposed == 0 ? w : throw new InvalidOperationException("MPI was finalized in this process; it cannot be initialised again.");
            var h = MpiHandles.Get();
            MpiException.ThrowIfFailed(Mpi.MPI_Finalized(out int finalized));
            if (finalized != 0) throw new InvalidOperationException("MPI was finalized in this process; it cannot be initialised again.");
            MpiException.ThrowIfFailed(Mpi.MPI_Initialized(out int initialized));
            bool owns = initialized == 0;
            if (owns) MpiException.ThrowIfFailed(Mpi.MPI_Init_thread(null, null, Mpi.MPI_THREAD_SERIALIZED, out _));
            // Errors return as codes instead of aborting inside the library (the default MPI_ERRORS_ARE_FATAL).
            MpiException.ThrowIfFailed(Mpi.MPI_Comm_set_errhandler(h.CommWorld, h.ErrorsReturn));
            MpiException.ThrowIfFailed(Mpi.MPI_Comm_rank(h.CommWorld, out int rank));
            MpiException.ThrowIfFailed(Mpi.MPI_Comm_size(h.CommWorld, out int size));
            var env = LauncherEnvironment.Current;
            // Without a launcher variable for it, a one-rank world is local rank 0; otherwise assume one node.
            int local = env.LocalRank ?? (size == 1 ? 0 : rank);
            return s_world = new MpiCommunicator(h, rank, size, local, owns);
        }
    }

    /// <inheritdoc/>
    public void AllReduce<T>(Span<T> values, ReduceOperation operation) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ThrowIfDisposed();
        if (operation is not (ReduceOperation.Sum or ReduceOperation.Average))
            throw new ArgumentOutOfRangeException(nameof(operation), operation, "Expected Sum or Average.");
        nint type = DataType<T>();
        fixed (T* p = values)
        {
            // MPI counts are int: reduce in chunks of at most 2^30 elements.
            for (int off = 0; off < values.Length; off += 1 << 30)
            {
                int n = Math.Min(values.Length - off, 1 << 30);
                MpiException.ThrowIfFailed(Mpi.MPI_Allreduce((void*)MpiHandles.InPlace, p + off, n, type, _h.Sum, _h.CommWorld));
            }
        }
        if (operation == ReduceOperation.Average && WorldSize > 1) TensorPrimitives.Divide(values, T.CreateChecked(WorldSize), values);
    }

    /// <summary>Prepares a reusable non-blocking all-reduce (<c>MPI_Iallreduce</c>, <c>MPI_Test</c>, <c>MPI_Wait</c>) over pinned <paramref name="values"/>.</summary>
    public IPendingAllReduce CreateAllReduce<T>(Memory<T> values, ReduceOperation operation) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ThrowIfDisposed();
        return new MpiPendingAllReduce<T>(this, values, operation, DataType<T>());
    }

    internal MpiHandles Handles => _h;

    /// <inheritdoc/>
    public void Broadcast<T>(Span<T> values, int root) where T : unmanaged, IFloatingPointIeee754<T>
    {
        nint type = DataType<T>();
        fixed (T* p = values) BroadcastCore(p, values.Length, type, root);
    }

    /// <summary>Broadcasts raw bytes from <paramref name="root"/> (the NCCL unique id travels this way).</summary>
    public void BroadcastBytes(Span<byte> bytes, int root)
    {
        fixed (byte* p = bytes) BroadcastCore(p, bytes.Length, _h.Byte, root);
    }

    private void BroadcastCore(void* p, int length, nint type, int root)
    {
        ThrowIfDisposed();
        ArgumentOutOfRangeException.ThrowIfNegative(root);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(root, WorldSize);
        MpiException.ThrowIfFailed(Mpi.MPI_Bcast(p, length, type, root, _h.CommWorld));
    }

    /// <inheritdoc/>
    public void Barrier()
    {
        ThrowIfDisposed();
        MpiException.ThrowIfFailed(Mpi.MPI_Barrier(_h.CommWorld));
    }

    /// <summary>
    /// Writes <paramref name="message"/> to standard error and calls <c>MPI_Abort(MPI_COMM_WORLD, code)</c>, which
    /// ends every rank (mpirun reports the aborting rank too). Does not return.
    /// </summary>
    public void Abort(int errorCode, string message)
    {
        Console.Out.Flush();
        Console.Error.WriteLine(message);
        Console.Error.Flush();
        Mpi.MPI_Abort(_h.CommWorld, errorCode == 0 ? 1 : errorCode);
        Environment.Exit(errorCode == 0 ? 1 : errorCode); // MPI_Abort does not return; this is a last resort
    }

    private nint DataType<T>() where T : unmanaged =>
        typeof(T) == typeof(float) ? _h.Float
        : typeof(T) == typeof(double) ? _h.Double
        : throw new NotSupportedException($"MPI collectives here take float or double, not {typeof(T).Name}.");

    private void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);

    /// <summary>Calls <c>MPI_Finalize</c> when this object initialised MPI (a collective: every rank must dispose).</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        if (!OwnsInitialization) return;
        if (Mpi.MPI_Finalized(out int done) == Mpi.MPI_SUCCESS && done == 0) MpiException.ThrowIfFailed(Mpi.MPI_Finalize());
    }
}
