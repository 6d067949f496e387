using CudnnRnn.Interop;
using CudnnRnn.Testing.Recording;
using Xunit;

namespace CudnnRnn.Cuda.Tests;

/// <summary>
/// Which cuDNN algorithm a plan and each call run (no GPU needed: pure rules). A plan serves every set of lengths of its
/// shape, and persistent algorithms reject sequences of varying length (PyTorch #73211) and packed input (PyTorch's
/// get_algo: "Persistent algos typically don't work for packed inputs"), so only full-length, unpacked calls run the
/// plan's persistent algorithm; every other call runs STANDARD.
/// </summary>
public sealed class AlgorithmChoiceTests
{
    private static readonly RnnDescriptor Small = new(RnnMode.Lstm, 8, 32, dataType: RnnDataType.Float32);
    private const cudnnRNNAlgo_t SmallH = cudnnRNNAlgo_t.CUDNN_RNN_ALGO_PERSIST_STATIC_SMALL_H;
    private const cudnnRNNAlgo_t Standard = cudnnRNNAlgo_t.CUDNN_RNN_ALGO_STANDARD;

    [Theory]
    [InlineData(RnnDataLayout.SeqMajorUnpacked)]
    [InlineData(RnnDataLayout.BatchMajorUnpacked)]
    public void A_full_length_unpacked_plan_takes_the_persistent_kernel_and_only_full_length_calls_run_it(RnnDataLayout layout)
    {
        var plan = RnnDataDescriptor.Uniform(layout, 6, 4, 8);
        var algo = CudnnMapping.Algorithm(Small, plan);
        Assert.Equal(SmallH, algo);
        Assert.Equal(SmallH, CudnnMapping.CallAlgorithm(algo, plan));
        // The same shape with one sequence shorter (lengths per call): STANDARD, never the persistent kernel.
        var ragged = new RnnDataDescriptor(layout, 6, 4, 8, [6, 6, 5, 6]);
        Assert.Equal(Standard, CudnnMapping.CallAlgorithm(algo, ragged));
        Assert.Equal(Standard, CudnnMapping.Algorithm(Small, ragged));   // a plan made from ragged lengths: STANDARD throughout
        Assert.Equal(Standard, CudnnMapping.CallAlgorithm(Standard, plan));
    }

    [Fact]
    public void Packed_input_never_runs_a_persistent_algorithm_even_with_equal_lengths()
    {
        var packed = RnnDataDescriptor.Uniform(RnnDataLayout.SeqMajorPacked, 6, 4, 8);
        Assert.Equal(Standard, CudnnMapping.Algorithm(Small, packed));
        Assert.Equal(Standard, CudnnMapping.CallAlgorithm(SmallH, packed));
        var big = new RnnDescriptor(RnnMode.Lstm, 256, 512, dataType: RnnDataType.Float16);
        Assert.Equal(Standard, CudnnMapping.Algorithm(big, RnnDataDescriptor.Uniform(RnnDataLayout.SeqMajorPacked, 256, 64, 256), new CudaDeviceTraits(9, 0, 132)));
    }

    [Fact]
    public void The_recording_set_still_covers_the_persistent_kernel_for_every_mode()
    {
        // The recorder requires every mode to have run PERSIST_STATIC_SMALL_H at least once; with packed input excluded
        // the set must still hold an eligible unpacked configuration per mode.
        foreach (var mode in Enum.GetValues<RnnMode>())
            Assert.Contains(CudnnRecordingSet.All, c => c.Rnn.Mode == mode && c.ExpectsPersistent);
    }
}
