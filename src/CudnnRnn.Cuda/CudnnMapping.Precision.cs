using CudnnRnn.Interop;

namespace CudnnRnn.Cuda;

/// <summary>What the algorithm and 16-bit choices need to know about a device (cudaDeviceGetAttribute).</summary>
/// <param name="Major">Compute capability major number (0 when unknown).</param>
/// <param name="Minor">Compute capability minor number.</param>
/// <param name="MultiProcessorCount">Streaming multiprocessors (cudaDevAttrMultiProcessorCount).</param>
public readonly record struct CudaDeviceTraits(int Major, int Minor, int MultiProcessorCount)
{
    /// <summary>"8.0".</summary>
    public override string ToString() => $"{Major}.{Minor}";
}

public static partial class CudnnMapping
{
    /// <summary>The cuDNN version from which this library runs BFloat16 RNNs (see <see cref="BFloat16Unsupported"/>).</summary>
    public static readonly CudnnVersionInfo MinimumBFloat16Cudnn = new(9, 13, 0, 91300);

    /// <summary>
    /// Data type, math precision and math type, as PyTorch's cuDNN RNN sets them (aten/src/ATen/native/cudnn/RNN.cpp and
    /// Descriptors.h, API.md §9):
    /// <list type="bullet">
    /// <item>Float32: FLOAT/FLOAT with CUDNN_FMA_MATH, so no TF32 enters a comparison with an FP32/FP64 CPU reference (the
    /// older doc sentence listing only DEFAULT/TENSOR_OP_ALLOW_CONVERSION for FLOAT predates FMA_MATH; PyTorch passes
    /// FMA_MATH for FLOAT when TF32 is off).</item>
    /// <item>Float64: DOUBLE/DOUBLE, DEFAULT only.</item>
    /// <item>Float16: HALF data, FLOAT math precision (promote_rnn_math_type: HALF → FLOAT, so the recurrence accumulates
    /// and keeps its state in float), CUDNN_TENSOR_OP_MATH (PyTorch sets it for HALF input; NVIDIA: for HALF data the math
    /// type may be DEFAULT or TENSOR_OP_MATH). TENSOR_OP_MATH permits tensor cores; it does not require them: on a GPU
    /// without them (compute capability &lt; 7.0) or for GEMM sizes the tensor-core kernels do not take, cuDNN runs its
    /// other kernels (NVIDIA's tensor-core guidance: sizes — input, hidden, projection, batch — that are multiples of 8
    /// for FP16; otherwise slower, not wrong).</item>
    /// <item>BFloat16: BFLOAT16 data, FLOAT math precision (API.md §9: promote_rnn_math_type maps HALF/BF16 to FLOAT; the
    /// RNN.cpp revision we read promotes only HALF, and PyTorch's cuDNN RNN takes no bf16 in that revision),
    /// CUDNN_DEFAULT_MATH, which is what PyTorch's descriptor gives non-HALF, non-FLOAT input with its default
    /// allow_tf32 = true (FMA_MATH only for FLOAT). Tensor cores for bf16 exist from compute capability 8.0; whether
    /// cuDNN's RNN uses them under DEFAULT_MATH is NOT VERIFIED.</item>
    /// </list>
    /// </summary>
    public static (cudnnDataType_t DataType, cudnnDataType_t MathPrec, cudnnMathType_t MathType) Math(RnnDataType dataType) => dataType switch
    {
        RnnDataType.Float32 => (cudnnDataType_t.CUDNN_DATA_FLOAT, cudnnDataType_t.CUDNN_DATA_FLOAT, cudnnMathType_t.CUDNN_FMA_MATH),
        RnnDataType.Float64 => (cudnnDataType_t.CUDNN_DATA_DOUBLE, cudnnDataType_t.CUDNN_DATA_DOUBLE, cudnnMathType_t.CUDNN_DEFAULT_MATH),
        RnnDataType.Float16 => (cudnnDataType_t.CUDNN_DATA_HALF, cudnnDataType_t.CUDNN_DATA_FLOAT, cudnnMathType_t.CUDNN_TENSOR_OP_MATH),
        RnnDataType.BFloat16 => (cudnnDataType_t.CUDNN_DATA_BFLOAT16, cudnnDataType_t.CUDNN_DATA_FLOAT, cudnnMathType_t.CUDNN_DEFAULT_MATH),
        _ => throw new ArgumentOutOfRangeException(nameof(dataType), dataType, "Expected Float32, Float64, Float16 or BFloat16."),
    };

    /// <summary>Bytes per element of a data type.</summary>
    public static int ElementSize(RnnDataType dataType) => dataType switch
    {
        RnnDataType.Float32 => sizeof(float),
        RnnDataType.Float64 => sizeof(double),
        RnnDataType.Float16 or RnnDataType.BFloat16 => 2,
        _ => throw new ArgumentOutOfRangeException(nameof(dataType), dataType, "Expected Float32, Float64, Float16 or BFloat16."),
    };

    /// <summary>
    /// Null when the loaded cuDNN and the device can run BFloat16 RNNs, else the reason naming what was found: cuDNN ≥
    /// 9.13 (the rule of issue 14; an NVIDIA release note stating when the v8 RNN API took CUDNN_DATA_BFLOAT16 was NOT
    /// FOUND in what we could search, so the rule is ours, and a GPU run with an older cuDNN would show whether it is too
    /// strict) and compute capability ≥ 8.0 (bf16 arithmetic units from Ampere on).
    /// </summary>
    public static string? BFloat16Unsupported(CudnnVersionInfo cudnn, CudaDeviceTraits device)
    {
        bool oldCudnn = (cudnn.Major, cudnn.Minor) is var (ma, mi) && (ma < MinimumBFloat16Cudnn.Major || (ma == MinimumBFloat16Cudnn.Major && mi < MinimumBFloat16Cudnn.Minor));
        bool oldDevice = device.Major < 8;
        if (!oldCudnn && !oldDevice) return null;
        var why = new List<string>(2);
        if (oldCudnn) why.Add($"the loaded cuDNN is {cudnn}; BFloat16 RNNs need cuDNN {MinimumBFloat16Cudnn.Major}.{MinimumBFloat16Cudnn.Minor} or newer");
        if (oldDevice) why.Add($"the device's compute capability is {device}; BFloat16 needs 8.0 or newer (Ampere)");
        return $"BFloat16 is not supported here: {string.Join(", and ", why)}. Float16 and Float32 are.";
    }

    /// <summary>
    /// The cuDNN algorithm for a plan, as PyTorch's get_algo chooses it (RNN.cpp, API.md §9), restricted to what one
    /// descriptor can serve for forward and both backward calls:
    /// <list type="bullet">
    /// <item>PERSIST_STATIC_SMALL_H (one persistent kernel for the recurrence; PyTorch #62143/#73211) for FLOAT and the
    /// 16-bit types (PyTorch: any data type but DOUBLE), hidden size ≤ 128 for LSTM/GRU and ≤ 256 for RNN_TANH/RELU
    /// (PyTorch's backward limits; its forward allows 192/384, but our plan uses one descriptor for both), compute
    /// capability ≥ 6.0 where known. Measured with cuDNN 9.19 for float: STANDARD cost ~15 µs of host time per step for
    /// LSTM 128, so small, latency-bound networks were 3x slower than PyTorch.</item>
    /// <item>PERSIST_STATIC for Float16 only, when PyTorch's use_persist_common_heuristics (one layer, unidirectional,
    /// hidden ≤ 1024 and a multiple of 128, input size a multiple of 128) and use_persist_device_heuristics (its per-GPU
    /// batch and sequence-length table: Volta yes for some batch/length pairs, Turing 7.5 no, sm_86 no, Ampere and later
    /// with ≥ 98 SMs for LSTM and RNN with batch a multiple of 8 up to 128, never GRU) hold.</item>
    /// <item>STANDARD otherwise: Float64, a projection (STANDARD only), any sequence shorter than maxSeqLength (persistent
    /// algorithms reject varying lengths, PyTorch #73211), packed data (PyTorch's get_algo takes a persistent algorithm only
    /// for input that is not packed: "Persistent algos typically don't work for packed inputs"), and anything PyTorch never
    /// runs (single biases, skip input, a cell clip).</item>
    /// </list>
    /// A plan whose persistent descriptor cuDNN refuses falls back to STANDARD (CudaPlan). The choice is made for the
    /// plan's own lengths; a later call with other lengths runs STANDARD (<see cref="CallAlgorithm"/>).
    /// </summary>
    public static cudnnRNNAlgo_t Algorithm(RnnDescriptor rnn, RnnDataDescriptor xDesc, CudaDeviceTraits device = default)
    {
        ArgumentNullException.ThrowIfNull(rnn);
        ArgumentNullException.ThrowIfNull(xDesc);
        bool fullLength = true;
        foreach (int length in xDesc.SeqLengths) fullLength &= length == xDesc.MaxSeqLength;
        bool plain = fullLength && xDesc.Layout != RnnDataLayout.SeqMajorPacked && !rnn.HasProjection && rnn.BiasMode == RnnBiasMode.Double && rnn.InputMode == RnnInputMode.Linear
            && rnn.CellClip is null && rnn.DataType != RnnDataType.Float64;
        if (!plain) return cudnnRNNAlgo_t.CUDNN_RNN_ALGO_STANDARD;
        int smallH = rnn.Mode is RnnMode.Lstm or RnnMode.Gru ? 128 : 256;
        bool deviceOk = device.Major == 0 || device.Major >= 6; // unknown device: cuDNN refuses, the plan falls back
        if (rnn.HiddenSize <= smallH && deviceOk) return cudnnRNNAlgo_t.CUDNN_RNN_ALGO_PERSIST_STATIC_SMALL_H;
        if (rnn.DataType == RnnDataType.Float16 && PersistCommon(rnn) && PersistDevice(rnn, xDesc, device))
            return cudnnRNNAlgo_t.CUDNN_RNN_ALGO_PERSIST_STATIC;
        return cudnnRNNAlgo_t.CUDNN_RNN_ALGO_STANDARD;
    }

    /// <summary>
    /// The algorithm one call runs on a plan whose algorithm (for its own lengths) is <paramref name="planAlgorithm"/>: the
    /// plan's persistent algorithm only when every sequence of the call has the full length (persistent algorithms reject
    /// varying lengths, PyTorch #73211; a plan serves every set of lengths of its shape), else STANDARD.
    /// </summary>
    public static cudnnRNNAlgo_t CallAlgorithm(cudnnRNNAlgo_t planAlgorithm, RnnDataDescriptor call)
    {
        ArgumentNullException.ThrowIfNull(call);
        if (planAlgorithm == cudnnRNNAlgo_t.CUDNN_RNN_ALGO_STANDARD || call.Layout == RnnDataLayout.SeqMajorPacked)
            return cudnnRNNAlgo_t.CUDNN_RNN_ALGO_STANDARD;
        foreach (int length in call.SeqLengths)
            if (length != call.MaxSeqLength) return cudnnRNNAlgo_t.CUDNN_RNN_ALGO_STANDARD;
        return planAlgorithm;
    }

    // PyTorch's use_persist_common_heuristics.
    private static bool PersistCommon(RnnDescriptor rnn) => rnn.NumLayers == 1 && rnn.HiddenSize <= 1024 && rnn.Direction == RnnDirection.Unidirectional
        && rnn.HiddenSize % 128 == 0 && rnn.InputSize % 128 == 0;

    // PyTorch's use_persist_device_heuristics (batch = mini_batch, seq_length = maxSeqLength).
    private static bool PersistDevice(RnnDescriptor rnn, RnnDataDescriptor xDesc, CudaDeviceTraits device)
    {
        int b = xDesc.Batch, t = xDesc.MaxSeqLength;
        if (device.Major == 7)
        {
            if (device.Minor == 5) return false; // Turing
            return ((b % 16 == 0 && b != 80 && b != 112) || b == 8) && ((t >= 40 && b <= 128) || (t >= 20 && b <= 96) || (t >= 10 && b <= 32));
        }
        if (device.Major >= 8 && device.MultiProcessorCount >= 98)
        {
            if (device.Minor == 6) return false; // sm_86 (A40 edge cases, cuDNN 8.0.5)
            return rnn.Mode switch
            {
                RnnMode.Gru => false,
                RnnMode.Lstm => b % 8 == 0 && b <= 128,
                _ => b % 8 == 0 && b <= 128 && (b < 96 || rnn.HiddenSize < 896),
            };
        }
        return false;
    }
}
