using CudnnRnn.Cpu;
using CudnnRnn.Training;
using Xunit;

namespace CudnnRnn.Training.Tests;

/// <summary>
/// Mixed-precision training of the tagger on the CPU engine's 16-bit path: it learns what float32 learns, a float16 step
/// whose scaled gradients overflow is skipped and halves the scale, and checkpoints resume the loss scaler bit for bit.
/// </summary>
public sealed class MixedPrecisionTrainingTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("cudnnrnn-mixed-").FullName;

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    [Fact]
    public void A_16_bit_tagger_learns_the_synthetic_task_as_float32_does()
    {
        // "Like float32" means: the thresholds the float32 test of this task uses (SyntheticTaskTests: loss down 3x,
        // dev accuracy > 0.97), and a dev accuracy within 1 point of the float32 run's (30 of ~3,000 dev tokens). The
        // trajectories cannot agree value by value: rounding the weights to 16 bits (relative 2^-11 or 2^-8 each step)
        // changes the path Adam takes, so what must agree is what the model learns.
        var train = SyntheticTask.Generate(1500, 3);
        var dev = SyntheticTask.Generate(300, 4);
        using var engine = CpuEngine.Create(1);
        var results = new Dictionary<Precision, (IReadOnlyList<EpochResult> History, double Accuracy)>();
        foreach (var p in new[] { Precision.Fp32, Precision.Fp16, Precision.Bf16 })
        {
            using var tagger = Tagger<float>.Create(engine, SyntheticTask.HyperParameters(true), train, TagColumn.Upos, 3, p);
            var history = new TaggerTrainer<float>(tagger, SyntheticTask.TrainingOptions(epochs: 4, seed: 3) with { Precision = p }).Train(train, dev, TestContext.Current.CancellationToken);
            results[p] = (history, TaggerEvaluation.Evaluate(tagger, dev).Accuracy);
        }
        double acc32 = results[Precision.Fp32].Accuracy;
        foreach (var (p, (h, acc)) in results)
        {
            Assert.True(h[^1].TrainLoss < h[0].TrainLoss / 3, $"{p}: loss {h[0].TrainLoss} -> {h[^1].TrainLoss}");
            Assert.True(acc > 0.97, $"{p}: dev accuracy {acc}");
            Assert.True(Math.Abs(acc - acc32) <= 0.01, $"{p}: dev accuracy {acc} vs float32 {acc32}");
        }
        Assert.Equal(1f, results[Precision.Bf16].History[^1].LossScale);   // bf16: no loss scaling
        Assert.True(results[Precision.Fp16].History[^1].LossScale >= 1, "the float16 run kept a usable scale");
    }

    [Theory]
    [InlineData(Precision.Fp16)]
    [InlineData(Precision.Bf16)]
    public void A_two_layer_16_bit_tagger_learns_through_its_stacked_layers(Precision precision)
    {
        // Two layers take the stacked path (block copies from the multi-layer master, keyed dropout between the layers in
        // float32, gradients added back block by block); a wrong block or a lost gradient would stop it from learning the
        // task, which needs the second layer's output: the thresholds of the float32 test.
        var train = SyntheticTask.Generate(1500, 3);
        var dev = SyntheticTask.Generate(300, 4);
        using var engine = CpuEngine.Create(1);
        var hyper = SyntheticTask.HyperParameters(true) with { Layers = 2, Dropout = 0.1 };
        using var tagger = Tagger<float>.Create(engine, hyper, train, TagColumn.Upos, 3, precision);
        var h = new TaggerTrainer<float>(tagger, SyntheticTask.TrainingOptions(epochs: 4, seed: 3) with { Precision = precision })
            .Train(train, dev, TestContext.Current.CancellationToken);
        double acc = TaggerEvaluation.Evaluate(tagger, dev).Accuracy;
        Assert.True(h[^1].TrainLoss < h[0].TrainLoss / 3, $"loss {h[0].TrainLoss} -> {h[^1].TrainLoss}");
        Assert.True(acc > 0.97, $"dev accuracy {acc}");
    }

    [Fact]
    public void A_float16_step_whose_scaled_gradients_overflow_is_skipped_and_the_scale_halves()
    {
        var train = SyntheticTask.Generate(96, 5);
        using var engine = CpuEngine.Create(1);
        using var tagger = Tagger<float>.Create(engine, SyntheticTask.HyperParameters(true, 12), train, TagColumn.Upos, 5, Precision.Fp16);
        var initial = tagger.Parameters.Select(p => p.Value.ToArray()).ToArray();
        // 2^30 times the gradient of a mean token loss (~1e-2 per output) overflows float16 (65504) in the cast of the
        // RNN's output gradient.
        var options = SyntheticTask.TrainingOptions(epochs: 1, seed: 5) with
        {
            Precision = Precision.Fp16, BatchSize = 4, GradScaler = new GradScalerOptions { InitScale = MathF.ScaleB(1, 30) },
        };
        var trainer = new TaggerTrainer<float>(tagger, options);
        bool checkedFirst = false;
        trainer.BatchCompleted = b =>
        {
            if (b.Batch != 1) return;
            Assert.Equal(1, b.SkippedSteps);
            for (int i = 0; i < initial.Length; i++) Assert.Equal(initial[i], tagger.Parameters[i].Value);   // untouched
            checkedFirst = true;
        };
        var r = trainer.Train(train, null, TestContext.Current.CancellationToken)[0];
        Assert.True(checkedFirst);
        Assert.InRange(r.SkippedSteps, 1, 23);                          // fewer than the 24 batches: later steps applied
        Assert.Equal(MathF.ScaleB(1, 30 - (int)r.SkippedSteps), r.LossScale); // halved once per skip; no growth (interval 2000)
        Assert.True(double.IsFinite(r.TrainLoss));
        Assert.All(tagger.Parameters, p => Assert.All(p.Value, v => Assert.True(float.IsFinite(v))));
        Assert.Contains(tagger.Parameters, p => !p.Value.SequenceEqual(initial[tagger.Parameters.ToList().IndexOf(p)]));
    }

    private static readonly List<TaggedSentence> Data = SyntheticTask.Generate(60, 21);

    private void TrainDataParallel(DataParallelOptions parallel, GradScalerOptions scaler, Precision precision = Precision.Fp16)
    {
        using var engine = CpuEngine.Create(1);
        var hyper = SyntheticTask.HyperParameters(true, 12) with { CharDim = 8, CharFilters = 8, EmbeddingDropout = 0.2, Dropout = 0.3, WordDropout = 0.25 };
        using var tagger = Tagger<float>.Create(engine, hyper, Data, TagColumn.Upos, 9, precision);
        var options = SyntheticTask.TrainingOptions(epochs: 2, seed: 5, threads: 1) with { BatchSize = 8, Precision = precision, GradScaler = scaler };
        new DataParallelTaggerTrainer<float>(tagger, options, parallel).Train(Data, null, TestContext.Current.CancellationToken);
    }

    private static Dictionary<string, string> ScalerMetadata(string ckpt) =>
        SafeTensors.Read(ckpt).Metadata.Where(kv => kv.Key.StartsWith("grad_scaler.", StringComparison.Ordinal)).ToDictionary();

    private static Dictionary<string, double[]> Params(string ckpt) =>
        SafeTensors.Read(ckpt).Tensors.Where(kv => kv.Key.StartsWith("param/", StringComparison.Ordinal)).ToDictionary(kv => kv.Key, kv => kv.Value.Values);

    [Fact]
    public void A_float16_checkpoint_resumes_the_loss_scaler_bit_for_bit()
    {
        // 2^26 makes the first steps overflow (skips and backoffs before the checkpoint); an interval of 2 makes the scale
        // grow again, so the growth tracker matters across the resume.
        var scaler = new GradScalerOptions { InitScale = MathF.ScaleB(1, 26), GrowthInterval = 2 };
        string full = Path.Combine(_dir, "full.ckpt"), part = Path.Combine(_dir, "part.ckpt");
        TrainDataParallel(new DataParallelOptions { MaxSteps = 11, CheckpointEvery = 11, CheckpointPath = full }, scaler);
        TrainDataParallel(new DataParallelOptions { MaxSteps = 5, CheckpointEvery = 5, CheckpointPath = part }, scaler);
        var atFive = ScalerMetadata(part);
        Assert.NotEqual("0", atFive["grad_scaler.skipped_steps"]);   // the scaler did something before the checkpoint
        TrainDataParallel(new DataParallelOptions { MaxSteps = 11, CheckpointEvery = 11, CheckpointPath = part, Resume = true }, scaler);
        Assert.Equal(ScalerMetadata(full), ScalerMetadata(part));
        var a = Params(full);
        var b = Params(part);
        Assert.Equal(a.Keys.Order(), b.Keys.Order());
        foreach (var k in a.Keys) Assert.Equal(a[k], b[k]);

        // The comparison can fail: the same checkpoint with the scale changed (×2) resumes to other weights.
        TrainDataParallel(new DataParallelOptions { MaxSteps = 5, CheckpointEvery = 5, CheckpointPath = part }, scaler);
        var (tensors, meta) = SafeTensors.Read(part);
        meta["grad_scaler.scale"] = (float.Parse(meta["grad_scaler.scale"], System.Globalization.CultureInfo.InvariantCulture) * 2)
            .ToString("R", System.Globalization.CultureInfo.InvariantCulture);
        SafeTensors.Write(part, tensors.Values.Select(t => (t.Name, t.Shape, t.Values.Select(v => (float)v).ToArray())), meta);
        TrainDataParallel(new DataParallelOptions { MaxSteps = 11, CheckpointEvery = 11, CheckpointPath = part, Resume = true }, scaler);
        Assert.NotEqual(ScalerMetadata(full), ScalerMetadata(part));

        // A float32 checkpoint does not resume a float16 run (the precision is part of the settings that must match).
        string fp32 = Path.Combine(_dir, "fp32.ckpt");
        TrainDataParallel(new DataParallelOptions { MaxSteps = 2, CheckpointEvery = 2, CheckpointPath = fp32 }, scaler, Precision.Fp32);
        var e = Assert.Throws<ModelFormatException>(() =>
            TrainDataParallel(new DataParallelOptions { MaxSteps = 4, CheckpointPath = fp32, Resume = true }, scaler));
        Assert.Contains("precision=fp32", e.Reason);
    }

    [Fact]
    public void A_master_weight_beyond_float16_stops_training_naming_it()
    {
        // The optimizer can push a master weight past 65504, which float16 cannot hold: training stops with the name and
        // element instead of running the RNN on an infinite weight. bf16 (float32's range) takes the same value.
        var train = SyntheticTask.Generate(20, 5);
        using var engine = CpuEngine.Create(1);
        foreach (var p in new[] { Precision.Fp16, Precision.Bf16 })
        {
            using var tagger = Tagger<float>.Create(engine, SyntheticTask.HyperParameters(true, 8), train, TagColumn.Upos, 5, p);
            tagger.RnnWeights.Value[7] = 70000f;
            var trainer = new TaggerTrainer<float>(tagger, SyntheticTask.TrainingOptions(epochs: 1, seed: 5) with { Precision = p });
            if (p == Precision.Fp16)
            {
                var e = Assert.Throws<TrainingDivergedException>(() => trainer.Train(train, null, TestContext.Current.CancellationToken));
                Assert.Contains("'lstm.layer0' element 7", e.Message);
                Assert.IsType<OverflowException>(e.InnerException);
            }
            else Assert.Single(trainer.Train(train, null, TestContext.Current.CancellationToken));
        }
    }

    [Fact]
    public void Mixed_precision_needs_a_float_tagger_and_matching_options()
    {
        using var engine = CpuEngine.Create(1);
        var train = SyntheticTask.Generate(10, 1);
        Assert.Throws<NotSupportedException>(() => Tagger<double>.Create(engine, SyntheticTask.HyperParameters(true), train, TagColumn.Upos, 1, Precision.Bf16));
        using var tagger = Tagger<float>.Create(engine, SyntheticTask.HyperParameters(true), train, TagColumn.Upos, 1, Precision.Bf16);
        var e = Assert.Throws<ArgumentException>(() => new TaggerTrainer<float>(tagger, new TrainingOptions { Precision = Precision.Fp16 }));
        Assert.Contains("bf16", e.Message);
    }
}
