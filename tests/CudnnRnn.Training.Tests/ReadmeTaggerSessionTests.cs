using CudnnRnn.Cpu;
using Xunit;

namespace CudnnRnn.Training.Tests;

/// <summary>The README's TaggerSession snippet, compiled and run on a tiny treebank, so the README cannot drift from the API.</summary>
public sealed class ReadmeTaggerSessionTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), $"cudnnrnn-readme-tagger-{Guid.NewGuid():N}");

    public ReadmeTaggerSessionTests() => Directory.CreateDirectory(_dir);

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void Readme_snippet_trains_and_writes_the_model()
    {
        string trainFile = Path.Combine(_dir, "en_ewt-ud-train.conllu"), devFile = Path.Combine(_dir, "en_ewt-ud-dev.conllu");
        string modelFile = Path.Combine(_dir, "upos.safetensors");
        foreach (var (file, seed) in new[] { (trainFile, 1UL), (devFile, 2UL) })
        {
            using var w = new StreamWriter(file);
            foreach (var s in SyntheticTask.Generate(12, seed)) ConlluWriter.Write(w, ConlluSentence.FromWords(s.Words), s.Tags, TagColumn.Upos);
        }
        var lines = new List<string>();

        // --- README tagger snippet (keep in sync with README.md; only the file names and the cancellation token differ) ---
        using var engine = CpuEngine.Create();
        var data = TaggerDataset.ReadConllu(trainFile, devFile, TagColumn.Upos);
        using var session = new TaggerSession<float>(engine, data, new TaggerTrainingOptions
        {
            Hyper = new TaggerHyperParameters { CharModel = CharModel.Lstm },
            Training = new TrainingOptions { TimeLimit = TimeSpan.FromMinutes(10), Optimizer = OptimizerKind.Adam },
            ModelPath = modelFile,            // rewritten each time dev accuracy improves
        });
        session.EpochCompleted = e => lines.Add($"epoch {e.Epoch}: dev {e.DevAccuracy:F4}{(e.IsBest ? " *" : "")}");
        TaggerTrainingResult result = session.Run(TestContext.Current.CancellationToken);  // session.Tagger ends with the best epoch's parameters
        // --- end ---

        Assert.Equal(new TrainingOptions().Epochs, lines.Count);
        Assert.True(File.Exists(modelFile));
        using var loaded = TaggerModelFile.Load<float>(modelFile, engine);
        Assert.Equal(CharModel.Lstm, loaded.Hyper.CharModel);
        Assert.Equal(result.Best.DevAccuracy, TaggerEvaluation.Evaluate(loaded, data.Dev!, WorkerCount.For(engine)).Accuracy);
    }
}
