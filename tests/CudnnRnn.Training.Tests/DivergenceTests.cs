using CudnnRnn.Cpu;
using CudnnRnn.Training;
using Xunit;

namespace CudnnRnn.Training.Tests;

/// <summary>Training that goes non-finite (issue 16, item 1): the bad step is skipped and counted, never applied.</summary>
public sealed class DivergenceTests
{
    private static Parameter<double> Param(params double[] values)
    {
        var p = new Parameter<double>("w", values.Length);
        values.CopyTo(p.Value, 0);
        return p;
    }

    [Theory]
    [InlineData("sgd", double.NaN)]
    [InlineData("sgd", double.PositiveInfinity)]
    [InlineData("adam", double.NaN)]
    [InlineData("adam", double.NegativeInfinity)]
    public void A_non_finite_gradient_skips_the_step_after_clipping(string kind, double bad)
    {
        var p = Param(1, 2, 3);
        Optimizer<double> opt = kind == "sgd" ? new Sgd<double>([p], 0.1, momentum: 0.9) : new Adam<double>([p], 0.1);
        p.Grad[0] = 1; p.Grad[1] = bad; p.Grad[2] = 1;
        double norm = GradientClipping.ClipByGlobalNorm([p], 1.0);
        Assert.False(double.IsFinite(norm));
        Assert.False(opt.Step());
        Assert.Equal([1.0, 2, 3], p.Value);
        Assert.Equal(1, opt.SkippedSteps);
        Assert.Equal(0, opt.StepCount);
        // A good step afterwards works and resets the run of bad ones; Adam's bias correction counts only applied steps.
        p.Grad[1] = 1;
        Assert.True(opt.Step());
        Assert.Equal(1, opt.StepCount);
        Assert.Equal(0, opt.ConsecutiveSkippedSteps);
        Assert.All(p.Value, v => Assert.True(double.IsFinite(v)));
        if (kind == "adam") Assert.Equal(1 - 0.1, p.Value[0], 6); // first Adam step: lr · sign(g)
    }

    [Fact]
    public void Consecutive_bad_steps_stop_training_with_a_clear_error()
    {
        var p = Param(1);
        var opt = new Adam<double>([p], 0.1) { MaxConsecutiveSkippedSteps = 3 };
        p.Grad[0] = double.NaN;
        Assert.False(opt.Step());
        Assert.False(opt.Step());
        Assert.False(opt.Step());
        var e = Assert.Throws<TrainingDivergedException>(() => opt.Step());
        Assert.Contains("4 consecutive", e.Message);
        Assert.Contains("'w'", e.Message);
        Assert.Equal(1.0, p.Value[0]);
    }

    [Fact]
    public void A_non_finite_loss_is_skipped_like_a_non_finite_gradient()
    {
        var p = Param(1);
        var opt = new Sgd<double>([p], 0.1);
        p.Grad[0] = 1;
        Assert.False(opt.Step(loss: double.NaN));
        Assert.Equal(1.0, p.Value[0]);
        Assert.Equal(1, opt.SkippedSteps);
        Assert.True(opt.Step(loss: 0.5));
        Assert.Equal(0.9, p.Value[0], 15);
    }

    [Fact]
    public void An_update_that_overflows_the_weights_is_an_error_naming_the_parameter()
    {
        // Finite gradient and learning rate whose product overflows float: the weight would become -inf.
        var p = new Parameter<float>("output.weight", 2);
        var opt = new Sgd<float>([p], 1e30);
        p.Grad[0] = 1e20f;
        var e = Assert.Throws<TrainingDivergedException>(() => opt.Step());
        Assert.Contains("'output.weight'", e.Message);
    }

    [Fact]
    public void Global_norm_of_large_finite_gradients_does_not_overflow_so_clipping_still_applies()
    {
        // Σ g² overflows float (1e60) though every gradient is finite; the norm must still come out as 1e30·√4 = 2e30.
        var p = new Parameter<float>("w", 4);
        Array.Fill(p.Grad, 1e30f);
        double norm = GradientClipping.ClipByGlobalNorm([p], 1.0);
        Assert.Equal(2e30, norm, 2e30 * 1e-6); // float inputs, double accumulation over 4 terms: relative 1e-6 is generous
        // Each of four equal gradients scaled to global norm 1 is 0.5 (1e-6 relative: the clip's +1e-6 on a 2e30 norm, float rounding).
        Assert.All(p.Grad, g => Assert.Equal(0.5, g, 1e-6));
    }

    [Fact]
    public void Trainer_skips_and_counts_batches_with_a_non_finite_loss_and_the_model_is_not_saved()
    {
        // Three sentences start with a word of their own, "x"; poisoning its embedding row gives every batch holding it a
        // NaN loss and NaN gradients.
        var train = SyntheticTask.Generate(200, 5);
        foreach (int s in new[] { 10, 90, 170 }) train[s] = train[s] with { Words = ["x", .. train[s].Words[1..]] };
        using var engine = CpuEngine.Create(1);
        var hyper = SyntheticTask.HyperParameters(true);
        using var tagger = Tagger<float>.Create(engine, hyper, train, TagColumn.Upos, 3);
        int id = tagger.Words.IdOf("x");
        Assert.True(id > Vocabulary.UnknownId, "the poisoned word must have its own row");
        tagger.WordEmbedding.Value[id * hyper.WordDim] = float.NaN;
        int holding = 3;

        var options = SyntheticTask.TrainingOptions(epochs: 1, seed: 3) with { BatchSize = 8 };
        var history = new TaggerTrainer<float>(tagger, options).Train(train, null, TestContext.Current.CancellationToken);
        var r = Assert.Single(history);
        Assert.InRange(r.SkippedSteps, 1, holding);
        Assert.True(double.IsFinite(r.TrainLoss), $"train loss {r.TrainLoss}");
        // Every value but the poisoned one stayed finite: no NaN step was applied.
        foreach (var p in tagger.Parameters)
            for (int i = 0; i < p.Count; i++)
                if (!(ReferenceEquals(p, tagger.WordEmbedding) && i == id * hyper.WordDim))
                    Assert.True(float.IsFinite(p.Value[i]), $"{p.Name}[{i}] = {p.Value[i]}");
        // Without a dev set the CLI saves the last epoch over --out: that save passes through the finiteness guard.
        string path = Path.Combine(Path.GetTempPath(), $"cudnnrnn-diverged-{Guid.NewGuid():N}.safetensors");
        var e = Assert.Throws<ArgumentException>(() => TaggerModelFile.Save(tagger, path));
        Assert.Contains("'word_embedding.weight'", e.Message);
        Assert.False(File.Exists(path));
    }

    [Fact]
    public void Trainer_stops_with_a_clear_error_when_every_step_is_non_finite()
    {
        var train = SyntheticTask.Generate(200, 5);
        using var engine = CpuEngine.Create(1);
        using var tagger = Tagger<float>.Create(engine, SyntheticTask.HyperParameters(true), train, TagColumn.Upos, 3);
        tagger.OutputBias.Value[0] = float.NaN;
        var e = Assert.Throws<TrainingDivergedException>(() =>
            new TaggerTrainer<float>(tagger, SyntheticTask.TrainingOptions(epochs: 3, seed: 3) with { BatchSize = 4 }).Train(train, null, TestContext.Current.CancellationToken));
        Assert.Contains("non-finite", e.Message);
    }

    [Fact]
    public void An_epoch_in_which_every_step_was_skipped_is_never_the_best_so_it_is_not_saved()
    {
        // Without a dev set every epoch used to be "best", so the CLI saved it over --out even when no step applied.
        var train = SyntheticTask.Generate(100, 5);
        using var engine = CpuEngine.Create(1);
        using var tagger = Tagger<float>.Create(engine, SyntheticTask.HyperParameters(true), train, TagColumn.Upos, 3);
        tagger.OutputBias.Value[0] = float.NaN;
        var epochs = new List<EpochResult>();
        int saves = 0;
        var trainer = new TaggerTrainer<float>(tagger, SyntheticTask.TrainingOptions(epochs: 3, seed: 3) with { BatchSize = 32 })
        {
            EpochCompleted = epochs.Add,
            NewBest = _ => saves++,
        };
        // 100 sentences in batches of 32: 4 batches an epoch, so the 11th bad step in a row comes in epoch 3.
        Assert.Throws<TrainingDivergedException>(() => trainer.Train(train, null, TestContext.Current.CancellationToken));
        Assert.Equal(2, epochs.Count);
        Assert.All(epochs, r => Assert.False(r.IsBest));
        Assert.All(epochs, r => Assert.Equal(4, r.SkippedSteps));
        Assert.Equal(0, saves);
    }
}
