/*
 * cudnn_probe: prints the cuDNN version macros and the numeric value of every enum the C# bindings model, as JSON,
 * straight from the installed headers (cudnn.h -> cudnn_version.h / cudnn_graph.h / cudnn_ops.h / cudnn_adv.h on 9.x,
 * cudnn_ops_infer.h / cudnn_adv_infer.h / cudnn_adv_train.h on 8.x; plus the CUDA runtime's driver_types.h).
 * Header-only: nothing is linked, so it runs on a machine with the headers and no GPU.
 *
 *   ./cudnn_probe > probe.json      (then tests/CudnnRnn.Cuda.Tests compares it with the C# enums)
 */
#include <stdio.h>
#include <cuda_runtime_api.h>
#include <cudnn.h>

static int first;
static void begin(const char *name) { printf("%s\n    \"%s\": {", first ? "" : ",", name); first = 0; }
static int mfirst;
static void member(const char *name, long long value) { printf("%s\"%s\": %lld", mfirst ? "" : ", ", name, value); mfirst = 0; }
#define BEGIN(n) do { begin(n); mfirst = 1; } while (0)
#define END() printf("}")
#define E(x) member(#x, (long long)(x))

int main(void)
{
    printf("{\n  \"CUDNN_MAJOR\": %d, \"CUDNN_MINOR\": %d, \"CUDNN_PATCHLEVEL\": %d, \"CUDNN_VERSION\": %d,\n",
           CUDNN_MAJOR, CUDNN_MINOR, CUDNN_PATCHLEVEL, CUDNN_VERSION);
#ifdef CUDART_VERSION
    printf("  \"CUDART_VERSION\": %d,\n", CUDART_VERSION);
#endif
    printf("  \"enums\": {");
    first = 1;

    BEGIN("cudnnStatus_t");
    E(CUDNN_STATUS_SUCCESS); E(CUDNN_STATUS_NOT_INITIALIZED); E(CUDNN_STATUS_BAD_PARAM); E(CUDNN_STATUS_INTERNAL_ERROR);
    E(CUDNN_STATUS_NOT_SUPPORTED); E(CUDNN_STATUS_EXECUTION_FAILED); E(CUDNN_STATUS_LICENSE_ERROR);
    E(CUDNN_STATUS_RUNTIME_IN_PROGRESS); E(CUDNN_STATUS_RUNTIME_FP_OVERFLOW); E(CUDNN_STATUS_ALLOC_FAILED);
    E(CUDNN_STATUS_INVALID_VALUE); E(CUDNN_STATUS_ARCH_MISMATCH); E(CUDNN_STATUS_MAPPING_ERROR);
    E(CUDNN_STATUS_RUNTIME_PREREQUISITE_MISSING); E(CUDNN_STATUS_VERSION_MISMATCH);
#if CUDNN_MAJOR >= 9
    E(CUDNN_STATUS_SUBLIBRARY_VERSION_MISMATCH); E(CUDNN_STATUS_SERIALIZATION_VERSION_MISMATCH); E(CUDNN_STATUS_DEPRECATED);
    E(CUDNN_STATUS_SUBLIBRARY_LOADING_FAILED); E(CUDNN_STATUS_BAD_PARAM_NULL_POINTER); E(CUDNN_STATUS_BAD_PARAM_MISALIGNED_POINTER);
    E(CUDNN_STATUS_BAD_PARAM_NOT_FINALIZED); E(CUDNN_STATUS_BAD_PARAM_OUT_OF_BOUND); E(CUDNN_STATUS_BAD_PARAM_SIZE_INSUFFICIENT);
    E(CUDNN_STATUS_BAD_PARAM_STREAM_MISMATCH); E(CUDNN_STATUS_BAD_PARAM_SHAPE_MISMATCH); E(CUDNN_STATUS_BAD_PARAM_DUPLICATED_ENTRIES);
    E(CUDNN_STATUS_BAD_PARAM_ATTRIBUTE_TYPE); E(CUDNN_STATUS_BAD_PARAM_CUDA_GRAPH_MISMATCH); E(CUDNN_STATUS_BAD_PARAM_DESCRIPTOR_TYPE);
    E(CUDNN_STATUS_NOT_SUPPORTED_GRAPH_PATTERN); E(CUDNN_STATUS_NOT_SUPPORTED_SHAPE); E(CUDNN_STATUS_NOT_SUPPORTED_DATA_TYPE);
    E(CUDNN_STATUS_NOT_SUPPORTED_LAYOUT); E(CUDNN_STATUS_NOT_SUPPORTED_INCOMPATIBLE_CUDA_DRIVER);
    E(CUDNN_STATUS_NOT_SUPPORTED_INCOMPATIBLE_CUDART); E(CUDNN_STATUS_NOT_SUPPORTED_ARCH_MISMATCH);
    E(CUDNN_STATUS_NOT_SUPPORTED_RUNTIME_PREREQUISITE_MISSING); E(CUDNN_STATUS_NOT_SUPPORTED_SUBLIBRARY_UNAVAILABLE);
    E(CUDNN_STATUS_NOT_SUPPORTED_SHARED_MEMORY_INSUFFICIENT); E(CUDNN_STATUS_NOT_SUPPORTED_PADDING);
    E(CUDNN_STATUS_NOT_SUPPORTED_BAD_LAUNCH_PARAM); E(CUDNN_STATUS_NOT_SUPPORTED_CUDA_GRAPH_NATIVE_API);
    E(CUDNN_STATUS_INTERNAL_ERROR_COMPILATION_FAILED); E(CUDNN_STATUS_INTERNAL_ERROR_UNEXPECTED_VALUE);
    E(CUDNN_STATUS_INTERNAL_ERROR_HOST_ALLOCATION_FAILED); E(CUDNN_STATUS_INTERNAL_ERROR_DEVICE_ALLOCATION_FAILED);
    E(CUDNN_STATUS_INTERNAL_ERROR_BAD_LAUNCH_PARAM); E(CUDNN_STATUS_INTERNAL_ERROR_TEXTURE_CREATION_FAILED);
    E(CUDNN_STATUS_EXECUTION_FAILED_CUDA_DRIVER); E(CUDNN_STATUS_EXECUTION_FAILED_CUBLAS); E(CUDNN_STATUS_EXECUTION_FAILED_CUDART);
    E(CUDNN_STATUS_EXECUTION_FAILED_CURAND);
#endif
    END();

    BEGIN("cudnnRNNMode_t"); E(CUDNN_RNN_RELU); E(CUDNN_RNN_TANH); E(CUDNN_LSTM); E(CUDNN_GRU); END();
    BEGIN("cudnnDirectionMode_t"); E(CUDNN_UNIDIRECTIONAL); E(CUDNN_BIDIRECTIONAL); END();
    BEGIN("cudnnRNNInputMode_t"); E(CUDNN_LINEAR_INPUT); E(CUDNN_SKIP_INPUT); END();
    BEGIN("cudnnRNNBiasMode_t"); E(CUDNN_RNN_NO_BIAS); E(CUDNN_RNN_SINGLE_INP_BIAS); E(CUDNN_RNN_DOUBLE_BIAS); E(CUDNN_RNN_SINGLE_REC_BIAS); END();
    BEGIN("cudnnRNNAlgo_t");
    E(CUDNN_RNN_ALGO_STANDARD); E(CUDNN_RNN_ALGO_PERSIST_STATIC); E(CUDNN_RNN_ALGO_PERSIST_DYNAMIC);
    E(CUDNN_RNN_ALGO_PERSIST_STATIC_SMALL_H); E(CUDNN_RNN_ALGO_COUNT);
    END();
    BEGIN("cudnnMathType_t"); E(CUDNN_DEFAULT_MATH); E(CUDNN_TENSOR_OP_MATH); E(CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION); E(CUDNN_FMA_MATH); END();
    BEGIN("cudnnDataType_t");
    E(CUDNN_DATA_FLOAT); E(CUDNN_DATA_DOUBLE); E(CUDNN_DATA_HALF); E(CUDNN_DATA_INT8); E(CUDNN_DATA_INT32); E(CUDNN_DATA_INT8x4);
    E(CUDNN_DATA_UINT8); E(CUDNN_DATA_UINT8x4); E(CUDNN_DATA_INT8x32); E(CUDNN_DATA_BFLOAT16); E(CUDNN_DATA_INT64);
#if CUDNN_MAJOR >= 9
    E(CUDNN_DATA_BOOLEAN); E(CUDNN_DATA_FP8_E4M3); E(CUDNN_DATA_FP8_E5M2); E(CUDNN_DATA_FAST_FLOAT_FOR_FP8);
#endif
    END();
    BEGIN("cudnnRNNDataLayout_t");
    E(CUDNN_RNN_DATA_LAYOUT_SEQ_MAJOR_UNPACKED); E(CUDNN_RNN_DATA_LAYOUT_SEQ_MAJOR_PACKED); E(CUDNN_RNN_DATA_LAYOUT_BATCH_MAJOR_UNPACKED);
    END();
    BEGIN("cudnnForwardMode_t"); E(CUDNN_FWD_MODE_INFERENCE); E(CUDNN_FWD_MODE_TRAINING); END();
    BEGIN("cudnnWgradMode_t"); E(CUDNN_WGRAD_MODE_ADD); E(CUDNN_WGRAD_MODE_SET); END();
    BEGIN("cudnnRNNClipMode_t"); E(CUDNN_RNN_CLIP_NONE); E(CUDNN_RNN_CLIP_MINMAX); END();
    BEGIN("cudnnNanPropagation_t"); E(CUDNN_NOT_PROPAGATE_NAN); E(CUDNN_PROPAGATE_NAN); END();
    BEGIN("libraryPropertyType"); E(MAJOR_VERSION); E(MINOR_VERSION); E(PATCH_LEVEL); END();
    BEGIN("cudnnSeverity_t"); E(CUDNN_SEV_FATAL); E(CUDNN_SEV_ERROR); E(CUDNN_SEV_WARNING); E(CUDNN_SEV_INFO); END();
    BEGIN("CudnnConstants");
    E(CUDNN_RNN_PADDED_IO_DISABLED); E(CUDNN_RNN_PADDED_IO_ENABLED); E(CUDNN_DIM_MAX);
    E(CUDNN_SEV_ERROR_EN); E(CUDNN_SEV_WARNING_EN); E(CUDNN_SEV_INFO_EN);
    END();
    BEGIN("cudaMemcpyKind");
    E(cudaMemcpyHostToHost); E(cudaMemcpyHostToDevice); E(cudaMemcpyDeviceToHost); E(cudaMemcpyDeviceToDevice); E(cudaMemcpyDefault);
    END();
    BEGIN("cudaError_t");
    E(cudaSuccess); E(cudaErrorInvalidValue); E(cudaErrorMemoryAllocation); E(cudaErrorInitializationError);
    E(cudaErrorCudartUnloading); E(cudaErrorInvalidConfiguration); E(cudaErrorInvalidMemcpyDirection); E(cudaErrorStubLibrary);
    E(cudaErrorInsufficientDriver); E(cudaErrorCallRequiresNewerDriver); E(cudaErrorDevicesUnavailable); E(cudaErrorNoDevice);
    E(cudaErrorInvalidDevice); E(cudaErrorStartupFailure); E(cudaErrorNoKernelImageForDevice); E(cudaErrorInvalidResourceHandle);
    E(cudaErrorNotReady); E(cudaErrorIllegalAddress); E(cudaErrorLaunchFailure); E(cudaErrorNotSupported);
    E(cudaErrorSystemDriverMismatch); E(cudaErrorCompatNotSupportedOnDevice); E(cudaErrorUnknown);
    END();
    printf("\n  }\n}\n");
    return 0;
}
