using CudnnRnn.Testing;
using CudnnRnn.Cpu;
using CudnnRnn.Verification;
using Xunit;

namespace CudnnRnn.Tests;

/// <summary>
/// NVIDIA's golden checksums from the cuDNN RNN_v8.0 sample (../shared/cudnn/API.md §1): the only numbers computed by
/// real cuDNN within reach. Full-size configuration: FP32, T 20, 2 layers, input = hidden = 512, batch 64, packed layout,
/// all lengths 20, double bias, linear input; x, hx, cx, dy, dhy, dcy all 1; every matrix 1/(rows·cols), every bias 1;
/// dW accumulated (ADD) into a zeroed buffer. Checksums are double sums; the sample's own tolerance is 1e-3 relative
/// (compare.py), which we keep.
/// </summary>
public sealed class NvidiaChecksumTests
{
    public static TheoryData<RnnMode> Modes() => new(RnnMode.RnnRelu, RnnMode.RnnTanh, RnnMode.Lstm, RnnMode.Gru);

    [Theory]
    [MemberData(nameof(Modes))]
    public void MatchesNvidiaGoldenChecksums(RnnMode mode)
    {
        var ours = NvidiaSample.Compute(mode, TestCpu.Engine());
        foreach (var (name, expected) in NvidiaSample.Golden[mode])
        {
            double actual = ours[name];
            double rel = Math.Abs(actual - expected) / Math.Abs(expected);
            Assert.True(rel <= NvidiaSample.Tolerance, $"{mode} {name}: ours {actual:E6}, NVIDIA {expected:E6}, relative error {rel:E2} > 1e-3 (the sample's tolerance)");
        }
    }
}
