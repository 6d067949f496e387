using CudnnRnn.Interop;

namespace CudnnRnn.Cuda;

/// <summary>
/// How a <see cref="RnnDescriptor"/> / <see cref="RnnDataDescriptor"/> maps onto cuDNN arguments. Explicit switches (not
/// casts), so a renumbered .NET enum can never silently pass a wrong cuDNN value.
/// </summary>
public static partial class CudnnMapping
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

    /// <summary>Forward mode.</summary>
    public static cudnnForwardMode_t ForwardMode(RnnForwardMode mode) => mode switch
    {
        RnnForwardMode.Inference => cudnnForwardMode_t.CUDNN_FWD_MODE_INFERENCE,
        RnnForwardMode.Training => cudnnForwardMode_t.CUDNN_FWD_MODE_TRAINING,
        _ => throw new ArgumentOutOfRangeException(nameof(mode), mode, "Expected Inference or Training."),
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
