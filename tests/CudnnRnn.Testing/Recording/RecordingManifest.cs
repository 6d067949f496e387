using System.Text.Json;
using System.Text.Json.Serialization;

namespace CudnnRnn.Testing.Recording;

/// <summary>Where a recording's numbers came from: the engine and, for cuDNN, every version that can change them.</summary>
/// <param name="Engine">Engine short name ("cuda" for a real cuDNN recording, "cpu" for the CPU dry run).</param>
/// <param name="Device">The engine's device description.</param>
/// <param name="CudnnVersion">Loaded cuDNN version (e.g. "9.19.0"), or null off cuDNN.</param>
/// <param name="CudaRuntimeVersion">CUDA runtime version (e.g. "12.8"), or null.</param>
/// <param name="CudaDriverVersion">CUDA version the driver supports (e.g. "13.0"), or null.</param>
/// <param name="Gpu">GPU name, or null.</param>
public sealed record RecordingProvenance(string Engine, string Device, string? CudnnVersion = null, string? CudaRuntimeVersion = null,
    string? CudaDriverVersion = null, string? Gpu = null);

/// <summary>One recorded configuration as the manifest holds it: enough to rebuild the network and data shape exactly.</summary>
public sealed class RecordingEntry
{
#pragma warning disable CS1591 // fields named after RnnDescriptor / RnnDataDescriptor properties
    public string Name { get; set; } = "";
    public string File { get; set; } = "";
    public RnnMode Mode { get; set; }
    public int InputSize { get; set; }
    public int HiddenSize { get; set; }
    public int ProjSize { get; set; }
    public int NumLayers { get; set; }
    public RnnDirection Direction { get; set; }
    public RnnBiasMode BiasMode { get; set; }
    public RnnInputMode InputMode { get; set; }
    public RnnDataType DataType { get; set; }
    public double? ClipMin { get; set; }
    public double? ClipMax { get; set; }
    public ClipNanMode? ClipNan { get; set; }
    public RnnDataLayout Layout { get; set; }
    public int MaxSeqLength { get; set; }
    public int Batch { get; set; }
    public int[] SeqLengths { get; set; } = [];
    public double PaddingFill { get; set; }
    public RecordingFill Fill { get; set; }
    public int Seed { get; set; }
    /// <summary>What the configuration asked for (Auto: the engine's choice; Standard: forced).</summary>
    public RecordingAlgorithm AlgorithmRequested { get; set; }
    /// <summary>What actually ran, as the engine reports it (cuDNN: the cudnnRNNAlgo_t name).</summary>
    public string Algorithm { get; set; } = "";
    /// <summary>Math type (cuDNN: the cudnnMathType_t name).</summary>
    public string MathType { get; set; } = "";
    /// <summary>Bytes of the tensor file.</summary>
    public long Bytes { get; set; }
    /// <summary>Why what ran differs from what was asked (e.g. the engine's own algorithm failed and STANDARD ran); null when it does not.</summary>
    public string? Note { get; set; }
#pragma warning restore CS1591

    /// <summary>The entry for a configuration.</summary>
    public static RecordingEntry From(RecordingConfig c, string file, string algorithm, string mathType, long bytes) => new()
    {
        Name = c.Name, File = file, Mode = c.Rnn.Mode, InputSize = c.Rnn.InputSize, HiddenSize = c.Rnn.HiddenSize,
        ProjSize = c.Rnn.ProjSize, NumLayers = c.Rnn.NumLayers, Direction = c.Rnn.Direction, BiasMode = c.Rnn.BiasMode,
        InputMode = c.Rnn.InputMode, DataType = c.Rnn.DataType, ClipMin = c.Rnn.CellClip?.Min, ClipMax = c.Rnn.CellClip?.Max,
        ClipNan = c.Rnn.CellClip?.Nan, Layout = c.XDesc.Layout, MaxSeqLength = c.XDesc.MaxSeqLength, Batch = c.XDesc.Batch,
        SeqLengths = c.XDesc.SeqLengthArray.ToArray(), PaddingFill = c.XDesc.PaddingFill, Fill = c.Fill, Seed = c.Seed,
        AlgorithmRequested = c.Algorithm, Algorithm = algorithm, MathType = mathType, Bytes = bytes,
    };

    /// <summary>The network this entry describes (validated by RnnDescriptor's constructor).</summary>
    public RnnDescriptor ToDescriptor() => new(Mode, InputSize, HiddenSize, NumLayers, Direction, ProjSize, BiasMode, InputMode, DataType,
        cellClip: ClipMin is { } lo && ClipMax is { } hi ? new RnnCellClip(lo, hi, ClipNan ?? ClipNanMode.Propagate) : null);

    /// <summary>The input data shape this entry describes.</summary>
    public RnnDataDescriptor ToDataDescriptor() => new(Layout, MaxSeqLength, Batch, InputSize, SeqLengths, PaddingFill);

    /// <summary>The configuration this entry describes.</summary>
    public RecordingConfig ToConfig() => new(Name, ToDescriptor(), ToDataDescriptor(), Fill, Seed, AlgorithmRequested);
}

/// <summary>A configuration the engine refused (the recorder fails when there is any; the manifest says which and why).</summary>
/// <param name="Name">Configuration name.</param>
/// <param name="Reason">The exception message.</param>
public sealed record RecordingRefusal(string Name, string Reason);

/// <summary>
/// The JSON sidecar of a recording folder (<c>manifest.json</c>): the provenance once, then one entry per configuration
/// with the network, data shape, fill, seed, the algorithm asked for and the one that ran, the math type and the file.
/// </summary>
public sealed class RecordingManifest
{
    /// <summary>The manifest's file name inside a recording folder.</summary>
    public const string FileName = "manifest.json";
    /// <summary>The format name.</summary>
    public const string FormatName = "cudnnrnn-recording";

    /// <summary>Always <see cref="FormatName"/>.</summary>
    public string Format { get; set; } = FormatName;
    /// <summary>Format version (1).</summary>
    public int FormatVersion { get; set; } = 1;
    /// <summary>Where the numbers came from.</summary>
    public RecordingProvenance Provenance { get; set; } = new("", "");
    /// <summary>When the recording was made (UTC, ISO 8601).</summary>
    public string RecordedUtc { get; set; } = "";
    /// <summary>What made it (the test or command).</summary>
    public string Recorder { get; set; } = "";
    /// <summary>Recorded configurations.</summary>
    public List<RecordingEntry> Configs { get; set; } = [];
    /// <summary>Configurations the engine refused.</summary>
    public List<RecordingRefusal> Refused { get; set; } = [];

    private static readonly JsonSerializerOptions Options = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        Converters = { new JsonStringEnumConverter() },
    };

    /// <summary>Writes the manifest into <paramref name="folder"/>.</summary>
    public void Save(string folder)
    {
        // Through a temporary file and a rename, so a run cut off while saving leaves the previous manifest whole.
        string path = Path.Combine(folder, FileName), tmp = path + ".tmp";
        System.IO.File.WriteAllText(tmp, JsonSerializer.Serialize(this, Options) + "\n");
        System.IO.File.Move(tmp, path, overwrite: true);
    }

    /// <summary>Reads the manifest of <paramref name="folder"/>, checking format name and version.</summary>
    public static RecordingManifest Load(string folder)
    {
        string path = Path.Combine(folder, FileName);
        RecordingManifest? m;
        try
        {
            m = JsonSerializer.Deserialize<RecordingManifest>(System.IO.File.ReadAllText(path), Options);
        }
        catch (JsonException e)
        {
            throw new RecordingFormatException(path, "not a recording manifest: " + e.Message);
        }
        if (m is null || m.Format != FormatName)
            throw new RecordingFormatException(path, $"format is '{m?.Format}'; expected '{FormatName}'.");
        if (m.FormatVersion != 1)
            throw new RecordingFormatException(path, $"format version {m.FormatVersion}; this reader knows version 1.");
        return m;
    }

    /// <summary>The entry named <paramref name="name"/>.</summary>
    public RecordingEntry Get(string name) => Configs.FirstOrDefault(c => c.Name == name)
        ?? throw new ArgumentException($"The recording has no configuration '{name}'.", nameof(name));
}
