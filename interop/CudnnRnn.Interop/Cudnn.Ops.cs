// Provenance: cuDNN 9.6.0 cudnn_ops.h (tensor and dropout descriptors); identical text in cuDNN 8.2.1 cudnn_ops_infer.h.
// Prototypes as in ../shared/cudnn/api.json and API.md §5.6-§5.7. Host arrays (dimA, strideA) are int*; the dropout
// states pointer is a device address.

using System.Runtime.InteropServices;

namespace CudnnRnn.Interop;

public static unsafe partial class Cudnn
{
    /// <summary><c>cudnnCreateTensorDescriptor(cudnnTensorDescriptor_t *tensorDesc)</c>.</summary>
    [LibraryImport(CudaLibraries.CudnnLibraryName)]
    public static partial cudnnStatus_t cudnnCreateTensorDescriptor(out SafeCudnnTensorDescriptor tensorDesc);

    /// <summary><c>cudnnDestroyTensorDescriptor(cudnnTensorDescriptor_t tensorDesc)</c>.</summary>
    [LibraryImport(CudaLibraries.CudnnLibraryName)]
    public static partial cudnnStatus_t cudnnDestroyTensorDescriptor(nint tensorDesc);

    /// <summary><c>cudnnSetTensorNdDescriptor(desc, dataType, int nbDims, const int dimA[], const int strideA[])</c>; nbDims ≤ CUDNN_DIM_MAX (8).</summary>
    [LibraryImport(CudaLibraries.CudnnLibraryName)]
    public static partial cudnnStatus_t cudnnSetTensorNdDescriptor(SafeCudnnTensorDescriptor tensorDesc, cudnnDataType_t dataType,
        int nbDims, int* dimA, int* strideA);

    /// <summary><c>cudnnGetTensorNdDescriptor(desc, int nbDimsRequested, cudnnDataType_t *dataType, int *nbDims, int dimA[], int strideA[])</c>.</summary>
    [LibraryImport(CudaLibraries.CudnnLibraryName)]
    public static partial cudnnStatus_t cudnnGetTensorNdDescriptor(SafeCudnnTensorDescriptor tensorDesc, int nbDimsRequested,
        out cudnnDataType_t dataType, out int nbDims, int* dimA, int* strideA);

    /// <summary><c>cudnnGetTensorSizeInBytes(desc, size_t *size)</c>.</summary>
    [LibraryImport(CudaLibraries.CudnnLibraryName)]
    public static partial cudnnStatus_t cudnnGetTensorSizeInBytes(SafeCudnnTensorDescriptor tensorDesc, out nuint size);

    /// <summary><c>cudnnCreateDropoutDescriptor(cudnnDropoutDescriptor_t *dropoutDesc)</c>.</summary>
    [LibraryImport(CudaLibraries.CudnnLibraryName)]
    public static partial cudnnStatus_t cudnnCreateDropoutDescriptor(out SafeCudnnDropoutDescriptor dropoutDesc);

    /// <summary><c>cudnnDestroyDropoutDescriptor(cudnnDropoutDescriptor_t dropoutDesc)</c>.</summary>
    [LibraryImport(CudaLibraries.CudnnLibraryName)]
    public static partial cudnnStatus_t cudnnDestroyDropoutDescriptor(nint dropoutDesc);

    /// <summary><c>cudnnDropoutGetStatesSize(handle, size_t *sizeInBytes)</c>.</summary>
    [LibraryImport(CudaLibraries.CudnnLibraryName)]
    public static partial cudnnStatus_t cudnnDropoutGetStatesSize(SafeCudnnHandle handle, out nuint sizeInBytes);

    /// <summary><c>cudnnSetDropoutDescriptor(desc, handle, float dropout, void *states [D], size_t stateSizeInBytes, unsigned long long seed)</c>.</summary>
    [LibraryImport(CudaLibraries.CudnnLibraryName)]
    public static partial cudnnStatus_t cudnnSetDropoutDescriptor(SafeCudnnDropoutDescriptor dropoutDesc, SafeCudnnHandle handle,
        float dropout, void* states, nuint stateSizeInBytes, ulong seed);

    /// <summary><c>cudnnRestoreDropoutDescriptor(desc, handle, float dropout, void *states [D], size_t stateSizeInBytes, unsigned long long seed)</c>.</summary>
    [LibraryImport(CudaLibraries.CudnnLibraryName)]
    public static partial cudnnStatus_t cudnnRestoreDropoutDescriptor(SafeCudnnDropoutDescriptor dropoutDesc, SafeCudnnHandle handle,
        float dropout, void* states, nuint stateSizeInBytes, ulong seed);

    /// <summary><c>cudnnGetDropoutDescriptor(desc, handle, float *dropout, void **states [H→D-addr], unsigned long long *seed)</c>.</summary>
    [LibraryImport(CudaLibraries.CudnnLibraryName)]
    public static partial cudnnStatus_t cudnnGetDropoutDescriptor(SafeCudnnDropoutDescriptor dropoutDesc, SafeCudnnHandle handle,
        out float dropout, out nint states, out ulong seed);
}
