// Provenance: CUDA runtime cuda_runtime_api.h / driver_types.h (CUDA 12.x and 13.x; the stream-ordered allocator exists
// since CUDA 11.2). Not in ../shared/cudnn/api.json: these prototypes are checked by ContractTests.RuntimeExtras instead.
// Semantics relied on (CUDA Runtime API, "Stream Ordered Memory Allocator"): cudaMallocFromPoolAsync/cudaFreeAsync are
// ordered on the stream and do not synchronize the device or the host; memory freed to a pool above its release
// threshold is returned to the OS at the next synchronization; cudaMemPoolDestroy with outstanding allocations returns
// at once and releases the pool once they are freed.

using System.Runtime.InteropServices;

namespace CudnnRnn.Interop;

public static unsafe partial class Cudart
{
    /// <summary><c>cudaDeviceGetAttribute(int *value, cudaDeviceAttr attr, int device)</c>.</summary>
    [LibraryImport(CudaLibraries.CudartLibraryName)]
    public static partial cudaError_t cudaDeviceGetAttribute(out int value, cudaDeviceAttr attr, int device);

    /// <summary><c>cudaMemPoolCreate(cudaMemPool_t *memPool, const cudaMemPoolProps *poolProps)</c>.</summary>
    [LibraryImport(CudaLibraries.CudartLibraryName)]
    public static partial cudaError_t cudaMemPoolCreate(out nint memPool, cudaMemPoolProps* poolProps);

    /// <summary><c>cudaMemPoolDestroy(cudaMemPool_t memPool)</c>.</summary>
    [LibraryImport(CudaLibraries.CudartLibraryName)]
    public static partial cudaError_t cudaMemPoolDestroy(nint memPool);

    /// <summary><c>cudaMemPoolSetAttribute(cudaMemPool_t memPool, cudaMemPoolAttr attr, void *value)</c>.</summary>
    [LibraryImport(CudaLibraries.CudartLibraryName)]
    public static partial cudaError_t cudaMemPoolSetAttribute(nint memPool, cudaMemPoolAttr attr, void* value);

    /// <summary><c>cudaMemPoolGetAttribute(cudaMemPool_t memPool, cudaMemPoolAttr attr, void *value)</c>.</summary>
    [LibraryImport(CudaLibraries.CudartLibraryName)]
    public static partial cudaError_t cudaMemPoolGetAttribute(nint memPool, cudaMemPoolAttr attr, void* value);

    /// <summary><c>cudaMemPoolTrimTo(cudaMemPool_t memPool, size_t minBytesToKeep)</c>.</summary>
    [LibraryImport(CudaLibraries.CudartLibraryName)]
    public static partial cudaError_t cudaMemPoolTrimTo(nint memPool, nuint minBytesToKeep);

    /// <summary><c>cudaMallocFromPoolAsync(void **ptr, size_t size, cudaMemPool_t memPool, cudaStream_t stream)</c>.</summary>
    [LibraryImport(CudaLibraries.CudartLibraryName)]
    public static partial cudaError_t cudaMallocFromPoolAsync(out nint ptr, nuint size, nint memPool, SafeCudaStream stream);

    /// <summary><c>cudaFreeAsync(void *devPtr, cudaStream_t hStream)</c>.</summary>
    [LibraryImport(CudaLibraries.CudartLibraryName)]
    public static partial cudaError_t cudaFreeAsync(void* devPtr, nint hStream);

    /// <summary><c>cudaMallocHost(void **ptr, size_t size)</c>: page-locked host memory (async copies need it).</summary>
    [LibraryImport(CudaLibraries.CudartLibraryName)]
    public static partial cudaError_t cudaMallocHost(out nint ptr, nuint size);

    /// <summary><c>cudaFreeHost(void *ptr)</c>.</summary>
    [LibraryImport(CudaLibraries.CudartLibraryName)]
    public static partial cudaError_t cudaFreeHost(void* ptr);
}

/// <summary><c>cudaDeviceAttr</c>: the members this library reads (explicit values from driver_types.h).</summary>
public enum cudaDeviceAttr
{
    /// <summary>Number of multiprocessors on the device (PyTorch's persistent-RNN heuristic reads it).</summary>
    cudaDevAttrMultiProcessorCount = 16,
    /// <summary>Compute capability major number.</summary>
    cudaDevAttrComputeCapabilityMajor = 75,
    /// <summary>Compute capability minor number.</summary>
    cudaDevAttrComputeCapabilityMinor = 76,
    /// <summary>The device supports cudaMallocAsync and the cudaMemPool family.</summary>
    cudaDevAttrMemoryPoolsSupported = 115,
}

/// <summary><c>cudaMemPoolAttr</c> (driver_types.h, all members).</summary>
public enum cudaMemPoolAttr
{
    /// <summary>int: allow reuse of memory freed in another stream once the free is known complete through events.</summary>
    cudaMemPoolReuseFollowEventDependencies = 1,
    /// <summary>int: allow opportunistic reuse.</summary>
    cudaMemPoolReuseAllowOpportunistic = 2,
    /// <summary>int: allow reuse with inserted stream dependencies.</summary>
    cudaMemPoolReuseAllowInternalDependencies = 3,
    /// <summary>cuuint64_t: bytes the pool keeps reserved at a synchronization before releasing memory to the OS.</summary>
    cudaMemPoolAttrReleaseThreshold = 4,
    /// <summary>cuuint64_t: bytes of backing memory currently reserved by the pool.</summary>
    cudaMemPoolAttrReservedMemCurrent = 5,
    /// <summary>cuuint64_t: high watermark of reserved bytes.</summary>
    cudaMemPoolAttrReservedMemHigh = 6,
    /// <summary>cuuint64_t: bytes currently allocated from the pool by the application.</summary>
    cudaMemPoolAttrUsedMemCurrent = 7,
    /// <summary>cuuint64_t: high watermark of used bytes.</summary>
    cudaMemPoolAttrUsedMemHigh = 8,
}

/// <summary>
/// <c>cudaMemPoolProps</c>: 88 bytes on every CUDA 11.2–13 release (the fields added after win32SecurityAttributes —
/// maxSize, usage — were carved out of <c>reserved</c>, which must be zero; zero means their defaults).
/// </summary>
[StructLayout(LayoutKind.Sequential)]
public unsafe struct cudaMemPoolProps
{
    /// <summary>cudaMemAllocationType: 1 = cudaMemAllocationTypePinned.</summary>
    public int allocType;
    /// <summary>cudaMemAllocationHandleType: 0 = cudaMemHandleTypeNone.</summary>
    public int handleTypes;
    /// <summary>cudaMemLocation.type: 1 = cudaMemLocationTypeDevice.</summary>
    public int locationType;
    /// <summary>cudaMemLocation.id: the device ordinal.</summary>
    public int locationId;
    /// <summary>Windows security attributes (NULL).</summary>
    public void* win32SecurityAttributes;
    /// <summary>Zero (defaults).</summary>
    public fixed byte reserved[64];
}
