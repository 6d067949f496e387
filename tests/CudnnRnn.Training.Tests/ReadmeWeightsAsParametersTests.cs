using CudnnRnn.Cpu;
using CudnnRnn.Training;
using Xunit;

namespace CudnnRnn.Training.Tests;

/// <summary>The README's "Weights as parameters" snippet, compiled and run (keep in sync with README.md).</summary>
public sealed class ReadmeWeightsAsParametersTests
{
    [Fact]
    public void Snippet_runs_and_changes_the_layer_weights_in_place()
    {
        using var engine = CpuEngine.Create(1);
        var rnn = new RnnDescriptor(RnnMode.Lstm, inputSize: 4, hiddenSize: 32, dataType: RnnDataType.Float32);
        var xDesc = RnnDataDescriptor.Uniform(RnnDataLayout.SeqMajorUnpacked, 3, 2, 4);
        var x = new float[xDesc.ElementCount];
        new SeededRandom(1).FillUniform<float>(x, 1);
        var dy = new float[xDesc.WithVectorSize(32).ElementCount];
        dy.AsSpan().Fill(0.5f);

        // --- README "Weights as parameters" ---
        using var layer = new RnnLayer<float>(engine, rnn, seed: 1);
        var head = new Parameter<float>("head.weight", 2, 32);           // host arrays, as before
        var adam = new Adam<float>([Parameter<float>.Of(layer), head], learningRate: 1e-3);
        adam.ZeroGrad();
        var before = layer.Weights.ToArray();
        using (var context = layer.Forward(xDesc, x)) layer.Backward(context, dy);
        adam.Step();                                                      // layer.Weights changed in place
        // --- end ---

        var after = layer.Weights.ToArray();
        Assert.Contains(Enumerable.Range(0, after.Length), i => after[i] != before[i]);
    }
}
