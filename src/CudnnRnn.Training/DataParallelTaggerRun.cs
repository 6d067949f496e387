using System.Globalization;
using System.Numerics;

namespace CudnnRnn.Training;

/// <summary>What <see cref="DataParallelTaggerRun.Train{T}"/> did.</summary>
/// <param name="History">One result per epoch (dev accuracy on rank 0).</param>
/// <param name="Stats">Timing (tokens/s, all-reduce share).</param>
/// <param name="ModelWritten">True on the rank that wrote the model (rank 0).</param>
public sealed record DataParallelRunResult(IReadOnlyList<EpochResult> History, DataParallelStats Stats, bool ModelWritten);

/// <summary>
/// The data-parallel tagger training flow behind <c>cudnnrnn tagger train --distributed</c> (and its checkpoint,
/// resume, step-limit and float64 options): builds the tagger from the training data (identically on every rank),
/// trains with <see cref="DataParallelTaggerTrainer{T}"/>, and on rank 0 reports and writes the model.
/// </summary>
public static class DataParallelTaggerRun
{
    /// <summary>Trains and, on rank 0, saves the model to <paramref name="modelPath"/> (the best epoch's with a dev set).</summary>
    public static DataParallelRunResult Train<T>(IRnnEngine engine, IReadOnlyList<TaggedSentence> train, IReadOnlyList<TaggedSentence>? dev,
        string modelPath, TagColumn column, TaggerHyperParameters hyper, TrainingOptions options, DataParallelOptions parallel, TextWriter? log)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(engine);
        ArgumentNullException.ThrowIfNull(train);
        ArgumentException.ThrowIfNullOrEmpty(modelPath);
        ArgumentNullException.ThrowIfNull(parallel);
        var comm = parallel.Communicator;
        bool root = comm.Rank == 0;
        log = root ? log : null;
        using var tagger = Tagger<T>.Create(engine, hyper, train, column, options.Seed, options.Precision);
        var trainer = new DataParallelTaggerTrainer<T>(tagger, options, parallel);
        int threads = options.Threads > 0 ? options.Threads : Environment.ProcessorCount;
        log?.WriteLine($"train: {train.Count:N0} sentences, {train.Sum(s => s.Length):N0} tokens; dev: {(dev is null ? "none" : $"{dev.Count:N0} sentences")}");
        log?.WriteLine($"model: {hyper.Layers}-layer Bi{hyper.Mode} hidden {hyper.Hidden}, {tagger.ParameterCount:N0} {typeof(T).Name} parameters; " +
                       $"engine: {engine.DeviceDescription}; precision {options.Precision.Word()}");
        log?.WriteLine($"data-parallel: {comm.WorldSize} rank(s) x {threads} worker thread(s); global batch {options.BatchSize} sentences; " +
                       $"{new GradientSynchronizer<T>(tagger.Parameters, SingleProcessCommunicator.Instance, parallel.BucketBytes).Buckets.Count} gradient bucket(s)" +
                       (parallel.OverlapAllReduce ? ", all-reduce overlapped with backward" : ""));
        if (parallel.Resume) log?.WriteLine($"resuming from {parallel.CheckpointPath}");
        trainer.EpochCompleted = r => log?.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"epoch {r.Epoch}{(r.Partial ? " (partial)" : "")}: loss {r.TrainLoss:F4}, dev acc {(double.IsNaN(r.DevAccuracy) ? "n/a" : r.DevAccuracy.ToString("F4", CultureInfo.InvariantCulture))}, " +
            $"{r.TokensPerSecond:N0} tok/s, lr {r.LearningRate:G3}{(options.Precision == Precision.Fp16 ? $", loss scale {r.LossScale:R}" : "")}"));
        trainer.CheckpointWritten = s => log?.WriteLine($"checkpoint at step {s} written to {parallel.CheckpointPath}");
        trainer.NewBest = _ => TaggerModelFile.Save(tagger, modelPath);
        var history = trainer.Train(train, dev);
        var stats = trainer.Stats!;
        if (root) TaggerModelFile.Save(tagger, modelPath); // with a dev set: the best epoch's weights, which the trainer restored
        log?.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"steps {stats.Steps}: {stats.TokensPerSecond:N0} tok/s (global), all-reduce {stats.AllReducePerStep.TotalMilliseconds:F2} ms/step = {100 * stats.AllReduceShare:F1}% of the step"));
        return new DataParallelRunResult(history, stats, root);
    }
}
