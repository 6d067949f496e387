using System.Globalization;
using System.Numerics;
using System.Text.Json;

namespace CudnnRnn.Training;

/// <summary>
/// Saves and loads <see cref="Tagger{T}"/>s as safetensors files. The RNN parts use PyTorch's state-dict names
/// (<c>lstm.weight_ih_l0</c>, <c>lstm.weight_ih_l0_reverse</c>, …, <c>char_lstm.*</c>), so the weights load into
/// <c>nn.LSTM</c> modules named <c>lstm</c> / <c>char_lstm</c>; vocabularies, tag set and hyper-parameters are in
/// <c>__metadata__</c> with a format version.
/// </summary>
public static class TaggerModelFile
{
    /// <summary>The <c>format</c> metadata value.</summary>
    public const string Format = "cudnnrnn-tagger";
    /// <summary>The format version this code writes and reads.</summary>
    public const int FormatVersion = 1;

    private static readonly JsonSerializerOptions Json = new() { WriteIndented = false };
    // Reading: a key given twice or a field this version does not know is a corrupt file, not something to guess about.
    private static readonly JsonSerializerOptions StrictJson = new()
    {
        AllowDuplicateProperties = false, UnmappedMemberHandling = System.Text.Json.Serialization.JsonUnmappedMemberHandling.Disallow, MaxDepth = 4,
    };

    /// <summary>Largest width (embedding, hidden, filters) a model file may declare.</summary>
    public const int MaxWidth = 16384;
    /// <summary>Most stacked RNN layers a model file may declare.</summary>
    public const int MaxLayers = 64;

    /// <summary>Writes the tagger (atomically: temp file + rename).</summary>
    public static void Save<T>(Tagger<T> tagger, string path) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(tagger);
        var tensors = new List<(string, int[], T[])>();
        foreach (var p in tagger.Parameters)
        {
            if (ReferenceEquals(p, tagger.RnnWeights)) AddRnn(tensors, "lstm", tagger.RnnLayout, p.ValueToArray());
            else if (ReferenceEquals(p, tagger.CharRnnWeights)) AddRnn(tensors, "char_lstm", tagger.CharRnnLayout!, p.ValueToArray());
            else tensors.Add((p.Name, p.Shape.ToArray(), p.Value));
        }
        var meta = new Dictionary<string, string>
        {
            ["format"] = Format,
            ["format_version"] = FormatVersion.ToString(CultureInfo.InvariantCulture),
            ["column"] = tagger.Column.ToString().ToLowerInvariant(),
            ["hyper_parameters"] = JsonSerializer.Serialize(tagger.Hyper, Json),
            ["words"] = JsonSerializer.Serialize(tagger.Words.Items, Json),
            ["chars"] = JsonSerializer.Serialize(tagger.Chars.Items, Json),
            ["tags"] = JsonSerializer.Serialize(tagger.Tags.Items, Json),
        };
        SafeTensors.Write(path, tensors, meta);
    }

    private static void AddRnn<T>(List<(string, int[], T[])> tensors, string prefix, RnnWeightLayout layout, T[] weightSpace)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        foreach (var p in layout.PyTorchParameters)
        {
            var v = new T[p.Count];
            layout.ExportPyTorch<T>(weightSpace, p.Name, v);
            tensors.Add(($"{prefix}.{p.Name}", p.Shape.ToArray(), v));
        }
    }

    /// <summary>
    /// Loads a tagger onto <paramref name="engine"/>. Throws <see cref="ModelFormatException"/> for a truncated or
    /// corrupt file, another format or format version, or missing/misshapen tensors. The file holds float32 (or
    /// float64) master weights whatever precision trained them; <paramref name="precision"/> chooses how the loaded
    /// tagger runs its RNNs (16-bit ones need <typeparamref name="T"/> = float and an engine that supports the type).
    /// </summary>
    public static Tagger<T> Load<T>(string path, IRnnEngine engine, Precision precision = Precision.Fp32) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(engine);
        if (precision.IsMixed() && typeof(T) != typeof(float))
            throw new NotSupportedException($"Mixed precision ({precision.Word()}) keeps float32 master weights; load the model as float.");
        if (precision.IsMixed() && !engine.Supports(precision.ToRnnDataType(), out var why))
            throw new NotSupportedException($"The {engine.Name} engine cannot run {precision.Word()}: {why}");
        var (tensors, meta) = SafeTensors.Read(path);
        string Meta(string key) => meta.TryGetValue(key, out var v) ? v : throw new ModelFormatException(path, $"metadata has no '{key}' (not a {Format} model?)");
        if (Meta("format") != Format) throw new ModelFormatException(path, $"format is '{meta["format"]}', expected '{Format}'");
        if (Meta("format_version") != FormatVersion.ToString(CultureInfo.InvariantCulture))
            throw new ModelFormatException(path, $"format version {meta["format_version"]} is not supported (this tool reads version {FormatVersion}); retrain the model or use a matching tool version");
        Tagger<T> tagger;
        try
        {
            var hyper = JsonSerializer.Deserialize<TaggerHyperParameters>(Meta("hyper_parameters"), StrictJson) ?? throw new JsonException("hyper_parameters is null");
            CheckBounds(hyper, path);
            var words = new Vocabulary(Strings("words"), hasSpecials: true);
            var chars = new Vocabulary(Strings("chars"), hasSpecials: true);
            var tags = new Vocabulary(Strings("tags"), hasSpecials: false);
            var column = TagColumns.Parse(Meta("column"));
            // Every value the model needs comes from the file: a model larger than the file's tensors is refused before
            // anything of that size is allocated.
            long needed = ParameterCount(hyper, words.Count, chars.Count, tags.Count), held = tensors.Values.Sum(t => (long)t.Values.Length);
            if (needed > held)
                throw new ModelFormatException(path, $"hyper_parameters and vocabularies describe a model of {needed} values but the file's tensors hold {held}");
            tagger = new Tagger<T>(engine, hyper, words, chars, tags, column, 0, precision);
        }
        catch (Exception e) when (e is JsonException or ArgumentException or NotSupportedException or FormatException or OverflowException or InvalidOperationException)
        {
            throw new ModelFormatException(path, $"metadata is invalid ({e.Message})", e);
        }
        string[] Strings(string key)
        {
            var items = JsonSerializer.Deserialize<string[]>(Meta(key), StrictJson) ?? throw new JsonException($"{key} is null");
            return Array.IndexOf(items, null) is int i and >= 0 ? throw new JsonException($"{key}[{i}] is null") : items;
        }
        try
        {
            foreach (var p in tagger.Parameters)
            {
                if (ReferenceEquals(p, tagger.RnnWeights)) LoadRnn(path, tensors, "lstm", tagger.RnnLayout, p);
                else if (ReferenceEquals(p, tagger.CharRnnWeights)) LoadRnn(path, tensors, "char_lstm", tagger.CharRnnLayout!, p);
                else Copy(path, tensors, p.Name, p.Shape.ToArray(), p.Value);
            }
        }
        catch
        {
            tagger.Dispose();
            throw;
        }
        return tagger;
    }

    private static void LoadRnn<T>(string path, Dictionary<string, SafeTensor> tensors, string prefix, RnnWeightLayout layout, Parameter<T> weights)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var weightSpace = weights.ValueToArray(); // the RNN weights live in engine memory: edit a host copy, then write it back
        foreach (var p in layout.PyTorchParameters)
        {
            var v = new T[p.Count];
            Copy(path, tensors, $"{prefix}.{p.Name}", p.Shape.ToArray(), v);
            layout.ImportPyTorch<T>(weightSpace, p.Name, v);
        }
        weights.CopyValueFrom(weightSpace);
    }

    private static void Copy<T>(string path, Dictionary<string, SafeTensor> tensors, string name, int[] shape, T[] destination)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (!tensors.TryGetValue(name, out var t)) throw new ModelFormatException(path, $"tensor '{name}' is missing");
        if (!t.Shape.SequenceEqual(shape))
            throw new ModelFormatException(path, $"tensor '{name}' has shape [{string.Join(",", t.Shape)}], expected [{string.Join(",", shape)}]");
        for (int i = 0; i < destination.Length; i++)
        {
            destination[i] = T.CreateChecked(t.Values[i]);
            if (!T.IsFinite(destination[i]))
                throw new ModelFormatException(path, $"tensor '{name}' element {i} is {t.Values[i]}, beyond the range of {typeof(T).Name}");
        }
    }

    /// <summary>Every hyper-parameter inside the range a model file may declare; the message names the field and the range.</summary>
    private static void CheckBounds(TaggerHyperParameters h, string path)
    {
        void Int(string name, int v, int min, int max)
        {
            if (v < min || v > max) throw new ModelFormatException(path, $"hyper-parameter {name} is {v}; the allowed range is [{min}, {max}]");
        }
        void Real(string name, double v, double min, double maxExclusive)
        {
            if (!(v >= min && v < maxExclusive))
                throw new ModelFormatException(path, $"hyper-parameter {name} is {v.ToString(CultureInfo.InvariantCulture)}; the allowed range is [{min}, {maxExclusive.ToString(CultureInfo.InvariantCulture)})");
        }
        if (!Enum.IsDefined(h.Mode)) throw new ModelFormatException(path, $"hyper-parameter Mode is {h.Mode}; allowed: {string.Join(", ", Enum.GetNames<RnnMode>())}");
        Int(nameof(h.WordDim), h.WordDim, 1, MaxWidth);
        Int(nameof(h.CharDim), h.CharDim, 0, MaxWidth);
        Int(nameof(h.CharHidden), h.CharHidden, 1, MaxWidth);
        Int(nameof(h.CharFilters), h.CharFilters, 1, MaxWidth);
        Int(nameof(h.ShapeDim), h.ShapeDim, 0, MaxWidth);
        Int(nameof(h.Hidden), h.Hidden, 1, MaxWidth);
        Int(nameof(h.Layers), h.Layers, 1, MaxLayers);
        Int(nameof(h.MinWordFrequency), h.MinWordFrequency, 1, int.MaxValue);
        Int(nameof(h.MaxCharsPerWord), h.MaxCharsPerWord, 2, 1024);
        Real(nameof(h.EmbeddingDropout), h.EmbeddingDropout, 0, 1);
        Real(nameof(h.Dropout), h.Dropout, 0, 1);
        Real(nameof(h.WordDropout), h.WordDropout, 0, 1e6);
        if (!Enum.IsDefined(h.CharModel)) throw new ModelFormatException(path, $"hyper-parameter CharModel is {h.CharModel}; allowed: {string.Join(", ", Enum.GetNames<CharModel>())}");
    }

    /// <summary>Values of a tagger with these settings (PyTorch's RNN layout: two bias vectors per gate block).</summary>
    private static long ParameterCount(TaggerHyperParameters h, long words, long chars, long tags)
    {
        static long Rnn(RnnMode mode, long input, long hidden, int layers, int dirs)
        {
            long g = mode switch { RnnMode.Lstm => 4, RnnMode.Gru => 3, _ => 1 }, total = 0;
            for (int l = 0; l < layers; l++)
                total += dirs * g * hidden * ((l == 0 ? input : dirs * hidden) + hidden + 2);
            return total;
        }
        long n = words * h.WordDim + tags * h.OutputSize + tags;
        if (h.UsesChars) n += chars * h.CharDim;
        if (h.UsesChars && !h.UsesCharLstm) n += (long)h.CharFilters * h.CharDim * Tagger<float>.CharKernel + h.CharFilters;
        if (h.UsesCharLstm) n += Rnn(RnnMode.Lstm, h.CharDim, h.CharHidden, 1, 2);
        if (h.UsesShape) n += (long)WordFeatures.ShapeCount * h.ShapeDim;
        return n + Rnn(h.Mode, h.InputSize, h.Hidden, h.Layers, h.Bidirectional ? 2 : 1);
    }
}
