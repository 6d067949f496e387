using System.CommandLine;
using System.Numerics;
using CudnnRnn.Cli.Bench;

namespace CudnnRnn.Cli;

/// <summary>
/// <c>cudnnrnn bench</c>: times the RNN shapes a–e (libtorch-bench's shapes, phases and FLOP model) on an engine, or with
/// <c>--gemm</c> the GEMM micro-benchmark. A program, never a unit test: Stopwatch, warm-ups, median and min of ≥ 10 reps.
/// </summary>
internal static class BenchCommand
{
    /// <summary>Creates the engine for <c>--engine</c> with a thread limit (0 = all cores). The CLI may replace it.</summary>
    public static Func<EngineChoice, int, IRnnEngine> EngineFactory { get; set; } = (choice, threads) => choice.Create(threads);

    /// <summary>The sequence lengths <c>--lengths</c> selects.</summary>
    private enum Lengths { Full, Varied }

    public static Command Create()
    {
        var shape = new Option<string>("--shape") { Description = "a, b, c, d, e, a comma list (a,c) or all", DefaultValueFactory = _ => "all" };
        var threads = new Option<int>("--threads") { Description = "Threads (0 = all cores)", DefaultValueFactory = _ => 0 };
        var dtype = new EnumOption<RnnDataType>("--dtype", "Element type", RnnDataType.Float32, Words.DataTypes);
        var lengths = new EnumOption<Lengths>("--lengths", "full: every sequence has length T; varied: uniform in [T/2, T], fixed seed", Lengths.Full,
            [("full", Lengths.Full), ("varied", Lengths.Varied)]);
        var layout = new EnumOption<RnnDataLayout>("--layout", "Data layout: seq (sequence-major, padded), packed or batch (batch-major, padded)",
            RnnDataLayout.SeqMajorUnpacked, Words.Layouts);
        var json = new Option<FileInfo?>("--json") { Description = "Write the results as JSON to this file" };
        var gemm = new Option<bool>("--gemm") { Description = "Run the GEMM micro-benchmark (ours vs ReferenceGemm, % of libtorch) instead of the RNN shapes" };
        var libtorch = new Option<FileInfo?>("--libtorch-json") { Description = "libtorch-bench JSON whose sgemm table the GEMM benchmark compares with" };
        var reps = new Option<int>("--reps") { Description = "Minimum timed repetitions (≥ 10)", DefaultValueFactory = _ => 10 };
        var warmup = new Option<int>("--warmup") { Description = "Untimed warm-up repetitions", DefaultValueFactory = _ => 3 };

        var command = new Command("bench", "Time the RNN shapes a-e (or the GEMMs) with libtorch-bench's shapes, phases and FLOP model");
        foreach (var o in new Option[] { shape, threads, dtype, lengths, layout, json, gemm, libtorch, reps, warmup }) command.Options.Add(o);
        var engine = EngineOptions.AddTo(command);
        command.SetAction(parse => Run(
            parse.GetValue(shape)!, parse.GetValue(threads), dtype.GetValue(parse), lengths.GetValue(parse) == Lengths.Varied, parse.GetValue(json),
            engine.GetValue(parse), parse.GetValue(gemm), parse.GetValue(libtorch), parse.GetValue(reps), parse.GetValue(warmup), layout.GetValue(parse)));
        return command;
    }

    private static int Run(string shapeSel, int threads, RnnDataType dataType, bool varied, FileInfo? json, EngineChoice engineChoice,
        bool gemm, FileInfo? libtorchJson, int reps, int warmup, RnnDataLayout dataLayout)
    {
        string dtype = Words.Of(dataType), layoutName = Words.Of(dataLayout), lengths = varied ? "varied" : "full";
        if (threads < 0) return Fail("--threads must be 0 (all cores) or positive.");
        if (reps < 10) return Fail("--reps must be at least 10.");
        if (warmup < 0) return Fail("--warmup must not be negative.");
        BenchShape[] shapes;
        try
        {
            shapes = BenchShape.Select(shapeSel);
        }
        catch (ArgumentException e)
        {
            return Fail(e.Message);
        }
        int nThreads = threads == 0 ? Environment.ProcessorCount : threads;
        bool f64 = dataType == RnnDataType.Float64;
        var results = new List<BenchResult>();
        string device;

        if (gemm && dataType is RnnDataType.Float16 or RnnDataType.BFloat16)
            return Fail($"--gemm times the float32 and float64 GEMMs only; --dtype {dtype} is for the RNN engines.");
        if (gemm)
        {
            device = $"managed Gemm, {BenchJson.CpuModel()}";
            Dictionary<string, double>? torch = null;
            if (libtorchJson is not null)
            {
                if (!libtorchJson.Exists) return Fail($"--libtorch-json: {libtorchJson.FullName} does not exist.");
                torch = GemmBench.ReadLibtorch(libtorchJson.FullName, nThreads);
            }
            Console.WriteLine($"cudnnrnn bench --gemm: {device}, {Environment.ProcessorCount} logical CPUs");
            results.AddRange(f64
                ? GemmBench.Run<double>(shapes, nThreads, warmup, reps, null, Console.Out)
                : GemmBench.Run<float>(shapes, nThreads, warmup, reps, torch, Console.Out));
        }
        else
        {
            IRnnEngine engine;
            try
            {
                engine = EngineFactory(engineChoice, nThreads);
            }
            catch (RnnEngineUnavailableException e)
            {
                return Fail(e.Message);
            }
            using (engine)
            {
                var dt = dataType;
                if (!engine.Supports(dt, out string? reason)) return Fail($"The {engine.Name} engine cannot run {dtype}: {reason}");
                device = engine.DeviceDescription;
                Console.WriteLine($"cudnnrnn bench: {engine.Name} engine ({device}), {dtype}, {nThreads} thread(s), lengths {lengths}, layout {layoutName}, warmup {warmup}, >= {reps} timed reps, median");
                Console.WriteLine($"{"shape",-5} {"fwd ms",9} {"fwd GF/s",9} {"train ms",9} {"train GF/s",10}   description (fwd GFLOP on actual lengths)");
                foreach (var s in shapes)
                {
                    var (inf, train) = dt switch
                    {
                        RnnDataType.Float64 => RnnBench.Run<double>(engine, s, varied, nThreads, warmup, reps, dataLayout),
                        RnnDataType.Float16 => RnnBench.Run<Half>(engine, s, varied, nThreads, warmup, reps, dataLayout),
                        RnnDataType.BFloat16 => RnnBench.Run<BFloat16>(engine, s, varied, nThreads, warmup, reps, dataLayout),
                        _ => RnnBench.Run<float>(engine, s, varied, nThreads, warmup, reps, dataLayout),
                    };
                    results.Add(inf);
                    results.Add(train);
                    Console.WriteLine($"{s.Id,-5} {inf.MedianMs,9:F2} {inf.Gflops,9:F1} {train.MedianMs,9:F2} {train.Gflops,10:F1}   {s.Description} ({inf.Flops / 1e9:F3})" +
                        $"  reserve {train.ReserveBytes / 1048576.0:F1} MiB (minimum {train.ReserveMinimumBytes / 1048576.0:F1} MiB, x{(double)train.ReserveBytes! / train.ReserveMinimumBytes!:F2})," +
                        $" peak working set {train.PeakWorkingSetBytes / 1048576.0:F0} MiB" +
                        (inf.HostEnqueueMs is { } host ? $", host {host:F3} ms per queued forward" : ""));
                }
            }
        }
        if (json is not null)
        {
            BenchJson.Write(json.FullName, results, gemm ? "gemm" : engineChoice.Name, device, dtype, warmup, reps);
            Console.WriteLine("wrote " + json.FullName);
        }
        return 0;
    }

    private static int Fail(string message)
    {
        Console.Error.WriteLine("cudnnrnn bench: " + message);
        return 2;
    }
}
