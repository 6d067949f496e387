using System.Runtime.InteropServices;
using CudnnRnn.Testing;
using Xunit;

namespace CudnnRnn.OpenCL.Tests;

/// <summary>
/// Plans per shape, lengths per call on OpenCL: one plan through five sets of lengths (re-uploading its tables) is
/// bitwise identical to an OpenCL plan built for each exact set; those plans are held to the CPU engine by the
/// conformance parity tests.
/// </summary>
public sealed class OpenClLengthsPerCallTests
{
    public static TheoryData<int> Seeds() => new(Enumerable.Range(0, RandomConfigurations.Count));

    [Theory]
    [MemberData(nameof(Seeds))]
    public void OnePlanPerShape_IsBitwiseIdenticalToAPlanPerLengths(int seed)
    {
        var engine = SharedOpenCl.Require();
        var (rnn, shape) = RandomConfigurations.Get(seed, RnnDataType.Float32);
        var calls = LengthsPerCall.RandomLengthSets(shape, 5, 31 * seed + 1);
        var w = LengthsPerCall.Weights<float>(engine, rnn, seed);
        var shared = LengthsPerCall.RunShared(engine, rnn, shape, calls, w, 100 * seed);
        for (int i = 0; i < calls.Length; i++)
        {
            var fresh = LengthsPerCall.RunFresh(engine, rnn, calls[i], i, w, 100 * seed);
            string? diff = LengthsPerCall.FirstDifference(fresh, shared[i], Marshal.SizeOf<float>());
            Assert.True(diff is null, $"call {i} {calls[i]}: {diff}");
        }
    }
}
