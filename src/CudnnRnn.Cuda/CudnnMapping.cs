using CudnnRnn.Interop;

namespace CudnnRnn.Cuda;

/// <summary>
/// How a <see cref="RnnDescriptor"/> / <see cref="RnnDataDescriptor"/> maps onto cuDNN arguments. Explicit switches (not
/// casts), so a renumbered .NET enum can never silently pass a wrong cuDNN value.
/// </summary>
public static class CudnnMapping
{
    /// <summary>Cell mode.</summary>
    public static cudnnRNNMode_t Mode(RnnMode mode) => mode switch
    {
        RnnMode.RnnRelu => cudnnRNNMode_t.CUDNN_RNN_RELU,
        RnnMode.RnnTanh => cudnnRNNMode_t.CUDNN_RNN_TANH,
        RnnMode.Lstm => cudnnRNNMode_t.CUDNN_LSTM,
        RnnMode.Gru => cudnnRNNMode_t.CUDNN_GRU,
        _ => throw new ArgumentOutOfRangeException(nameof(mode), mode, "Expected RnnRelu, RnnTanh, Lstm or Gru."),
    };

    /// <summary>
    /// Bias mode (numeric order NO, SINGLE_INP, DOUBLE, SINGLE_REC in cuDNN). Where the single bias sits in the GRU new gate
    /// under SINGLE_INP vs SINGLE_REC is an inference from the header wording, not a quote: a GPU
    /// parity run with those modes settles it.
    /// </summary>
    public static cudnnRNNBiasMode_t BiasMode(RnnBiasMode bias) => bias switch
    {
        RnnBiasMode.None => cudnnRNNBiasMode_t.CUDNN_RNN_NO_BIAS,
        RnnBiasMode.SingleInput => cudnnRNNBiasMode_t.CUDNN_RNN_SINGLE_INP_BIAS,
        RnnBiasMode.Double => cudnnRNNBiasMode_t.CUDNN_RNN_DOUBLE_BIAS,
        RnnBiasMode.SingleRecurrent => cudnnRNNBiasMode_t.CUDNN_RNN_SINGLE_REC_BIAS,
        _ => throw new ArgumentOutOfRangeException(nameof(bias), bias, "Expected None, SingleInput, Double or SingleRecurrent."),
    };

    /// <summary>Direction mode.</summary>
    public static cudnnDirectionMode_t Direction(RnnDirection direction) => direction switch
    {
        RnnDirection.Unidirectional => cudnnDirectionMode_t.CUDNN_UNIDIRECTIONAL,
        RnnDirection.Bidirectional => cudnnDirectionMode_t.CUDNN_BIDIRECTIONAL,
        _ => throw new ArgumentOutOfRangeException(nameof(direction), direction, "Expected Unidirectional or Bidirectional."),
    };

    /// <summary>Input mode.</summary>
    public static cudnnRNNInputMode_t InputMode(RnnInputMode input) => input switch
    {
        RnnInputMode.Linear => cudnnRNNInputMode_t.CUDNN_LINEAR_INPUT,
        RnnInputMode.Skip => cudnnRNNInputMode_t.CUDNN_SKIP_INPUT,
        _ => throw new ArgumentOutOfRangeException(nameof(input), input, "Expected Linear or Skip."),
    };

    /// <summary>Data layout.</summary>
    public static cudnnRNNDataLayout_t Layout(RnnDataLayout layout) => layout switch
    {
        RnnDataLayout.SeqMajorUnpacked => cudnnRNNDataLayout_t.CUDNN_RNN_DATA_LAYOUT_SEQ_MAJOR_UNPACKED,
        RnnDataLayout.SeqMajorPacked => cudnnRNNDataLayout_t.CUDNN_RNN_DATA_LAYOUT_SEQ_MAJOR_PACKED,
        RnnDataLayout.BatchMajorUnpacked => cudnnRNNDataLayout_t.CUDNN_RNN_DATA_LAYOUT_BATCH_MAJOR_UNPACKED,
        _ => throw new ArgumentOutOfRangeException(nameof(layout), layout, "Expected SeqMajorUnpacked, SeqMajorPacked or BatchMajorUnpacked."),
    };

    /// <summary>
    /// auxFlags: the unpacked (padded) layouts are permitted only with CUDNN_RNN_PADDED_IO_ENABLED ([JL]/NVIDIA); packed uses
    /// DISABLED, as PyTorch does. ([VG], unverified: unpacked without the flag and any length &lt; maxSeqLength is BAD_PARAM.)
    /// </summary>
    public static uint AuxFlags(RnnDataLayout layout) => layout == RnnDataLayout.SeqMajorPacked
        ? CudnnConstants.CUDNN_RNN_PADDED_IO_DISABLED
        : CudnnConstants.CUDNN_RNN_PADDED_IO_ENABLED;

    /// <summary>
    /// The cuDNN algorithm for a plan. STANDARD launches kernels step by step; PERSIST_STATIC_SMALL_H keeps the recurrence
    /// in one persistent kernel, which PyTorch picks for small hidden sizes. Measured with cuDNN 9.19, STANDARD
    /// cost ~15 µs of host time per step for LSTM 128 (0.8 ms per 50-step forward against PyTorch's 0.13 ms), so small,
    /// latency-bound networks were 3x slower than PyTorch. Chosen here only where PyTorch chooses it and nothing unusual
    /// is asked for: float32, hidden size ≤ 128 for LSTM/GRU and ≤ 256 for RNN_TANH/RELU (PyTorch's backward limits, so
    /// one descriptor serves forward and both backward calls), every sequence of full length (persistent algorithms
    /// reject varying lengths: PyTorch #73211), no projection (STANDARD only), and the plain configuration PyTorch runs
    /// (double bias, linear input, no clip); everything else stays on STANDARD.
    /// </summary>
    public static cudnnRNNAlgo_t Algorithm(RnnDescriptor rnn, RnnDataDescriptor xDesc)
    {
        bool fullLength = true;
        foreach (int length in xDesc.SeqLengths) fullLength &= length == xDesc.MaxSeqLength;
        int limit = rnn.Mode is RnnMode.Lstm or RnnMode.Gru ? 128 : 256;
        bool eligible = rnn.DataType == RnnDataType.Float32 && rnn.HiddenSize <= limit && fullLength && !rnn.HasProjection
            && rnn.BiasMode == RnnBiasMode.Double && rnn.InputMode == RnnInputMode.Linear && rnn.CellClip is null;
        return eligible ? cudnnRNNAlgo_t.CUDNN_RNN_ALGO_PERSIST_STATIC_SMALL_H : cudnnRNNAlgo_t.CUDNN_RNN_ALGO_STANDARD;
    }

    /// <summary>Forward mode.</summary>
    public static cudnnForwardMode_t ForwardMode(RnnForwardMode mode) => mode switch
    {
        RnnForwardMode.Inference => cudnnForwardMode_t.CUDNN_FWD_MODE_INFERENCE,
        RnnForwardMode.Training => cudnnForwardMode_t.CUDNN_FWD_MODE_TRAINING,
        _ => throw new ArgumentOutOfRangeException(nameof(mode), mode, "Expected Inference or Training."),
    };

    /// <summary>
    /// Data type, math precision and math type. Float32 uses CUDNN_FMA_MATH so no TF32 enters a comparison with an FP32/FP64
    /// CPU reference (the older doc sentence listing only DEFAULT/TENSOR_OP_ALLOW_CONVERSION for FLOAT
    /// predates FMA_MATH, and PyTorch passes FMA_MATH for FLOAT in production). Float64 allows DEFAULT only.
    /// </summary>
    public static (cudnnDataType_t DataType, cudnnDataType_t MathPrec, cudnnMathType_t MathType) Math(RnnDataType dataType) => dataType switch
    {
        RnnDataType.Float32 => (cudnnDataType_t.CUDNN_DATA_FLOAT, cudnnDataType_t.CUDNN_DATA_FLOAT, cudnnMathType_t.CUDNN_FMA_MATH),
        RnnDataType.Float64 => (cudnnDataType_t.CUDNN_DATA_DOUBLE, cudnnDataType_t.CUDNN_DATA_DOUBLE, cudnnMathType_t.CUDNN_DEFAULT_MATH),
        _ => throw new ArgumentOutOfRangeException(nameof(dataType), dataType, "Expected Float32 or Float64."),
    };

    /// <summary>Bytes per element of a data type.</summary>
    public static int ElementSize(RnnDataType dataType) => dataType switch
    {
        RnnDataType.Float32 => sizeof(float),
        RnnDataType.Float64 => sizeof(double),
        _ => throw new ArgumentOutOfRangeException(nameof(dataType), dataType, "Expected Float32 or Float64."),
    };

    /// <summary>
    /// hDesc / cDesc dims and strides: <c>{L·dirs, B, width}</c>, strides <c>{B·width, width, 1}</c> ([S9]). hDesc's width is
    /// projSize when the LSTM projection is on (else hiddenSize); cDesc's is hiddenSize. ([VG], unverified:
    /// an hDesc hiddenSize wide with a projection is BAD_PARAM.)
    /// </summary>
    public static (int[] Dims, int[] Strides) StateTensor(RnnDescriptor rnn, int batch, bool cell)
    {
        ArgumentNullException.ThrowIfNull(rnn);
        int width = cell ? rnn.HiddenSize : rnn.StateSize;
        return ([rnn.PseudoLayerCount, batch, width], [checked(batch * width), width, 1]);
    }
}
