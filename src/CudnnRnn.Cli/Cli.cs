namespace CudnnRnn.Cli;

/// <summary>Command registry (filled in by the command files).</summary>
internal static partial class Cli
{
    public static int Run(string[] args)
    {
        Console.Error.WriteLine("cudnnrnn: no commands yet");
        return 2;
    }
}
