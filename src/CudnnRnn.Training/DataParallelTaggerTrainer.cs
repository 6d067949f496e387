using System.Diagnostics;
using System.Globalization;
using System.Numerics;
using System.Numerics.Tensors;

namespace CudnnRnn.Training;

/// <summary>
/// Trains a <see cref="Tagger{T}"/> data-parallel across ranks (an <see cref="ICollectiveCommunicator"/>) and, inside
/// each rank, across worker threads, with checkpoints, resume and a step limit.
/// </summary>
/// <remarks>
/// Every rank holds the whole training set and builds the same global batches from the seed (batch order keyed by
/// (seed, epoch)); sentence j of a global batch goes to rank j mod N, and inside a rank to thread j' mod k. Each rank's
/// loss is scaled by N / (the global batch's tokens) and the gradients are averaged (<see cref="GradientSynchronizer{T}"/>),
/// which gives exactly the gradient of the global batch's mean token loss. Dropout and word dropout are keyed by
/// (step, sentence) (<see cref="SampleKeys"/>), so the trained weights are a function of the seed and the global batch,
/// not of the number of ranks or threads — up to the order of floating-point summation; this includes the dropout
/// between the RNN's layers, which the tagger applies itself between stacked single-layer RNNs. Rank 0 evaluates, reports and saves.
/// </remarks>
public sealed class DataParallelTaggerTrainer<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly Tagger<T> _tagger;
    private readonly ICollectiveCommunicator _comm;
    private readonly double[] _reduce = new double[2];

    /// <summary>Creates the trainer.</summary>
    public DataParallelTaggerTrainer(Tagger<T> tagger, TrainingOptions options, DataParallelOptions parallel)
    {
        ArgumentNullException.ThrowIfNull(tagger);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(parallel);
        if (options.Epochs < 1) throw new ArgumentOutOfRangeException(nameof(options), options.Epochs, "Epochs must be at least 1.");
        if (options.BatchSize < 1) throw new ArgumentOutOfRangeException(nameof(options), options.BatchSize, "BatchSize must be at least 1.");
        if (parallel.MaxSteps < 0) throw new ArgumentOutOfRangeException(nameof(parallel), parallel.MaxSteps, "MaxSteps must not be negative.");
        if (parallel.CheckpointEvery < 0) throw new ArgumentOutOfRangeException(nameof(parallel), parallel.CheckpointEvery, "CheckpointEvery must not be negative.");
        if ((parallel.CheckpointEvery > 0 || parallel.Resume) && string.IsNullOrEmpty(parallel.CheckpointPath))
            throw new ArgumentException("CheckpointPath is required with CheckpointEvery or Resume.", nameof(parallel));
        if (options.Precision != tagger.Precision)
            throw new ArgumentException($"The options train in {options.Precision.Word()} but the tagger runs its RNNs in {tagger.Precision.Word()}; create the tagger with the same precision.", nameof(options));
        options.GradScaler.Validate();
        _tagger = tagger;
        _comm = parallel.Communicator ?? throw new ArgumentException("Communicator must not be null.", nameof(parallel));
        Options = options;
        Parallel = parallel;
    }

    /// <summary>The training settings.</summary>
    public TrainingOptions Options { get; }
    /// <summary>The data-parallel settings.</summary>
    public DataParallelOptions Parallel { get; }
    /// <summary>Called after every step on every rank, with the global batch's figures.</summary>
    public Action<BatchProgress>? BatchCompleted { get; set; }
    /// <summary>Called on rank 0 after every epoch's evaluation.</summary>
    public Action<EpochResult>? EpochCompleted { get; set; }
    /// <summary>Called on rank 0 when an epoch's model is the best so far.</summary>
    public Action<EpochResult>? NewBest { get; set; }
    /// <summary>Called on rank 0 after a checkpoint was written, with the step.</summary>
    public Action<long>? CheckpointWritten { get; set; }
    /// <summary>Timing of the last <see cref="Train"/>.</summary>
    public DataParallelStats? Stats { get; private set; }

    /// <summary>The settings a checkpoint must agree with to be resumed.</summary>
    public IReadOnlyDictionary<string, string> Fingerprint
    {
        get
        {
            var f = new Dictionary<string, string>
            {
                ["seed"] = Options.Seed.ToString(CultureInfo.InvariantCulture),
                ["batch_size"] = Options.BatchSize.ToString(CultureInfo.InvariantCulture),
                ["max_batch_tokens"] = Options.MaxBatchTokens.ToString(CultureInfo.InvariantCulture),
                ["same_length_batches"] = Options.SameLengthBatches.ToString(),
                ["epochs"] = Options.Epochs.ToString(CultureInfo.InvariantCulture),
                ["optimizer"] = Options.Optimizer.ToString().ToLowerInvariant(),
                ["learning_rate"] = Options.LearningRate.ToString("R", CultureInfo.InvariantCulture),
                ["schedule"] = Options.Schedule.ToString(),
                ["clip_norm"] = Options.ClipNorm.ToString("R", CultureInfo.InvariantCulture),
                ["precision"] = Options.Precision.Word(),
                ["parameters"] = string.Join(",", _tagger.Parameters.Select(p => $"{p.Name}:{p.Count}")),
            };
            if (Options.Precision.NeedsLossScaling())
            {
                var g = Options.GradScaler;
                f["grad_scaler"] = string.Create(CultureInfo.InvariantCulture, $"{g.InitScale:R},{g.GrowthFactor:R},{g.BackoffFactor:R},{g.GrowthInterval}");
            }
            return f;
        }
    }

    /// <summary>Trains; returns one result per epoch (dev accuracy on rank 0 only). Rank 0's tagger ends with the best epoch's parameters.</summary>
    public IReadOnlyList<EpochResult> Train(IReadOnlyList<TaggedSentence> train, IReadOnlyList<TaggedSentence>? dev, CancellationToken cancellation = default)
    {
        ArgumentNullException.ThrowIfNull(train);
        var data = train.Where(s => s.Length > 0).ToArray();
        if (data.Length == 0) throw new ArgumentException("No non-empty training sentences.", nameof(train));
        var o = Options;
        var ps = _tagger.Parameters;
        int threads = WorkerCount.For(_tagger.Engine, o.Threads); // one worker on device engines (one cuDNN handle per thread)
        var workers = Enumerable.Range(0, threads).Select(_tagger.GetWorker).ToArray();
        Optimizer<T> opt = o.Optimizer switch
        {
            OptimizerKind.Adam => new Adam<T>(ps, o.LearningRate, 0.9, o.Beta2),
            OptimizerKind.Sgd => new Sgd<T>(ps, o.LearningRate, o.Momentum),
            _ => throw new ArgumentOutOfRangeException(nameof(Options), o.Optimizer, "Expected Adam or Sgd."),
        };
        using var sync = new GradientSynchronizer<T>(ps, _comm, Parallel.BucketBytes, Parallel.OverlapAllReduce) { DeviceCommunicator = Parallel.DeviceCommunicator };
        var scaler = GradScaler.For(o.Precision, o.GradScaler);
        bool root = _comm.Rank == 0;
        var state = new TrainingCheckpoint { Fingerprint = Fingerprint };
        T[][]? best = null;
        if (Parallel.Resume) state = Restore(opt, sync, scaler, ref best);
        else sync.BroadcastParameters();

        var lengths = data.Select(s => s.Length).ToArray();
        var clock = Stopwatch.StartNew();
        var stepClock = new Stopwatch();
        var results = new List<EpochResult>();
        double bestAcc = double.IsNaN(state.BestAccuracy) ? double.NegativeInfinity : state.BestAccuracy;
        long step = state.Step, steps = 0, stepTokens = 0;
        bool stop = Parallel.MaxSteps > 0 && step >= Parallel.MaxSteps;
        var reduceStart = sync.AllReduceTime;
        for (int epoch = state.Epoch; epoch < o.Epochs && !stop; epoch++)
        {
            var batches = LengthBuckets.Create(lengths, o.BatchSize, o.MaxBatchTokens,
                new SeededRandom(SampleKeys.Key(o.Seed, epoch, SampleKeys.EpochOrder)), o.SameLengthBatches);
            bool resumed = epoch == state.Epoch;
            double lossSum = resumed ? state.EpochLoss : 0;
            long tokens = resumed ? state.EpochTokens : 0, tokensHere = 0;
            var epochClock = Stopwatch.StartNew();
            bool partial = false;
            for (int bi = resumed ? state.NextBatch : 0; bi < batches.Count; bi++)
            {
                cancellation.ThrowIfCancellationRequested();
                if (Parallel.MaxSteps > 0 && step >= Parallel.MaxSteps) { partial = bi < batches.Count; stop = true; break; }
                double progress = (epoch + (double)bi / batches.Count) / o.Epochs;
                if (o.TimeLimit is { } limit) progress = Math.Max(progress, clock.Elapsed / limit);
                opt.LearningRate = o.Schedule.RateAt(o.LearningRate, progress, epoch);
                Parallel.BeforeStep?.Invoke(step);
                var batch = batches[bi];
                int batchTokens = 0;
                foreach (int i in batch) batchTokens += lengths[i];
                stepClock.Start();
                bool timeUp = o.TimeLimit is { } l2 && clock.Elapsed >= l2;
                lossSum += Step(workers, data, batch, batchTokens, SampleKeys.Key(o.Seed, step, SampleKeys.Step), opt, sync, scaler, timeUp, out bool anyTimeUp);
                stepClock.Stop();
                step++;
                steps++;
                tokens += batchTokens;
                tokensHere += batchTokens;
                stepTokens += batchTokens;
                BatchCompleted?.Invoke(new BatchProgress(epoch + 1, bi + 1, batches.Count, lossSum / tokens, tokensHere / epochClock.Elapsed.TotalSeconds, clock.Elapsed));
                if (root && Parallel.CheckpointEvery > 0 && step % Parallel.CheckpointEvery == 0)
                {
                    new TrainingCheckpoint
                    {
                        Step = step, Epoch = epoch, NextBatch = bi + 1, LearningRate = opt.LearningRate,
                        BestAccuracy = double.IsNegativeInfinity(bestAcc) ? double.NaN : bestAcc, EpochLoss = lossSum, EpochTokens = tokens,
                        Scaler = scaler.IsEnabled ? scaler.GetState() : null, Fingerprint = Fingerprint,
                    }.Save(Parallel.CheckpointPath!, ps, opt, best);
                    CheckpointWritten?.Invoke(step);
                }
                if (anyTimeUp) { partial = bi + 1 < batches.Count; stop = true; break; }
            }
            if (tokens == 0) break;
            double tps = tokensHere / Math.Max(epochClock.Elapsed.TotalSeconds, 1e-9);
            double acc = double.NaN;
            bool isBest = false;
            if (root)
            {
                if (dev is { Count: > 0 }) acc = TaggerEvaluation.Evaluate(_tagger, dev, threads).Accuracy;
                isBest = dev is not { Count: > 0 } || acc > bestAcc;
                if (isBest)
                {
                    bestAcc = acc;
                    best = Snapshot(ps, best);
                }
            }
            var r = new EpochResult(epoch + 1, lossSum / tokens, acc, tokens, tps, clock.Elapsed, opt.LearningRate, isBest, partial) { LossScale = scaler.Scale };
            results.Add(r);
            if (root)
            {
                EpochCompleted?.Invoke(r);
                if (isBest) NewBest?.Invoke(r);
            }
        }
        Stats = new DataParallelStats(steps, stepTokens, stepClock.Elapsed, sync.AllReduceTime - reduceStart, _comm.WorldSize);
        if (root && best is not null && dev is { Count: > 0 })
        {
            for (int i = 0; i < ps.Count; i++) ps[i].CopyValueFrom(best[i]);
        }
        return results;
    }

    private TrainingCheckpoint Restore(Optimizer<T> opt, GradientSynchronizer<T> sync, GradScaler scaler, ref T[][]? best)
    {
        var ps = _tagger.Parameters;
        var scalars = new double[12];
        TrainingCheckpoint? state = null;
        if (_comm.Rank == 0)
        {
            state = TrainingCheckpoint.Load(Parallel.CheckpointPath!, ps, opt, Fingerprint, out best);
            if (scaler.IsEnabled && state.Scaler is null)
                throw new ModelFormatException(Parallel.CheckpointPath!, "it holds no loss-scaler state, which a float16 run needs to resume");
            var sc = state.Scaler ?? scaler.GetState();
            // Every value is exact in a double (the scale is a float, the counters are far below 2^53).
            scalars = [state.Step, state.Epoch, state.NextBatch, opt.StepCount, state.EpochLoss, state.EpochTokens, state.LearningRate, state.BestAccuracy,
                sc.Scale, sc.GrowthTracker, sc.SkippedSteps, sc.ConsecutiveSkippedSteps];
        }
        // Rank 0 read the file; the others get its contents (no shared file system needed).
        _comm.Broadcast<double>(scalars, 0);
        sync.BroadcastParameters();
        foreach (var (_, buffers) in opt.StateBuffers)
            foreach (var b in buffers) _comm.Broadcast<T>(b, 0);
        opt.StepCount = (long)scalars[3];
        if (scaler.IsEnabled)
            scaler.LoadState(new GradScalerState((float)scalars[8], (int)scalars[9], scaler.Options.GrowthFactor, scaler.Options.BackoffFactor,
                scaler.Options.GrowthInterval, (long)scalars[10], (int)scalars[11]));
        return state ?? new TrainingCheckpoint
        {
            Step = (long)scalars[0], Epoch = (int)scalars[1], NextBatch = (int)scalars[2], EpochLoss = scalars[4],
            EpochTokens = (long)scalars[5], LearningRate = scalars[6], BestAccuracy = scalars[7], Fingerprint = Fingerprint,
        };
    }

    private static T[][] Snapshot(IReadOnlyList<Parameter<T>> ps, T[][]? into)
    {
        into ??= ps.Select(p => new T[p.Count]).ToArray();
        for (int i = 0; i < ps.Count; i++) ps[i].CopyValueTo(into[i]);
        return into;
    }

    /// <summary>One optimizer step on this rank's share of the global batch; returns the global batch's summed token loss.</summary>
    private double Step(TaggerWorker<T>[] workers, TaggedSentence[] data, int[] batch, int batchTokens, ulong seed, Optimizer<T> opt,
        GradientSynchronizer<T> sync, GradScaler scaler, bool timeUp, out bool anyTimeUp)
    {
        int n = _comm.WorldSize, rank = _comm.Rank;
        int mine = (batch.Length - rank + n - 1) / n; // sentences j ≡ rank (mod n)
        int k = Math.Min(workers.Length, mine);
        // Averaging over n ranks divides by n; scaling each rank's loss by n first gives the global mean token loss
        // (n = 1, 2, 4: multiplying and dividing by a power of two is exact).
        // The float16 loss scale S (1 without loss scaling) multiplies every gradient until the scaler unscales them.
        double lossScale = scaler.Scale;
        double scale = n * lossScale / batchTokens;
        foreach (var w in workers) w.ZeroGrad();
        // Overlap (DDP's backward hooks): with one worker its gradients are the rank's, final as it announces them.
        workers[0].GradientReady = k == 1 && sync.Overlaps ? sync.GradientReadyCallback : null;
        double local = 0;
        if (k > 0)
        {
            var parts = new int[k][];
            for (int w = 0; w < k; w++)
            {
                var part = new List<int>();
                for (int j = rank + w * n; j < batch.Length; j += n * k) part.Add(batch[j]);
                parts[w] = [.. part];
            }
            var losses = new double[k];
            if (k == 1) losses[0] = workers[0].TrainStep(data, parts[0], scale, seed);
            else
                System.Threading.Tasks.Parallel.For(0, k, new ParallelOptions { MaxDegreeOfParallelism = k }, w =>
                    losses[w] = workers[w].TrainStep(data, parts[w], scale, seed));
            var master = workers[0].Gradients;
            for (int w = 1; w < k; w++)
            {
                var g = workers[w].Gradients;
                for (int p = 0; p < master.Count; p++) TensorPrimitives.Add(master[p], g[p], master[p]);
            }
            local = losses.Sum() / scale;
        }
        sync.AllReduceGradients();
        _reduce[0] = local;
        _reduce[1] = timeUp ? 1 : 0;
        _comm.AllReduce<double>(_reduce, ReduceOperation.Sum);
        anyTimeUp = _reduce[1] > 0;
        // Every rank holds the same reduced gradients, so every rank finds the same Inf/NaN and takes the same decision.
        bool found = scaler.IsEnabled && scaler.Unscale(_tagger.Parameters);
        if (Options.ClipNorm > 0 && !found) GradientClipping.ClipByGlobalNorm(_tagger.Parameters, Options.ClipNorm);
        scaler.Step(opt);
        scaler.Update();
        return _reduce[0];
    }
}
