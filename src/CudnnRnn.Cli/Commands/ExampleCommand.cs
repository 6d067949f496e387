using System.CommandLine;
using System.Diagnostics;
using CudnnRnn.Cli.Examples;

namespace CudnnRnn.Cli;

/// <summary>
/// <c>cudnnrnn example &lt;name&gt;</c>: the classic RNN tutorial experiments (sine, airline, classify, shapes) on this
/// library's API, each in one short file under <c>Examples/</c>, each writing a plot.
/// </summary>
internal static class ExampleCommand
{
    /// <summary>Example names and what each reproduces.</summary>
    public static readonly IReadOnlyDictionary<string, string> Names = new Dictionary<string, string>
    {
        ["sine"] = "GRU vs LSTM predicting the next value of a noisy sine mixture (prediction vs truth plot)",
        ["airline"] = "2-layer LSTM forecasting monthly airline passengers 1949-1960 (RMSE in passengers)",
        ["classify"] = "many-to-one classification from h_n, unidirectional vs bidirectional (accuracy)",
        ["shapes"] = "shapes of output, h_n, c_n for a bidirectional 2-layer GRU/LSTM, and which output element equals h_n",
        ["interop"] = "memory made outside the engine (pinned/native host memory, the example's own OpenCL context and cl_mem, " +
                      "ILGPU buffers with --ilgpu) through forward and backward without a copy, compared bitwise with engine memory",
    };

    public static Command Create()
    {
        var name = new Argument<string>("name") { Description = "Which example: " + string.Join(", ", Names.Keys) + "." };
        name.AcceptOnlyFromAmong([.. Names.Keys]);
        var cell = new EnumOption<RnnMode>("--cell", "Cell type: rnn, gru or lstm.", RnnMode.Lstm, Words.Cells,
            defaultText: "the example's own; sine and shapes run gru and lstm");
        var output = new Option<string>("--out") { Description = "Folder for the plots.", DefaultValueFactory = _ => "cudnnrnn-examples" };
        var seed = new Option<ulong>("--seed") { Description = "Seed of data, weights and batch order.", DefaultValueFactory = _ => 1UL };
        var epochs = new Option<int?>("--epochs") { Description = "Training epochs (default: the example's own)." };
        var precision = Commands.TaggerCommand.PrecisionOption("(the training examples: sine, airline, classify)");
        var ilgpu = new Option<bool>("--ilgpu") { Description = "interop only: ILGPU (its CPU accelerator with --engine cpu, its OpenCL accelerator with --engine opencl) owns the memory and runs kernels around ours." };
        var cmd = new Command("example", "Run a classic RNN tutorial experiment: " + string.Join("; ", Names.Select(p => $"{p.Key}: {p.Value}")) + ".")
        {
            name, cell, output, seed, epochs, precision, ilgpu,
        };
        var engine = EngineOptions.AddTo(cmd);
        cmd.SetAction(r =>
        {
            if (r.GetValue(epochs) is < 1)
            {
                Console.Error.WriteLine("example: --epochs must be at least 1.");
                return Cli.UsageError;
            }
            if (precision.GetValue(r) != Training.Precision.Fp32 && r.GetValue(name) is "shapes" or "interop")
            {
                Console.Error.WriteLine($"example: --precision fp16/bf16 applies to the training examples (sine, airline, classify), not to {r.GetValue(name)}.");
                return Cli.UsageError;
            }
            var options = new ExampleOptions
            {
                Precision = precision.GetValue(r),
                Cell = cell.GetValueOrNull(r),
                OutputDirectory = r.GetValue(output)!,
                Seed = r.GetValue(seed),
                Epochs = r.GetValue(epochs),
            };
            string which = r.GetValue(name)!;
            if (r.GetValue(ilgpu) && which != "interop")
            {
                Console.Error.WriteLine("example: --ilgpu belongs to the interop example.");
                return Cli.UsageError;
            }
            if (which == "interop")
            {
                // The interop example makes its own context, queue and memory, and creates the engine over them.
                var choice = engine.GetValue(r);
                return InteropExample.Run(choice.Kind, choice.Device, r.GetValue(ilgpu), options);
            }
            IRnnEngine e;
            try { e = engine.GetValue(r).Create(); }
            catch (RnnEngineUnavailableException ex)
            {
                Console.Error.WriteLine($"example: {ex.Message}");
                return Cli.UsageError;
            }
            using var _ = e;
            Console.WriteLine($"engine: {e.Name} ({e.DeviceDescription})");
            var clock = Stopwatch.StartNew();
            int code = Run(r.GetValue(name)!, e, options);
            Console.WriteLine($"wall time {clock.Elapsed.TotalSeconds:F1} s");
            return code;
        });
        return cmd;
    }

    /// <summary>Runs one example by name; returns the exit code (1 when shapes finds an equality that does not hold).</summary>
    public static int Run(string name, IRnnEngine engine, ExampleOptions options)
    {
        switch (name)
        {
            case "sine": SineExample.Run(engine, options); return 0;
            case "airline": AirlineExample.Run(engine, options); return 0;
            case "classify": ClassifyExample.Run(engine, options); return 0;
            case "shapes": return ShapesExample.Run(engine, options).Checks.All(c => c.Holds) ? 0 : 1;
            case "interop": throw new ArgumentException("The interop example creates its own engine: call InteropExample.Run.", nameof(name));
            default: throw new ArgumentException($"Unknown example '{name}'; expected one of {string.Join(", ", Names.Keys)}.", nameof(name));
        }
    }
}
