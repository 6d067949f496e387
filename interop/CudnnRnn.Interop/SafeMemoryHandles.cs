// Ownership of memory: device memory (cudaMalloc or a stream-ordered pool), the engine's pool, pinned host memory.
// Same rules as SafeHandles.cs: Create returns a SafeHandle, Free is called only from ReleaseHandle, dependencies are
// explicit DangerousAddRef/DangerousRelease pairs (pooled memory -> its pool and the stream it is freed on).

namespace CudnnRnn.Interop;

/// <summary>
/// Owns device memory from <c>cudaMalloc</c> (<c>cudaFree</c> on release), or from a stream-ordered pool
/// (<c>cudaMallocFromPoolAsync</c>; <c>cudaFreeAsync</c> on the same stream on release, which keeps that stream and the
/// pool alive until then). A zero-byte allocation holds NULL.
/// </summary>
public sealed class SafeCudaDeviceMemory : CudaSafeHandle
{
    private SafeCudaStream? _stream;
    private SafeCudaMemPool? _pool;

    /// <summary>An invalid (NULL) allocation.</summary>
    public SafeCudaDeviceMemory() : base(CudaHandleKind.DeviceMemory) { }

    private SafeCudaDeviceMemory(nint borrowed, nuint bytes) : base(CudaHandleKind.DeviceMemory, borrowed) => ByteLength = bytes;

    /// <summary>
    /// A non-owning handle for <paramref name="bytes"/> of device memory someone else allocated: disposing it never frees
    /// the memory, and it is not counted in <see cref="CudaHandleDiagnostics"/>. The caller checks the pointer first.
    /// </summary>
    public static SafeCudaDeviceMemory Borrow(nint devicePointer, nuint bytes) => new(devicePointer, bytes);

    /// <summary>Size in bytes.</summary>
    public nuint ByteLength { get; private set; }

    /// <summary>Whether it came from a stream-ordered pool.</summary>
    public bool IsStreamOrdered => _stream is not null;

    /// <summary><c>cudaMalloc</c>, checked. "The memory is not cleared" (CUDA runtime API reference).</summary>
    public static SafeCudaDeviceMemory Allocate(nuint bytes)
    {
        if (bytes == 0) return new SafeCudaDeviceMemory();
        CudaHandleDiagnostics.RecordSynchronizingCall();
        CudaException.ThrowIfFailed(Cudart.cudaMalloc(out var m, bytes));
        m.ByteLength = bytes;
        m.MarkCreated();
        CudaHandleDiagnostics.DeviceBytes((long)bytes);
        return m;
    }

    /// <summary>
    /// <c>cudaMallocFromPoolAsync</c> on <paramref name="stream"/>, checked: usable by work queued on that stream after
    /// this call; no host or device synchronization. Released with <c>cudaFreeAsync</c> on the same stream.
    /// </summary>
    public static SafeCudaDeviceMemory AllocateAsync(nuint bytes, SafeCudaMemPool pool, SafeCudaStream stream)
    {
        ArgumentNullException.ThrowIfNull(pool);
        ArgumentNullException.ThrowIfNull(stream);
        var m = new SafeCudaDeviceMemory();
        if (bytes == 0) return m;
        m._pool = AddDependency(pool);
        m._stream = AddDependency(stream);
        try
        {
            CudaException.ThrowIfFailed(Cudart.cudaMallocFromPoolAsync(out nint ptr, bytes, pool.DangerousGetHandle(), stream));
            m.SetHandle(ptr);
        }
        catch
        {
            m.DropDependencies();
            throw;
        }
        m.ByteLength = bytes;
        m.MarkCreated();
        CudaHandleDiagnostics.DeviceBytes((long)bytes);
        return m;
    }

    private void DropDependencies()
    {
        _stream?.DangerousRelease();
        _pool?.DangerousRelease();
        _stream = null;
        _pool = null;
    }

    /// <inheritdoc/>
    protected override unsafe bool ReleaseNative(nint value)
    {
        CudaHandleDiagnostics.DeviceBytes(-(long)ByteLength);
        if (_stream is { } stream)
        {
            // Stream-ordered: the memory returns to the pool once the work queued before this point has finished.
            bool ok = Cudart.cudaFreeAsync((void*)value, stream.DangerousGetHandle()) == cudaError_t.cudaSuccess;
            DropDependencies();
            return ok;
        }
        // cudaFree from any thread works for memory of any device under unified addressing; the device is not switched.
        CudaHandleDiagnostics.RecordSynchronizingCall();
        return Cudart.cudaFree((void*)value) == cudaError_t.cudaSuccess;
    }
}

/// <summary>Owns a <c>cudaMemPool_t</c> from <c>cudaMemPoolCreate</c> (<c>cudaMemPoolDestroy</c> on release).</summary>
public sealed class SafeCudaMemPool : CudaSafeHandle
{
    /// <summary>An invalid handle.</summary>
    public SafeCudaMemPool() : base(CudaHandleKind.MemoryPool) { }

    /// <summary>A pool of pinned device memory on <paramref name="device"/> with the given release threshold.</summary>
    public static unsafe SafeCudaMemPool Create(int device, ulong releaseThreshold)
    {
        var props = new cudaMemPoolProps { allocType = 1, handleTypes = 0, locationType = 1, locationId = device };
        CudaException.ThrowIfFailed(Cudart.cudaMemPoolCreate(out nint raw, &props));
        var pool = new SafeCudaMemPool();
        pool.SetHandle(raw);
        pool.MarkCreated();
        try
        {
            CudaException.ThrowIfFailed(Cudart.cudaMemPoolSetAttribute(raw, cudaMemPoolAttr.cudaMemPoolAttrReleaseThreshold, &releaseThreshold));
        }
        catch
        {
            pool.Dispose();
            throw;
        }
        return pool;
    }

    /// <summary>Reads a cuuint64_t attribute (reserved/used bytes, their high watermarks, the release threshold).</summary>
    public unsafe ulong Get(cudaMemPoolAttr attribute)
    {
        bool added = false;
        DangerousAddRef(ref added);
        try
        {
            ulong value = 0;
            CudaException.ThrowIfFailed(Cudart.cudaMemPoolGetAttribute(handle, attribute, &value));
            return value;
        }
        finally
        {
            if (added) DangerousRelease();
        }
    }

    /// <inheritdoc/>
    protected override bool ReleaseNative(nint value) => Cudart.cudaMemPoolDestroy(value) == cudaError_t.cudaSuccess;
}

/// <summary>Owns page-locked host memory from <c>cudaMallocHost</c> (<c>cudaFreeHost</c> on release).</summary>
public sealed class SafeCudaHostMemory : CudaSafeHandle
{
    /// <summary>An invalid handle.</summary>
    public SafeCudaHostMemory() : base(CudaHandleKind.PinnedHostMemory) { }

    /// <summary>Size in bytes.</summary>
    public nuint ByteLength { get; private set; }

    /// <summary><c>cudaMallocHost</c>, checked.</summary>
    public static SafeCudaHostMemory Allocate(nuint bytes)
    {
        var m = new SafeCudaHostMemory();
        if (bytes == 0) return m;
        CudaHandleDiagnostics.RecordSynchronizingCall();
        CudaException.ThrowIfFailed(Cudart.cudaMallocHost(out nint ptr, bytes));
        m.SetHandle(ptr);
        m.ByteLength = bytes;
        m.MarkCreated();
        return m;
    }

    /// <inheritdoc/>
    protected override unsafe bool ReleaseNative(nint value)
    {
        CudaHandleDiagnostics.RecordSynchronizingCall();
        return Cudart.cudaFreeHost((void*)value) == cudaError_t.cudaSuccess;
    }
}
