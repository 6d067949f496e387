using System.CommandLine;
using System.Globalization;
using CudnnRnn.Cli.Tagging;
using CudnnRnn.Training;

namespace CudnnRnn.Cli.Commands;

/// <summary><c>cudnnrnn tagger train|eval|predict</c>: a BiLSTM part-of-speech (or any CoNLL-U column) tagger.</summary>
internal static class TaggerCommand
{
    public static Command Create()
    {
        var cmd = new Command("tagger", "Train, evaluate and run a bidirectional LSTM sequence tagger on CoNLL-U data (UPOS/XPOS).");
        cmd.Subcommands.Add(CreateTrain());
        cmd.Subcommands.Add(CreateEval());
        cmd.Subcommands.Add(CreatePredict());
        return cmd;
    }

    private static Option<string> EngineOption() => new("--engine")
    {
        Description = "Engine that runs the RNNs: cpu, cuda or opencl.",
        DefaultValueFactory = _ => "cpu",
    };

    private static Option<string?> DeviceOption() => new("--device") { Description = "Device selector for GPU engines (index or name)." };

    private static Option<int> ThreadsOption() => new("--threads")
    {
        Description = "Worker threads (data-parallel copies of the network); 0 = all cores on the CPU engine, 1 on GPU engines.",
        DefaultValueFactory = _ => 0,
    };

    private static Command CreateTrain()
    {
        var train = new Option<string>("--train") { Description = "Training data (CoNLL-U).", Required = true };
        var dev = new Option<string?>("--dev") { Description = "Development data (CoNLL-U), evaluated after each epoch to keep the best model." };
        var engine = EngineOption();
        var device = DeviceOption();
        var epochs = new Option<int>("--epochs") { Description = "Maximum number of epochs.", DefaultValueFactory = _ => 40 };
        var timeLimit = new Option<double?>("--time-limit") { Description = "Training time budget in minutes (training stops, evaluates and keeps the best model)." };
        var column = new Option<string>("--column") { Description = "Tag column to learn: upos or xpos.", DefaultValueFactory = _ => "upos" };
        var seed = new Option<ulong>("--seed") { Description = "Seed of initialisation, dropout and batch order.", DefaultValueFactory = _ => 1UL };
        var threads = ThreadsOption();
        var output = new Option<string>("--out") { Description = "Model file to write (safetensors); the plot goes to MODEL.png.", Required = true };
        var hidden = new Option<int>("--hidden") { Description = "Hidden units per direction of the sentence LSTM.", DefaultValueFactory = _ => 128 };
        var layers = new Option<int>("--layers") { Description = "Stacked sentence LSTM layers.", DefaultValueFactory = _ => 2 };
        var chars = new Option<string>("--char-model") { Description = "Character features: cnn, lstm or none.", DefaultValueFactory = _ => "cnn" };
        var batch = new Option<int>("--batch-size") { Description = "Sentences per batch.", DefaultValueFactory = _ => 32 };
        var lr = new Option<double>("--lr") { Description = "Adam learning rate (cosine-decayed over the budget).", DefaultValueFactory = _ => 2e-3 };

        var cmd = new Command("train", "Train a tagger; evaluates on --dev after each epoch and keeps the best model.");
        foreach (var o in new Option[] { train, dev, engine, device, epochs, timeLimit, column, seed, threads, output, hidden, layers, chars, batch, lr })
            cmd.Options.Add(o);
        // ---- issue 15: --distributed, --checkpoint-every, --resume, --max-steps, --dtype (options and flow in TaggerDistributed.cs) ----
        var distributed = new TaggerDistributed();
        distributed.AddTo(cmd);
        // ---- end issue 15 ----
        cmd.SetAction(r => CommandErrors.Run(() =>
        {
            var col = TagColumns.Parse(r.GetValue(column)!);
            string charModel = r.GetValue(chars)!.ToLowerInvariant();
            if (charModel is not ("cnn" or "lstm" or "none")) throw new UsageException($"--char-model must be cnn, lstm or none, not '{charModel}'.");
            if (r.GetValue(epochs) < 1) throw new UsageException("--epochs must be at least 1.");
            double? minutes = r.GetValue(timeLimit);
            if (minutes is <= 0) throw new UsageException("--time-limit must be a positive number of minutes.");
            var hyper = new TaggerHyperParameters
            {
                Hidden = r.GetValue(hidden), Layers = r.GetValue(layers),
                CharModel = charModel == "none" ? "cnn" : charModel, CharDim = charModel == "none" ? 0 : 32,
            };
            var options = new TrainingOptions
            {
                Epochs = r.GetValue(epochs), TimeLimit = minutes is { } m ? TimeSpan.FromMinutes(m) : null, Seed = r.GetValue(seed),
                Threads = r.GetValue(threads), BatchSize = r.GetValue(batch), LearningRate = r.GetValue(lr),
            };
            if (distributed.Requested(r)) // issue 15: the data-parallel/checkpointed flow
                return distributed.Train(r, r.GetValue(train)!, r.GetValue(dev), r.GetValue(output)!, col, hyper, options, r.GetValue(engine)!, r.GetValue(device));
            return TaggerTraining.Train(r.GetValue(train)!, r.GetValue(dev), r.GetValue(output)!, col, hyper, options,
                r.GetValue(engine)!, r.GetValue(device));
        }));
        return cmd;
    }

    private static Command CreateEval()
    {
        var model = new Option<string>("--model") { Description = "Model file written by 'tagger train'.", Required = true };
        var data = new Option<string>("--data") { Description = "Gold CoNLL-U data.", Required = true };
        var engine = EngineOption();
        var device = DeviceOption();
        var threads = ThreadsOption();
        var cmd = new Command("eval", "Evaluate a tagger: accuracy and per-tag precision/recall.");
        foreach (var o in new Option[] { model, data, engine, device, threads }) cmd.Options.Add(o);
        cmd.SetAction(r => CommandErrors.Run(() =>
        {
            using var eng = Engines.Create(r.GetValue(engine)!, r.GetValue(device), 0);
            using var tagger = TaggerModelFile.Load<float>(r.GetValue(model)!, eng);
            var gold = ConlluReader.ReadFile(r.GetValue(data)!).Select(s => s.ToTagged(tagger.Column)).ToList();
            var result = TaggerEvaluation.Evaluate(tagger, gold, Threads(r.GetValue(threads)));
            TaggerTraining.PrintEvaluation(result, tagger.Column);
            return 0;
        }));
        return cmd;
    }

    private static Command CreatePredict()
    {
        var model = new Option<string>("--model") { Description = "Model file written by 'tagger train'.", Required = true };
        var data = new Option<string?>("--data") { Description = "CoNLL-U file to tag; without it, whitespace-tokenised sentences are read from stdin, one per line." };
        var engine = EngineOption();
        var device = DeviceOption();
        var threads = ThreadsOption();
        var cmd = new Command("predict", "Tag sentences and write CoNLL-U to stdout.");
        foreach (var o in new Option[] { model, data, engine, device, threads }) cmd.Options.Add(o);
        cmd.SetAction(r => CommandErrors.Run(() =>
        {
            using var eng = Engines.Create(r.GetValue(engine)!, r.GetValue(device), 0);
            using var tagger = TaggerModelFile.Load<float>(r.GetValue(model)!, eng);
            List<ConlluSentence> sentences;
            if (r.GetValue(data) is { } path) sentences = ConlluReader.ReadFile(path);
            else
            {
                sentences = new();
                string? line;
                while ((line = Console.In.ReadLine()) is not null)
                {
                    var words = line.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
                    if (words.Length > 0) sentences.Add(ConlluSentence.FromWords(words, line.Trim()));
                }
            }
            var tags = tagger.Predict(sentences.Select(s => s.Words).ToArray(), Threads(r.GetValue(threads)));
            var stdout = Console.Out;
            for (int i = 0; i < sentences.Count; i++) ConlluWriter.Write(stdout, sentences[i], tags[i], tagger.Column);
            stdout.Flush();
            return 0;
        }));
        return cmd;
    }

    internal static int Threads(int requested) => requested > 0 ? requested : Environment.ProcessorCount;
}

/// <summary>The training flow shared by <c>tagger train</c> and <c>demo --data</c>.</summary>
internal static class TaggerTraining
{
    public static int Train(string trainPath, string? devPath, string modelPath, TagColumn column, TaggerHyperParameters hyper,
        TrainingOptions options, string engineName, string? device)
    {
        using var engine = Engines.Create(engineName, device, 0);
        var train = ConlluReader.ReadFile(trainPath).Select(s => s.ToTagged(column)).ToList();
        var dev = devPath is null ? null : ConlluReader.ReadFile(devPath).Select(s => s.ToTagged(column)).ToList();
        if (train.All(s => s.Tags.All(t => t == "_")))
            throw new UsageException($"{trainPath}: the {column.DisplayName()} column holds only '_' (no tags to learn); try the other --column.");
        using var tagger = Tagger<float>.Create(engine, hyper, train, column, options.Seed);
        // A GPU engine runs a batch's RNN in one library call, so splitting the batch across data-parallel workers only
        // multiplies the small calls and the per-shape plans (3.5k tok/s with 16 workers on an H100): one worker by default.
        int threads = options.Threads > 0 ? options.Threads : engine.Name == "cpu" ? Environment.ProcessorCount : 1;
        Console.WriteLine($"train: {train.Count:N0} sentences, {train.Sum(s => s.Length):N0} tokens; dev: {(dev is null ? "none" : $"{dev.Count:N0} sentences, {dev.Sum(s => s.Length):N0} tokens")}");
        Console.WriteLine($"model: {hyper.Layers}-layer Bi{hyper.Mode} hidden {hyper.Hidden}, word dim {hyper.WordDim}, chars {(hyper.UsesChars ? hyper.CharModel : "none")}, " +
            $"{tagger.Words.Count:N0} words, {tagger.Tags.Count} tags, {tagger.ParameterCount:N0} parameters");
        Console.WriteLine($"engine: {engine.DeviceDescription}; {threads} worker thread(s)");
        var trainer = new TaggerTrainer<float>(tagger, options with { Threads = threads });
        string name = column.DisplayName();
        var history = ProgressView.Run(view =>
        {
            trainer.BatchCompleted = p => view.Batch(p);
            trainer.EpochCompleted = r => view.Line(ProgressView.Describe(r, name));
            trainer.NewBest = _ => TaggerModelFile.Save(tagger, modelPath);
            return trainer.Train(train, dev);
        });
        if (history.Count == 0) throw new UsageException("the time limit ended training before the first batch; give it more time.");
        if (dev is null) TaggerModelFile.Save(tagger, modelPath);
        var best = history.Where(h => h.IsBest).LastOrDefault() ?? history[^1];
        string plot = modelPath + ".png";
        TrainingPlot.Save(plot, $"BiLSTM tagger ({name}): {Path.GetFileName(trainPath)}", $"dev {name} accuracy", new TrainingPlot.Series($"dev {name} accuracy", history));
        double tps = history.Sum(h => (double)h.Tokens) / history.Sum(h => h.Tokens / h.TokensPerSecond);
        Console.WriteLine($"best epoch {best.Epoch}: dev {name} accuracy {(double.IsNaN(best.DevAccuracy) ? "n/a" : best.DevAccuracy.ToString("F4", CultureInfo.InvariantCulture))}; " +
            $"{tps:N0} tok/s; total {history[^1].Elapsed:hh\\:mm\\:ss}");
        Console.WriteLine($"model written to {Path.GetFullPath(modelPath)}");
        Console.WriteLine($"plot written to {Path.GetFullPath(plot)}");
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
