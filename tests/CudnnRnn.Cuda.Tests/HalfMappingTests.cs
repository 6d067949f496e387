using CudnnRnn.Interop;
using Xunit;

namespace CudnnRnn.Cuda.Tests;

/// <summary>
/// The cuDNN engine's 16-bit choices, without a GPU: data type / math precision / math type as PyTorch sets them, element
/// size, the BFloat16 gate (cuDNN ≥ 9.13 and compute capability ≥ 8.0) with messages naming what was found, plan creation
/// refused before any native call, the algorithm heuristics for half, and 2-byte weight layouts.
/// </summary>
[Collection(NativeCollection.Name)]
public sealed class HalfMappingTests
{
    private static RnnDataDescriptor Full(int input, int batch = 8, int steps = 10) =>
        RnnDataDescriptor.Uniform(RnnDataLayout.SeqMajorUnpacked, steps, batch, input);

    [Fact]
    public void Half_data_uses_float_math_precision_and_tensor_op_math_and_bf16_float_precision_with_default_math()
    {
        Assert.Equal((cudnnDataType_t.CUDNN_DATA_HALF, cudnnDataType_t.CUDNN_DATA_FLOAT, cudnnMathType_t.CUDNN_TENSOR_OP_MATH),
            CudnnMapping.Math(RnnDataType.Float16));
        Assert.Equal((cudnnDataType_t.CUDNN_DATA_BFLOAT16, cudnnDataType_t.CUDNN_DATA_FLOAT, cudnnMathType_t.CUDNN_DEFAULT_MATH),
            CudnnMapping.Math(RnnDataType.BFloat16));
        // The header values (API.md §6: HALF = 2, BFLOAT16 = 9), not whatever the enum happens to hold.
        Assert.Equal(2, (int)CudnnMapping.Math(RnnDataType.Float16).DataType);
        Assert.Equal(9, (int)CudnnMapping.Math(RnnDataType.BFloat16).DataType);
        Assert.Equal(2, CudnnMapping.ElementSize(RnnDataType.Float16));
        Assert.Equal(2, CudnnMapping.ElementSize(RnnDataType.BFloat16));
        Assert.Throws<ArgumentOutOfRangeException>(() => CudnnMapping.Math((RnnDataType)99));
    }

    [Theory]
    [InlineData(9, 13, 8, 0, null)]
    [InlineData(9, 19, 9, 0, null)]
    [InlineData(10, 0, 8, 6, null)]
    [InlineData(9, 12, 8, 0, "the loaded cuDNN is 9.12.0; BFloat16 RNNs need cuDNN 9.13 or newer")]
    [InlineData(8, 9, 9, 0, "the loaded cuDNN is 8.9.0")]
    [InlineData(9, 13, 7, 5, "compute capability is 7.5; BFloat16 needs 8.0 or newer")]
    public void BFloat16_needs_cuDNN_9_13_and_compute_capability_8_and_the_message_names_what_was_found(int ma, int mi, int ccMajor, int ccMinor, string? expected)
    {
        string? reason = CudnnMapping.BFloat16Unsupported(new CudnnVersionInfo(ma, mi, 0, 0), new CudaDeviceTraits(ccMajor, ccMinor, 100));
        if (expected is null) Assert.Null(reason);
        else Assert.Contains(expected, reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Both_reasons_are_named_when_cuDNN_and_the_device_are_too_old()
    {
        string reason = CudnnMapping.BFloat16Unsupported(new CudnnVersionInfo(9, 1, 0, 0), new CudaDeviceTraits(7, 0, 80))!;
        Assert.Contains("cuDNN is 9.1.0", reason, StringComparison.Ordinal);
        Assert.Contains("compute capability is 7.0", reason, StringComparison.Ordinal);
    }

    [Fact]
    public void The_engine_supports_half_everywhere_and_bf16_only_where_the_gate_opens()
    {
        using var old = CudaEngine.CreateDetachedForTesting(cudnn: new CudnnVersionInfo(9, 6, 0, 90600), device: new CudaDeviceTraits(9, 0, 132));
        Assert.True(old.Supports(RnnDataType.Float16, out _));
        Assert.False(old.Supports(RnnDataType.BFloat16, out string? reason));
        Assert.Contains("9.6.0", reason, StringComparison.Ordinal);
        using var fresh = CudaEngine.CreateDetachedForTesting(cudnn: new CudnnVersionInfo(9, 19, 0, 91900), device: new CudaDeviceTraits(9, 0, 132));
        Assert.True(fresh.Supports(RnnDataType.BFloat16, out _));
    }

    [Fact]
    public void Creating_a_bf16_plan_where_it_is_unsupported_throws_NotSupportedException_before_any_native_call()
    {
        // A native call here would throw CudaLibraryNotFoundException (no CUDA on a CI runner), not NotSupportedException.
        using var engine = CudaEngine.CreateDetachedForTesting(cudnn: new CudnnVersionInfo(9, 19, 0, 91900), device: new CudaDeviceTraits(7, 5, 40));
        var rnn = new RnnDescriptor(RnnMode.Lstm, 8, 16, dataType: RnnDataType.BFloat16);
        var e = Assert.Throws<NotSupportedException>(() => engine.CreatePlan<BFloat16>(rnn, Full(8)));
        Assert.Contains("compute capability is 7.5", e.Message, StringComparison.Ordinal);
        // The weight layout of such a descriptor is the same refusal (before: a raw cuDNN status from the layout query).
        e = Assert.Throws<NotSupportedException>(() => engine.GetWeightLayout(rnn));
        Assert.Contains("compute capability is 7.5", e.Message, StringComparison.Ordinal);
        // A Half plan for a BFloat16 descriptor is an element-type mismatch, also before any native call.
        Assert.Throws<ArgumentException>(() => engine.CreatePlan<Half>(rnn, Full(8)));
    }

    private static readonly CudaDeviceTraits s_h100 = new(9, 0, 132), s_sm86 = new(8, 6, 112), s_v100 = new(7, 0, 80), s_t4 = new(7, 5, 40);

    [Fact]
    public void Half_takes_the_small_hidden_persistent_kernel_like_float()
    {
        var small = new RnnDescriptor(RnnMode.Lstm, 8, 64, dataType: RnnDataType.Float16);
        Assert.Equal(cudnnRNNAlgo_t.CUDNN_RNN_ALGO_PERSIST_STATIC_SMALL_H, CudnnMapping.Algorithm(small, Full(8), s_h100));
        Assert.Equal(cudnnRNNAlgo_t.CUDNN_RNN_ALGO_PERSIST_STATIC_SMALL_H,
            CudnnMapping.Algorithm(small.WithDataType(RnnDataType.BFloat16), Full(8), s_h100));
        // Pascal-and-older guard of use_rnn_persist_small_h (compute capability < 6).
        Assert.Equal(cudnnRNNAlgo_t.CUDNN_RNN_ALGO_STANDARD, CudnnMapping.Algorithm(small, Full(8), new CudaDeviceTraits(5, 2, 24)));
    }

    [Fact]
    public void Half_takes_PERSIST_STATIC_exactly_where_PyTorchs_common_and_device_heuristics_hold()
    {
        var big = new RnnDescriptor(RnnMode.Lstm, 256, 512, dataType: RnnDataType.Float16);
        var ps = cudnnRNNAlgo_t.CUDNN_RNN_ALGO_PERSIST_STATIC;
        var std = cudnnRNNAlgo_t.CUDNN_RNN_ALGO_STANDARD;
        Assert.Equal(ps, CudnnMapping.Algorithm(big, Full(256, batch: 64), s_h100));
        Assert.Equal(std, CudnnMapping.Algorithm(big.WithDataType(RnnDataType.Float32), Full(256, batch: 64), s_h100)); // half only
        Assert.Equal(std, CudnnMapping.Algorithm(big.WithDataType(RnnDataType.BFloat16), Full(256, batch: 64), s_h100));
        Assert.Equal(std, CudnnMapping.Algorithm(big, Full(256, batch: 60), s_h100));   // batch not a multiple of 8
        Assert.Equal(std, CudnnMapping.Algorithm(big, Full(256, batch: 136), s_h100));  // batch > 128
        Assert.Equal(std, CudnnMapping.Algorithm(big, Full(256, batch: 64), s_sm86));   // sm_86 excluded even with >= 98 SMs (isolates the minor check)
        Assert.Equal(std, CudnnMapping.Algorithm(big, Full(256, batch: 64), s_t4));     // Turing excluded
        Assert.Equal(std, CudnnMapping.Algorithm(big, Full(256, batch: 64), new CudaDeviceTraits(8, 0, 56))); // A30: < 98 SMs
        Assert.Equal(ps, CudnnMapping.Algorithm(big, Full(256, batch: 64, steps: 40), s_v100)); // Volta table
        Assert.Equal(std, CudnnMapping.Algorithm(big, Full(256, batch: 80, steps: 40), s_v100)); // 80 weeded out
        Assert.Equal(std, CudnnMapping.Algorithm(big, Full(256, batch: 64, steps: 10), s_v100)); // too short for b = 64
        Assert.Equal(std, CudnnMapping.Algorithm(new RnnDescriptor(RnnMode.Gru, 256, 512, dataType: RnnDataType.Float16), Full(256, batch: 64), s_h100));
        Assert.Equal(std, CudnnMapping.Algorithm(new RnnDescriptor(RnnMode.Lstm, 256, 512, 2, dataType: RnnDataType.Float16), Full(256, batch: 64), s_h100));
        Assert.Equal(std, CudnnMapping.Algorithm(new RnnDescriptor(RnnMode.Lstm, 200, 512, dataType: RnnDataType.Float16), Full(200, batch: 64), s_h100));
        Assert.Equal(std, CudnnMapping.Algorithm(new RnnDescriptor(RnnMode.Lstm, 256, 520, dataType: RnnDataType.Float16), Full(256, batch: 64), s_h100));
        Assert.Equal(std, CudnnMapping.Algorithm(new RnnDescriptor(RnnMode.RnnTanh, 256, 1024, dataType: RnnDataType.Float16), Full(256, batch: 96), s_h100));
        Assert.Equal(ps, CudnnMapping.Algorithm(new RnnDescriptor(RnnMode.RnnTanh, 256, 768, dataType: RnnDataType.Float16), Full(256, batch: 96), s_h100));
        Assert.Equal(std, CudnnMapping.Algorithm(big, new RnnDataDescriptor(RnnDataLayout.SeqMajorUnpacked, 10, 8, 256, [10, 10, 10, 10, 10, 10, 10, 9]), s_h100));
    }

    [Fact]
    public void A_weight_table_with_two_byte_offsets_builds_the_same_layout_as_the_canonical_one()
    {
        var rnn = new RnnDescriptor(RnnMode.Gru, 5, 3, 2, RnnDirection.Bidirectional, dataType: RnnDataType.Float16);
        var canonical = RnnWeightLayout.Canonical(rnn);
        var table = new List<CudnnWeightParams>();
        foreach (var e in canonical.Entries)
            table.Add(new CudnnWeightParams(e.PseudoLayer, e.LinLayerId,
                e.MatrixOffset < 0 ? null : e.MatrixOffset * 2, e.MatrixOffset < 0 ? null : [1, e.Rows, e.Cols],
                e.BiasOffset < 0 ? null : e.BiasOffset * 2, e.BiasOffset < 0 ? null : [1, e.BiasLength, 1]));
        var built = CudnnWeightLayoutBuilder.Build(rnn, canonical.TotalElements * 2, 2, table);
        Assert.Equal(canonical.TotalElements, built.TotalElements);
        // A 4-byte element size for 16-bit data is refused, and so is an odd byte offset.
        Assert.Throws<ArgumentOutOfRangeException>(() => CudnnWeightLayoutBuilder.Build(rnn, canonical.TotalElements * 2, 4, table));
        var odd = table.Select((p, i) => i == 0 ? p with { MatrixOffsetBytes = p.MatrixOffsetBytes + 1 } : p).ToList();
        Assert.ThrowsAny<ArgumentException>(() => CudnnWeightLayoutBuilder.Build(rnn, canonical.TotalElements * 2, 2, odd));
    }
}
