using System.CommandLine;
using CudnnRnn.Training;
using Xunit;

namespace CudnnRnn.Cli.Tests;

/// <summary><c>tagger train|eval|predict</c>: typed options, parse-time checks, and a tiny run end to end.</summary>
public sealed class TaggerCommandTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), $"cudnnrnn-tagger-cli-{Guid.NewGuid():N}");
    private static readonly RootCommand Root = Cli.Build();

    public TaggerCommandTests() => Directory.CreateDirectory(_dir);

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void Train_options_parse_to_enums()
    {
        var r = Root.Parse(["tagger", "train", "--train", "t", "--out", "m", "--char-model", "none", "--column", "XPOS", "--optimizer", "sgd", "--precision", "BF16"]);
        Assert.Empty(r.Errors);
        Assert.Equal(Precision.Bf16, r.GetValue<Precision?>("--precision"));
        Assert.Equal(CharModel.None, r.GetValue<CharModel?>("--char-model"));
        Assert.Equal(TagColumn.Xpos, r.GetValue<TagColumn?>("--column"));
        Assert.Equal(OptimizerKind.Sgd, r.GetValue<OptimizerKind?>("--optimizer"));
    }

    [Theory]
    [InlineData("--char-model rnn", "--char-model must be one of cnn, lstm, none; got 'rnn'.")]
    [InlineData("--column lemma", "--column must be one of upos, xpos; got 'lemma'.")]
    [InlineData("--optimizer adagrad", "--optimizer must be one of adam, sgd; got 'adagrad'.")]
    [InlineData("--threads -1", "--threads must be 0 (automatic) or positive.")]
    [InlineData("--epochs 0", "--epochs must be positive.")]
    [InlineData("--time-limit 0", "--time-limit must be a positive number of minutes.")]
    [InlineData("--lr -0.1", "--lr must be positive.")]
    [InlineData("--precision fp8", "--precision must be one of fp32, fp16, bf16; got 'fp8'.")]
    public void Bad_train_options_are_parse_errors(string option, string message)
    {
        var r = Root.Parse(["tagger", "train", "--train", "t", "--out", "m", .. option.Split(' ')]);
        Assert.Equal([message], r.Errors.Select(e => e.Message));
    }

    [Fact]
    public void Train_eval_and_predict_run_end_to_end_on_a_tiny_treebank()
    {
        string conllu = Path.Combine(_dir, "tiny.conllu"), model = Path.Combine(_dir, "out", "tiny.safetensors");
        using (var w = new StreamWriter(conllu))
            foreach (var s in SyntheticTask.Generate(40, 5))
                ConlluWriter.Write(w, ConlluSentence.FromWords(s.Words), s.Tags, TagColumn.Upos);

        int rc = Root.Parse(["tagger", "train", "--train", conllu, "--dev", conllu, "--out", model, "--epochs", "2", "--hidden", "8",
            "--layers", "1", "--char-model", "none", "--threads", "1"]).Invoke();
        Assert.Equal(0, rc);
        Assert.True(File.Exists(model));
        Assert.True(File.Exists(model + ".png"));
        using (var engine = Cpu.CpuEngine.Create(1))
        using (var tagger = TaggerModelFile.Load<float>(model, engine))
        {
            Assert.Equal(CharModel.None, tagger.Hyper.CharModel);
            Assert.Equal(8, tagger.Hyper.Hidden);
        }
        Assert.Equal(0, Root.Parse(["tagger", "eval", "--model", model, "--data", conllu]).Invoke());
        Assert.Equal(0, Root.Parse(["tagger", "predict", "--model", model, "--data", conllu, "--threads", "2"]).Invoke());
        // Mixed precision end to end: an fp16 run writes a float32 model file, which evaluates in bf16 too.
        string model16 = Path.Combine(_dir, "out", "tiny16.safetensors");
        Assert.Equal(0, Root.Parse(["tagger", "train", "--train", conllu, "--out", model16, "--epochs", "1", "--hidden", "8",
            "--layers", "1", "--char-model", "lstm", "--threads", "1", "--precision", "fp16"]).Invoke());
        Assert.All(SafeTensors.Read(model16).Tensors.Values, t => Assert.Equal("F32", t.DType));
        Assert.Equal(0, Root.Parse(["tagger", "eval", "--model", model16, "--data", conllu, "--precision", "bf16"]).Invoke());
        Assert.Equal(2, Root.Parse(["tagger", "train", "--train", conllu, "--out", model16, "--max-steps", "1", "--dtype", "float64", "--precision", "bf16"]).Invoke());
        // A user error is exit code 2 with a message, not a stack trace.
        Assert.Equal(2, Root.Parse(["tagger", "eval", "--model", Path.Combine(_dir, "missing.safetensors"), "--data", conllu]).Invoke());
    }
}
