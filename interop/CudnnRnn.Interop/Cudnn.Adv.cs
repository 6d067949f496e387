// Provenance: cuDNN 9.6.0 cudnn_adv.h (the v8-style RNN API, the only RNN API left in cuDNN 9). In cuDNN 8.2.1 the
// forward/descriptor/size functions are in cudnn_adv_infer.h and BackwardData_v8/BackwardWeights_v8 in
// cudnn_adv_train.h. Prototypes as in ../shared/cudnn/api.json and API.md §5.2-§5.5.
// Traps checked field by field against api.json (API.md §5.5, §10.6):
//  * the v8 compute functions take (size, pointer) pairs, not the legacy (pointer, size);
//  * cudnnRNNBackwardWeights_v8 has no cDesc/cx, and its hx is hx (Rust-CUDA passed x there);
//  * mAddr/bAddr of cudnnGetRNNWeightParams are HOST variables receiving device addresses: `out nint`
//    (ManagedCuda passed a device pointer for the legacy equivalent);
//  * devSeqLengths is a DEVICE int32[batch]; whether it is read or ignored (8.9.1+) is a disagreement between sources
//    (API.md §10.1), so the engine always passes a device copy.

using System.Runtime.InteropServices;

namespace CudnnRnn.Interop;

public static unsafe partial class Cudnn
{
    /// <summary><c>cudnnCreateRNNDescriptor(cudnnRNNDescriptor_t *rnnDesc)</c>.</summary>
    [LibraryImport(CudaLibraries.CudnnLibraryName)]
    public static partial cudnnStatus_t cudnnCreateRNNDescriptor(out SafeCudnnRNNDescriptor rnnDesc);

    /// <summary><c>cudnnDestroyRNNDescriptor(cudnnRNNDescriptor_t rnnDesc)</c>.</summary>
    [LibraryImport(CudaLibraries.CudnnLibraryName)]
    public static partial cudnnStatus_t cudnnDestroyRNNDescriptor(nint rnnDesc);

    /// <summary><c>cudnnSetRNNDescriptor_v8</c> (all by value). Use <see cref="SafeCudnnRNNDescriptor.Set"/>, which keeps the dropout descriptor alive.</summary>
    [LibraryImport(CudaLibraries.CudnnLibraryName)]
    public static partial cudnnStatus_t cudnnSetRNNDescriptor_v8(SafeCudnnRNNDescriptor rnnDesc, cudnnRNNAlgo_t algo,
        cudnnRNNMode_t cellMode, cudnnRNNBiasMode_t biasMode, cudnnDirectionMode_t dirMode, cudnnRNNInputMode_t inputMode,
        cudnnDataType_t dataType, cudnnDataType_t mathPrec, cudnnMathType_t mathType, int inputSize, int hiddenSize,
        int projSize, int numLayers, SafeCudnnDropoutDescriptor dropoutDesc, uint auxFlags);

    /// <summary><c>cudnnGetRNNDescriptor_v8</c> (all host outs; the dropout descriptor comes back unowned).</summary>
    [LibraryImport(CudaLibraries.CudnnLibraryName)]
    public static partial cudnnStatus_t cudnnGetRNNDescriptor_v8(SafeCudnnRNNDescriptor rnnDesc, out cudnnRNNAlgo_t algo,
        out cudnnRNNMode_t cellMode, out cudnnRNNBiasMode_t biasMode, out cudnnDirectionMode_t dirMode,
        out cudnnRNNInputMode_t inputMode, out cudnnDataType_t dataType, out cudnnDataType_t mathPrec,
        out cudnnMathType_t mathType, out int inputSize, out int hiddenSize, out int projSize, out int numLayers,
        out nint dropoutDesc, out uint auxFlags);

    /// <summary><c>cudnnRNNSetClip_v8(rnnDesc, clipMode, clipNanOpt, double lclip, double rclip)</c>: 8.x; CUDNN_DEPRECATED in 9.6.0.</summary>
    [LibraryImport(CudaLibraries.CudnnLibraryName)]
    public static partial cudnnStatus_t cudnnRNNSetClip_v8(SafeCudnnRNNDescriptor rnnDesc, cudnnRNNClipMode_t clipMode,
        cudnnNanPropagation_t clipNanOpt, double lclip, double rclip);

    /// <summary><c>cudnnRNNGetClip_v8</c>: 8.x; CUDNN_DEPRECATED in 9.6.0.</summary>
    [LibraryImport(CudaLibraries.CudnnLibraryName)]
    public static partial cudnnStatus_t cudnnRNNGetClip_v8(SafeCudnnRNNDescriptor rnnDesc, out cudnnRNNClipMode_t clipMode,
        out cudnnNanPropagation_t clipNanOpt, out double lclip, out double rclip);

    /// <summary><c>cudnnRNNSetClip_v9(rnnDesc, clipMode, double lclip, double rclip)</c>: 9.x only, no NaN option (its NaN policy: NOT FOUND).</summary>
    [LibraryImport(CudaLibraries.CudnnLibraryName)]
    public static partial cudnnStatus_t cudnnRNNSetClip_v9(SafeCudnnRNNDescriptor rnnDesc, cudnnRNNClipMode_t clipMode,
        double lclip, double rclip);

    /// <summary><c>cudnnRNNGetClip_v9</c>: 9.x only.</summary>
    [LibraryImport(CudaLibraries.CudnnLibraryName)]
    public static partial cudnnStatus_t cudnnRNNGetClip_v9(SafeCudnnRNNDescriptor rnnDesc, out cudnnRNNClipMode_t clipMode,
        out double lclip, out double rclip);

    /// <summary><c>cudnnBuildRNNDynamic(handle, rnnDesc, int miniBatch)</c>: only for CUDNN_RNN_ALGO_PERSIST_DYNAMIC (unused here).</summary>
    [LibraryImport(CudaLibraries.CudnnLibraryName)]
    public static partial cudnnStatus_t cudnnBuildRNNDynamic(SafeCudnnHandle handle, SafeCudnnRNNDescriptor rnnDesc, int miniBatch);

    /// <summary>
    /// <c>cudnnGetRNNTempSpaceSizes(handle, rnnDesc, fwdMode, xDesc, size_t *workSpaceSize, size_t *reserveSpaceSize)</c>, bytes.
    /// Sizes are not monotonic in the data dimensions; backward needs the TRAINING workspace size.
    /// </summary>
    [LibraryImport(CudaLibraries.CudnnLibraryName)]
    public static partial cudnnStatus_t cudnnGetRNNTempSpaceSizes(SafeCudnnHandle handle, SafeCudnnRNNDescriptor rnnDesc,
        cudnnForwardMode_t fwdMode, SafeCudnnRNNDataDescriptor xDesc, out nuint workSpaceSize, out nuint reserveSpaceSize);

    /// <summary><c>cudnnGetRNNWeightSpaceSize(handle, rnnDesc, size_t *weightSpaceSize)</c>, bytes.</summary>
    [LibraryImport(CudaLibraries.CudnnLibraryName)]
    public static partial cudnnStatus_t cudnnGetRNNWeightSpaceSize(SafeCudnnHandle handle, SafeCudnnRNNDescriptor rnnDesc,
        out nuint weightSpaceSize);

    /// <summary>
    /// <c>cudnnGetRNNWeightParams(handle, rnnDesc, int32_t pseudoLayer, size_t weightSpaceSize, const void *weightSpace [D],
    /// int32_t linLayerID, mDesc, void **mAddr [H→D-addr], bDesc, void **bAddr [H→D-addr])</c>. mDesc/bDesc are created
    /// descriptors the call fills. A missing matrix/bias comes back as a NULL address (per CUDA.jl, secondary; NVIDIA wording
    /// NOT FOUND).
    /// </summary>
    [LibraryImport(CudaLibraries.CudnnLibraryName)]
    public static partial cudnnStatus_t cudnnGetRNNWeightParams(SafeCudnnHandle handle, SafeCudnnRNNDescriptor rnnDesc,
        int pseudoLayer, nuint weightSpaceSize, void* weightSpace, int linLayerID,
        SafeCudnnTensorDescriptor mDesc, out nint mAddr, SafeCudnnTensorDescriptor bDesc, out nint bAddr);

    /// <summary><c>cudnnCreateRNNDataDescriptor(cudnnRNNDataDescriptor_t *rnnDataDesc)</c>.</summary>
    [LibraryImport(CudaLibraries.CudnnLibraryName)]
    public static partial cudnnStatus_t cudnnCreateRNNDataDescriptor(out SafeCudnnRNNDataDescriptor rnnDataDesc);

    /// <summary><c>cudnnDestroyRNNDataDescriptor(cudnnRNNDataDescriptor_t rnnDataDesc)</c>.</summary>
    [LibraryImport(CudaLibraries.CudnnLibraryName)]
    public static partial cudnnStatus_t cudnnDestroyRNNDataDescriptor(nint rnnDataDesc);

    /// <summary>
    /// <c>cudnnSetRNNDataDescriptor(desc, dataType, layout, int maxSeqLength, int batchSize, int vectorSize,
    /// const int seqLengthArray[] [H], void *paddingFill [H, one value of dataType or NULL])</c>.
    /// </summary>
    [LibraryImport(CudaLibraries.CudnnLibraryName)]
    public static partial cudnnStatus_t cudnnSetRNNDataDescriptor(SafeCudnnRNNDataDescriptor rnnDataDesc, cudnnDataType_t dataType,
        cudnnRNNDataLayout_t layout, int maxSeqLength, int batchSize, int vectorSize, int* seqLengthArray, void* paddingFill);

    /// <summary><c>cudnnGetRNNDataDescriptor(desc, ..., int arrayLengthRequested, int seqLengthArray[] [H out], void *paddingFill [H out])</c>.</summary>
    [LibraryImport(CudaLibraries.CudnnLibraryName)]
    public static partial cudnnStatus_t cudnnGetRNNDataDescriptor(SafeCudnnRNNDataDescriptor rnnDataDesc, out cudnnDataType_t dataType,
        out cudnnRNNDataLayout_t layout, out int maxSeqLength, out int batchSize, out int vectorSize, int arrayLengthRequested,
        int* seqLengthArray, void* paddingFill);

    /// <summary>
    /// <c>cudnnRNNForward(handle, rnnDesc, fwdMode, const int32_t devSeqLengths[] [D], xDesc, x, yDesc, y, hDesc, hx, hy,
    /// cDesc, cx, cy, size_t weightSpaceSize, weightSpace, size_t workSpaceSize, workSpace, size_t reserveSpaceSize,
    /// reserveSpace)</c>. hx/hy/cx/cy may be NULL.
    /// </summary>
    [LibraryImport(CudaLibraries.CudnnLibraryName)]
    public static partial cudnnStatus_t cudnnRNNForward(SafeCudnnHandle handle, SafeCudnnRNNDescriptor rnnDesc,
        cudnnForwardMode_t fwdMode, int* devSeqLengths,
        SafeCudnnRNNDataDescriptor xDesc, void* x, SafeCudnnRNNDataDescriptor yDesc, void* y,
        SafeCudnnTensorDescriptor hDesc, void* hx, void* hy, SafeCudnnTensorDescriptor cDesc, void* cx, void* cy,
        nuint weightSpaceSize, void* weightSpace, nuint workSpaceSize, void* workSpace, nuint reserveSpaceSize, void* reserveSpace);

    /// <summary>
    /// <c>cudnnRNNBackwardData_v8(handle, rnnDesc, devSeqLengths [D], yDesc, y, dy, xDesc, dx, hDesc, hx, dhy, dhx, cDesc,
    /// cx, dcy, dcx, size_t weightSpaceSize, weightSpace, size_t workSpaceSize, workSpace, size_t reserveSpaceSize,
    /// reserveSpace)</c>. Modifies the reserve space: call once per training forward, before BackwardWeights.
    /// </summary>
    [LibraryImport(CudaLibraries.CudnnLibraryName)]
    public static partial cudnnStatus_t cudnnRNNBackwardData_v8(SafeCudnnHandle handle, SafeCudnnRNNDescriptor rnnDesc,
        int* devSeqLengths, SafeCudnnRNNDataDescriptor yDesc, void* y, void* dy, SafeCudnnRNNDataDescriptor xDesc, void* dx,
        SafeCudnnTensorDescriptor hDesc, void* hx, void* dhy, void* dhx, SafeCudnnTensorDescriptor cDesc, void* cx, void* dcy, void* dcx,
        nuint weightSpaceSize, void* weightSpace, nuint workSpaceSize, void* workSpace, nuint reserveSpaceSize, void* reserveSpace);

    /// <summary>
    /// <c>cudnnRNNBackwardWeights_v8(handle, rnnDesc, addGrad, devSeqLengths [D], xDesc, x, hDesc, hx, yDesc, y,
    /// size_t weightSpaceSize, dweightSpace, size_t workSpaceSize, workSpace, size_t reserveSpaceSize, reserveSpace)</c>.
    /// Use CUDNN_WGRAD_MODE_ADD on a zeroed buffer (SET on 9.x: NOT VERIFIED).
    /// </summary>
    [LibraryImport(CudaLibraries.CudnnLibraryName)]
    public static partial cudnnStatus_t cudnnRNNBackwardWeights_v8(SafeCudnnHandle handle, SafeCudnnRNNDescriptor rnnDesc,
        cudnnWgradMode_t addGrad, int* devSeqLengths, SafeCudnnRNNDataDescriptor xDesc, void* x,
        SafeCudnnTensorDescriptor hDesc, void* hx, SafeCudnnRNNDataDescriptor yDesc, void* y,
        nuint weightSpaceSize, void* dweightSpace, nuint workSpaceSize, void* workSpace, nuint reserveSpaceSize, void* reserveSpace);
}
