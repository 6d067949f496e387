using CudnnRnn.Training;
using Xunit;

namespace CudnnRnn.OpenCL.Tests;

/// <summary>
/// Mixed-precision tagger training on the OpenCL engine's 16-bit path (PoCL here): the same task and thresholds as the
/// CPU engine's test (CudnnRnn.Training.Tests.MixedPrecisionTrainingTests), with the RNNs in fp16/bf16 on OpenCL.
/// </summary>
public sealed class MixedPrecisionTaggerTests
{
    [Theory]
    [InlineData(Precision.Fp16)]
    [InlineData(Precision.Bf16)]
    public void A_16_bit_tagger_learns_the_synthetic_task_on_opencl(Precision precision)
    {
        var engine = SharedOpenCl.Require();
        if (!engine.Supports(precision.ToRnnDataType(), out var why)) Assert.Skip($"{precision.Word()} is not supported on this OpenCL device: {why}");
        var train = SyntheticTask.Generate(1500, 3);
        var dev = SyntheticTask.Generate(300, 4);
        using var tagger = Tagger<float>.Create(engine, SyntheticTask.HyperParameters(true), train, TagColumn.Upos, 3, precision);
        var h = new TaggerTrainer<float>(tagger, SyntheticTask.TrainingOptions(epochs: 4, seed: 3) with { Precision = precision })
            .Train(train, dev, TestContext.Current.CancellationToken);
        double acc = TaggerEvaluation.Evaluate(tagger, dev).Accuracy;
        Assert.True(h[^1].TrainLoss < h[0].TrainLoss / 3, $"loss {h[0].TrainLoss} -> {h[^1].TrainLoss}");
        Assert.True(acc > 0.97, $"dev accuracy {acc}");
    }
}
