// Provenance: cuDNN 9.6.0 cudnn_graph.h (handle, stream, errors, versions, sub-library checks); in cuDNN 8.2.1 the same
// prototypes are in cudnn_ops_infer.h (8.x-only version checks noted per function). Prototypes as in
// ../shared/cudnn/api.json "functions" and API.md §5.1. Calling convention: CUDNNWINAPI = __stdcall on Windows, plain C
// elsewhere; on x64 both are the single platform convention, so no CallConv is given.
// Deliberately NOT bound: cudnnSetCallback / cudnnGetCallback (API logging callbacks; not needed to train, and a
// callback needs a reverse-P/Invoke C-convention function pointer kept alive by us).

using System.Runtime.InteropServices;

namespace CudnnRnn.Interop;

/// <summary>cuDNN entry points, named exactly as the C headers. Check every returned status with <see cref="CudnnException.ThrowIfFailed"/>.</summary>
public static unsafe partial class Cudnn
{
    static Cudnn() => CudaLibraries.EnsureResolverRegistered();

    /// <summary><c>size_t cudnnGetVersion(void)</c>: 9.x major·10000+minor·100+patch, 8.x major·1000+minor·100+patch.</summary>
    [LibraryImport(CudaLibraries.CudnnLibraryName)]
    public static partial nuint cudnnGetVersion();

    /// <summary><c>size_t cudnnGetMaxDeviceVersion(void)</c> (9.x; in a later 8.x: NOT FOUND).</summary>
    [LibraryImport(CudaLibraries.CudnnLibraryName)]
    public static partial nuint cudnnGetMaxDeviceVersion();

    /// <summary><c>size_t cudnnGetCudartVersion(void)</c>: the CUDA runtime cuDNN was statically linked against.</summary>
    [LibraryImport(CudaLibraries.CudnnLibraryName)]
    public static partial nuint cudnnGetCudartVersion();

    /// <summary><c>const char *cudnnGetErrorString(cudnnStatus_t)</c>. The string's ownership is not stated in the header: never free it.</summary>
    [LibraryImport(CudaLibraries.CudnnLibraryName)]
    public static partial byte* cudnnGetErrorString(cudnnStatus_t status);

    /// <summary><c>void cudnnGetLastErrorString(char *message, size_t max_size)</c> (9.x only; first 9.x release not determined).</summary>
    [LibraryImport(CudaLibraries.CudnnLibraryName)]
    public static partial void cudnnGetLastErrorString(byte* message, nuint max_size);

    /// <summary><c>cudnnGetProperty(libraryPropertyType type, int *value)</c>.</summary>
    [LibraryImport(CudaLibraries.CudnnLibraryName)]
    public static partial cudnnStatus_t cudnnGetProperty(libraryPropertyType type, out int value);

    /// <summary><c>cudnnCreate(cudnnHandle_t *handle)</c>.</summary>
    [LibraryImport(CudaLibraries.CudnnLibraryName)]
    public static partial cudnnStatus_t cudnnCreate(out SafeCudnnHandle handle);

    /// <summary><c>cudnnDestroy(cudnnHandle_t handle)</c>; raw handle because only <see cref="SafeCudnnHandle"/> calls it.</summary>
    [LibraryImport(CudaLibraries.CudnnLibraryName)]
    public static partial cudnnStatus_t cudnnDestroy(nint handle);

    /// <summary><c>cudnnSetStream(cudnnHandle_t handle, cudaStream_t streamId)</c>.</summary>
    [LibraryImport(CudaLibraries.CudnnLibraryName)]
    public static partial cudnnStatus_t cudnnSetStream(SafeCudnnHandle handle, SafeCudaStream streamId);

    /// <summary><c>cudnnGetStream(cudnnHandle_t handle, cudaStream_t *streamId)</c>; the stream is not owned.</summary>
    [LibraryImport(CudaLibraries.CudnnLibraryName)]
    public static partial cudnnStatus_t cudnnGetStream(SafeCudnnHandle handle, out nint streamId);

    /// <summary><c>cudnnGraphVersionCheck(void)</c> (9.x): SUBLIBRARY_VERSION_MISMATCH on mismatch.</summary>
    [LibraryImport(CudaLibraries.CudnnLibraryName)]
    public static partial cudnnStatus_t cudnnGraphVersionCheck();

    /// <summary><c>cudnnOpsVersionCheck(void)</c> (9.x, cudnn_ops.h).</summary>
    [LibraryImport(CudaLibraries.CudnnLibraryName)]
    public static partial cudnnStatus_t cudnnOpsVersionCheck();

    /// <summary><c>cudnnAdvVersionCheck(void)</c> (9.x, cudnn_adv.h): checks the sub-library that implements the RNN API.</summary>
    [LibraryImport(CudaLibraries.CudnnLibraryName)]
    public static partial cudnnStatus_t cudnnAdvVersionCheck();

    /// <summary><c>cudnnOpsInferVersionCheck(void)</c> (8.x only, cudnn_ops_infer.h; absent from 9.6.0).</summary>
    [LibraryImport(CudaLibraries.CudnnLibraryName)]
    public static partial cudnnStatus_t cudnnOpsInferVersionCheck();

    /// <summary><c>cudnnAdvInferVersionCheck(void)</c> (8.x only, cudnn_adv_infer.h; absent from 9.6.0).</summary>
    [LibraryImport(CudaLibraries.CudnnLibraryName)]
    public static partial cudnnStatus_t cudnnAdvInferVersionCheck();
}
