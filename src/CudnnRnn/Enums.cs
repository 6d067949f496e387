namespace CudnnRnn;

/// <summary>Cell type. Numeric values equal cuDNN's <c>cudnnRNNMode_t</c>.</summary>
public enum RnnMode
{
    /// <summary><c>h = max(0, W x + R h + bW + bR)</c> (<c>CUDNN_RNN_RELU</c>).</summary>
    RnnRelu = 0,
    /// <summary><c>h = tanh(W x + R h + bW + bR)</c> (<c>CUDNN_RNN_TANH</c>).</summary>
    RnnTanh = 1,
    /// <summary>Four-gate LSTM without peepholes, gate order i, f, g, o; optional projection and cell clipping (<c>CUDNN_LSTM</c>).</summary>
    Lstm = 2,
    /// <summary>GRU with the reset gate applied after the recurrent matmul and its bias, gate order r, z, n (<c>CUDNN_GRU</c>).</summary>
    Gru = 3,
}

/// <summary>Direction mode. Values equal <c>cudnnDirectionMode_t</c>.</summary>
public enum RnnDirection
{
    /// <summary>Forward in time only.</summary>
    Unidirectional = 0,
    /// <summary>A forward and a reverse direction per layer; outputs concatenated as <c>[forward ; reverse]</c>.</summary>
    Bidirectional = 1,
}

/// <summary>Bias mode. Values equal <c>cudnnRNNBiasMode_t</c> (note: the numeric order is not None/Input/Recurrent/Double).</summary>
public enum RnnBiasMode
{
    /// <summary>No bias vectors.</summary>
    None = 0,
    /// <summary>One bias, in the input GEMM (bW only).</summary>
    SingleInput = 1,
    /// <summary>Two biases, bW and bR (PyTorch's bias=True).</summary>
    Double = 2,
    /// <summary>One bias, in the recurrent GEMM (bR only).</summary>
    SingleRecurrent = 3,
}

/// <summary>Input mode of the first layer. Values equal <c>cudnnRNNInputMode_t</c>.</summary>
public enum RnnInputMode
{
    /// <summary>The first layer multiplies its input by a weight matrix.</summary>
    Linear = 0,
    /// <summary>The first layer's input is added as-is to every gate (requires inputSize == hiddenSize).</summary>
    Skip = 1,
}

/// <summary>Element type of data and weights.</summary>
public enum RnnDataType
{
    /// <summary>IEEE 754 binary32 (<c>float</c>).</summary>
    Float32 = 0,
    /// <summary>IEEE 754 binary64 (<c>double</c>).</summary>
    Float64 = 1,
    /// <summary>IEEE 754 binary16 (<c>System.Half</c>): 11-bit significand, largest finite value 65504.</summary>
    Float16 = 2,
    /// <summary>bfloat16 (<c>CudnnRnn.BFloat16</c>): float32's exponent range with an 8-bit significand.</summary>
    BFloat16 = 3,
}

/// <summary>Memory layout of sequence data. Values equal <c>cudnnRNNDataLayout_t</c>.</summary>
public enum RnnDataLayout
{
    /// <summary>Padded, element (t, b) at <c>(t * batch + b) * vectorSize</c>.</summary>
    SeqMajorUnpacked = 0,
    /// <summary>No padding; lengths sorted in descending order; all sequences' step 0, then step 1, and so on.</summary>
    SeqMajorPacked = 1,
    /// <summary>Padded, element (t, b) at <c>(b * maxSeqLength + t) * vectorSize</c>.</summary>
    BatchMajorUnpacked = 2,
}

/// <summary>Forward mode. Values equal <c>cudnnForwardMode_t</c>.</summary>
public enum RnnForwardMode
{
    /// <summary>Inference: no reserve space, nothing saved for backward.</summary>
    Inference = 0,
    /// <summary>Training: fills a reserve space that backward needs.</summary>
    Training = 1,
}

/// <summary>How backward-weights writes dW. Values equal <c>cudnnWgradMode_t</c>.</summary>
public enum WeightGradMode
{
    /// <summary>Add the gradients to what the buffer holds (cuDNN's only documented mode).</summary>
    Add = 0,
    /// <summary>Overwrite the buffer with the gradients.</summary>
    Set = 1,
}

/// <summary>What LSTM cell clipping does with NaN. Values follow <c>cudnnNanPropagation_t</c>.</summary>
public enum ClipNanMode
{
    /// <summary>NaN is replaced by the lower clipping bound (our choice; cuDNN's wording is "one of the boundary values").</summary>
    NotPropagate = 0,
    /// <summary>NaN passes through the clip unchanged.</summary>
    Propagate = 1,
}
