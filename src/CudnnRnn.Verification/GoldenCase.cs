using System.Collections.Immutable;
using System.Text.Json;

namespace CudnnRnn.Verification;

/// <summary>A dense tensor from a golden file: shape and row-major float64 data.</summary>
public sealed record GoldenTensor(ImmutableArray<int> Shape, double[] Data);

/// <summary>
/// One reference case in the golden format (../shared/golden/README.md): configuration, sequence lengths (batch order),
/// and tensors (x, hx, cx, dy, dhy, dcy, PyTorch parameters, y, hy, cy, dx, dhx, dcx, grad.*), sequence-major.
/// </summary>
public sealed class GoldenCase
{
    private GoldenCase(string name, RnnDescriptor rnn, int[] seqLengths, int maxSeqLen, Dictionary<string, GoldenTensor> tensors, IReadOnlyList<string> parameterNames)
    {
        Name = name;
        Rnn = rnn;
        SeqLengths = seqLengths;
        MaxSeqLength = maxSeqLen;
        Tensors = tensors;
        ParameterNames = parameterNames;
    }

    /// <summary>Case name.</summary>
    public string Name { get; }
    /// <summary>The network (float64, double bias or none, linear input).</summary>
    public RnnDescriptor Rnn { get; }
    /// <summary>Lengths in batch order (may be unsorted).</summary>
    public int[] SeqLengths { get; }
    /// <summary>T of the tensors.</summary>
    public int MaxSeqLength { get; }
    /// <summary>Batch size.</summary>
    public int Batch => SeqLengths.Length;
    /// <summary>All tensors by name.</summary>
    public IReadOnlyDictionary<string, GoldenTensor> Tensors { get; }
    /// <summary>PyTorch parameter names in file order.</summary>
    public IReadOnlyList<string> ParameterNames { get; }

    /// <summary>The tensors a run reads: x, hx, cx, dy, dhy, dcy and every PyTorch parameter (the rest are results).</summary>
    public bool IsInput(string tensorName) =>
        tensorName is "x" or "hx" or "cx" or "dy" or "dhy" or "dcy" || ParameterNames.Contains(tensorName);

    /// <summary>
    /// A copy whose inputs (<see cref="IsInput"/>) are mapped element-wise by <paramref name="round"/> (e.g. rounded to a
    /// 16-bit type and back), results unchanged: the float64 reference of the rounded inputs is then computed from it.
    /// </summary>
    public GoldenCase WithRoundedInputs(Func<double, double> round)
    {
        ArgumentNullException.ThrowIfNull(round);
        var tensors = new Dictionary<string, GoldenTensor>();
        foreach (var (name, t) in Tensors)
            tensors[name] = IsInput(name) ? t with { Data = Array.ConvertAll(t.Data, v => round(v)) } : t;
        return new GoldenCase(Name, Rnn, SeqLengths, MaxSeqLength, tensors, ParameterNames);
    }

    /// <summary>A tensor by name; throws <see cref="FormatException"/> naming the case when it is missing.</summary>
    public GoldenTensor Get(string name) =>
        Tensors.TryGetValue(name, out var t) ? t : throw new FormatException($"Golden case '{Name}' has no tensor '{name}'.");

    /// <summary>Reads and validates a golden file. Malformed input throws <see cref="FormatException"/> naming the file and field.</summary>
    public static GoldenCase Load(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (!File.Exists(path)) throw new FileNotFoundException($"Golden file '{path}' does not exist.", path);
        using var stream = File.OpenRead(path);
        JsonDocument doc;
        try { doc = JsonDocument.Parse(stream); }
        catch (JsonException e) { throw new FormatException($"{path}: not valid JSON ({e.Message}).", e); }
        using (doc) return Parse(doc.RootElement, path);
    }

    /// <summary>Parses a golden case from JSON text (<paramref name="origin"/> names it in errors).</summary>
    public static GoldenCase Parse(string json, string origin = "<string>")
    {
        JsonDocument doc;
        try { doc = JsonDocument.Parse(json); }
        catch (JsonException e) { throw new FormatException($"{origin}: not valid JSON ({e.Message}).", e); }
        using (doc) return Parse(doc.RootElement, origin);
    }

    private static GoldenCase Parse(JsonElement root, string origin)
    {
        JsonElement Req(JsonElement obj, string name, JsonValueKind kind, string where)
        {
            if (obj.ValueKind != JsonValueKind.Object || !obj.TryGetProperty(name, out var v))
                throw new FormatException($"{origin}: missing field '{where}{name}'.");
            if (v.ValueKind != kind && !(kind == JsonValueKind.True && v.ValueKind == JsonValueKind.False))
                throw new FormatException($"{origin}: field '{where}{name}' is {v.ValueKind}; expected {(kind == JsonValueKind.True ? "a boolean" : kind.ToString())}.");
            return v;
        }
        int Int(JsonElement obj, string name)
        {
            var v = Req(obj, name, JsonValueKind.Number, "config.");
            if (!v.TryGetInt32(out int i)) throw new FormatException($"{origin}: field 'config.{name}' = {v} is not an integer.");
            return i;
        }

        var cfg = Req(root, "config", JsonValueKind.Object, "");
        string name = Req(cfg, "name", JsonValueKind.String, "config.").GetString()!;
        string modeText = Req(cfg, "mode", JsonValueKind.String, "config.").GetString()!;
        RnnMode mode = modeText switch
        {
            "rnn_tanh" => RnnMode.RnnTanh,
            "rnn_relu" => RnnMode.RnnRelu,
            "gru" => RnnMode.Gru,
            "lstm" => RnnMode.Lstm,
            _ => throw new FormatException($"{origin}: config.mode = '{modeText}'; expected rnn_tanh, rnn_relu, gru or lstm."),
        };
        int inputSize = Int(cfg, "inputSize"), hidden = Int(cfg, "hiddenSize"), proj = Int(cfg, "projSize");
        int layers = Int(cfg, "numLayers"), batch = Int(cfg, "batch"), maxSeqLen = Int(cfg, "maxSeqLen");
        bool bi = Req(cfg, "bidirectional", JsonValueKind.True, "config.").GetBoolean();
        bool bias = Req(cfg, "bias", JsonValueKind.True, "config.").GetBoolean();
        RnnDescriptor rnn;
        try
        {
            rnn = new RnnDescriptor(mode, inputSize, hidden, layers, bi ? RnnDirection.Bidirectional : RnnDirection.Unidirectional,
                proj > 0 ? proj : null, bias ? RnnBiasMode.Double : RnnBiasMode.None, RnnInputMode.Linear, RnnDataType.Float64);
        }
        catch (ArgumentException e) { throw new FormatException($"{origin}: invalid configuration: {e.Message}", e); }

        var lensEl = Req(root, "seqLengths", JsonValueKind.Array, "");
        var lens = lensEl.EnumerateArray().Select(e => e.TryGetInt32(out int v) ? v : throw new FormatException($"{origin}: seqLengths holds a non-integer {e}.")).ToArray();
        if (lens.Length != batch) throw new FormatException($"{origin}: seqLengths has {lens.Length} entries; config.batch is {batch}.");
        foreach (int l in lens)
            if (l < 1 || l > maxSeqLen) throw new FormatException($"{origin}: seqLengths holds {l}; expected 1..maxSeqLen ({maxSeqLen}).");

        var tensors = new Dictionary<string, GoldenTensor>(StringComparer.Ordinal);
        foreach (var prop in Req(root, "tensors", JsonValueKind.Object, "").EnumerateObject())
        {
            string where = $"tensors.{prop.Name}.";
            var shape = Req(prop.Value, "shape", JsonValueKind.Array, where).EnumerateArray()
                .Select(e => e.TryGetInt32(out int v) && v >= 0 ? v : throw new FormatException($"{origin}: {where}shape holds {e}; expected non-negative integers.")).ToImmutableArray();
            var dataEl = Req(prop.Value, "data", JsonValueKind.Array, where);
            var data = new double[dataEl.GetArrayLength()];
            int k = 0;
            foreach (var e in dataEl.EnumerateArray())
                data[k++] = e.ValueKind == JsonValueKind.Number ? e.GetDouble() : throw new FormatException($"{origin}: {where}data[{k}] is {e.ValueKind}; expected a number.");
            long count = shape.Aggregate(1L, (a, b) => a * b);
            if (count != data.Length) throw new FormatException($"{origin}: {where}data has {data.Length} values; shape [{string.Join(",", shape)}] needs {count}.");
            tensors[prop.Name] = new GoldenTensor(shape, data);
        }

        var gc = new GoldenCase(name, rnn, lens, maxSeqLen, tensors,
            cfg.TryGetProperty("parameterNames", out var pn) && pn.ValueKind == JsonValueKind.Array
                ? pn.EnumerateArray().Select(e => e.GetString() ?? "").ToArray() : []);
        gc.CheckShapes(origin);
        return gc;
    }

    private void CheckShapes(string origin)
    {
        int T = MaxSeqLength, B = Batch, L = Rnn.PseudoLayerCount;
        void Expect(string name, params int[] shape)
        {
            var t = Get(name);
            if (!t.Shape.SequenceEqual(shape))
                throw new FormatException($"{origin}: tensor '{name}' has shape [{string.Join(",", t.Shape)}]; expected [{string.Join(",", shape)}].");
        }
        Expect("x", T, B, Rnn.InputSize);
        Expect("y", T, B, Rnn.OutputSize);
        Expect("dy", T, B, Rnn.OutputSize);
        Expect("dx", T, B, Rnn.InputSize);
        foreach (var n in new[] { "hx", "hy", "dhy", "dhx" }) Expect(n, L, B, Rnn.StateSize);
        if (Rnn.Mode == RnnMode.Lstm)
            foreach (var n in new[] { "cx", "cy", "dcy", "dcx" }) Expect(n, L, B, Rnn.HiddenSize);
        var layout = RnnWeightLayout.Canonical(Rnn);
        foreach (var p in layout.PyTorchParameters)
        {
            Expect(p.Name, [.. p.Shape]);
            Expect("grad." + p.Name, [.. p.Shape]);
        }
    }

    /// <summary>Loads every <c>*.json</c> golden case in a folder (skipping manifest.json), or the single file given.</summary>
    public static IReadOnlyList<string> FindFiles(string fileOrFolder)
    {
        if (File.Exists(fileOrFolder)) return [fileOrFolder];
        if (!Directory.Exists(fileOrFolder)) throw new FileNotFoundException($"'{fileOrFolder}' is neither a golden file nor a folder.", fileOrFolder);
        return Directory.GetFiles(fileOrFolder, "*.json").Where(f => !Path.GetFileName(f).Equals("manifest.json", StringComparison.OrdinalIgnoreCase))
            .OrderBy(f => f, StringComparer.Ordinal).ToArray();
    }
}
