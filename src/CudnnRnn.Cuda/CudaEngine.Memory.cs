using CudnnRnn.Interop;

namespace CudnnRnn.Cuda;

/// <summary>What the engine's stream-ordered memory pool holds (<see cref="CudaEngine.MemoryPool"/>).</summary>
/// <param name="StreamOrdered">Whether the engine allocates from a pool with <c>cudaMallocFromPoolAsync</c> (false: the
/// device has no memory pools, and the engine falls back to <c>cudaMalloc</c>/<c>cudaFree</c>, which synchronize).</param>
/// <param name="UsedBytes">Bytes allocated from the pool now (buffers, workspaces, reserves alive or freed but not yet
/// reached by the stream).</param>
/// <param name="ReservedBytes">Bytes of device memory the pool holds, used or kept for reuse.</param>
/// <param name="UsedHighBytes">High watermark of <paramref name="UsedBytes"/>.</param>
/// <param name="ReservedHighBytes">High watermark of <paramref name="ReservedBytes"/>.</param>
/// <param name="ReleaseThreshold">Bytes the pool keeps at a synchronization before returning memory to the OS.</param>
public readonly record struct CudaMemoryPoolStatistics(bool StreamOrdered, long UsedBytes, long ReservedBytes, long UsedHighBytes,
    long ReservedHighBytes, ulong ReleaseThreshold);

public sealed partial class CudaEngine
{
    /// <summary>
    /// The release threshold of the engine's pool: freed memory stays in the pool for reuse instead of going back to the
    /// OS at the next synchronization, as PyTorch's caching allocator keeps it. <see cref="TrimMemoryPool"/> gives it back.
    /// </summary>
    public const ulong DefaultReleaseThreshold = ulong.MaxValue;

    private SafeCudaMemPool? _pool;

    /// <summary>Why the engine is not using a stream-ordered pool (null when it is).</summary>
    public string? MemoryPoolUnavailableReason { get; private set; }

    /// <summary>
    /// Creates the engine's own pool (<c>cudaMemPoolCreate</c>, pinned device memory on this device, release threshold
    /// <see cref="DefaultReleaseThreshold"/>) where the device supports memory pools; the device's default pool, which
    /// other libraries in the process share, is left untouched.
    /// </summary>
    private void InitMemoryPool()
    {
        try
        {
            CudaException.ThrowIfFailed(Cudart.cudaDeviceGetAttribute(out int supported, cudaDeviceAttr.cudaDevAttrMemoryPoolsSupported, Device));
            if (supported == 0)
            {
                MemoryPoolUnavailableReason = $"CUDA device {Device} does not support memory pools (cudaDevAttrMemoryPoolsSupported = 0)";
                return;
            }
            _pool = SafeCudaMemPool.Create(Device, DefaultReleaseThreshold);
        }
        catch (Exception e) when (e is CudaException or EntryPointNotFoundException)
        {
            // A CUDA runtime older than 11.2 has no cudaMallocFromPoolAsync: cudaMalloc it is, with the reason kept.
            MemoryPoolUnavailableReason = $"no stream-ordered pool: {e.Message}";
            _pool = null;
        }
    }

    /// <summary>
    /// Device memory for a buffer, workspace or reserve: from the engine's pool on its stream (no synchronization; usable
    /// by work queued on the stream afterwards), or from <c>cudaMalloc</c> without a pool.
    /// </summary>
    internal SafeCudaDeviceMemory AllocateDevice(nuint bytes) =>
        _pool is { } pool ? SafeCudaDeviceMemory.AllocateAsync(bytes, pool, _stream) : SafeCudaDeviceMemory.Allocate(bytes);

    /// <summary>What the engine's memory pool holds now.</summary>
    public CudaMemoryPoolStatistics MemoryPool
    {
        get
        {
            ThrowIfDisposed();
            if (_pool is not { } p) return new CudaMemoryPoolStatistics(false, 0, 0, 0, 0, 0);
            return new CudaMemoryPoolStatistics(true,
                (long)p.Get(cudaMemPoolAttr.cudaMemPoolAttrUsedMemCurrent), (long)p.Get(cudaMemPoolAttr.cudaMemPoolAttrReservedMemCurrent),
                (long)p.Get(cudaMemPoolAttr.cudaMemPoolAttrUsedMemHigh), (long)p.Get(cudaMemPoolAttr.cudaMemPoolAttrReservedMemHigh),
                p.Get(cudaMemPoolAttr.cudaMemPoolAttrReleaseThreshold));
        }
    }

    /// <summary>
    /// Returns memory the pool keeps for reuse to the OS, down to <paramref name="keepBytes"/> (<c>cudaMemPoolTrimTo</c>).
    /// Memory still in use is never released. Does nothing without a pool.
    /// </summary>
    public void TrimMemoryPool(long keepBytes = 0)
    {
        ThrowIfDisposed();
        ArgumentOutOfRangeException.ThrowIfNegative(keepBytes);
        if (_pool is not { } p) return;
        bool added = false;
        p.DangerousAddRef(ref added);
        try
        {
            CudaException.ThrowIfFailed(Cudart.cudaMemPoolTrimTo(p.DangerousGetHandle(), (nuint)keepBytes));
        }
        finally
        {
            if (added) p.DangerousRelease();
        }
    }
}
