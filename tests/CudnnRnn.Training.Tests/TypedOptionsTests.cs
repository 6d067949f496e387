using System.Text.Json;
using System.Text.Json.Nodes;
using CudnnRnn.Cpu;
using Xunit;

namespace CudnnRnn.Training.Tests;

/// <summary>
/// <see cref="CharModel"/> and <see cref="OptimizerKind"/> are enums; model files keep the strings of version 0.1
/// ("cnn", "lstm"; "none" was stored as "cnn" with CharDim 0), and those files still load as the model they describe.
/// </summary>
public sealed class TypedOptionsTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), $"cudnnrnn-typed-options-{Guid.NewGuid():N}");
    private readonly CpuEngine _engine = CpuEngine.Create(1);

    public TypedOptionsTests() => Directory.CreateDirectory(_dir);

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

    // Version 0.1 wrote the hyper-parameters with the default serializer: PascalCase names, CharModel a lower-case string.
    [Theory]
    [InlineData("\"CharDim\":0,\"CharModel\":\"cnn\"", CharModel.None)]
    [InlineData("\"CharDim\":0,\"CharModel\":\"lstm\"", CharModel.None)]
    [InlineData("\"CharDim\":32,\"CharModel\":\"cnn\"", CharModel.Cnn)]
    [InlineData("\"CharDim\":32,\"CharModel\":\"lstm\"", CharModel.Lstm)]
    [InlineData("\"CharModel\":\"cnn\",\"CharDim\":0", CharModel.None)]   // property order does not matter
    [InlineData("\"CharDim\":16,\"CharModel\":\"none\"", CharModel.None)]
    public void Stored_char_model_strings_read_as_the_model_they_describe(string fields, CharModel expected)
    {
        var hyper = JsonSerializer.Deserialize<TaggerHyperParameters>($"{{\"Mode\":\"Lstm\",\"WordDim\":100,{fields},\"Hidden\":128}}")!;
        Assert.Equal(expected, hyper.CharModel);
        Assert.Equal(expected != CharModel.None, hyper.UsesChars);
        hyper.Validate();
    }

    [Theory]
    [InlineData(CharModel.None, "none")]
    [InlineData(CharModel.Cnn, "cnn")]
    [InlineData(CharModel.Lstm, "lstm")]
    public void Char_model_is_written_as_the_0_1_word(CharModel model, string word)
    {
        var json = JsonNode.Parse(JsonSerializer.Serialize(new TaggerHyperParameters { CharModel = model }))!;
        Assert.Equal(word, (string?)json["CharModel"]);
    }

    [Theory]
    [InlineData("\"rnn\"")]
    [InlineData("1")]
    public void An_unknown_char_model_is_an_error_not_a_default(string value) =>
        Assert.Throws<JsonException>(() => JsonSerializer.Deserialize<TaggerHyperParameters>($"{{\"CharModel\":{value}}}"));

    [Fact]
    public void Char_features_on_with_no_embedding_width_is_refused_with_the_fix()
    {
        var e = Assert.Throws<ArgumentException>(() => new TaggerHyperParameters { CharModel = CharModel.Cnn, CharDim = 0 }.Validate());
        Assert.Contains("CharModel.None", e.Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentException>(() => new TaggerHyperParameters { CharModel = (CharModel)9 }.Validate());
        new TaggerHyperParameters { CharModel = CharModel.None, CharDim = 0 }.Validate();
    }

    [Fact]
    public void A_0_1_model_file_without_char_features_loads_with_the_same_weights_and_predictions()
    {
        using var original = Tagger<float>.Create(_engine, new TaggerHyperParameters
        {
            WordDim = 6, CharModel = CharModel.None, ShapeDim = 2, Hidden = 5, Layers = 1, MinWordFrequency = 1,
        }, Data, TagColumn.Upos, 7);
        Assert.Null(original.CharEmbedding);
        string path = Path.Combine(_dir, "new.safetensors"), old = Path.Combine(_dir, "old.safetensors");
        TaggerModelFile.Save(original, path);

        // Rewrite the metadata as 0.1 wrote it for --char-model none: "CharModel": "cnn" with CharDim 0.
        var (tensors, meta) = SafeTensors.Read(path);
        var hyper = JsonNode.Parse(meta["hyper_parameters"])!.AsObject();
        hyper["CharModel"] = "cnn";
        hyper["CharDim"] = 0;
        meta["hyper_parameters"] = hyper.ToJsonString();
        SafeTensors.Write(old, tensors.Values.Select(t => (t.Name, t.Shape, t.Values.Select(v => (float)v).ToArray())), meta);
        Assert.Contains("\"CharModel\":\"cnn\"", SafeTensors.Read(old).Metadata["hyper_parameters"], StringComparison.Ordinal);

        using var loaded = TaggerModelFile.Load<float>(old, _engine);
        Assert.Equal(CharModel.None, loaded.Hyper.CharModel);
        Assert.Null(loaded.CharEmbedding);
        Assert.Equal(original.Parameters.Select(p => p.Name), loaded.Parameters.Select(p => p.Name));
        for (int i = 0; i < original.Parameters.Count; i++) Assert.Equal(original.Parameters[i].Value, loaded.Parameters[i].Value);
        var words = Data.Select(s => s.Words).Append(["unseen", "words"]).ToArray();
        Assert.Equal(original.PredictIds(words), loaded.PredictIds(words));
    }

    [Fact]
    public void An_undefined_optimizer_is_refused_by_the_trainer()
    {
        using var tagger = Tagger<float>.Create(_engine, SyntheticTask.HyperParameters(true, 4), Data, TagColumn.Upos, 1);
        Assert.Throws<ArgumentOutOfRangeException>("options", () => new TaggerTrainer<float>(tagger, new TrainingOptions { Optimizer = (OptimizerKind)2 }));
        _ = new TaggerTrainer<float>(tagger, new TrainingOptions { Optimizer = OptimizerKind.Sgd });
    }
}
