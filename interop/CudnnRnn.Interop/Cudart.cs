// Provenance: CUDA runtime cuda_runtime_api.h / driver_types.h (CUDA 12.x copies, CUDART_VERSION 12050), the subset in
// ../shared/cudnn/api.json "cudaRuntime" and API.md §5.9. All CUDARTAPI (__stdcall under MSVC, C elsewhere).
// The plain names are bound (not the *_ptds / *_ptsz per-thread-default-stream variants), i.e. legacy default-stream
// semantics; C++ default arguments (stream = 0) do not exist here, so every stream is passed explicitly.

using System.Runtime.InteropServices;

namespace CudnnRnn.Interop;

/// <summary>CUDA runtime entry points, named exactly as the C header. Check every result with <see cref="CudaException.ThrowIfFailed"/>.</summary>
public static unsafe partial class Cudart
{
    static Cudart() => CudaLibraries.EnsureResolverRegistered();

    /// <summary><c>cudaMalloc(void **devPtr, size_t size)</c>. Use <see cref="SafeCudaDeviceMemory.Allocate"/>.</summary>
    [LibraryImport(CudaLibraries.CudartLibraryName)]
    public static partial cudaError_t cudaMalloc(out SafeCudaDeviceMemory devPtr, nuint size);

    /// <summary><c>cudaFree(void *devPtr)</c>: "If devPtr is 0, no operation is performed."</summary>
    [LibraryImport(CudaLibraries.CudartLibraryName)]
    public static partial cudaError_t cudaFree(void* devPtr);

    /// <summary><c>cudaMemcpy(void *dst, const void *src, size_t count, enum cudaMemcpyKind kind)</c>.</summary>
    [LibraryImport(CudaLibraries.CudartLibraryName)]
    public static partial cudaError_t cudaMemcpy(void* dst, void* src, nuint count, cudaMemcpyKind kind);

    /// <summary><c>cudaMemcpyAsync(dst, src, size_t count, kind, cudaStream_t stream)</c>.</summary>
    [LibraryImport(CudaLibraries.CudartLibraryName)]
    public static partial cudaError_t cudaMemcpyAsync(void* dst, void* src, nuint count, cudaMemcpyKind kind, SafeCudaStream stream);

    /// <summary><c>cudaMemset(void *devPtr, int value, size_t count)</c> (byte value).</summary>
    [LibraryImport(CudaLibraries.CudartLibraryName)]
    public static partial cudaError_t cudaMemset(void* devPtr, int value, nuint count);

    /// <summary><c>cudaMemsetAsync(void *devPtr, int value, size_t count, cudaStream_t stream)</c>.</summary>
    [LibraryImport(CudaLibraries.CudartLibraryName)]
    public static partial cudaError_t cudaMemsetAsync(void* devPtr, int value, nuint count, SafeCudaStream stream);

    /// <summary><c>cudaStreamCreate(cudaStream_t *pStream)</c>.</summary>
    [LibraryImport(CudaLibraries.CudartLibraryName)]
    public static partial cudaError_t cudaStreamCreate(out SafeCudaStream pStream);

    /// <summary><c>cudaStreamDestroy(cudaStream_t stream)</c>.</summary>
    [LibraryImport(CudaLibraries.CudartLibraryName)]
    public static partial cudaError_t cudaStreamDestroy(nint stream);

    /// <summary><c>cudaStreamSynchronize(cudaStream_t stream)</c>.</summary>
    [LibraryImport(CudaLibraries.CudartLibraryName)]
    public static partial cudaError_t cudaStreamSynchronize(SafeCudaStream stream);

    /// <summary><c>cudaDeviceSynchronize(void)</c>.</summary>
    [LibraryImport(CudaLibraries.CudartLibraryName)]
    public static partial cudaError_t cudaDeviceSynchronize();

    /// <summary><c>cudaGetDeviceCount(int *count)</c>: devices with compute capability ≥ 2.0.</summary>
    [LibraryImport(CudaLibraries.CudartLibraryName)]
    public static partial cudaError_t cudaGetDeviceCount(out int count);

    /// <summary><c>cudaSetDevice(int device)</c>.</summary>
    [LibraryImport(CudaLibraries.CudartLibraryName)]
    public static partial cudaError_t cudaSetDevice(int device);

    /// <summary><c>cudaGetDevice(int *device)</c>.</summary>
    [LibraryImport(CudaLibraries.CudartLibraryName)]
    public static partial cudaError_t cudaGetDevice(out int device);

    /// <summary><c>const char *cudaGetErrorString(cudaError_t)</c> ("unrecognized error code" for unknown codes).</summary>
    [LibraryImport(CudaLibraries.CudartLibraryName)]
    public static partial byte* cudaGetErrorString(cudaError_t error);

    /// <summary><c>const char *cudaGetErrorName(cudaError_t)</c>.</summary>
    [LibraryImport(CudaLibraries.CudartLibraryName)]
    public static partial byte* cudaGetErrorName(cudaError_t error);

    /// <summary><c>cudaGetLastError(void)</c>: returns and resets the last error.</summary>
    [LibraryImport(CudaLibraries.CudartLibraryName)]
    public static partial cudaError_t cudaGetLastError();

    /// <summary><c>cudaRuntimeGetVersion(int *runtimeVersion)</c>: 1000·major + 10·minor; does not initialize CUDA since 12.0.</summary>
    [LibraryImport(CudaLibraries.CudartLibraryName)]
    public static partial cudaError_t cudaRuntimeGetVersion(out int runtimeVersion);

    /// <summary><c>cudaDriverGetVersion(int *driverVersion)</c>: "If no driver is installed, then 0 is returned".</summary>
    [LibraryImport(CudaLibraries.CudartLibraryName)]
    public static partial cudaError_t cudaDriverGetVersion(out int driverVersion);

    /// <summary><c>cudaMemGetInfo(size_t *free, size_t *total)</c>.</summary>
    [LibraryImport(CudaLibraries.CudartLibraryName)]
    public static partial cudaError_t cudaMemGetInfo(out nuint free, out nuint total);
}
