using CudnnRnn.Cpu;
using CudnnRnn.Training;
using Xunit;

namespace CudnnRnn.Training.Tests;

public class SyntheticTaskTests
{
    [Fact]
    public void Labels_depend_on_the_next_token()
    {
        var s = SyntheticTask.Generate(50, 1);
        foreach (var x in s)
            for (int i = 0; i < x.Length; i++)
                Assert.Equal(i + 1 == x.Length ? "END" : int.Parse(x.Words[i + 1]) > int.Parse(x.Words[i]) ? "UP" : "DOWN", x.Tags[i]);
    }

    [Fact]
    public void Bidirectional_model_learns_and_beats_the_unidirectional_one()
    {
        var train = SyntheticTask.Generate(1500, 3);
        var dev = SyntheticTask.Generate(300, 4);
        using var engine = CpuEngine.Create(1);
        double Accuracy(bool bidirectional, out IReadOnlyList<EpochResult> history)
        {
            using var tagger = Tagger<float>.Create(engine, SyntheticTask.HyperParameters(bidirectional), train, TagColumn.Upos, 3);
            history = new TaggerTrainer<float>(tagger, SyntheticTask.TrainingOptions(epochs: 4, seed: 3)).Train(train, dev);
            return TaggerEvaluation.Evaluate(tagger, dev).Accuracy;
        }
        double bi = Accuracy(true, out var biHistory);
        double uni = Accuracy(false, out _);
        Assert.True(biHistory[^1].TrainLoss < biHistory[0].TrainLoss / 3, $"loss {biHistory[0].TrainLoss} -> {biHistory[^1].TrainLoss}");
        Assert.True(bi > 0.97, $"bidirectional accuracy {bi}");
        Assert.True(uni < 0.85, $"unidirectional accuracy {uni}");
    }
}
