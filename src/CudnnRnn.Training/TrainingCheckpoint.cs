using System.Globalization;
using System.Numerics;

namespace CudnnRnn.Training;

/// <summary>
/// A training checkpoint: the model's parameters, the optimizer's state buffers and step count, the position in the
/// data (epoch and next batch), the learning rate, the seed that keys all randomness (<see cref="SampleKeys"/>), the
/// best dev accuracy with its parameters, and the running loss of the current epoch. Written with
/// <see cref="SafeTensors.Write{T}"/> (temporary file + rename), so a crash while writing leaves the previous
/// checkpoint intact. The random state needs no generator dump: every draw is keyed by (seed, epoch, step, sentence).
/// </summary>
public sealed record TrainingCheckpoint
{
    /// <summary>The "format" metadata value.</summary>
    public const string Format = "cudnnrnn-checkpoint";
    /// <summary>The format version.</summary>
    public const int FormatVersion = 1;

    /// <summary>Optimizer steps taken.</summary>
    public long Step { get; init; }
    /// <summary>Epoch (0-based) the next batch belongs to.</summary>
    public int Epoch { get; init; }
    /// <summary>Index of the next batch in that epoch's batch order.</summary>
    public int NextBatch { get; init; }
    /// <summary>Learning rate of the last step.</summary>
    public double LearningRate { get; init; }
    /// <summary>Best dev accuracy so far (NaN: none yet).</summary>
    public double BestAccuracy { get; init; } = double.NaN;
    /// <summary>Summed token loss of the current epoch so far.</summary>
    public double EpochLoss { get; init; }
    /// <summary>Tokens of the current epoch so far.</summary>
    public long EpochTokens { get; init; }
    /// <summary>
    /// The float16 loss scaler's state (scale, growth tracker, factors, skipped steps), or null when the run has none;
    /// stored as metadata in round-trip formats, so a resumed run continues with the same scale bit for bit.
    /// </summary>
    public GradScalerState? Scaler { get; init; }
    /// <summary>Settings that must match on resume (seed, batch size, optimizer, ...), as "key=value" strings.</summary>
    public IReadOnlyDictionary<string, string> Fingerprint { get; init; } = new Dictionary<string, string>();

    /// <summary>Writes the checkpoint of <paramref name="parameters"/> and <paramref name="optimizer"/> atomically.</summary>
    public void Save<T>(string path, IReadOnlyList<Parameter<T>> parameters, Optimizer<T> optimizer, IReadOnlyList<T[]>? best)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var tensors = new List<(string, int[], T[])>();
        foreach (var p in parameters) tensors.Add(("param/" + p.Name, p.Shape.ToArray(), p.HasHostArrays ? p.Value : p.ValueToArray()));
        foreach (var (name, buffers) in optimizer.StateBuffers)
            for (int i = 0; i < parameters.Count; i++) tensors.Add(($"{name}/{parameters[i].Name}", [buffers[i].Length], buffers[i]));
        if (best is not null)
            for (int i = 0; i < parameters.Count; i++) tensors.Add(("best/" + parameters[i].Name, parameters[i].Shape.ToArray(), best[i]));
        var meta = new Dictionary<string, string>(Fingerprint.ToDictionary(kv => "fp." + kv.Key, kv => kv.Value))
        {
            ["format"] = Format,
            ["format_version"] = FormatVersion.ToString(CultureInfo.InvariantCulture),
            ["step"] = Step.ToString(CultureInfo.InvariantCulture),
            ["optimizer_steps"] = optimizer.StepCount.ToString(CultureInfo.InvariantCulture),
            ["epoch"] = Epoch.ToString(CultureInfo.InvariantCulture),
            ["next_batch"] = NextBatch.ToString(CultureInfo.InvariantCulture),
            ["learning_rate"] = LearningRate.ToString("R", CultureInfo.InvariantCulture),
            ["best_accuracy"] = BestAccuracy.ToString("R", CultureInfo.InvariantCulture),
            ["epoch_loss"] = EpochLoss.ToString("R", CultureInfo.InvariantCulture),
            ["epoch_tokens"] = EpochTokens.ToString(CultureInfo.InvariantCulture),
        };
        if (Scaler is not null)
            foreach (var (k, v) in Scaler.ToMetadata()) meta[k] = v;
        SafeTensors.Write(path, tensors, meta);
    }

    /// <summary>
    /// Reads a checkpoint into <paramref name="parameters"/>, <paramref name="optimizer"/> and (when it holds one)
    /// <paramref name="best"/>; throws <see cref="ModelFormatException"/> when it does not match (other format, other
    /// settings in <paramref name="fingerprint"/>, missing or misshapen tensors) before changing anything.
    /// </summary>
    public static TrainingCheckpoint Load<T>(string path, IReadOnlyList<Parameter<T>> parameters, Optimizer<T> optimizer,
        IReadOnlyDictionary<string, string> fingerprint, out T[][]? best) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var (tensors, meta) = SafeTensors.Read(path);
        string Meta(string key) => meta.TryGetValue(key, out var v) ? v : throw new ModelFormatException(path, $"metadata '{key}' is missing");
        if (Meta("format") != Format) throw new ModelFormatException(path, $"format is '{meta["format"]}', expected '{Format}'");
        if (Meta("format_version") != FormatVersion.ToString(CultureInfo.InvariantCulture))
            throw new ModelFormatException(path, $"format version {meta["format_version"]} is not {FormatVersion}");
        foreach (var (k, v) in fingerprint)
        {
            // Checkpoints written before mixed precision existed trained in fp32.
            string stored = meta.TryGetValue("fp." + k, out var s) ? s : k == "precision" ? "fp32" : "(absent)";
            if (stored != v) throw new ModelFormatException(path, $"it was written with {k}={stored}, this run has {k}={v}; resume with the same settings");
        }
        string dtype = typeof(T) == typeof(float) ? "F32" : "F64";
        double[] Tensor(string name, long count)
        {
            if (!tensors.TryGetValue(name, out var t)) throw new ModelFormatException(path, $"tensor '{name}' is missing");
            if (t.Values.LongLength != count) throw new ModelFormatException(path, $"tensor '{name}' has {t.Values.LongLength} values, expected {count}");
            if (t.DType != dtype) throw new ModelFormatException(path, $"tensor '{name}' is {t.DType}, this run trains {dtype} (--dtype must match)");
            return t.Values;
        }
        // Validate everything first, then copy: a mismatch leaves the model untouched.
        var scaler = GradScalerState.IsIn(meta) ? GradScalerState.FromMetadata(meta, path) : null;
        var values = parameters.Select(p => Tensor("param/" + p.Name, p.Count)).ToArray();
        var stateBuffers = optimizer.StateBuffers; // read once: engine-held state is downloaded into these arrays
        var state = stateBuffers.Select(kv => parameters.Select((p, i) => Tensor($"{kv.Key}/{p.Name}", kv.Value[i].Length)).ToArray()).ToArray();
        bool hasBest = tensors.ContainsKey("best/" + parameters[0].Name);
        var bestValues = hasBest ? parameters.Select(p => Tensor("best/" + p.Name, p.Count)).ToArray() : null;
        for (int i = 0; i < parameters.Count; i++)
        {
            var p = parameters[i];
            var into = p.HasHostArrays ? p.Value : new T[p.Count];
            Copy(values[i], into);
            if (p.HasHostArrays) p.MarkValueModified();
            else p.CopyValueFrom(into);
        }
        for (int s = 0; s < state.Length; s++)
            for (int i = 0; i < parameters.Count; i++) Copy(state[s][i], stateBuffers[s].Value[i]);
        best = bestValues?.Select(v => { var a = new T[v.Length]; Copy(v, a); return a; }).ToArray();
        optimizer.StepCount = long.Parse(Meta("optimizer_steps"), CultureInfo.InvariantCulture);
        return new TrainingCheckpoint
        {
            Step = long.Parse(Meta("step"), CultureInfo.InvariantCulture),
            Epoch = int.Parse(Meta("epoch"), CultureInfo.InvariantCulture),
            NextBatch = int.Parse(Meta("next_batch"), CultureInfo.InvariantCulture),
            LearningRate = double.Parse(Meta("learning_rate"), CultureInfo.InvariantCulture),
            BestAccuracy = double.Parse(Meta("best_accuracy"), CultureInfo.InvariantCulture),
            EpochLoss = double.Parse(Meta("epoch_loss"), CultureInfo.InvariantCulture),
            EpochTokens = long.Parse(Meta("epoch_tokens"), CultureInfo.InvariantCulture),
            Scaler = scaler,
            Fingerprint = fingerprint,
        };
    }

    private static void Copy<T>(double[] source, T[] destination) where T : unmanaged, IFloatingPointIeee754<T>
    {
        for (int i = 0; i < source.Length; i++) destination[i] = T.CreateChecked(source[i]); // exact: the file holds T's precision
    }
}
