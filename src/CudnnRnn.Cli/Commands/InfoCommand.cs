using System.CommandLine;

namespace CudnnRnn.Cli;

/// <summary><c>cudnnrnn info</c>: which engines exist here, and for each its availability or the reason it is unavailable.</summary>
internal static class InfoCommand
{
    public static Command Create()
    {
        var cmd = new Command("info", "List the engines and whether each can run on this machine (with the reason when not).");
        cmd.SetAction(_ => Run());
        return cmd;
    }

    private static int Run()
    {
        Console.WriteLine($"CudnnRnn {typeof(RnnDescriptor).Assembly.GetName().Version} on .NET {Environment.Version}, {Environment.OSVersion}, {Environment.ProcessorCount} logical processors");
        foreach (var (name, kind) in Engines.Choices)
        {
            try
            {
                using var e = Engines.Create(kind);
                bool f64 = e.Supports(RnnDataType.Float64, out var why64);
                Console.WriteLine($"  {name,-7} available: {e.DeviceDescription}; float32 yes, float64 {(f64 ? "yes" : $"no ({why64})")}");
            }
            catch (RnnEngineUnavailableException ex)
            {
                Console.WriteLine($"  {name,-7} unavailable: {ex.Reason.ReplaceLineEndings(Environment.NewLine + "            ")}");
            }
            foreach (var line in Engines.Details(kind)) Console.WriteLine($"          {line}");
        }
        return 0;
    }
}
