using CudnnRnn.Cpu;
using Xunit;

namespace CudnnRnn.Tests;

/// <summary>
/// Issue 16 item 7: cuDNN keeps the dropout probability as a float, so a double just below 1 becomes 1.0f there and is
/// refused, while the CPU engine would accept it. The descriptor applies one rule for every engine.
/// </summary>
public sealed class DropoutRoundingTests
{
    [Theory]
    [InlineData(0.99999999)]             // rounds to 1.0f
    [InlineData(1.0 - 1.0 / (1 << 25))]  // exactly half-way between 1 - 2^-24 and 1: rounds to even, 1.0f
    public void Dropout_RoundingToOneInFloat32_IsRefused(double p)
    {
        Assert.True(p < 1.0);
        Assert.Equal(1f, (float)p);
        var ex = Assert.Throws<ArgumentOutOfRangeException>(() => new RnnDescriptor(RnnMode.Lstm, 3, 4, 2, dropout: p));
        Assert.Equal("dropout", ex.ParamName);
        Assert.Contains("float32", ex.Message, StringComparison.Ordinal);
        Assert.Contains(RnnDescriptor.MaxDropout.ToString("R", System.Globalization.CultureInfo.InvariantCulture), ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Dropout_LargestFloatBelowOne_IsAcceptedAndRuns()
    {
        Assert.True((float)RnnDescriptor.MaxDropout < 1f);
        Assert.Equal(RnnDescriptor.MaxDropout, (double)(float)RnnDescriptor.MaxDropout);
        var rnn = new RnnDescriptor(RnnMode.Gru, 2, 3, 2, dropout: RnnDescriptor.MaxDropout, dataType: RnnDataType.Float64);
        using var cpu = CpuEngine.Create(maxThreads: 1);
        var xDesc = RnnDataDescriptor.Uniform(RnnDataLayout.SeqMajorUnpacked, 2, 2, 2);
        var pass = Pass<double>.Run(cpu, rnn, xDesc, Rand.Weights(1, rnn), Rand.Data(2, xDesc), null, null,
            Rand.Data(3, xDesc.WithVectorSize(rnn.OutputSize)), null, null);
        Assert.All(pass.Y, v => Assert.True(double.IsFinite(v)));
        Assert.All(pass.Dw, v => Assert.True(double.IsFinite(v)));
    }
}
