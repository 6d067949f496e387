using CudnnRnn.Cpu;
using CudnnRnn.Training;
using Xunit;

namespace CudnnRnn.Training.Tests;

public sealed class ModelFileTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), $"cudnnrnn-model-tests-{Guid.NewGuid():N}");
    private readonly CpuEngine _engine = CpuEngine.Create(1);

    public ModelFileTests() => Directory.CreateDirectory(_dir);

    public void Dispose()
    {
        _engine.Dispose();
        Directory.Delete(_dir, recursive: true);
    }

    private static readonly List<TaggedSentence> Data =
    [
        new(["The", "cat", "sat", "."], ["DET", "NOUN", "VERB", "PUNCT"]),
        new(["A", "dog", "ran", "home", "."], ["DET", "NOUN", "VERB", "ADV", "PUNCT"]),
    ];

    private Tagger<float> Small(CharModel charModel = CharModel.Lstm) => Tagger<float>.Create(_engine, new TaggerHyperParameters
    {
        WordDim = 6, CharDim = 4, CharModel = charModel, CharHidden = 3, CharFilters = 5, ShapeDim = 2, Hidden = 7, Layers = 2, MinWordFrequency = 1,
    }, Data, TagColumn.Xpos, 5);

    [Theory]
    [InlineData(CharModel.Lstm)]
    [InlineData(CharModel.Cnn)]
    [InlineData(CharModel.None)]
    public void Round_trip_keeps_parameters_vocabularies_and_predictions(CharModel charModel)
    {
        using var a = Small(charModel);
        string path = Path.Combine(_dir, "m.safetensors");
        TaggerModelFile.Save(a, path);
        using var b = TaggerModelFile.Load<float>(path, _engine);
        Assert.Equal(a.Hyper, b.Hyper);
        Assert.Equal(TagColumn.Xpos, b.Column);
        Assert.Equal(a.Words.Items, b.Words.Items);
        Assert.Equal(a.Chars.Items, b.Chars.Items);
        Assert.Equal(a.Tags.Items, b.Tags.Items);
        for (int i = 0; i < a.Parameters.Count; i++) Assert.Equal(a.Parameters[i].Value, b.Parameters[i].Value);
        var words = Data.Select(s => s.Words).Append(["unseen", "Words", "123"]).ToArray();
        Assert.Equal(a.PredictIds(words), b.PredictIds(words));
        Assert.Empty(Directory.GetFiles(_dir, "*.tmp"));
    }

    [Fact]
    public void Rnn_tensors_carry_pytorch_names_and_shapes()
    {
        using var a = Small(CharModel.Lstm);
        string path = Path.Combine(_dir, "names.safetensors");
        TaggerModelFile.Save(a, path);
        var (tensors, meta) = SafeTensors.Read(path);
        Assert.Equal([4 * 7, a.Hyper.InputSize], tensors["lstm.weight_ih_l0"].Shape);
        Assert.Equal([4 * 7, 7], tensors["lstm.weight_hh_l0_reverse"].Shape);
        Assert.Equal([4 * 7, 2 * 7], tensors["lstm.weight_ih_l1"].Shape);
        Assert.Equal([4 * 7], tensors["lstm.bias_hh_l1_reverse"].Shape);
        Assert.Equal([4 * 3, 4], tensors["char_lstm.weight_ih_l0"].Shape);
        Assert.Equal([a.Tags.Count, 14], tensors["output.weight"].Shape);
        Assert.Equal("F32", tensors["output.bias"].DType);
        Assert.Equal(TaggerModelFile.Format, meta["format"]);
        Assert.Equal("1", meta["format_version"]);
        // The values are PyTorch's: exported from the layer's own layout.
        Assert.Equal(a.RnnLayout.PyTorchParameters.Count, tensors.Keys.Count(k => k.StartsWith("lstm.", StringComparison.Ordinal)));
    }

    [Fact]
    public void Truncated_file_is_a_clear_error()
    {
        using var a = Small();
        string path = Path.Combine(_dir, "t.safetensors");
        TaggerModelFile.Save(a, path);
        var bytes = File.ReadAllBytes(path);
        foreach (int keep in new[] { 0, 5, 20, bytes.Length / 2, bytes.Length - 1 })
        {
            File.WriteAllBytes(path, bytes[..keep]);
            var e = Assert.Throws<ModelFormatException>(() => TaggerModelFile.Load<float>(path, _engine));
            Assert.StartsWith(path, e.Message);
        }
    }

    [Fact]
    public void Other_format_version_is_a_clear_error()
    {
        string path = Path.Combine(_dir, "v2.safetensors");
        SafeTensors.Write(path, [("x", [1], new float[] { 1 })], new Dictionary<string, string> { ["format"] = TaggerModelFile.Format, ["format_version"] = "2" });
        var e = Assert.Throws<ModelFormatException>(() => TaggerModelFile.Load<float>(path, _engine));
        Assert.Contains("format version 2 is not supported", e.Message);
        SafeTensors.Write(path, [("x", [1], new float[] { 1 })], new Dictionary<string, string> { ["format"] = "something-else" });
        Assert.Contains("format is 'something-else'", Assert.Throws<ModelFormatException>(() => TaggerModelFile.Load<float>(path, _engine)).Message);
    }

    [Fact]
    public void Corrupt_header_is_a_clear_error()
    {
        string path = Path.Combine(_dir, "c.safetensors");
        var bytes = new byte[8 + 10];
        bytes[0] = 10;
        "{not json}"u8.CopyTo(bytes.AsSpan(8));
        File.WriteAllBytes(path, bytes);
        Assert.Contains("not valid JSON", Assert.Throws<ModelFormatException>(() => TaggerModelFile.Load<float>(path, _engine)).Message);
    }

    [Fact]
    public void Failed_save_leaves_no_partial_file()
    {
        using var a = Small();
        string target = Path.Combine(_dir, "blocked.safetensors");
        Directory.CreateDirectory(target); // a directory where the file should go: the final rename fails
        Assert.ThrowsAny<IOException>(() => TaggerModelFile.Save(a, target));
        Assert.Equal([target], Directory.GetFileSystemEntries(_dir));
        Assert.Empty(Directory.GetFileSystemEntries(target));
    }

    [Fact]
    public void Saving_over_a_model_replaces_it_whole()
    {
        using var a = Small();
        string path = Path.Combine(_dir, "r.safetensors");
        File.WriteAllText(path, "old");
        TaggerModelFile.Save(a, path);
        using var b = TaggerModelFile.Load<float>(path, _engine);
        Assert.Equal(a.OutputBias.Value, b.OutputBias.Value);
    }
}
