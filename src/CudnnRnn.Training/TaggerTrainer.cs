using System.Diagnostics;
using System.Numerics;
using System.Numerics.Tensors;

namespace CudnnRnn.Training;

/// <summary>Progress inside an epoch.</summary>
/// <param name="Epoch">1-based epoch.</param>
/// <param name="Batch">Batches done in this epoch.</param>
/// <param name="Batches">Batches in this epoch.</param>
/// <param name="RunningLoss">Mean token loss over this epoch so far.</param>
/// <param name="TokensPerSecond">Training throughput in this epoch so far.</param>
/// <param name="Elapsed">Time since training started.</param>
/// <param name="SkippedSteps">Steps skipped in this epoch so far for a non-finite loss or gradient (<see cref="Optimizer{T}.Step"/>).</param>
public sealed record BatchProgress(int Epoch, int Batch, int Batches, double RunningLoss, double TokensPerSecond, TimeSpan Elapsed, long SkippedSteps = 0);

/// <summary>What one epoch achieved.</summary>
/// <param name="Epoch">1-based epoch.</param>
/// <param name="TrainLoss">Mean token loss over the epoch (with dropout).</param>
/// <param name="DevAccuracy">Accuracy on the dev set, or NaN without one.</param>
/// <param name="Tokens">Training tokens processed.</param>
/// <param name="TokensPerSecond">Training throughput (excluding evaluation).</param>
/// <param name="Elapsed">Time since training started, after evaluation.</param>
/// <param name="LearningRate">Learning rate at the end of the epoch.</param>
/// <param name="IsBest">True when this epoch's model is the best so far.</param>
/// <param name="Partial">True when the time limit cut the epoch short.</param>
/// <param name="SkippedSteps">Steps skipped in this epoch for a non-finite loss or gradient; their batches are not in <paramref name="TrainLoss"/>.</param>
public sealed record EpochResult(int Epoch, double TrainLoss, double DevAccuracy, long Tokens, double TokensPerSecond, TimeSpan Elapsed,
    double LearningRate, bool IsBest, bool Partial, long SkippedSteps = 0)
{
    /// <summary>The float16 loss scale at the end of the epoch (<see cref="GradScaler.Scale"/>; 1 without loss scaling).</summary>
    public float LossScale { get; init; } = 1;
    /// <summary>RNN plans the workers created during the epoch's training batches (one per new data shape).</summary>
    public long PlansCreated { get; init; }
}

/// <summary>
/// Trains a <see cref="Tagger{T}"/>: length-bucketed batches, data-parallel workers (gradients summed), gradient-norm
/// clipping, Adam or SGD with a schedule over the epoch/time budget, dev evaluation after each epoch, and the best
/// model (by dev accuracy) restored at the end.
/// </summary>
public sealed class TaggerTrainer<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly Tagger<T> _tagger;

    /// <summary>Creates a trainer.</summary>
    public TaggerTrainer(Tagger<T> tagger, TrainingOptions options)
    {
        ArgumentNullException.ThrowIfNull(tagger);
        ArgumentNullException.ThrowIfNull(options);
        if (options.Epochs < 1) throw new ArgumentOutOfRangeException(nameof(options), options.Epochs, "Epochs must be at least 1.");
        if (options.BatchSize < 1) throw new ArgumentOutOfRangeException(nameof(options), options.BatchSize, "BatchSize must be at least 1.");
        if (!Enum.IsDefined(options.Optimizer)) throw new ArgumentOutOfRangeException(nameof(options), options.Optimizer, "Optimizer must be Adam or Sgd.");
        if (options.Precision != tagger.Precision)
            throw new ArgumentException($"The options train in {options.Precision.Word()} but the tagger runs its RNNs in {tagger.Precision.Word()}; create the tagger with the same precision.", nameof(options));
        options.GradScaler.Validate();
        _tagger = tagger;
        Options = options;
    }

    /// <summary>The settings.</summary>
    public TrainingOptions Options { get; }

    /// <summary>Called after every batch (from the training thread).</summary>
    public Action<BatchProgress>? BatchCompleted { get; set; }
    /// <summary>Called after every epoch's evaluation.</summary>
    public Action<EpochResult>? EpochCompleted { get; set; }
    /// <summary>Called when an epoch's model is the best so far (save it here to keep the best model on disk).</summary>
    public Action<EpochResult>? NewBest { get; set; }

    /// <summary>Trains; returns one result per epoch. The tagger ends with the best epoch's parameters.</summary>
    public IReadOnlyList<EpochResult> Train(IReadOnlyList<TaggedSentence> train, IReadOnlyList<TaggedSentence>? dev, CancellationToken cancellation = default)
    {
        ArgumentNullException.ThrowIfNull(train);
        var data = train.Where(s => s.Length > 0).ToArray();
        if (data.Length == 0) throw new ArgumentException("No non-empty training sentences.", nameof(train));
        var o = Options;
        int threads = WorkerCount.For(_tagger.Engine, o.Threads);
        var workers = Enumerable.Range(0, threads).Select(_tagger.GetWorker).ToArray();
        var ps = _tagger.Parameters;
        Optimizer<T> opt = o.Optimizer switch
        {
            OptimizerKind.Adam => new Adam<T>(ps, o.LearningRate, 0.9, o.Beta2),
            OptimizerKind.Sgd => new Sgd<T>(ps, o.LearningRate, o.Momentum),
            _ => throw new UnreachableException(),   // the constructor checked it
        };
        var scaler = GradScaler.For(o.Precision, o.GradScaler);
        long Skipped() => opt.SkippedSteps + scaler.SkippedSteps;
        var lengths = data.Select(s => s.Length).ToArray();
        var clock = Stopwatch.StartNew();
        var results = new List<EpochResult>();
        T[][]? best = null;
        double bestAcc = double.NegativeInfinity;
        TimeSpan lastEval = TimeSpan.Zero;
        bool stop = false;
        var rng = new SeededRandom(o.Seed ^ 0xBA7C);
        for (int epoch = 0; epoch < o.Epochs && !stop; epoch++)
        {
            var batches = LengthBuckets.Create(lengths, o.BatchSize, o.MaxBatchTokens, new SeededRandom(rng.NextUInt64()), o.SameLengthBatches);
            double lossSum = 0;
            long tokens = 0, lossTokens = 0, skippedBefore = Skipped();
            var epochClock = Stopwatch.StartNew();
            long plansBefore = workers.Sum(w => w.PlansCreated);
            bool partial = false;
            for (int bi = 0; bi < batches.Count; bi++)
            {
                cancellation.ThrowIfCancellationRequested();
                double progress = (epoch + (double)bi / batches.Count) / o.Epochs;
                if (o.TimeLimit is { } limit)
                {
                    if (clock.Elapsed + lastEval >= limit) { partial = bi > 0; stop = true; break; }
                    progress = Math.Max(progress, clock.Elapsed / limit);
                }
                opt.LearningRate = o.Schedule.RateAt(o.LearningRate, progress, epoch);
                var batch = batches[bi];
                int batchTokens = 0;
                foreach (int i in batch) batchTokens += lengths[i];
                double batchLoss = Step(workers, data, batch, batchTokens, rng.NextUInt64(), opt, scaler);
                if (!double.IsNaN(batchLoss)) { lossSum += batchLoss; lossTokens += batchTokens; } // NaN: step skipped
                tokens += batchTokens;
                BatchCompleted?.Invoke(new BatchProgress(epoch + 1, bi + 1, batches.Count, lossSum / lossTokens, tokens / epochClock.Elapsed.TotalSeconds, clock.Elapsed, Skipped() - skippedBefore));
            }
            if (tokens == 0) break;
            double tps = tokens / epochClock.Elapsed.TotalSeconds;
            long plans = workers.Sum(w => w.PlansCreated) - plansBefore;
            var evalStart = clock.Elapsed;
            double acc = double.NaN;
            if (dev is { Count: > 0 }) acc = TaggerEvaluation.Evaluate(_tagger, dev, threads).Accuracy;
            lastEval = clock.Elapsed - evalStart;
            bool isBest = lossTokens > 0 && (dev is not { Count: > 0 } || acc > bestAcc); // an epoch with no step applied is never best
            if (isBest)
            {
                bestAcc = acc;
                best = Snapshot(ps, best);
            }
            var r = new EpochResult(epoch + 1, lossSum / lossTokens, acc, tokens, tps, clock.Elapsed, opt.LearningRate, isBest, partial, Skipped() - skippedBefore)
            {
                PlansCreated = plans, LossScale = scaler.Scale,
            };
            results.Add(r);
            EpochCompleted?.Invoke(r);
            if (isBest) NewBest?.Invoke(r);
        }
        if (best is not null)
        {
            for (int i = 0; i < ps.Count; i++) ps[i].CopyValueFrom(best[i]);
        }
        return results;
    }

    private static T[][] Snapshot(IReadOnlyList<Parameter<T>> ps, T[][]? into)
    {
        into ??= ps.Select(p => new T[p.Count]).ToArray();
        for (int i = 0; i < ps.Count; i++) ps[i].CopyValueTo(into[i]);
        return into;
    }

    /// <summary>
    /// One optimisation step on a batch split across the workers; returns the summed token loss, or NaN when the step was
    /// skipped (non-finite; with float16, also an overflow of the scaled gradients, after which the scale halves).
    /// </summary>
    private double Step(TaggerWorker<T>[] workers, TaggedSentence[] data, int[] batch, int batchTokens, ulong seed, Optimizer<T> opt, GradScaler scaler)
    {
        int k = Math.Min(workers.Length, batch.Length);
        // The loss scale S multiplies the gradient of the mean token loss (S = 1 without float16 loss scaling).
        double lossScale = scaler.Scale;
        double scale = lossScale / batchTokens;
        foreach (var w in workers) w.ZeroGrad();
        double loss;
        if (k == 1) loss = workers[0].TrainStep(data, batch, scale, seed);
        else
        {
            var parts = new int[k][];
            for (int w = 0; w < k; w++)
            {
                parts[w] = new int[(batch.Length - w + k - 1) / k];
                for (int j = 0, i = w; i < batch.Length; i += k, j++) parts[w][j] = batch[i];
            }
            var losses = new double[k];
            Parallel.For(0, k, new ParallelOptions { MaxDegreeOfParallelism = k }, w =>
                losses[w] = workers[w].TrainStep(data, parts[w], scale, seed)); // randomness is keyed per sentence, not per worker
            loss = losses.Sum();
            var master = workers[0].Gradients;
            for (int w = 1; w < k; w++)
            {
                var g = workers[w].Gradients;
                for (int p = 0; p < master.Count; p++) TensorPrimitives.Add(master[p], g[p], master[p]);
            }
        }
        loss /= lossScale;
        // As PyTorch's AMP recipe: unscale, clip the unscaled gradients, step unless something is Inf/NaN, update the scale.
        bool found = scaler.IsEnabled && scaler.Unscale(_tagger.Parameters);
        if (Options.ClipNorm > 0 && !found) GradientClipping.ClipByGlobalNorm(_tagger.Parameters, Options.ClipNorm);
        bool applied = scaler.Step(opt, loss); // non-finite: nothing applied, counted in opt.SkippedSteps or scaler.SkippedSteps
        scaler.Update();
        if (!applied) return double.NaN;
        return loss * batchTokens;
    }
}

/// <summary>Precision and recall of one tag.</summary>
/// <param name="Tag">The tag.</param>
/// <param name="TruePositives">Predicted and gold.</param>
/// <param name="FalsePositives">Predicted, not gold.</param>
/// <param name="FalseNegatives">Gold, not predicted.</param>
public sealed record TagScore(string Tag, int TruePositives, int FalsePositives, int FalseNegatives)
{
    /// <summary>TP / (TP + FP), or 0.</summary>
    public double Precision => TruePositives + FalsePositives == 0 ? 0 : (double)TruePositives / (TruePositives + FalsePositives);
    /// <summary>TP / (TP + FN), or 0.</summary>
    public double Recall => TruePositives + FalseNegatives == 0 ? 0 : (double)TruePositives / (TruePositives + FalseNegatives);
    /// <summary>Harmonic mean of precision and recall.</summary>
    public double F1 => Precision + Recall == 0 ? 0 : 2 * Precision * Recall / (Precision + Recall);
    /// <summary>Gold occurrences.</summary>
    public int Support => TruePositives + FalseNegatives;
}

/// <summary>Token accuracy and per-tag scores.</summary>
/// <param name="Accuracy">Correct / total tokens.</param>
/// <param name="Correct">Correctly tagged tokens.</param>
/// <param name="Total">Tokens.</param>
/// <param name="PerTag">Scores per tag (gold or predicted), by descending support.</param>
public sealed record EvaluationResult(double Accuracy, int Correct, int Total, IReadOnlyList<TagScore> PerTag);

/// <summary>Evaluation of taggers.</summary>
public static class TaggerEvaluation
{
    /// <summary>Tags <paramref name="gold"/>'s words and scores against its tags.</summary>
    public static EvaluationResult Evaluate<T>(Tagger<T> tagger, IReadOnlyList<TaggedSentence> gold, int threads = 1)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var predicted = tagger.Predict(gold.Select(s => s.Words).ToArray(), threads);
        return Score(gold.Select(s => s.Tags).ToArray(), predicted);
    }

    /// <summary>Scores predicted against gold tags.</summary>
    public static EvaluationResult Score(IReadOnlyList<string[]> gold, IReadOnlyList<string[]> predicted)
    {
        if (gold.Count != predicted.Count) throw new ArgumentException("Gold and predicted sentence counts differ.");
        var tp = new Dictionary<string, int>(); var fp = new Dictionary<string, int>(); var fn = new Dictionary<string, int>();
        int correct = 0, total = 0;
        for (int s = 0; s < gold.Count; s++)
        {
            if (gold[s].Length != predicted[s].Length) throw new ArgumentException($"Sentence {s}: {gold[s].Length} gold tags but {predicted[s].Length} predicted.");
            for (int i = 0; i < gold[s].Length; i++)
            {
                string g = gold[s][i], p = predicted[s][i];
                total++;
                if (g == p) { correct++; tp[g] = tp.GetValueOrDefault(g) + 1; }
                else { fp[p] = fp.GetValueOrDefault(p) + 1; fn[g] = fn.GetValueOrDefault(g) + 1; }
            }
        }
        var tags = tp.Keys.Concat(fp.Keys).Concat(fn.Keys).Distinct();
        var per = tags.Select(t => new TagScore(t, tp.GetValueOrDefault(t), fp.GetValueOrDefault(t), fn.GetValueOrDefault(t)))
            .OrderByDescending(s => s.Support).ThenBy(s => s.Tag, StringComparer.Ordinal).ToList();
        return new EvaluationResult(total == 0 ? 0 : (double)correct / total, correct, total, per);
    }
}
