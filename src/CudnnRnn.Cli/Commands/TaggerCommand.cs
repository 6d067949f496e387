using System.CommandLine;
using CudnnRnn.Cli.Tagging;
using CudnnRnn.Training;

namespace CudnnRnn.Cli.Commands;

/// <summary>
/// <c>cudnnrnn tagger train|eval|predict</c>: a BiLSTM part-of-speech (or any CoNLL-U column) tagger. The commands
/// parse options and render progress; the training flow is <see cref="TaggerSession{T}"/> in CudnnRnn.Training.
/// </summary>
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

    /// <summary>The words of <c>--column</c>.</summary>
    public static readonly IReadOnlyList<(string, TagColumn)> Columns = [("upos", TagColumn.Upos), ("xpos", TagColumn.Xpos)];
    /// <summary>The words of <c>--char-model</c>.</summary>
    public static readonly IReadOnlyList<(string, CharModel)> CharModels = [("cnn", CharModel.Cnn), ("lstm", CharModel.Lstm), ("none", CharModel.None)];
    /// <summary>The words of <c>--optimizer</c>.</summary>
    public static readonly IReadOnlyList<(string, OptimizerKind)> Optimizers = [("adam", OptimizerKind.Adam), ("sgd", OptimizerKind.Sgd)];
    /// <summary><c>--precision</c>: the RNNs in float32, or in 16 bits cast from float32 master weights.</summary>
    public static EnumOption<Precision> PrecisionOption(string what) => new("--precision",
        $"Precision of the RNNs {what}: fp32, or fp16/bf16 (mixed precision: 16-bit RNN cast from float32 master weights, the rest float32; fp16 with dynamic loss scaling).",
        Precision.Fp32, Words.Precisions);

    private static Option<int> ThreadsOption()
    {
        var threads = new Option<int>("--threads")
        {
            Description = "Worker threads (data-parallel copies of the network); 0 = every core on the cpu engine. cuda and opencl run one worker.",
            DefaultValueFactory = _ => 0,
        };
        threads.Validators.Add(r => { if (r.GetValueOrDefault<int>() < 0) r.AddError("--threads must be 0 (automatic) or positive."); });
        return threads;
    }

    private static Option<T> Positive<T>(string name, string description, T defaultValue) where T : struct, System.Numerics.INumber<T>
    {
        var o = new Option<T>(name) { Description = description, DefaultValueFactory = _ => defaultValue };
        o.Validators.Add(r => { if (r.GetValueOrDefault<T>() <= T.Zero) r.AddError($"{name} must be positive."); });
        return o;
    }

    private static Command CreateTrain()
    {
        var train = new Option<string>("--train") { Description = "Training data (CoNLL-U).", Required = true };
        var dev = new Option<string?>("--dev") { Description = "Development data (CoNLL-U), evaluated after each epoch to keep the best model." };
        var epochs = Positive("--epochs", "Maximum number of epochs.", 40);
        var timeLimit = new Option<double?>("--time-limit") { Description = "Training time budget in minutes (training stops, evaluates and keeps the best model)." };
        timeLimit.Validators.Add(r => { if (r.GetValueOrDefault<double?>() is not > 0) r.AddError("--time-limit must be a positive number of minutes."); });
        var column = new EnumOption<TagColumn>("--column", "Tag column to learn.", TagColumn.Upos, Columns);
        var seed = new Option<ulong>("--seed") { Description = "Seed of initialisation, dropout and batch order.", DefaultValueFactory = _ => 1UL };
        var threads = ThreadsOption();
        var output = new Option<string>("--out") { Description = "Model file to write (safetensors); the plot goes to MODEL.png.", Required = true };
        var hidden = Positive("--hidden", "Hidden units per direction of the sentence LSTM.", 128);
        var layers = Positive("--layers", "Stacked sentence LSTM layers.", 2);
        var dropout = new Option<double>("--dropout") { Description = "Dropout between the sentence LSTM layers and before the output layer (keyed by sentence).", DefaultValueFactory = _ => 0.33 };
        dropout.Validators.Add(r => { if (r.GetValueOrDefault<double>() is not (>= 0 and < 1)) r.AddError("--dropout must be in [0, 1)."); });
        var chars = new EnumOption<CharModel>("--char-model", "Character features: a CNN over the characters, a character BiLSTM, or none.", CharModel.Cnn, CharModels);
        var batch = Positive("--batch-size", "Sentences per batch.", 32);
        var optimizer = new EnumOption<OptimizerKind>("--optimizer", "Optimizer.", OptimizerKind.Adam, Optimizers);
        var lr = Positive("--lr", "Learning rate (cosine-decayed over the budget).", 2e-3);
        var precision = PrecisionOption("in training (the model file holds the float32 master weights either way)");

        var cmd = new Command("train", "Train a tagger; evaluates on --dev after each epoch and keeps the best model.");
        foreach (var o in new Option[] { train, dev, epochs, timeLimit, column, seed, threads, output, hidden, layers, dropout, chars, batch, optimizer, lr, precision })
            cmd.Options.Add(o);
        var engine = EngineOptions.AddTo(cmd);
        // ---- issue 15: --distributed, --checkpoint-every, --resume, --max-steps, --dtype (options and flow in TaggerDistributed.cs) ----
        var distributed = new TaggerDistributed();
        distributed.AddTo(cmd);
        // ---- end issue 15 ----
        cmd.SetAction(r => CommandErrors.Run(() =>
        {
            var options = new TaggerTrainingOptions
            {
                Hyper = new TaggerHyperParameters { Hidden = r.GetValue(hidden), Layers = r.GetValue(layers), Dropout = r.GetValue(dropout), CharModel = chars.GetValue(r) },
                Training = new TrainingOptions
                {
                    Epochs = r.GetValue(epochs), TimeLimit = r.GetValue(timeLimit) is { } m ? TimeSpan.FromMinutes(m) : null, Seed = r.GetValue(seed),
                    Threads = r.GetValue(threads), BatchSize = r.GetValue(batch), Optimizer = optimizer.GetValue(r), LearningRate = r.GetValue(lr),
                    Precision = precision.GetValue(r),
                },
                ModelPath = r.GetValue(output)!,
            };
            if (distributed.Requested(r)) // issue 15: the data-parallel/checkpointed flow
                return distributed.Train(r, r.GetValue(train)!, r.GetValue(dev), options.ModelPath!, column.GetValue(r), options.Hyper,
                    options.Training, engine.GetValue(r));
            return TrainingRun.Train(engine.GetValue(r), r.GetValue(train)!, r.GetValue(dev), column.GetValue(r), options);
        }));
        return cmd;
    }

    private static Command CreateEval()
    {
        var model = new Option<string>("--model") { Description = "Model file written by 'tagger train'.", Required = true };
        var data = new Option<string>("--data") { Description = "Gold CoNLL-U data.", Required = true };
        var threads = ThreadsOption();
        var precision = PrecisionOption("while evaluating");
        var cmd = new Command("eval", "Evaluate a tagger: accuracy and per-tag precision/recall.");
        foreach (var o in new Option[] { model, data, threads, precision }) cmd.Options.Add(o);
        var engine = EngineOptions.AddTo(cmd);
        cmd.SetAction(r => CommandErrors.Run(() =>
        {
            using var eng = engine.GetValue(r).Create();
            int workers = WorkerCount.For(eng, r.GetValue(threads));
            using var tagger = TaggerModelFile.Load<float>(r.GetValue(model)!, eng, precision.GetValue(r));
            var gold = ConlluReader.ReadFile(r.GetValue(data)!).Select(s => s.ToTagged(tagger.Column)).ToList();
            var result = TaggerEvaluation.Evaluate(tagger, gold, workers);
            TrainingRun.PrintEvaluation(result, tagger.Column);
            return 0;
        }));
        return cmd;
    }

    private static Command CreatePredict()
    {
        var model = new Option<string>("--model") { Description = "Model file written by 'tagger train'.", Required = true };
        var data = new Option<string?>("--data") { Description = "CoNLL-U file to tag; without it, whitespace-tokenised sentences are read from stdin, one per line." };
        var threads = ThreadsOption();
        var cmd = new Command("predict", "Tag sentences and write CoNLL-U to stdout.");
        foreach (var o in new Option[] { model, data, threads }) cmd.Options.Add(o);
        var engine = EngineOptions.AddTo(cmd);
        cmd.SetAction(r => CommandErrors.Run(() =>
        {
            using var eng = engine.GetValue(r).Create();
            int workers = WorkerCount.For(eng, r.GetValue(threads));
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
            var tags = tagger.Predict(sentences.Select(s => s.Words).ToArray(), workers);
            var stdout = Console.Out;
            for (int i = 0; i < sentences.Count; i++) ConlluWriter.Write(stdout, sentences[i], tags[i], tagger.Column);
            stdout.Flush();
            return 0;
        }));
        return cmd;
    }
}
