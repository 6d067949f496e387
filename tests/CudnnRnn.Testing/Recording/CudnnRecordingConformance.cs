using Xunit;

namespace CudnnRnn.Testing.Recording;

/// <summary>
/// Finds the recordings in the repository: every folder under <c>tests/recordings</c> with a <c>manifest.json</c>
/// (one per cuDNN version and GPU, e.g. <c>cudnn-9.19.0-nvidia-h100-80gb-hbm3</c>). The repository root is the folder
/// holding CudnnRnn.sln above the test assembly.
/// </summary>
public static class RecordingLocator
{
    /// <summary>The reason every replay test skips while no recording exists.</summary>
    public const string NoRecordingReason = "no cuDNN recording in tests/recordings yet: run ./build.sh record-cudnn on a GPU";

    /// <summary>The placeholder row the replay theories get while no recording exists (the test then skips with the reason).</summary>
    public const string NoRecording = "(none)";

    /// <summary>The repository root, or a clear error naming where it was looked for.</summary>
    public static string RepoRoot
    {
        get
        {
            for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
                if (File.Exists(Path.Combine(dir.FullName, "CudnnRnn.sln"))) return dir.FullName;
            throw new DirectoryNotFoundException($"No CudnnRnn.sln in any folder above {AppContext.BaseDirectory}: the recordings live in the repository.");
        }
    }

    /// <summary>tests/recordings in the repository.</summary>
    public static string RecordingsFolder => Path.Combine(RepoRoot, "tests", "recordings");

    /// <summary>Every recording folder (full paths), sorted by name; empty when there is none.</summary>
    public static IReadOnlyList<string> Folders(string? root = null)
    {
        root ??= RecordingsFolder;
        if (!Directory.Exists(root)) return [];
        return Directory.GetDirectories(root).Where(d => File.Exists(Path.Combine(d, RecordingManifest.FileName)))
            .OrderBy(d => d, StringComparer.Ordinal).ToList();
    }

    /// <summary>(recording folder name, configuration name) for every configuration of every recording, or one placeholder row.</summary>
    public static TheoryData<string, string> Rows(string? root = null)
    {
        var data = new TheoryData<string, string>();
        foreach (var folder in Folders(root))
            foreach (var entry in RecordingManifest.Load(folder).Configs)
                data.Add(Path.GetFileName(folder), entry.Name);
        if (data.Count == 0) data.Add(NoRecording, NoRecording);
        return data;
    }

    /// <summary>Default folder name of a cuDNN recording: <c>cudnn-&lt;version&gt;-&lt;gpu slug&gt;</c>.</summary>
    public static string DefaultFolderName(string cudnnVersion, string gpuName) => $"cudnn-{Slug(cudnnVersion)}-{Slug(gpuName)}";

    /// <summary>Lower case, letters, digits, dots; every other run of characters becomes one '-'.</summary>
    public static string Slug(string text)
    {
        var sb = new System.Text.StringBuilder();
        foreach (char c in text.ToLowerInvariant())
        {
            if (char.IsAsciiLetterOrDigit(c) || c == '.') sb.Append(c);
            else if (sb.Length > 0 && sb[^1] != '-') sb.Append('-');
        }
        string s = sb.ToString().Trim('-');
        return s.Length == 0 ? "unknown" : s;
    }
}

/// <summary>
/// The replay suite, written once and run per engine: every configuration of every cuDNN recording in tests/recordings,
/// replayed on the engine from the recorded inputs, every output compared element by element with
/// <see cref="RecordingTolerance"/>. While no recording exists the single placeholder row skips with
/// <see cref="RecordingLocator.NoRecordingReason"/>; once one exists nothing here skips (an engine that cannot run here
/// skips with its own reason, as in <see cref="EngineConformance"/>).
/// </summary>
public abstract class CudnnRecordingConformance
{
    /// <summary>Creates the engine, or returns null with the reason it is unavailable here.</summary>
    protected abstract IRnnEngine? TryCreateEngine(out string reason);

    /// <summary>Every (recording, configuration), or the placeholder.</summary>
    public static TheoryData<string, string> Recordings() => RecordingLocator.Rows();

    /// <summary>One recorded configuration replayed on this engine.</summary>
    [Theory]
    [MemberData(nameof(Recordings))]
    public void Matches_cuDNN_recording(string recording, string config)
    {
        if (recording == RecordingLocator.NoRecording) Assert.Skip(RecordingLocator.NoRecordingReason);
        using var engine = TryCreateEngine(out string reason);
        if (engine is null) Assert.Skip(reason);
        ReplayAndAssert(engine, Path.Combine(RecordingLocator.RecordingsFolder, recording), config);
    }

    /// <summary>
    /// Replays configuration <paramref name="config"/> of the recording in <paramref name="folder"/> and asserts every
    /// output is within its bound; the failure names the recording's provenance, the configuration, each failing tensor,
    /// its index and both values.
    /// </summary>
    public static void ReplayAndAssert(IRnnEngine engine, string folder, string config)
    {
        var manifest = RecordingManifest.Load(folder);
        var entry = manifest.Get(config);
        if (!engine.Supports(entry.DataType, out var why)) Assert.Skip($"{engine.Name} does not support {entry.DataType} here: {why}");
        var result = RecordingReplay.Run(engine, folder, entry);
        var output = TestContext.Current.TestOutputHelper;
        foreach (var t in result.Tensors) output?.WriteLine(t.ToString());
        var p = manifest.Provenance;
        Assert.True(result.Passed,
            $"{engine.Name} differs from the {p.Engine} recording '{Path.GetFileName(folder)}' (cuDNN {p.CudnnVersion ?? "n/a"}, " +
            $"{p.Gpu ?? p.Device}, algorithm {entry.Algorithm}) for {config}: " + string.Join("; ", result.Failures.Select(f => f.ToString())));
    }
}
