using System.Buffers;
using System.Numerics;
using System.Numerics.Tensors;
using CudnnRnn.Distributed.Native;
using CudnnRnn.Training;

namespace CudnnRnn.Distributed;

/// <summary>
/// A reusable non-blocking all-reduce (<c>MPI_Iallreduce</c> in place, then <c>MPI_Test</c>/<c>MPI_Wait</c>) over memory
/// pinned for the object's life. Open MPI progresses a non-blocking collective only inside MPI calls (no progress
/// thread by default), so <see cref="Test"/> calls between pieces of work are what moves it on.
/// </summary>
internal sealed unsafe class MpiPendingAllReduce<T> : IPendingAllReduce where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly MpiCommunicator _comm;
    private readonly Memory<T> _values;
    private readonly ReduceOperation _operation;
    private readonly nint _type;
    private readonly nint[] _requests; // one per chunk of at most 2^30 elements (MPI counts are int)
    private MemoryHandle _pin;
    private bool _running, _disposed;

    public MpiPendingAllReduce(MpiCommunicator comm, Memory<T> values, ReduceOperation operation, nint type)
    {
        if (operation is not (ReduceOperation.Sum or ReduceOperation.Average))
            throw new ArgumentOutOfRangeException(nameof(operation), operation, "Expected Sum or Average.");
        _comm = comm;
        _values = values;
        _operation = operation;
        _type = type;
        _requests = new nint[(values.Length + (1 << 30) - 1) >> 30];
        _pin = values.Pin();
    }

    public void Start()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_running) throw new InvalidOperationException("This all-reduce is already running; Wait for it before starting it again.");
        var p = (T*)_pin.Pointer;
        for (int c = 0; c < _requests.Length; c++)
        {
            int off = c << 30, n = Math.Min(_values.Length - off, 1 << 30);
            fixed (nint* r = &_requests[c])
                MpiException.ThrowIfFailed(Mpi.MPI_Iallreduce((void*)MpiHandles.InPlace, p + off, n, _type, _comm.Handles.Sum, _comm.Handles.CommWorld, r));
        }
        _running = true;
    }

    public bool Test()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (!_running) return true;
        for (int c = 0; c < _requests.Length; c++)
        {
            if (_requests[c] == 0) continue; // completed (MPI_REQUEST_NULL is not 0 in Open MPI; we clear it ourselves)
            int flag;
            fixed (nint* r = &_requests[c]) MpiException.ThrowIfFailed(Mpi.MPI_Test(r, out flag, null));
            if (flag == 0) return false;
            _requests[c] = 0;
        }
        Finish();
        return true;
    }

    public void Wait()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (!_running) return;
        for (int c = 0; c < _requests.Length; c++)
        {
            if (_requests[c] == 0) continue;
            fixed (nint* r = &_requests[c]) MpiException.ThrowIfFailed(Mpi.MPI_Wait(r, null));
            _requests[c] = 0;
        }
        Finish();
    }

    private void Finish()
    {
        _running = false;
        if (_operation == ReduceOperation.Average && _comm.WorldSize > 1)
            TensorPrimitives.Divide(_values.Span, T.CreateChecked(_comm.WorldSize), _values.Span);
    }

    public void Dispose()
    {
        if (_disposed) return;
        if (_running) Wait(); // MPI still writes into the memory: never unpin under a running operation
        _disposed = true;
        _pin.Dispose();
    }
}
