using System.Numerics;
using CudnnRnn.Cpu;
using Xunit;

namespace CudnnRnn.Training.Tests;

/// <summary>The training flow as a library call: best-dev selection, what gets written, worker counts per engine kind.</summary>
public sealed class TaggerSessionTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), $"cudnnrnn-session-tests-{Guid.NewGuid():N}");
    private readonly CpuEngine _engine = CpuEngine.Create(1);

    public void Dispose()
    {
        _engine.Dispose();
        if (Directory.Exists(_dir)) Directory.Delete(_dir, recursive: true);
    }

    private static float[][] Snapshot(Tagger<float> tagger) => tagger.Parameters.Select(p => p.Value.ToArray()).ToArray();

    private static TaggerTrainingOptions SmallRun(int epochs, string? modelPath, int threads = 1) => new()
    {
        Hyper = SyntheticTask.HyperParameters(bidirectional: true, hidden: 8),
        Training = SyntheticTask.TrainingOptions(epochs, seed: 3, threads),
        ModelPath = modelPath,
    };

    [Fact]
    public void The_model_file_holds_the_best_dev_epoch_not_the_last()
    {
        // A dev set of 6 sentences: its accuracy saturates after a few epochs, so later epochs tie or fall back and are not
        // "best" (a new best must be strictly better), while their parameters keep moving. A session that wrote the last
        // epoch instead of the best would fail the comparison below.
        var data = new TaggerDataset(SyntheticTask.Generate(300, 11), SyntheticTask.Generate(6, 12), TagColumn.Upos);
        string path = Path.Combine(_dir, "sub", "best.safetensors");
        using var session = new TaggerSession<float>(_engine, data, SmallRun(epochs: 10, path));
        var perEpoch = new Dictionary<int, float[][]>();
        var saved = new List<int>();
        session.EpochCompleted = e => perEpoch[e.Epoch] = Snapshot(session.Tagger);
        session.ModelSaved = (e, p) =>
        {
            Assert.Equal(path, p);
            Assert.True(File.Exists(p));
            saved.Add(e.Epoch);
        };

        var result = session.Run(TestContext.Current.CancellationToken);

        var epochs = result.Epochs;
        Assert.Equal(10, epochs.Count);
        var expectedBest = epochs.First(e => e.DevAccuracy == epochs.Max(x => x.DevAccuracy));   // first epoch reaching the maximum
        Assert.Equal(expectedBest.Epoch, result.Best.Epoch);
        Assert.Equal(epochs.Where(e => e.IsBest).Select(e => e.Epoch), saved);                 // written exactly when a new best came
        Assert.Contains(epochs, e => e.Epoch > result.Best.Epoch);                              // precondition: the last epoch is not the best
        var last = perEpoch[epochs[^1].Epoch];
        var best = perEpoch[result.Best.Epoch];
        Assert.False(Same(best, last), "the last epoch's parameters equal the best epoch's: the test could not tell them apart");

        using var loaded = TaggerModelFile.Load<float>(path, _engine);
        Assert.True(Same(best, Snapshot(loaded)), "the model file does not hold the best epoch's parameters");
        Assert.True(Same(best, Snapshot(session.Tagger)), "the session's tagger does not end with the best epoch's parameters");
        // Same engine, same batches, one worker: the loaded model reproduces the best epoch's dev accuracy exactly.
        Assert.Equal(result.Best.DevAccuracy, TaggerEvaluation.Evaluate(loaded, data.Dev!, 1).Accuracy);
    }

    [Fact]
    public void Without_a_dev_set_the_last_epoch_is_kept_and_written_every_epoch()
    {
        var data = new TaggerDataset(SyntheticTask.Generate(100, 21), null, TagColumn.Upos);
        string path = Path.Combine(_dir, "last.safetensors");
        using var session = new TaggerSession<float>(_engine, data, SmallRun(epochs: 3, path));
        int saves = 0;
        session.ModelSaved = (_, _) => saves++;
        var result = session.Run(TestContext.Current.CancellationToken);
        Assert.Equal(3, saves);
        Assert.Equal(3, result.Best.Epoch);
        Assert.True(double.IsNaN(result.Best.DevAccuracy));
        using var loaded = TaggerModelFile.Load<float>(path, _engine);
        Assert.True(Same(Snapshot(session.Tagger), Snapshot(loaded)));
    }

    [Fact]
    public void Without_a_model_path_nothing_is_written_and_a_session_runs_once()
    {
        var data = new TaggerDataset(SyntheticTask.Generate(50, 31), SyntheticTask.Generate(5, 32), TagColumn.Upos);
        using var session = new TaggerSession<float>(_engine, data, SmallRun(epochs: 1, null));
        session.ModelSaved = (_, _) => Assert.Fail("no model path was given");
        var result = session.Run(TestContext.Current.CancellationToken);
        Assert.Null(result.ModelPath);
        Assert.False(Directory.Exists(_dir));
        Assert.Throws<InvalidOperationException>(() => session.Run(TestContext.Current.CancellationToken));
    }

    [Fact]
    public void Bad_settings_are_refused_before_training()
    {
        var data = new TaggerDataset(SyntheticTask.Generate(20, 41), null, TagColumn.Upos);
        var run = SmallRun(1, null);
        Assert.Throws<ArgumentOutOfRangeException>("options", () => new TaggerSession<float>(_engine, data, run with { Training = run.Training with { TimeLimit = TimeSpan.Zero } }));
        Assert.Throws<ArgumentOutOfRangeException>("options", () => new TaggerSession<float>(_engine, data, run with { Training = run.Training with { Optimizer = (OptimizerKind)7 } }));
        Assert.Throws<ArgumentException>("options", () => new TaggerSession<float>(_engine, data, run with { ModelPath = " " }));
        var blank = SyntheticTask.Generate(5, 1).Select(s => new TaggedSentence(s.Words, s.Words.Select(_ => "_").ToArray())).ToList();
        var e = Assert.Throws<ArgumentException>("train", () => new TaggerDataset(blank, null, TagColumn.Xpos));
        Assert.Contains("XPOS", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_device_engine_gets_exactly_one_worker()
    {
        using var device = new DeviceKindEngine(_engine);
        Assert.False(((IRnnEngine)device).IsHostMemory);   // an engine that does not say gets the safe answer
        Assert.Equal(1, WorkerCount.For(device));
        Assert.Equal(1, WorkerCount.For(device, 1));
        var e = Assert.Throws<ArgumentOutOfRangeException>("requested", () => WorkerCount.For(device, 4));
        Assert.Contains("one worker", e.Message, StringComparison.Ordinal);

        var data = new TaggerDataset(SyntheticTask.Generate(40, 51), null, TagColumn.Upos);
        using (var session = new TaggerSession<float>(device, data, SmallRun(epochs: 1, null, threads: 0)))
        {
            Assert.Equal(1, session.Workers);
            session.Run(TestContext.Current.CancellationToken);
        }
        Assert.Throws<ArgumentOutOfRangeException>("requested", () => new TaggerSession<float>(device, data, SmallRun(epochs: 1, null, threads: 2)));
        // The trainer itself asks the engine too, so a program that skips the session cannot share a device handle either.
        using var tagger = Tagger<float>.Create(device, SyntheticTask.HyperParameters(true, 8), data.Train, TagColumn.Upos, 1);
        var trainer = new TaggerTrainer<float>(tagger, SyntheticTask.TrainingOptions(1, 1, threads: 3));
        Assert.Throws<ArgumentOutOfRangeException>("requested", () => trainer.Train(data.Train, null, TestContext.Current.CancellationToken));
        // Prediction and evaluation too.
        var words = data.Train.Select(s => s.Words).ToArray();
        Assert.Throws<ArgumentOutOfRangeException>("requested", () => tagger.Predict(words, threads: 2));
        Assert.Throws<ArgumentOutOfRangeException>("requested", () => TaggerEvaluation.Evaluate(tagger, data.Train, 2));
        Assert.Equal(words.Length, tagger.Predict(words, threads: 0).Length);
    }

    [Fact]
    public void A_host_memory_engine_gets_the_workers_asked_for_or_every_core()
    {
        Assert.True(((IRnnEngine)_engine).IsHostMemory);
        Assert.Equal(Environment.ProcessorCount, WorkerCount.For(_engine));
        Assert.Equal(3, WorkerCount.For(_engine, 3));
        Assert.Throws<ArgumentOutOfRangeException>("requested", () => WorkerCount.For(_engine, -1));
        var data = new TaggerDataset(SyntheticTask.Generate(10, 61), null, TagColumn.Upos);
        using var session = new TaggerSession<float>(_engine, data, SmallRun(epochs: 1, null, threads: 0));
        Assert.Equal(Environment.ProcessorCount, session.Workers);
    }

    private static bool Same(float[][] a, float[][] b) =>
        a.Length == b.Length && a.Zip(b).All(p => p.First.AsSpan().SequenceEqual(p.Second));

    /// <summary>A device-kind engine for the worker-count rules: the CPU engine's arithmetic, without IsHostMemory.</summary>
    private sealed class DeviceKindEngine(IRnnEngine inner) : IRnnEngine
    {
        public string Name => "fake-gpu";
        public string DeviceDescription => "a device engine for tests (computes on the CPU engine)";
        public bool Supports(RnnDataType dataType, out string? reason) => inner.Supports(dataType, out reason);
        public RnnBuffer<T> Allocate<T>(long length) where T : unmanaged, IFloatingPointIeee754<T> => inner.Allocate<T>(length);
        public RnnWeightLayout GetWeightLayout(RnnDescriptor rnn) => inner.GetWeightLayout(rnn);
        public RnnPlan<T> CreatePlan<T>(RnnDescriptor rnn, RnnDataDescriptor xDesc) where T : unmanaged, IFloatingPointIeee754<T> => inner.CreatePlan<T>(rnn, xDesc);
        public void Dispose() { }
    }
}
