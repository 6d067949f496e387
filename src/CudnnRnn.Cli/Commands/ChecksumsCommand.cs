using System.CommandLine;
using CudnnRnn.Verification;

namespace CudnnRnn.Cli;

/// <summary><c>cudnnrnn checksums</c>: NVIDIA's RNN sample configuration, our checksums beside cuDNN's golden values.</summary>
internal static class ChecksumsCommand
{
    public static Command Create()
    {
        var cmd = new Command("checksums", "Run NVIDIA's RNN_v8.0 sample configuration (FP32, 2x512, T 20, batch 64) and compare with cuDNN's golden checksums.");
        var engine = EngineOptions.AddTo(cmd);
        cmd.SetAction(r => Run(engine.GetValue(r)));
        return cmd;
    }

    private static int Run(EngineChoice choice)
    {
        IRnnEngine engine;
        try { engine = choice.Create(); }
        catch (RnnEngineUnavailableException e) { Console.Error.WriteLine($"checksums: {e.Message}"); return Cli.UsageError; }
        using var _ = engine;
        int passed = 0, failed = 0;
        Console.WriteLine($"| mode | quantity | NVIDIA (cuDNN) | ours ({engine.Name}) | relative error |");
        Console.WriteLine("|---|---|---|---|---|");
        foreach (var (mode, golden) in NvidiaSample.Golden)
        {
            var ours = NvidiaSample.Compute(mode, engine);
            foreach (var (name, value) in golden)
            {
                double rel = Math.Abs(ours[name] - value) / Math.Abs(value);
                bool ok = rel <= NvidiaSample.Tolerance;
                if (ok) passed++; else failed++;
                Console.WriteLine($"| {mode} | {name} | {value:E6} | {ours[name]:E6} | {rel:E1}{(ok ? "" : " FAIL")} |");
            }
        }
        Console.WriteLine($"{passed} passed, {failed} failed");
        return failed == 0 ? 0 : 1;
    }
}
