using CudnnRnn.Interop;
using Xunit;

namespace CudnnRnn.Cuda.Tests;

/// <summary>How descriptors map to cuDNN arguments (the parts of a plan that need no GPU).</summary>
public sealed class MappingTests
{
    [Fact]
    public void Modes_map_to_the_cuDNN_values_by_name_not_by_cast()
    {
        Assert.Equal(cudnnRNNMode_t.CUDNN_LSTM, CudnnMapping.Mode(RnnMode.Lstm));
        Assert.Equal(cudnnRNNMode_t.CUDNN_GRU, CudnnMapping.Mode(RnnMode.Gru));
        Assert.Equal(cudnnRNNMode_t.CUDNN_RNN_RELU, CudnnMapping.Mode(RnnMode.RnnRelu));
        Assert.Equal(cudnnRNNMode_t.CUDNN_RNN_TANH, CudnnMapping.Mode(RnnMode.RnnTanh));
        Assert.Equal(cudnnRNNBiasMode_t.CUDNN_RNN_SINGLE_REC_BIAS, CudnnMapping.BiasMode(RnnBiasMode.SingleRecurrent));
        Assert.Equal(cudnnRNNBiasMode_t.CUDNN_RNN_DOUBLE_BIAS, CudnnMapping.BiasMode(RnnBiasMode.Double));
        Assert.Equal(cudnnRNNBiasMode_t.CUDNN_RNN_NO_BIAS, CudnnMapping.BiasMode(RnnBiasMode.None));
        Assert.Equal(cudnnRNNBiasMode_t.CUDNN_RNN_SINGLE_INP_BIAS, CudnnMapping.BiasMode(RnnBiasMode.SingleInput));
        Assert.Equal(cudnnRNNInputMode_t.CUDNN_SKIP_INPUT, CudnnMapping.InputMode(RnnInputMode.Skip));
        Assert.Equal(cudnnDirectionMode_t.CUDNN_BIDIRECTIONAL, CudnnMapping.Direction(RnnDirection.Bidirectional));
        Assert.Equal(cudnnRNNDataLayout_t.CUDNN_RNN_DATA_LAYOUT_BATCH_MAJOR_UNPACKED, CudnnMapping.Layout(RnnDataLayout.BatchMajorUnpacked));
        Assert.Equal(cudnnForwardMode_t.CUDNN_FWD_MODE_TRAINING, CudnnMapping.ForwardMode(RnnForwardMode.Training));
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => CudnnMapping.Mode((RnnMode)7));
        Assert.Equal("mode", e.ParamName);
    }

    [Fact]
    public void The_persistent_algorithm_is_chosen_only_where_PyTorch_would_and_nothing_unusual_is_asked()
    {
        const cudnnRNNAlgo_t persistent = cudnnRNNAlgo_t.CUDNN_RNN_ALGO_PERSIST_STATIC_SMALL_H, standard = cudnnRNNAlgo_t.CUDNN_RNN_ALGO_STANDARD;
        static RnnDataDescriptor Full(int input) => new(RnnDataLayout.SeqMajorUnpacked, 10, 4, input, [10, 10, 10, 10]);
        var lstm = new RnnDescriptor(RnnMode.Lstm, 8, 128, 2, RnnDirection.Bidirectional);
        Assert.Equal(persistent, CudnnMapping.Algorithm(lstm, Full(8)));
        Assert.Equal(persistent, CudnnMapping.Algorithm(new RnnDescriptor(RnnMode.RnnTanh, 8, 256), Full(8)));
        // Each condition alone sends the plan back to STANDARD.
        Assert.Equal(standard, CudnnMapping.Algorithm(new RnnDescriptor(RnnMode.Lstm, 8, 129), Full(8)));
        Assert.Equal(standard, CudnnMapping.Algorithm(new RnnDescriptor(RnnMode.RnnRelu, 8, 257), Full(8)));
        Assert.Equal(standard, CudnnMapping.Algorithm(new RnnDescriptor(RnnMode.Lstm, 8, 64, dataType: RnnDataType.Float64), Full(8)));
        Assert.Equal(standard, CudnnMapping.Algorithm(lstm, new RnnDataDescriptor(RnnDataLayout.SeqMajorUnpacked, 10, 4, 8, [10, 9, 10, 10])));
        Assert.Equal(standard, CudnnMapping.Algorithm(lstm, new RnnDataDescriptor(RnnDataLayout.SeqMajorPacked, 10, 2, 8, [9, 9])));
        Assert.Equal(standard, CudnnMapping.Algorithm(new RnnDescriptor(RnnMode.Lstm, 8, 64, projSize: 32), Full(8)));
        Assert.Equal(standard, CudnnMapping.Algorithm(new RnnDescriptor(RnnMode.Gru, 8, 64, biasMode: RnnBiasMode.SingleInput), Full(8)));
        Assert.Equal(standard, CudnnMapping.Algorithm(new RnnDescriptor(RnnMode.Gru, 64, 64, inputMode: RnnInputMode.Skip), Full(64)));
        Assert.Equal(standard, CudnnMapping.Algorithm(new RnnDescriptor(RnnMode.Lstm, 8, 64, cellClip: new RnnCellClip(-1, 1)), Full(8)));
    }

    [Fact]
    public void Float32_uses_FMA_math_without_TF32_and_Float64_the_default()
    {
        Assert.Equal((cudnnDataType_t.CUDNN_DATA_FLOAT, cudnnDataType_t.CUDNN_DATA_FLOAT, cudnnMathType_t.CUDNN_FMA_MATH),
            CudnnMapping.Math(RnnDataType.Float32));
        Assert.Equal((cudnnDataType_t.CUDNN_DATA_DOUBLE, cudnnDataType_t.CUDNN_DATA_DOUBLE, cudnnMathType_t.CUDNN_DEFAULT_MATH),
            CudnnMapping.Math(RnnDataType.Float64));
    }

    [Fact]
    public void Padded_IO_is_enabled_exactly_for_the_unpacked_layouts()
    {
        Assert.Equal(CudnnConstants.CUDNN_RNN_PADDED_IO_ENABLED, CudnnMapping.AuxFlags(RnnDataLayout.SeqMajorUnpacked));
        Assert.Equal(CudnnConstants.CUDNN_RNN_PADDED_IO_ENABLED, CudnnMapping.AuxFlags(RnnDataLayout.BatchMajorUnpacked));
        Assert.Equal(CudnnConstants.CUDNN_RNN_PADDED_IO_DISABLED, CudnnMapping.AuxFlags(RnnDataLayout.SeqMajorPacked));
    }

    [Fact]
    public void State_tensors_use_projSize_for_h_and_hiddenSize_for_c()
    {
        var rnn = new RnnDescriptor(RnnMode.Lstm, 5, 8, 2, RnnDirection.Bidirectional, projSize: 3);
        var h = CudnnMapping.StateTensor(rnn, 6, cell: false);
        Assert.Equal([4, 6, 3], h.Dims);
        Assert.Equal([18, 3, 1], h.Strides);
        var c = CudnnMapping.StateTensor(rnn, 6, cell: true);
        Assert.Equal([4, 6, 8], c.Dims);
        Assert.Equal([48, 8, 1], c.Strides);
    }

    [Fact]
    public void Engine_types_reflect_and_construct_without_loading_anything_native()
    {
        // Reflection over the engine and plain values must not touch a native library (no static constructor loads one).
        Assert.Equal("cuda", CudaEngine.EngineName);
        Assert.NotEmpty(typeof(CudaEngine).GetMethods());
        Assert.NotEmpty(typeof(CudaPlan<float>).GetProperties());
        System.Runtime.CompilerServices.RuntimeHelpers.RunClassConstructor(typeof(Cudnn).TypeHandle);
        System.Runtime.CompilerServices.RuntimeHelpers.RunClassConstructor(typeof(Cudart).TypeHandle);
        _ = new CudnnWeightParams(0, 0, null, null, null, null).ToString();
        Assert.Equal("12.4", CudaProbeResult.FormatCudaVersion(12040));
        Assert.Equal("none", CudaProbeResult.FormatCudaVersion(0));
    }
}
