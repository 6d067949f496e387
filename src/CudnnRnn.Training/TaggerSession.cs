using System.Numerics;

namespace CudnnRnn.Training;

/// <summary>The sentences a tagger learns from (<see cref="Train"/>) and is selected on (<see cref="Dev"/>), for one tag column.</summary>
public sealed class TaggerDataset
{
    /// <summary>Wraps sentences already in memory.</summary>
    /// <exception cref="ArgumentException">No training sentence, or the training tags are all "_" (the column is empty).</exception>
    public TaggerDataset(IReadOnlyList<TaggedSentence> train, IReadOnlyList<TaggedSentence>? dev, TagColumn column)
    {
        ArgumentNullException.ThrowIfNull(train);
        if (train.Count == 0) throw new ArgumentException("No training sentences.", nameof(train));
        if (train.All(s => s.Tags.All(t => t == "_")))
            throw new ArgumentException($"The {column.DisplayName()} column of the training data holds only '_' (no tags to learn); try the other column.", nameof(train));
        Train = train;
        Dev = dev is { Count: > 0 } ? dev : null;
        Column = column;
    }

    /// <summary>Reads CoNLL-U files (<paramref name="devPath"/> may be null: no dev set, the last epoch's model is kept).</summary>
    /// <exception cref="ConlluFormatException">A file is not valid CoNLL-U.</exception>
    public static TaggerDataset ReadConllu(string trainPath, string? devPath, TagColumn column)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(trainPath);
        var train = ConlluReader.ReadFile(trainPath).Select(s => s.ToTagged(column)).ToList();
        var dev = devPath is null ? null : ConlluReader.ReadFile(devPath).Select(s => s.ToTagged(column)).ToList();
        if (train.Count > 0 && train.All(s => s.Tags.All(t => t == "_")))
            throw new ArgumentException($"{trainPath}: the {column.DisplayName()} column holds only '_' (no tags to learn); try the other column.", nameof(column));
        return new TaggerDataset(train, dev, column);
    }

    /// <summary>Training sentences.</summary>
    public IReadOnlyList<TaggedSentence> Train { get; }
    /// <summary>Dev sentences, or null (an empty dev set counts as none).</summary>
    public IReadOnlyList<TaggedSentence>? Dev { get; }
    /// <summary>The CoNLL-U column the tags come from.</summary>
    public TagColumn Column { get; }
    /// <summary>Tokens in <see cref="Train"/>.</summary>
    public long TrainTokens => Train.Sum(s => (long)s.Length);
    /// <summary>Tokens in <see cref="Dev"/> (0 without one).</summary>
    public long DevTokens => Dev?.Sum(s => (long)s.Length) ?? 0;
}

/// <summary>What a <see cref="TaggerSession{T}"/> builds and how it trains and saves it.</summary>
public sealed record TaggerTrainingOptions
{
    /// <summary>The tagger's architecture.</summary>
    public TaggerHyperParameters Hyper { get; init; } = new();
    /// <summary>
    /// Epochs, time limit, optimizer, seed, batch size. <see cref="TrainingOptions.Threads"/> is resolved per engine by
    /// <see cref="WorkerCount.For"/> (all cores on the CPU engine, one worker on a GPU engine).
    /// </summary>
    public TrainingOptions Training { get; init; } = new();
    /// <summary>
    /// Model file (safetensors) the best model is written to, each time an epoch's dev accuracy beats every earlier one
    /// (without a dev set: after every epoch). Null: nothing is written.
    /// </summary>
    public string? ModelPath { get; init; }
}

/// <summary>The outcome of <see cref="TaggerSession{T}.Run"/>.</summary>
/// <param name="Epochs">One result per epoch (the last may be partial when the time limit ran out).</param>
/// <param name="Best">The epoch whose model the tagger holds and the model file contains.</param>
/// <param name="ModelPath">The model file written, or null when none was asked for.</param>
public sealed record TaggerTrainingResult(IReadOnlyList<EpochResult> Epochs, EpochResult Best, string? ModelPath)
{
    /// <summary>Training tokens per second over all epochs (evaluation excluded).</summary>
    public double TokensPerSecond => Epochs.Sum(e => (double)e.Tokens) / Epochs.Sum(e => e.Tokens / e.TokensPerSecond);
    /// <summary>Wall-clock time of the whole run.</summary>
    public TimeSpan Elapsed => Epochs[^1].Elapsed;
}

/// <summary>
/// One training run of a tagger, the flow behind <c>cudnnrnn tagger train</c>: builds the tagger and its vocabularies
/// from the training data, picks the worker count for the engine, trains with dev evaluation after each epoch within
/// the epoch and time budget, and writes the best model so far to <see cref="TaggerTrainingOptions.ModelPath"/>.
/// Progress arrives through the callbacks, from the training thread.
/// </summary>
/// <example>
/// <code>
/// using var engine = CpuEngine.Create();
/// var data = TaggerDataset.ReadConllu("en_ewt-ud-train.conllu", "en_ewt-ud-dev.conllu", TagColumn.Upos);
/// using var session = new TaggerSession&lt;float&gt;(engine, data, new TaggerTrainingOptions
/// {
///     Training = new TrainingOptions { TimeLimit = TimeSpan.FromMinutes(5) }, ModelPath = "upos.safetensors",
/// });
/// session.EpochCompleted = e => Console.WriteLine($"epoch {e.Epoch}: dev {e.DevAccuracy:F4}");
/// var result = session.Run();
/// </code>
/// </example>
public sealed class TaggerSession<T> : IDisposable where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly TaggerTrainer<T> _trainer;
    private bool _ran, _disposed;

    /// <summary>Builds the tagger (vocabularies from <paramref name="data"/>'s training sentences, seeded parameters).</summary>
    /// <exception cref="ArgumentException">Invalid hyper-parameters or training options, or a worker count the engine cannot run.</exception>
    public TaggerSession(IRnnEngine engine, TaggerDataset data, TaggerTrainingOptions options)
    {
        ArgumentNullException.ThrowIfNull(engine);
        ArgumentNullException.ThrowIfNull(data);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(options.Hyper);
        ArgumentNullException.ThrowIfNull(options.Training);
        if (options.Training.TimeLimit is { } limit && limit <= TimeSpan.Zero)
            throw new ArgumentOutOfRangeException(nameof(options), limit, "TimeLimit must be positive (or null for none).");
        if (options.ModelPath is { } path && string.IsNullOrWhiteSpace(path))
            throw new ArgumentException("ModelPath must name a file (or be null to write nothing).", nameof(options));
        Workers = WorkerCount.For(engine, options.Training.Threads);
        Engine = engine;
        Data = data;
        Options = options;
        Tagger = Tagger<T>.Create(engine, options.Hyper, data.Train, data.Column, options.Training.Seed, options.Training.Precision);
        try
        {
            _trainer = new TaggerTrainer<T>(Tagger, options.Training with { Threads = Workers });
        }
        catch
        {
            Tagger.Dispose();
            throw;
        }
    }

    /// <summary>The engine that runs the RNNs.</summary>
    public IRnnEngine Engine { get; }
    /// <summary>The data.</summary>
    public TaggerDataset Data { get; }
    /// <summary>The settings.</summary>
    public TaggerTrainingOptions Options { get; }
    /// <summary>The tagger being trained; after <see cref="Run"/> it holds the best epoch's parameters.</summary>
    public Tagger<T> Tagger { get; }
    /// <summary>Data-parallel workers the run uses (<see cref="WorkerCount.For"/>).</summary>
    public int Workers { get; }

    /// <summary>Called after every batch.</summary>
    public Action<BatchProgress>? BatchCompleted { get; set; }
    /// <summary>Called after every epoch's dev evaluation.</summary>
    public Action<EpochResult>? EpochCompleted { get; set; }
    /// <summary>Called after the best model so far has been written to the model file (the epoch and the path).</summary>
    public Action<EpochResult, string>? ModelSaved { get; set; }

    /// <summary>Trains; can be called once.</summary>
    /// <exception cref="TimeoutException">The time limit ran out before the first batch finished (no model to keep).</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellation"/> was cancelled.</exception>
    public TaggerTrainingResult Run(CancellationToken cancellation = default)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_ran) throw new InvalidOperationException("This session has already run; create a new one to train again.");
        _ran = true;
        _trainer.BatchCompleted = p => BatchCompleted?.Invoke(p);
        _trainer.EpochCompleted = e => EpochCompleted?.Invoke(e);
        _trainer.NewBest = e =>
        {
            if (Options.ModelPath is not { } path) return;
            string? dir = Path.GetDirectoryName(Path.GetFullPath(path));
            if (dir is not null) Directory.CreateDirectory(dir);
            TaggerModelFile.Save(Tagger, path);
            ModelSaved?.Invoke(e, path);
        };
        var history = _trainer.Train(Data.Train, Data.Dev, cancellation);
        if (history.Count == 0)
            throw new TimeoutException("The time limit ended training before the first batch finished; give it more time.");
        var best = history.LastOrDefault(h => h.IsBest) ?? history[^1];
        return new TaggerTrainingResult(history, best, Options.ModelPath);
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        Tagger.Dispose();
    }
}
