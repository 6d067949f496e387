using System.Globalization;
using CudnnRnn.Training;

namespace CudnnRnn.Cli.Tagging;

/// <summary>
/// Renders a <see cref="TaggerSession{T}"/> run for <c>tagger train</c> and <c>demo --data</c>: the summary lines,
/// the progress bar, the epoch lines and the plot. The flow itself lives in the library.
/// </summary>
internal static class TrainingRun
{
    public static int Train(EngineChoice engineChoice, string trainPath, string? devPath, TagColumn column, TaggerTrainingOptions options)
    {
        using var engine = engineChoice.Create();
        var data = TaggerDataset.ReadConllu(trainPath, devPath, column);
        using var session = new TaggerSession<float>(engine, data, options);
        var hyper = options.Hyper;
        var tagger = session.Tagger;
        Console.WriteLine($"train: {data.Train.Count:N0} sentences, {data.TrainTokens:N0} tokens; dev: {(data.Dev is null ? "none" : $"{data.Dev.Count:N0} sentences, {data.DevTokens:N0} tokens")}");
        Console.WriteLine($"model: {hyper.Layers}-layer Bi{hyper.Mode} hidden {hyper.Hidden}, word dim {hyper.WordDim}, chars {hyper.CharModel.ToString().ToLowerInvariant()}, " +
            $"{tagger.Words.Count:N0} words, {tagger.Tags.Count} tags, {tagger.ParameterCount:N0} parameters");
        Console.WriteLine($"engine: {engine.DeviceDescription}; {session.Workers} worker thread(s); precision {options.Training.Precision.Word()}");
        string name = column.DisplayName();
        var result = ProgressView.Run(view =>
        {
            session.BatchCompleted = p => view.Batch(p);
            session.EpochCompleted = r => view.Line(ProgressView.Describe(r, name));
            return session.Run();
        });
        var best = result.Best;
        string? modelPath = result.ModelPath;
        Console.WriteLine($"best epoch {best.Epoch}: dev {name} accuracy {(double.IsNaN(best.DevAccuracy) ? "n/a" : best.DevAccuracy.ToString("F4", CultureInfo.InvariantCulture))}; " +
            $"{result.TokensPerSecond:N0} tok/s; total {result.Elapsed:hh\\:mm\\:ss}");
        if (modelPath is not null)
        {
            string plot = modelPath + ".png";
            TrainingPlot.Save(plot, $"BiLSTM tagger ({name}): {Path.GetFileName(trainPath)}", $"dev {name} accuracy", new TrainingPlot.Series($"dev {name} accuracy", result.Epochs));
            Console.WriteLine($"model written to {Path.GetFullPath(modelPath)}");
            Console.WriteLine($"plot written to {Path.GetFullPath(plot)}");
        }
        return 0;
    }

    public static void PrintEvaluation(EvaluationResult result, TagColumn column)
    {
        Console.WriteLine($"{column.DisplayName()} accuracy: {result.Accuracy.ToString("F4", CultureInfo.InvariantCulture)} ({result.Correct:N0}/{result.Total:N0})");
        Console.WriteLine();
        Console.WriteLine($"{"tag",-8} {"precision",9} {"recall",9} {"f1",9} {"support",8}");
        foreach (var s in result.PerTag)
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{s.Tag,-8} {s.Precision,9:F4} {s.Recall,9:F4} {s.F1,9:F4} {s.Support,8}"));
    }
}
