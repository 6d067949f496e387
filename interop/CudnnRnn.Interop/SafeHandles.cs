// Ownership of every native object (STYLE.md §4): Create returns a SafeHandle, Destroy/Free is called only from
// ReleaseHandle, and a dependent lifetime is an explicit DangerousAddRef/DangerousRelease pair taken when the dependency
// is attached and given back after the owner is destroyed:
//   dropout descriptor -> its RNG state buffer ("should not be freed until the RNN descriptor is no longer used", [S9]);
//   RNN descriptor     -> its dropout descriptor.
// Every type has the public parameterless constructor the LibraryImport generator needs for `out` handles.
// Dispose twice is harmless (SafeHandle guarantees ReleaseHandle runs at most once).

using System.Runtime.InteropServices;

namespace CudnnRnn.Interop;

/// <summary>Kinds of native objects, for <see cref="CudaHandleDiagnostics"/>.</summary>
public enum CudaHandleKind
{
    /// <summary><c>cudnnHandle_t</c>.</summary>
    CudnnHandle,
    /// <summary><c>cudnnTensorDescriptor_t</c>.</summary>
    TensorDescriptor,
    /// <summary><c>cudnnDropoutDescriptor_t</c>.</summary>
    DropoutDescriptor,
    /// <summary><c>cudnnRNNDescriptor_t</c>.</summary>
    RnnDescriptor,
    /// <summary><c>cudnnRNNDataDescriptor_t</c>.</summary>
    RnnDataDescriptor,
    /// <summary><c>cudaMalloc</c> memory.</summary>
    DeviceMemory,
    /// <summary><c>cudaStream_t</c>.</summary>
    Stream,
    /// <summary><c>cudaMemPool_t</c> created by <c>cudaMemPoolCreate</c>.</summary>
    MemoryPool,
    /// <summary><c>cudaMallocHost</c> (page-locked) host memory.</summary>
    PinnedHostMemory,
    /// <summary><c>cudaEvent_t</c>.</summary>
    Event,
}

/// <summary>Counts of live native objects created through the SafeHandle factories (leak tests, diagnostics).</summary>
public static class CudaHandleDiagnostics
{
    private static readonly long[] s_live = new long[Enum.GetValues<CudaHandleKind>().Length];
    private static long s_liveDeviceBytes;

    /// <summary>Live objects of one kind.</summary>
    public static long Live(CudaHandleKind kind) => Volatile.Read(ref s_live[(int)kind]);
    /// <summary>Live objects of every kind.</summary>
    public static long TotalLive { get { long n = 0; for (int i = 0; i < s_live.Length; i++) n += Volatile.Read(ref s_live[i]); return n; } }
    /// <summary>Bytes of device memory currently allocated through <see cref="SafeCudaDeviceMemory.Allocate"/>.</summary>
    public static long LiveDeviceBytes => Volatile.Read(ref s_liveDeviceBytes);

    internal static void Created(CudaHandleKind kind) => Interlocked.Increment(ref s_live[(int)kind]);
    internal static void Released(CudaHandleKind kind) => Interlocked.Decrement(ref s_live[(int)kind]);
    internal static void DeviceBytes(long delta) => Interlocked.Add(ref s_liveDeviceBytes, delta);

    private static long s_synchronizingCalls;

    /// <summary>
    /// Calls made through this library that synchronize the host or the device: <c>cudaMalloc</c>, <c>cudaFree</c>,
    /// <c>cudaMallocHost</c>, <c>cudaFreeHost</c>, <c>cudaMemcpy</c>, <c>cudaStreamSynchronize</c> and
    /// <c>cudaDeviceSynchronize</c> (process-wide). Stream-ordered allocations (<c>cudaMallocFromPoolAsync</c>,
    /// <c>cudaFreeAsync</c>) and async copies are not counted. A test reads it before and after a sequence of calls.
    /// </summary>
    public static long SynchronizingCalls => Volatile.Read(ref s_synchronizingCalls);

    /// <summary>Records one synchronizing call (see <see cref="SynchronizingCalls"/>); call it next to the call.</summary>
    public static void RecordSynchronizingCall() => Interlocked.Increment(ref s_synchronizingCalls);
}

/// <summary>Base of the CUDA/cuDNN handles: 0 is the invalid value; live objects are counted.</summary>
public abstract class CudaSafeHandle : SafeHandle
{
    private readonly CudaHandleKind _kind;
    private int _counted;

    /// <summary>Creates an invalid (zero) handle that owns what is later stored in it.</summary>
    protected CudaSafeHandle(CudaHandleKind kind) : base(0, ownsHandle: true) => _kind = kind;

    /// <summary>
    /// A handle that does not own <paramref name="borrowed"/>: disposing it never destroys or frees the native object
    /// (the caller's stream or memory), and it is not counted in <see cref="CudaHandleDiagnostics"/>.
    /// </summary>
    protected CudaSafeHandle(CudaHandleKind kind, nint borrowed) : base(0, ownsHandle: false)
    {
        _kind = kind;
        IsBorrowed = true;
        SetHandle(borrowed);
    }

    /// <inheritdoc/>
    public override bool IsInvalid => handle == 0;

    /// <summary>True for a handle made with the borrowing constructor (it frees nothing).</summary>
    public bool IsBorrowed { get; private init; }

    /// <summary>Records a successful create; called by the factories once the handle is set.</summary>
    protected internal void MarkCreated()
    {
        if (!IsInvalid && Interlocked.Exchange(ref _counted, 1) == 0) CudaHandleDiagnostics.Created(_kind);
    }

    /// <summary>Frees the native object; the status of the destroy call decides the return value.</summary>
    protected abstract bool ReleaseNative(nint value);

    /// <inheritdoc/>
    protected sealed override bool ReleaseHandle()
    {
        bool ok = ReleaseNative(handle);
        if (Interlocked.Exchange(ref _counted, 0) == 1) CudaHandleDiagnostics.Released(_kind);
        return ok;
    }

    /// <summary>Adds a reference to <paramref name="dependency"/> so it outlives this object; returns it for storage.</summary>
    protected static T? AddDependency<T>(T? dependency) where T : SafeHandle
    {
        if (dependency is null) return null;
        bool added = false;
        dependency.DangerousAddRef(ref added);
        return added ? dependency : throw new ObjectDisposedException(typeof(T).Name);
    }
}

/// <summary>Owns a <c>cudnnHandle_t</c> (<c>cudnnDestroy</c> on release).</summary>
public sealed class SafeCudnnHandle : CudaSafeHandle
{
    /// <summary>An invalid handle (filled by <c>cudnnCreate</c>).</summary>
    public SafeCudnnHandle() : base(CudaHandleKind.CudnnHandle) { }

    /// <summary><c>cudnnCreate</c>, checked.</summary>
    public static SafeCudnnHandle Create()
    {
        CudnnException.ThrowIfFailed(Cudnn.cudnnCreate(out var h));
        h.MarkCreated();
        return h;
    }

    /// <inheritdoc/>
    protected override bool ReleaseNative(nint value) => Cudnn.cudnnDestroy(value) == cudnnStatus_t.CUDNN_STATUS_SUCCESS;
}

/// <summary>Owns a <c>cudnnTensorDescriptor_t</c>.</summary>
public sealed class SafeCudnnTensorDescriptor : CudaSafeHandle
{
    /// <summary>An invalid handle.</summary>
    public SafeCudnnTensorDescriptor() : base(CudaHandleKind.TensorDescriptor) { }

    /// <summary><c>cudnnCreateTensorDescriptor</c>, checked.</summary>
    public static SafeCudnnTensorDescriptor Create()
    {
        CudnnException.ThrowIfFailed(Cudnn.cudnnCreateTensorDescriptor(out var h));
        h.MarkCreated();
        return h;
    }

    /// <inheritdoc/>
    protected override bool ReleaseNative(nint value) => Cudnn.cudnnDestroyTensorDescriptor(value) == cudnnStatus_t.CUDNN_STATUS_SUCCESS;
}

/// <summary>Owns a <c>cudnnRNNDataDescriptor_t</c>.</summary>
public sealed class SafeCudnnRNNDataDescriptor : CudaSafeHandle
{
    /// <summary>An invalid handle.</summary>
    public SafeCudnnRNNDataDescriptor() : base(CudaHandleKind.RnnDataDescriptor) { }

    /// <summary><c>cudnnCreateRNNDataDescriptor</c>, checked.</summary>
    public static SafeCudnnRNNDataDescriptor Create()
    {
        CudnnException.ThrowIfFailed(Cudnn.cudnnCreateRNNDataDescriptor(out var h));
        h.MarkCreated();
        return h;
    }

    /// <inheritdoc/>
    protected override bool ReleaseNative(nint value) => Cudnn.cudnnDestroyRNNDataDescriptor(value) == cudnnStatus_t.CUDNN_STATUS_SUCCESS;
}

/// <summary>
/// Owns a <c>cudnnDropoutDescriptor_t</c> and keeps its RNG state buffer alive until after the descriptor is destroyed.
/// </summary>
public sealed class SafeCudnnDropoutDescriptor : CudaSafeHandle
{
    private SafeCudaDeviceMemory? _states;

    /// <summary>An invalid handle.</summary>
    public SafeCudnnDropoutDescriptor() : base(CudaHandleKind.DropoutDescriptor) { }

    /// <summary><c>cudnnCreateDropoutDescriptor</c>, checked.</summary>
    public static SafeCudnnDropoutDescriptor Create()
    {
        CudnnException.ThrowIfFailed(Cudnn.cudnnCreateDropoutDescriptor(out var h));
        h.MarkCreated();
        return h;
    }

    /// <summary>The state buffer this descriptor keeps alive (null for the p = 0 descriptor).</summary>
    public SafeCudaDeviceMemory? States => _states;

    /// <summary>
    /// <c>cudnnSetDropoutDescriptor</c>: with <paramref name="states"/> null and p = 0 this is PyTorch's cheap "no dropout"
    /// descriptor (<c>(desc, handle, 0, NULL, 0, 0)</c>); otherwise the state buffer is initialized (an
    /// expensive kernel) and referenced until this descriptor is released.
    /// </summary>
    public unsafe void Set(SafeCudnnHandle cudnn, float dropout, SafeCudaDeviceMemory? states, ulong seed)
    {
        ArgumentNullException.ThrowIfNull(cudnn);
        if (!(dropout >= 0f && dropout < 1f))
            throw new ArgumentOutOfRangeException(nameof(dropout), dropout, "dropout must be in [0, 1).");
        if (dropout > 0f && states is null)
            throw new ArgumentNullException(nameof(states), "A dropout probability above 0 needs a state buffer of cudnnDropoutGetStatesSize bytes.");
        var added = AddDependency(states);
        bool ok = false;
        try
        {
            void* p = states is null ? null : (void*)states.DangerousGetHandle();
            CudnnException.ThrowIfFailed(Cudnn.cudnnSetDropoutDescriptor(this, cudnn, dropout, p, states?.ByteLength ?? 0, seed));
            ok = true;
        }
        finally
        {
            if (ok)
            {
                var previous = Interlocked.Exchange(ref _states, added);
                previous?.DangerousRelease();
            }
            else
            {
                added?.DangerousRelease();
            }
        }
    }

    /// <inheritdoc/>
    protected override bool ReleaseNative(nint value)
    {
        bool ok = Cudnn.cudnnDestroyDropoutDescriptor(value) == cudnnStatus_t.CUDNN_STATUS_SUCCESS;
        Interlocked.Exchange(ref _states, null)?.DangerousRelease(); // only after the descriptor is gone
        return ok;
    }
}

/// <summary>Owns a <c>cudnnRNNDescriptor_t</c> and keeps the dropout descriptor it was set with alive.</summary>
public sealed class SafeCudnnRNNDescriptor : CudaSafeHandle
{
    private SafeCudnnDropoutDescriptor? _dropout;

    /// <summary>An invalid handle.</summary>
    public SafeCudnnRNNDescriptor() : base(CudaHandleKind.RnnDescriptor) { }

    /// <summary><c>cudnnCreateRNNDescriptor</c>, checked.</summary>
    public static SafeCudnnRNNDescriptor Create()
    {
        CudnnException.ThrowIfFailed(Cudnn.cudnnCreateRNNDescriptor(out var h));
        h.MarkCreated();
        return h;
    }

    /// <summary>The dropout descriptor this RNN descriptor references.</summary>
    public SafeCudnnDropoutDescriptor? Dropout => _dropout;

    /// <summary><c>cudnnSetRNNDescriptor_v8</c>, checked; takes a reference on <paramref name="dropoutDesc"/>.</summary>
    public void Set(cudnnRNNAlgo_t algo, cudnnRNNMode_t cellMode, cudnnRNNBiasMode_t biasMode, cudnnDirectionMode_t dirMode,
        cudnnRNNInputMode_t inputMode, cudnnDataType_t dataType, cudnnDataType_t mathPrec, cudnnMathType_t mathType,
        int inputSize, int hiddenSize, int projSize, int numLayers, SafeCudnnDropoutDescriptor dropoutDesc, uint auxFlags)
    {
        // A dropout descriptor is always passed: NULL documented as legal is NOT FOUND (API.md §5.7).
        ArgumentNullException.ThrowIfNull(dropoutDesc);
        var added = AddDependency(dropoutDesc);
        bool ok = false;
        try
        {
            CudnnException.ThrowIfFailed(Cudnn.cudnnSetRNNDescriptor_v8(this, algo, cellMode, biasMode, dirMode, inputMode,
                dataType, mathPrec, mathType, inputSize, hiddenSize, projSize, numLayers, dropoutDesc, auxFlags));
            ok = true;
        }
        finally
        {
            if (ok) Interlocked.Exchange(ref _dropout, added)?.DangerousRelease();
            else added?.DangerousRelease();
        }
    }

    /// <inheritdoc/>
    protected override bool ReleaseNative(nint value)
    {
        bool ok = Cudnn.cudnnDestroyRNNDescriptor(value) == cudnnStatus_t.CUDNN_STATUS_SUCCESS;
        Interlocked.Exchange(ref _dropout, null)?.DangerousRelease();
        return ok;
    }
}

/// <summary>Owns a <c>cudaStream_t</c>.</summary>
public sealed class SafeCudaStream : CudaSafeHandle
{
    /// <summary>An invalid handle; passed to a call it means the legacy default stream (NULL).</summary>
    public SafeCudaStream() : base(CudaHandleKind.Stream) { }

    /// <summary><c>cudaStreamCreate</c>, checked.</summary>
    public static SafeCudaStream Create()
    {
        CudaException.ThrowIfFailed(Cudart.cudaStreamCreate(out var s));
        s.MarkCreated();
        return s;
    }

    private SafeCudaStream(nint borrowed) : base(CudaHandleKind.Stream, borrowed) { }

    /// <summary>
    /// A non-owning handle for a stream someone else created (<c>cudaStream_t</c> / <c>CUstream</c>; 0 is the legacy
    /// default stream, 2 <c>cudaStreamPerThread</c>): disposing it never destroys the stream, which must outlive every
    /// use of this handle.
    /// </summary>
    public static SafeCudaStream Borrow(nint stream) => new(stream);

    /// <summary>Whether this handle owns its stream (false for <see cref="Borrow"/>).</summary>
    public bool OwnsStream => !IsBorrowed;

    /// <inheritdoc/>
    protected override bool ReleaseNative(nint value) => Cudart.cudaStreamDestroy(value) == cudaError_t.cudaSuccess;
}
