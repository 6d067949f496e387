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

    /// <summary>Writes the tagger (atomically: temp file + rename).</summary>
    public static void Save<T>(Tagger<T> tagger, string path) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(tagger);
        var tensors = new List<(string, int[], T[])>();
        foreach (var p in tagger.Parameters)
        {
            if (ReferenceEquals(p, tagger.RnnWeights)) AddRnn(tensors, "lstm", tagger.RnnLayout, p.Value);
            else if (ReferenceEquals(p, tagger.CharRnnWeights)) AddRnn(tensors, "char_lstm", tagger.CharRnnLayout!, p.Value);
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
    /// corrupt file, another format or format version, or missing/misshapen tensors.
    /// </summary>
    public static Tagger<T> Load<T>(string path, IRnnEngine engine) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var (tensors, meta) = SafeTensors.Read(path);
        string Meta(string key) => meta.TryGetValue(key, out var v) ? v : throw new ModelFormatException(path, $"metadata has no '{key}' (not a {Format} model?)");
        if (Meta("format") != Format) throw new ModelFormatException(path, $"format is '{meta["format"]}', expected '{Format}'");
        if (Meta("format_version") != FormatVersion.ToString(CultureInfo.InvariantCulture))
            throw new ModelFormatException(path, $"format version {meta["format_version"]} is not supported (this tool reads version {FormatVersion}); retrain the model or use a matching tool version");
        Tagger<T> tagger;
        try
        {
            var hyper = JsonSerializer.Deserialize<TaggerHyperParameters>(Meta("hyper_parameters"), Json) ?? throw new JsonException("null");
            var words = new Vocabulary(JsonSerializer.Deserialize<string[]>(Meta("words"), Json)!, hasSpecials: true);
            var chars = new Vocabulary(JsonSerializer.Deserialize<string[]>(Meta("chars"), Json)!, hasSpecials: true);
            var tags = new Vocabulary(JsonSerializer.Deserialize<string[]>(Meta("tags"), Json)!, hasSpecials: false);
            var column = TagColumns.Parse(Meta("column"));
            tagger = new Tagger<T>(engine, hyper, words, chars, tags, column, 0);
        }
        catch (Exception e) when (e is JsonException or ArgumentException or NotSupportedException)
        {
            throw new ModelFormatException(path, $"metadata is invalid ({e.Message})", e);
        }
        try
        {
            foreach (var p in tagger.Parameters)
            {
                if (ReferenceEquals(p, tagger.RnnWeights)) LoadRnn(path, tensors, "lstm", tagger.RnnLayout, p.Value);
                else if (ReferenceEquals(p, tagger.CharRnnWeights)) LoadRnn(path, tensors, "char_lstm", tagger.CharRnnLayout!, p.Value);
                else Copy(path, tensors, p.Name, p.Shape.ToArray(), p.Value);
            }
        }
        catch
        {
            tagger.Dispose();
            throw;
        }
        tagger.MarkWeightsChanged();
        return tagger;
    }

    private static void LoadRnn<T>(string path, Dictionary<string, SafeTensor> tensors, string prefix, RnnWeightLayout layout, T[] weightSpace)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        foreach (var p in layout.PyTorchParameters)
        {
            var v = new T[p.Count];
            Copy(path, tensors, $"{prefix}.{p.Name}", p.Shape.ToArray(), v);
            layout.ImportPyTorch<T>(weightSpace, p.Name, v);
        }
    }

    private static void Copy<T>(string path, Dictionary<string, SafeTensor> tensors, string name, int[] shape, T[] destination)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (!tensors.TryGetValue(name, out var t)) throw new ModelFormatException(path, $"tensor '{name}' is missing");
        if (!t.Shape.SequenceEqual(shape))
            throw new ModelFormatException(path, $"tensor '{name}' has shape [{string.Join(",", t.Shape)}], expected [{string.Join(",", shape)}]");
        for (int i = 0; i < destination.Length; i++) destination[i] = T.CreateChecked(t.Values[i]);
    }
}
