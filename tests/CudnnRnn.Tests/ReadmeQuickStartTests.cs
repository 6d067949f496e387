using CudnnRnn.Cpu;
using CudnnRnn.Verification;
using Xunit;

namespace CudnnRnn.Tests;

/// <summary>The README's quick start, compiled and run, so the README cannot drift from the API.</summary>
public sealed class ReadmeQuickStartTests
{
    [Fact]
    public void QuickStart_Runs()
    {
        // --- README quick start (keep in sync with README.md) ---
        using var engine = CpuEngine.Create();
        var rnn = new RnnDescriptor(RnnMode.Lstm, inputSize: 8, hiddenSize: 16, numLayers: 2,
            direction: RnnDirection.Bidirectional, dataType: RnnDataType.Float32);
        using var lstm = new RnnLayer<float>(engine, rnn, seed: 42);

        // 3 sequences of lengths 5, 2, 4, sequence-major [T=5, B=3, 8], padding ignored.
        var xDesc = new RnnDataDescriptor(RnnDataLayout.SeqMajorUnpacked, maxSeqLength: 5, batch: 3, vectorSize: 8, seqLengths: [5, 2, 4]);
        var x = new float[xDesc.ElementCount];                          // fill x with your data
        using var context = lstm.Forward(xDesc, x);                     // y [5, 3, 2*16], hy/cy [4, 3, 16] in engine memory
        float[] y = context.Y.ToArray();                                // (or context.Y.CopyTo(span): no allocation)
        var grads = lstm.Backward(context, dy: y);                      // dx; weight gradients accumulate; dy/dhy/dcy optional
        float[] dWih = lstm.ExportPyTorchGradient("weight_ih_l0_reverse");

        // Gradient-check your own configuration in a CPU-only test run (float64 central differences):
        var report = GradientChecker.Check(rnn, xDesc);
        // --- end ---
        Assert.Equal(5 * 3 * 32, y.Length);
        Assert.Equal(4 * 3 * 16, context.Hy.Length);
        Assert.Equal(xDesc.ElementCount, grads.Dx.Length);
        Assert.Equal(64 * 8, dWih.Length);
        Assert.True(report.Passed, report.ToString());
    }
}
