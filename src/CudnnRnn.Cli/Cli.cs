using System.CommandLine;

namespace CudnnRnn.Cli;

/// <summary>The command tree of the <c>cudnnrnn</c> tool.</summary>
internal static class Cli
{
    public static RootCommand Build()
    {
        var root = new RootCommand("cudnnrnn — multi-layer bidirectional RNN/GRU/LSTM with cuDNN semantics on CPU, cuDNN and OpenCL engines.");
        root.Subcommands.Add(VerifyCommand.Create());
        root.Subcommands.Add(InfoCommand.Create());
        root.Subcommands.Add(ChecksumsCommand.Create());
        root.Subcommands.Add(BenchCommand.Create());
        root.Subcommands.Add(ExampleCommand.Create());
        root.Subcommands.Add(Commands.TaggerCommand.Create());
        root.Subcommands.Add(Commands.DemoCommand.Create());
        return root;
    }

    public static int Run(string[] args) => Build().Parse(args).Invoke();

    /// <summary>Exit code for unusable input (bad arguments, missing files, unavailable engine).</summary>
    public const int UsageError = 2;
}
