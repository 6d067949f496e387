// Provenance: cuDNN 9.6.0 headers cudnn_graph.h / cudnn_adv.h (and CUDA library_types.h), with the cuDNN 8.2.1
// differences from cudnn_ops_infer.h / cudnn_adv_infer.h / cudnn_adv_train.h; values as recorded in
// ../shared/cudnn/api.json ("enums") and API.md §6. Names are the C names (STYLE.md §1); every value is explicit.
// The contract test (CudnnRnn.Cuda.Tests/ContractTests.cs) compares each member with api.json, both directions.

namespace CudnnRnn.Interop;

#pragma warning disable CA1707, CA1008, CA1028, CA1069 // C names, C values (aliases share values as in the header)

/// <summary>
/// <c>cudnnStatus_t</c> as cuDNN <b>9.x</b> numbers it (cudnn_graph.h 9.6.0). cuDNN 8 used other numbers for the same
/// names (<see cref="cudnnStatus_v8_t"/>): decode a returned code with <see cref="CudnnStatus.GetName(int, int)"/> and
/// the loaded library's major version, never by casting alone. 0 is success in both.
/// </summary>
public enum cudnnStatus_t
{
    /// <summary>Success (0 in 8.x and 9.x).</summary>
    CUDNN_STATUS_SUCCESS = 0,
    /// <summary>9.x category NOT_INITIALIZED.</summary>
    CUDNN_STATUS_NOT_INITIALIZED = 1001,
    /// <summary>A sub-library has another version.</summary>
    CUDNN_STATUS_SUBLIBRARY_VERSION_MISMATCH = 1002,
    /// <summary>Serialization version mismatch.</summary>
    CUDNN_STATUS_SERIALIZATION_VERSION_MISMATCH = 1003,
    /// <summary>Deprecated API.</summary>
    CUDNN_STATUS_DEPRECATED = 1004,
    /// <summary>License error.</summary>
    CUDNN_STATUS_LICENSE_ERROR = 1005,
    /// <summary>Runtime check in progress.</summary>
    CUDNN_STATUS_RUNTIME_IN_PROGRESS = 1006,
    /// <summary>FP overflow detected at run time.</summary>
    CUDNN_STATUS_RUNTIME_FP_OVERFLOW = 1007,
    /// <summary>A sub-library (e.g. libcudnn_adv.so.9) could not be loaded.</summary>
    CUDNN_STATUS_SUBLIBRARY_LOADING_FAILED = 1008,
    /// <summary>Bad parameter (category).</summary>
    CUDNN_STATUS_BAD_PARAM = 2000,
    /// <summary>Deprecated alias: "please transition to CUDNN_STATUS_BAD_PARAM instead".</summary>
    CUDNN_STATUS_INVALID_VALUE = 2001,
    /// <summary>Bad parameter: NULL pointer.</summary>
    CUDNN_STATUS_BAD_PARAM_NULL_POINTER = 2002,
    /// <summary>Bad parameter: misaligned pointer.</summary>
    CUDNN_STATUS_BAD_PARAM_MISALIGNED_POINTER = 2003,
    /// <summary>Bad parameter: descriptor not finalized.</summary>
    CUDNN_STATUS_BAD_PARAM_NOT_FINALIZED = 2004,
    /// <summary>Bad parameter: out of bound.</summary>
    CUDNN_STATUS_BAD_PARAM_OUT_OF_BOUND = 2005,
    /// <summary>Bad parameter: size insufficient.</summary>
    CUDNN_STATUS_BAD_PARAM_SIZE_INSUFFICIENT = 2006,
    /// <summary>Bad parameter: stream mismatch.</summary>
    CUDNN_STATUS_BAD_PARAM_STREAM_MISMATCH = 2007,
    /// <summary>Bad parameter: shape mismatch.</summary>
    CUDNN_STATUS_BAD_PARAM_SHAPE_MISMATCH = 2008,
    /// <summary>Bad parameter: duplicated entries.</summary>
    CUDNN_STATUS_BAD_PARAM_DUPLICATED_ENTRIES = 2009,
    /// <summary>Bad parameter: attribute type.</summary>
    CUDNN_STATUS_BAD_PARAM_ATTRIBUTE_TYPE = 2010,
    /// <summary>Bad parameter: CUDA graph mismatch.</summary>
    CUDNN_STATUS_BAD_PARAM_CUDA_GRAPH_MISMATCH = 2011,
    /// <summary>Bad parameter: descriptor type.</summary>
    CUDNN_STATUS_BAD_PARAM_DESCRIPTOR_TYPE = 2012,
    /// <summary>Not supported (category).</summary>
    CUDNN_STATUS_NOT_SUPPORTED = 3000,
    /// <summary>Not supported: graph pattern.</summary>
    CUDNN_STATUS_NOT_SUPPORTED_GRAPH_PATTERN = 3001,
    /// <summary>Not supported: shape.</summary>
    CUDNN_STATUS_NOT_SUPPORTED_SHAPE = 3002,
    /// <summary>Not supported: data type.</summary>
    CUDNN_STATUS_NOT_SUPPORTED_DATA_TYPE = 3003,
    /// <summary>Not supported: layout.</summary>
    CUDNN_STATUS_NOT_SUPPORTED_LAYOUT = 3004,
    /// <summary>Not supported: incompatible CUDA driver.</summary>
    CUDNN_STATUS_NOT_SUPPORTED_INCOMPATIBLE_CUDA_DRIVER = 3005,
    /// <summary>Not supported: incompatible CUDA runtime.</summary>
    CUDNN_STATUS_NOT_SUPPORTED_INCOMPATIBLE_CUDART = 3006,
    /// <summary>Not supported: architecture mismatch (also the deprecated ARCH_MISMATCH).</summary>
    CUDNN_STATUS_NOT_SUPPORTED_ARCH_MISMATCH = 3007,
    /// <summary>Not supported: runtime prerequisite missing (e.g. cuBLASLt).</summary>
    CUDNN_STATUS_NOT_SUPPORTED_RUNTIME_PREREQUISITE_MISSING = 3008,
    /// <summary>Not supported: sub-library unavailable.</summary>
    CUDNN_STATUS_NOT_SUPPORTED_SUBLIBRARY_UNAVAILABLE = 3009,
    /// <summary>Not supported: shared memory insufficient.</summary>
    CUDNN_STATUS_NOT_SUPPORTED_SHARED_MEMORY_INSUFFICIENT = 3010,
    /// <summary>Not supported: padding.</summary>
    CUDNN_STATUS_NOT_SUPPORTED_PADDING = 3011,
    /// <summary>Not supported: bad launch parameter.</summary>
    CUDNN_STATUS_NOT_SUPPORTED_BAD_LAUNCH_PARAM = 3012,
    /// <summary>Not supported: CUDA graph native API.</summary>
    CUDNN_STATUS_NOT_SUPPORTED_CUDA_GRAPH_NATIVE_API = 3013,
    /// <summary>Internal error (category).</summary>
    CUDNN_STATUS_INTERNAL_ERROR = 4000,
    /// <summary>Internal error: compilation failed.</summary>
    CUDNN_STATUS_INTERNAL_ERROR_COMPILATION_FAILED = 4001,
    /// <summary>Internal error: unexpected value.</summary>
    CUDNN_STATUS_INTERNAL_ERROR_UNEXPECTED_VALUE = 4002,
    /// <summary>Internal error: host allocation failed (also the deprecated ALLOC_FAILED).</summary>
    CUDNN_STATUS_INTERNAL_ERROR_HOST_ALLOCATION_FAILED = 4003,
    /// <summary>Internal error: device allocation failed.</summary>
    CUDNN_STATUS_INTERNAL_ERROR_DEVICE_ALLOCATION_FAILED = 4004,
    /// <summary>Internal error: bad launch parameter.</summary>
    CUDNN_STATUS_INTERNAL_ERROR_BAD_LAUNCH_PARAM = 4005,
    /// <summary>Internal error: texture creation failed (also the deprecated MAPPING_ERROR).</summary>
    CUDNN_STATUS_INTERNAL_ERROR_TEXTURE_CREATION_FAILED = 4006,
    /// <summary>Execution failed (category).</summary>
    CUDNN_STATUS_EXECUTION_FAILED = 5000,
    /// <summary>Execution failed in the CUDA driver.</summary>
    CUDNN_STATUS_EXECUTION_FAILED_CUDA_DRIVER = 5001,
    /// <summary>Execution failed in cuBLAS.</summary>
    CUDNN_STATUS_EXECUTION_FAILED_CUBLAS = 5002,
    /// <summary>Execution failed in the CUDA runtime.</summary>
    CUDNN_STATUS_EXECUTION_FAILED_CUDART = 5003,
    /// <summary>Execution failed in cuRAND.</summary>
    CUDNN_STATUS_EXECUTION_FAILED_CURAND = 5004,
    /// <summary>Deprecated alias of INTERNAL_ERROR_HOST_ALLOCATION_FAILED.</summary>
    CUDNN_STATUS_ALLOC_FAILED = 4003,
    /// <summary>Deprecated alias of NOT_SUPPORTED_ARCH_MISMATCH.</summary>
    CUDNN_STATUS_ARCH_MISMATCH = 3007,
    /// <summary>Deprecated alias of INTERNAL_ERROR_TEXTURE_CREATION_FAILED.</summary>
    CUDNN_STATUS_MAPPING_ERROR = 4006,
    /// <summary>Deprecated alias of NOT_SUPPORTED_RUNTIME_PREREQUISITE_MISSING.</summary>
    CUDNN_STATUS_RUNTIME_PREREQUISITE_MISSING = 3008,
    /// <summary>Deprecated alias of SUBLIBRARY_VERSION_MISMATCH.</summary>
    CUDNN_STATUS_VERSION_MISMATCH = 1002,
}

/// <summary>
/// <c>cudnnStatus_t</c> as cuDNN <b>8.x</b> numbered it (cudnn_ops_infer.h 8.2.1; api.json "valuesV8"). The type name is
/// ours (the C type is also called cudnnStatus_t); the member names are the C names.
/// </summary>
public enum cudnnStatus_v8_t
{
    /// <summary>Success.</summary>
    CUDNN_STATUS_SUCCESS = 0,
    /// <summary>Not initialized.</summary>
    CUDNN_STATUS_NOT_INITIALIZED = 1,
    /// <summary>Allocation failed.</summary>
    CUDNN_STATUS_ALLOC_FAILED = 2,
    /// <summary>Bad parameter.</summary>
    CUDNN_STATUS_BAD_PARAM = 3,
    /// <summary>Internal error.</summary>
    CUDNN_STATUS_INTERNAL_ERROR = 4,
    /// <summary>Invalid value.</summary>
    CUDNN_STATUS_INVALID_VALUE = 5,
    /// <summary>Architecture mismatch.</summary>
    CUDNN_STATUS_ARCH_MISMATCH = 6,
    /// <summary>Mapping error.</summary>
    CUDNN_STATUS_MAPPING_ERROR = 7,
    /// <summary>Execution failed.</summary>
    CUDNN_STATUS_EXECUTION_FAILED = 8,
    /// <summary>Not supported.</summary>
    CUDNN_STATUS_NOT_SUPPORTED = 9,
    /// <summary>License error.</summary>
    CUDNN_STATUS_LICENSE_ERROR = 10,
    /// <summary>Runtime prerequisite missing.</summary>
    CUDNN_STATUS_RUNTIME_PREREQUISITE_MISSING = 11,
    /// <summary>Runtime check in progress.</summary>
    CUDNN_STATUS_RUNTIME_IN_PROGRESS = 12,
    /// <summary>FP overflow at run time.</summary>
    CUDNN_STATUS_RUNTIME_FP_OVERFLOW = 13,
    /// <summary>Sub-library version mismatch.</summary>
    CUDNN_STATUS_VERSION_MISMATCH = 14,
}

/// <summary><c>cudnnRNNMode_t</c> (same in 8.x and 9.x).</summary>
public enum cudnnRNNMode_t
{
    /// <summary>ReLU RNN.</summary>
    CUDNN_RNN_RELU = 0,
    /// <summary>tanh RNN.</summary>
    CUDNN_RNN_TANH = 1,
    /// <summary>"LSTM with optional recurrent projection and clipping".</summary>
    CUDNN_LSTM = 2,
    /// <summary>
    /// GRU, header comment: "Using h' = tanh(r * Uh(t-1) + Wx) and h = (1 - z) * h' + z * h(t-1);". The reset gate multiplies
    /// (R_h h + bR_h): a disagreement with ManagedCuda's cuDNN 7 text, settled by NVIDIA's golden checksums.
    /// </summary>
    CUDNN_GRU = 3,
}

/// <summary><c>cudnnDirectionMode_t</c>.</summary>
public enum cudnnDirectionMode_t
{
    /// <summary>Forward only.</summary>
    CUDNN_UNIDIRECTIONAL = 0,
    /// <summary>"output concatination at each layer".</summary>
    CUDNN_BIDIRECTIONAL = 1,
}

/// <summary><c>cudnnRNNInputMode_t</c>.</summary>
public enum cudnnRNNInputMode_t
{
    /// <summary>"adjustable weight matrix in first layer input GEMM".</summary>
    CUDNN_LINEAR_INPUT = 0,
    /// <summary>"fixed identity matrix in the first layer input GEMM".</summary>
    CUDNN_SKIP_INPUT = 1,
}

/// <summary><c>cudnnRNNBiasMode_t</c>. The numeric order is NO, SINGLE_INP, DOUBLE, SINGLE_REC.</summary>
public enum cudnnRNNBiasMode_t
{
    /// <summary>No biases.</summary>
    CUDNN_RNN_NO_BIAS = 0,
    /// <summary>One bias in the input GEMM.</summary>
    CUDNN_RNN_SINGLE_INP_BIAS = 1,
    /// <summary>Two biases (default).</summary>
    CUDNN_RNN_DOUBLE_BIAS = 2,
    /// <summary>One bias in the recurrent GEMM.</summary>
    CUDNN_RNN_SINGLE_REC_BIAS = 3,
}

/// <summary><c>cudnnRNNAlgo_t</c> (8.x declared it in cudnn_ops_infer.h, 9.x in cudnn_adv.h).</summary>
public enum cudnnRNNAlgo_t
{
    /// <summary>The only algorithm this library uses (projection needs it; CPU parity).</summary>
    CUDNN_RNN_ALGO_STANDARD = 0,
    /// <summary>Persistent static.</summary>
    CUDNN_RNN_ALGO_PERSIST_STATIC = 1,
    /// <summary>Persistent dynamic (needs cudnnBuildRNNDynamic).</summary>
    CUDNN_RNN_ALGO_PERSIST_DYNAMIC = 2,
    /// <summary>Persistent static, small hidden size.</summary>
    CUDNN_RNN_ALGO_PERSIST_STATIC_SMALL_H = 3,
    /// <summary>Count.</summary>
    CUDNN_RNN_ALGO_COUNT = 4,
}

/// <summary><c>cudnnMathType_t</c>.</summary>
public enum cudnnMathType_t
{
    /// <summary>Default; permits TF32 on Ampere and later.</summary>
    CUDNN_DEFAULT_MATH = 0,
    /// <summary>Tensor-core math.</summary>
    CUDNN_TENSOR_OP_MATH = 1,
    /// <summary>Tensor-core math with down-conversion.</summary>
    CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION = 2,
    /// <summary>FMA only, no TF32: what a float32 comparison with a CPU reference needs.</summary>
    CUDNN_FMA_MATH = 3,
}

/// <summary><c>cudnnDataType_t</c> (9.6.0; 8.2.1 has 0..10 with the same values).</summary>
public enum cudnnDataType_t
{
    /// <summary>float.</summary>
    CUDNN_DATA_FLOAT = 0,
    /// <summary>double.</summary>
    CUDNN_DATA_DOUBLE = 1,
    /// <summary>half.</summary>
    CUDNN_DATA_HALF = 2,
    /// <summary>int8.</summary>
    CUDNN_DATA_INT8 = 3,
    /// <summary>int32.</summary>
    CUDNN_DATA_INT32 = 4,
    /// <summary>int8x4 (deprecated in 9.x).</summary>
    CUDNN_DATA_INT8x4 = 5,
    /// <summary>uint8.</summary>
    CUDNN_DATA_UINT8 = 6,
    /// <summary>uint8x4 (deprecated in 9.x).</summary>
    CUDNN_DATA_UINT8x4 = 7,
    /// <summary>int8x32 (deprecated in 9.x).</summary>
    CUDNN_DATA_INT8x32 = 8,
    /// <summary>bfloat16.</summary>
    CUDNN_DATA_BFLOAT16 = 9,
    /// <summary>int64.</summary>
    CUDNN_DATA_INT64 = 10,
    /// <summary>boolean (9.x).</summary>
    CUDNN_DATA_BOOLEAN = 11,
    /// <summary>FP8 E4M3 (9.x).</summary>
    CUDNN_DATA_FP8_E4M3 = 12,
    /// <summary>FP8 E5M2 (9.x).</summary>
    CUDNN_DATA_FP8_E5M2 = 13,
    /// <summary>Fast float for FP8 (9.x).</summary>
    CUDNN_DATA_FAST_FLOAT_FOR_FP8 = 14,
}

/// <summary><c>cudnnRNNDataLayout_t</c>.</summary>
public enum cudnnRNNDataLayout_t
{
    /// <summary>"padded, outer stride from one time-step to the next".</summary>
    CUDNN_RNN_DATA_LAYOUT_SEQ_MAJOR_UNPACKED = 0,
    /// <summary>"sequence length sorted and packed as in basic RNN api".</summary>
    CUDNN_RNN_DATA_LAYOUT_SEQ_MAJOR_PACKED = 1,
    /// <summary>"padded, outer stride from one batch to the next".</summary>
    CUDNN_RNN_DATA_LAYOUT_BATCH_MAJOR_UNPACKED = 2,
}

/// <summary><c>cudnnForwardMode_t</c>.</summary>
public enum cudnnForwardMode_t
{
    /// <summary>Inference (reserve space unused).</summary>
    CUDNN_FWD_MODE_INFERENCE = 0,
    /// <summary>Training (fills the reserve space).</summary>
    CUDNN_FWD_MODE_TRAINING = 1,
}

/// <summary><c>cudnnWgradMode_t</c>.</summary>
public enum cudnnWgradMode_t
{
    /// <summary>"add partial gradients to wgrad output buffers": the mode we use.</summary>
    CUDNN_WGRAD_MODE_ADD = 0,
    /// <summary>"write partial gradients to wgrad output buffers". Accepted by 9.x: NOT VERIFIED.</summary>
    CUDNN_WGRAD_MODE_SET = 1,
}

/// <summary><c>cudnnRNNClipMode_t</c>.</summary>
public enum cudnnRNNClipMode_t
{
    /// <summary>"disables LSTM cell clipping".</summary>
    CUDNN_RNN_CLIP_NONE = 0,
    /// <summary>"enables LSTM cell clipping".</summary>
    CUDNN_RNN_CLIP_MINMAX = 1,
}

/// <summary><c>cudnnNanPropagation_t</c> (both members CUDNN_DEPRECATED_ENUM in 9.6.0).</summary>
public enum cudnnNanPropagation_t
{
    /// <summary>Do not propagate NaN.</summary>
    CUDNN_NOT_PROPAGATE_NAN = 0,
    /// <summary>Propagate NaN.</summary>
    CUDNN_PROPAGATE_NAN = 1,
}

/// <summary><c>libraryPropertyType</c> (CUDA library_types.h; implicit values 0, 1, 2).</summary>
public enum libraryPropertyType
{
    /// <summary>Major version.</summary>
    MAJOR_VERSION = 0,
    /// <summary>Minor version.</summary>
    MINOR_VERSION = 1,
    /// <summary>Patch level.</summary>
    PATCH_LEVEL = 2,
}

/// <summary><c>cudnnSeverity_t</c> (used by the logging callback, which we do not bind).</summary>
public enum cudnnSeverity_t
{
    /// <summary>Fatal.</summary>
    CUDNN_SEV_FATAL = 0,
    /// <summary>Error.</summary>
    CUDNN_SEV_ERROR = 1,
    /// <summary>Warning.</summary>
    CUDNN_SEV_WARNING = 2,
    /// <summary>Info.</summary>
    CUDNN_SEV_INFO = 3,
}

/// <summary>cuDNN <c>#define</c> constants (not enums in C).</summary>
public static class CudnnConstants
{
    /// <summary><c>CUDNN_RNN_PADDED_IO_DISABLED</c>: auxFlags for the packed layout.</summary>
    public const uint CUDNN_RNN_PADDED_IO_DISABLED = 0;
    /// <summary><c>CUDNN_RNN_PADDED_IO_ENABLED</c> (1U &lt;&lt; 0): auxFlags needed by the unpacked layouts.</summary>
    public const uint CUDNN_RNN_PADDED_IO_ENABLED = 1u << 0;
    /// <summary><c>CUDNN_DIM_MAX</c>.</summary>
    public const int CUDNN_DIM_MAX = 8;
    /// <summary><c>CUDNN_SEV_ERROR_EN</c>.</summary>
    public const uint CUDNN_SEV_ERROR_EN = 1u << 1;
    /// <summary><c>CUDNN_SEV_WARNING_EN</c>.</summary>
    public const uint CUDNN_SEV_WARNING_EN = 1u << 2;
    /// <summary><c>CUDNN_SEV_INFO_EN</c>.</summary>
    public const uint CUDNN_SEV_INFO_EN = 1u << 3;
}
