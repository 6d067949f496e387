using System.Reflection;
using System.Text.Json;
using CudnnRnn.Interop;
using Xunit;

namespace CudnnRnn.Cuda.Tests;

/// <summary>
/// Compares the JSON printed by native/cudnn-probe (the installed headers' own values) with the C# enums, when a
/// probe.json is present (native/cudnn-probe/probe.json, or the file named by CUDNNRNN_PROBE_JSON).
/// </summary>
public sealed class ProbeJsonTests
{
    public const string PathVariable = "CUDNNRNN_PROBE_JSON";

    /// <summary>Value mismatches (failures) and members only one side has (notes: a newer or older header).</summary>
    internal static (List<string> Mismatches, List<string> Notes) Compare(JsonElement probe)
    {
        var mismatches = new List<string>();
        var notes = new List<string>();
        int major = probe.GetProperty("CUDNN_MAJOR").GetInt32();
        var v = CudnnVersionInfo.Decode((nuint)probe.GetProperty("CUDNN_VERSION").GetInt64());
        if ((v.Major, v.Minor, v.Patch) != (major, probe.GetProperty("CUDNN_MINOR").GetInt32(), probe.GetProperty("CUDNN_PATCHLEVEL").GetInt32()))
            mismatches.Add($"CUDNN_VERSION {v.Raw} decodes to {v}, the header says {major}.{probe.GetProperty("CUDNN_MINOR")}.{probe.GetProperty("CUDNN_PATCHLEVEL")}");
        foreach (var e in probe.GetProperty("enums").EnumerateObject())
        {
            Type? t = e.Name == "cudnnStatus_t" && major < 9 ? typeof(cudnnStatus_v8_t) : typeof(Cudnn).Assembly.GetType("CudnnRnn.Interop." + e.Name);
            if (t is null)
            {
                mismatches.Add($"{e.Name}: no C# type");
                continue;
            }
            var net = t.GetFields(BindingFlags.Public | BindingFlags.Static).Where(f => f.IsLiteral)
                .ToDictionary(f => f.Name, f => Convert.ToInt64(f.GetRawConstantValue()));
            foreach (var m in e.Value.EnumerateObject())
            {
                if (!net.TryGetValue(m.Name, out long value)) notes.Add($"{e.Name}.{m.Name} = {m.Value} is in the header but not bound");
                else if (value != m.Value.GetInt64()) mismatches.Add($"{e.Name}.{m.Name}: C# {value}, header {m.Value}");
            }
            if (t.IsEnum)
                foreach (var name in net.Keys.Where(n => !e.Value.TryGetProperty(n, out _)))
                    notes.Add($"{t.Name}.{name} is bound but not in this header");
        }
        return (mismatches, notes);
    }

    [Fact]
    public void Probe_json_from_the_installed_headers_matches_the_bindings()
    {
        string? path = Environment.GetEnvironmentVariable(PathVariable);
        if (string.IsNullOrEmpty(path) && SharedFiles.RepoRoot is { } root) path = Path.Combine(root, "native", "cudnn-probe", "probe.json");
        if (path is null || !File.Exists(path))
            Assert.Skip($"No probe.json ({path ?? "repository root not found"}): build native/cudnn-probe where the cuDNN headers are installed, " +
                        $"save its output there or set {PathVariable}.");
        using var doc = JsonDocument.Parse(File.ReadAllText(path));
        var (mismatches, notes) = Compare(doc.RootElement);
        foreach (var n in notes) TestContext.Current.TestOutputHelper?.WriteLine(n);
        Assert.True(mismatches.Count == 0, $"{path}:\n" + string.Join("\n", mismatches));
    }

    [Fact]
    public void The_comparison_catches_a_wrong_value_and_picks_the_8x_status_table()
    {
        const string json9 = """
            {"CUDNN_MAJOR": 9, "CUDNN_MINOR": 6, "CUDNN_PATCHLEVEL": 0, "CUDNN_VERSION": 90600,
             "enums": {"cudnnRNNMode_t": {"CUDNN_RNN_RELU": 0, "CUDNN_RNN_TANH": 1, "CUDNN_LSTM": 3, "CUDNN_GRU": 3},
                       "cudnnStatus_t": {"CUDNN_STATUS_BAD_PARAM": 2000, "CUDNN_STATUS_NEW_IN_9_99": 6000}}}
            """;
        using var d9 = JsonDocument.Parse(json9);
        var (m9, n9) = Compare(d9.RootElement);
        Assert.Equal(["cudnnRNNMode_t.CUDNN_LSTM: C# 2, header 3"], m9);
        Assert.Contains("cudnnStatus_t.CUDNN_STATUS_NEW_IN_9_99 = 6000 is in the header but not bound", n9);

        const string json8 = """
            {"CUDNN_MAJOR": 8, "CUDNN_MINOR": 9, "CUDNN_PATCHLEVEL": 7, "CUDNN_VERSION": 8907,
             "enums": {"cudnnStatus_t": {"CUDNN_STATUS_SUCCESS": 0, "CUDNN_STATUS_BAD_PARAM": 3}}}
            """;
        using var d8 = JsonDocument.Parse(json8);
        Assert.Empty(Compare(d8.RootElement).Mismatches);

        const string badVersion = """{"CUDNN_MAJOR": 9, "CUDNN_MINOR": 6, "CUDNN_PATCHLEVEL": 0, "CUDNN_VERSION": 90601, "enums": {}}""";
        using var dv = JsonDocument.Parse(badVersion);
        Assert.Single(Compare(dv.RootElement).Mismatches);
    }
}
