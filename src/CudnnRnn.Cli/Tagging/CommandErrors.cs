using CudnnRnn.Training;

namespace CudnnRnn.Cli.Tagging;

/// <summary>Turns user errors into a one-line message and exit code 2 (never a stack trace).</summary>
internal static class CommandErrors
{
    /// <summary>Exit code for bad input, unusable models, unavailable engines.</summary>
    public const int UserError = 2;

    /// <summary>Runs <paramref name="body"/>; user errors print "error: …" to stderr and return 2.</summary>
    public static int Run(Func<int> body)
    {
        try
        {
            return body();
        }
        catch (Exception e) when (IsUserError(e))
        {
            Console.Out.Flush();
            string message = e switch
            {
                ArgumentOutOfRangeException { ParamName: { } name } a => a.Message.Replace($" (Parameter '{name}')", "", StringComparison.Ordinal)
                    .Replace($"{Environment.NewLine}Actual value was {a.ActualValue}.", "", StringComparison.Ordinal),
                ArgumentException { ParamName: { } name } => e.Message.Replace($" (Parameter '{name}')", "", StringComparison.Ordinal),
                _ => e.Message,
            };
            Console.Error.WriteLine($"error: {message}");
            return UserError;
        }
    }

    private static bool IsUserError(Exception e) => e is ConlluFormatException or ModelFormatException or FileNotFoundException
        or DirectoryNotFoundException or RnnEngineUnavailableException or ArgumentException or UnauthorizedAccessException
        or UsageException or IOException or TimeoutException or TrainingDivergedException
        or NotSupportedException; // e.g. a 16-bit --precision on an engine that cannot run it (the message names the reason)
}

/// <summary>A command-line usage problem detected by a command (bad combination of options).</summary>
internal sealed class UsageException(string message) : Exception(message);
