using System.Buffers.Binary;
using System.Text;
using System.Text.Json;
using CudnnRnn.Cpu;
using CudnnRnn.Training;
using Xunit;

namespace CudnnRnn.Training.Tests;

/// <summary>Crafted model files (issue 16, item 2): every one must end in <see cref="ModelFormatException"/> naming the file.</summary>
public sealed class ModelFileHardeningTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), $"cudnnrnn-model-hardening-{Guid.NewGuid():N}");
    private readonly CpuEngine _engine = CpuEngine.Create(1);

    public ModelFileHardeningTests() => Directory.CreateDirectory(_dir);

    public void Dispose()
    {
        _engine.Dispose();
        Directory.Delete(_dir, recursive: true);
    }

    internal static readonly List<TaggedSentence> Data =
    [
        new(["The", "cat", "sat", "."], ["DET", "NOUN", "VERB", "PUNCT"]),
        new(["A", "dog", "ran", "home", "."], ["DET", "NOUN", "VERB", "ADV", "PUNCT"]),
    ];

    internal static Tagger<float> Small(IRnnEngine engine) => Tagger<float>.Create(engine, new TaggerHyperParameters
    {
        WordDim = 6, CharDim = 4, CharModel = CharModel.Lstm, CharHidden = 3, CharFilters = 5, ShapeDim = 2, Hidden = 7, Layers = 2, MinWordFrequency = 1,
    }, Data, TagColumn.Xpos, 5);

    /// <summary>8-byte length, the header text as given (no re-serialisation: duplicate keys survive), then the data bytes.</summary>
    internal static byte[] Raw(string header, byte[] data)
    {
        byte[] h = Encoding.UTF8.GetBytes(header);
        var bytes = new byte[8 + h.Length + data.Length];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, (ulong)h.Length);
        h.CopyTo(bytes, 8);
        data.CopyTo(bytes, 8 + h.Length);
        return bytes;
    }

    private ModelFormatException ReadFails(byte[] bytes, string? name = null)
    {
        string path = Path.Combine(_dir, name ?? $"{Guid.NewGuid():N}.safetensors");
        File.WriteAllBytes(path, bytes);
        var e = Assert.Throws<ModelFormatException>(() => SafeTensors.Read(path));
        Assert.Equal(path, e.Path);
        Assert.StartsWith(path, e.Message);
        return e;
    }

    [Fact]
    public void Overlapping_tensors_are_rejected()
    {
        var e = ReadFails(Raw("""{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}""", new byte[12]));
        Assert.Contains("overlap", e.Reason);
        Assert.Contains("'b'", e.Reason);
    }

    [Fact]
    public void A_hole_in_the_data_section_is_rejected()
    {
        var e = ReadFails(Raw("""{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}""", new byte[12]));
        Assert.Contains("hole", e.Reason);
        e = ReadFails(Raw("""{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}""", new byte[8]));
        Assert.Contains("hole", e.Reason);
        e = ReadFails(Raw("""{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}""", new byte[8]));
        Assert.Contains("4 bytes after the last tensor", e.Reason);
    }

    [Fact]
    public void Duplicate_keys_in_the_header_are_a_format_error()
    {
        var e = ReadFails(Raw("""{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}""", new byte[4]));
        Assert.Contains("'a'", e.Reason);
        e = ReadFails(Raw("""{"a":{"dtype":"F32","dtype":"F64","shape":[1],"data_offsets":[0,4]}}""", new byte[4]));
        Assert.Contains("dtype", e.Reason);
        e = ReadFails(Raw("""{"__metadata__":{"k":"1","k":"2"}}""", []));
        Assert.Contains("'k'", e.Reason);
    }

    [Fact]
    public void An_element_count_that_overflows_is_a_format_error()
    {
        // 65536^4 = 2^64 wraps to 0 in a 64-bit product: an unchecked product would accept it as an empty tensor.
        var e = ReadFails(Raw("""{"a":{"dtype":"F32","shape":[65536,65536,65536,65536],"data_offsets":[0,0]}}""", []));
        Assert.Contains("overflow", e.Reason);
        // Fits in a long, but not in one .NET array.
        e = ReadFails(Raw("""{"a":{"dtype":"F64","shape":[65536,65536],"data_offsets":[0,34359738368]}}""", []));
        Assert.Contains("'a'", e.Reason);
    }

    [Theory]
    [InlineData("""{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}""", "shape")]
    [InlineData("""{"a":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}}""", "shape")]
    [InlineData("""{"a":{"dtype":"F32","shape":[1],"data_offsets":[0]}}""", "data_offsets")]
    [InlineData("""{"a":{"dtype":"F32","shape":[1],"data_offsets":[-4,0]}}""", "data_offsets")]
    [InlineData("""{"a":{"dtype":"I8","shape":[4],"data_offsets":[0,4]}}""", "dtype")]
    [InlineData("""{"a":{"shape":[1],"data_offsets":[0,4]}}""", "dtype")]
    [InlineData("""{"a":[]}""", "'a'")]
    [InlineData("""[1,2]""", "JSON object")]
    [InlineData("""{"__metadata__":{"k":1}}""", "__metadata__")]
    public void Malformed_entries_are_format_errors(string header, string expected)
    {
        Assert.Contains(expected, ReadFails(Raw(header, new byte[4])).Reason);
    }

    [Fact]
    public void Non_finite_values_are_refused_on_load_naming_the_tensor()
    {
        var data = new byte[8];
        BinaryPrimitives.WriteSingleLittleEndian(data, 1f);
        BinaryPrimitives.WriteSingleLittleEndian(data.AsSpan(4), float.NaN);
        var e = ReadFails(Raw("""{"weights.x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}""", data));
        Assert.Contains("'weights.x'", e.Reason);
        Assert.Contains("element 1", e.Reason);

        // Through the model loader: a saved model with one value turned into +inf.
        using var a = Small(_engine);
        string path = Path.Combine(_dir, "inf.safetensors");
        TaggerModelFile.Save(a, path);
        byte[] file = File.ReadAllBytes(path);
        // Find the bias's bytes in the file and overwrite its first value with +inf.
        long headerLen = (long)BinaryPrimitives.ReadUInt64LittleEndian(file);
        using var doc = JsonDocument.Parse(file.AsMemory(8, (int)headerLen));
        long begin = doc.RootElement.GetProperty("output.bias").GetProperty("data_offsets")[0].GetInt64();
        BinaryPrimitives.WriteSingleLittleEndian(file.AsSpan((int)(8 + headerLen + begin)), float.PositiveInfinity);
        File.WriteAllBytes(path, file);
        var le = Assert.Throws<ModelFormatException>(() => TaggerModelFile.Load<float>(path, _engine));
        Assert.Contains("'output.bias'", le.Reason);
        Assert.Contains("Infinity", le.Reason);
    }

    [Fact]
    public void Non_finite_values_are_never_written()
    {
        string path = Path.Combine(_dir, "nan.safetensors");
        File.WriteAllText(path, "previous model");
        var e = Assert.Throws<ArgumentException>(() => SafeTensors.Write(path, [("ok", [2], new[] { 1.0, 2.0 }), ("bad", [3], new[] { 0.0, 0.0, double.NaN })], new Dictionary<string, string>()));
        Assert.Contains("'bad'", e.Message);
        Assert.Contains("element 2", e.Message);
        Assert.Equal("previous model", File.ReadAllText(path));

        using var a = Small(_engine);
        a.RnnWeights.Value[a.RnnWeights.Value.Length - 1] = float.NegativeInfinity;
        var se = Assert.Throws<ArgumentException>(() => TaggerModelFile.Save(a, path));
        Assert.Contains("'lstm.", se.Message);
        Assert.Equal("previous model", File.ReadAllText(path));
        Assert.Equal([path], Directory.GetFiles(_dir));
    }

    /// <summary>Rewrites one hyper-parameter of a valid saved model (the tensors stay as they are).</summary>
    private string WithHyper(string name, string editedJson)
    {
        using var a = Small(_engine);
        string path = Path.Combine(_dir, $"{name}.safetensors");
        TaggerModelFile.Save(a, path);
        var (tensors, meta) = SafeTensors.Read(path);
        meta["hyper_parameters"] = editedJson;
        SafeTensors.Write(path, tensors.Values.Select(t => (t.Name, t.Shape, t.Values.Select(v => (float)v).ToArray())), meta);
        return path;
    }

    private string HyperJson(Func<string, string> edit)
    {
        using var a = Small(_engine);
        return edit(JsonSerializer.Serialize(a.Hyper));
    }

    [Theory]
    [InlineData("WordDim", "2000000000")]
    [InlineData("Hidden", "1000000")]
    [InlineData("Layers", "100000")]
    [InlineData("CharDim", "-1")]
    [InlineData("MaxCharsPerWord", "2147483647")]
    [InlineData("Dropout", "1e308")]
    public void Huge_or_negative_hyper_parameters_are_format_errors_naming_the_field(string field, string value)
    {
        string json = HyperJson(j => System.Text.RegularExpressions.Regex.Replace(j, $"\"{field}\":[^,}}]+", $"\"{field}\":{value}"));
        Assert.Contains($"\"{field}\":{value}", json);
        string path = WithHyper(field, json);
        long before = GC.GetAllocatedBytesForCurrentThread(); // this thread only: other test classes run in parallel
        var e = Assert.Throws<ModelFormatException>(() => TaggerModelFile.Load<float>(path, _engine));
        Assert.Contains(field, e.Reason);
        Assert.Contains("range", e.Reason);
        // Refused before the embedding table was allocated (this file's own data is a few KB).
        Assert.True(GC.GetAllocatedBytesForCurrentThread() - before < 64L << 20, "allocated before the check");
    }

    [Fact]
    public void Duplicate_keys_in_metadata_json_are_format_errors()
    {
        string json = HyperJson(j => j.Replace("{", "{\"WordDim\":7,", StringComparison.Ordinal));
        var e = Assert.Throws<ModelFormatException>(() => TaggerModelFile.Load<float>(WithHyper("dup", json), _engine));
        Assert.Contains("WordDim", e.Reason);
    }

    [Fact]
    public void A_file_over_2GB_is_checked_from_its_header_not_refused_for_its_size()
    {
        // A sparse file: the header says 4 data bytes, the file holds 2^31 + 4096 more. Reading the header first gives the
        // format error (bytes after the last tensor); reading the whole file first failed with an I/O error from the size.
        string path = Path.Combine(_dir, "big.safetensors");
        var head = Raw("""{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}""", new byte[4]);
        using (var fs = new FileStream(path, FileMode.CreateNew))
        {
            fs.Write(head);
            fs.SetLength(head.Length + (1L << 31) + 4096);
        }
        var e = Assert.Throws<ModelFormatException>(() => SafeTensors.Read(path));
        Assert.Contains("bytes after the last tensor", e.Reason);
    }

    [Fact]
    public void Directory_sync_after_rename_is_real()
    {
        // The helper fsyncs an existing directory and reports a missing one, so the call is not a no-op.
        AtomicFile.SyncDirectory(_dir);
        if (!OperatingSystem.IsWindows())
            Assert.ThrowsAny<IOException>(() => AtomicFile.SyncDirectory(Path.Combine(_dir, "missing")));
    }
}
