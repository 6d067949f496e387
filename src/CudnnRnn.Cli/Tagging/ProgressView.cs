using CudnnRnn.Training;
using Spectre.Console;

namespace CudnnRnn.Cli.Tagging;

/// <summary>
/// Training progress: a Spectre.Console progress bar (tokens/s, running loss) on an interactive terminal, plain lines
/// otherwise (redirected output, CI without a TTY).
/// </summary>
internal sealed class ProgressView
{
    private readonly ProgressContext? _ctx;
    private ProgressTask? _task;
    private int _epoch;
    private DateTime _lastLine = DateTime.MinValue;

    private ProgressView(ProgressContext? ctx) => _ctx = ctx;

    /// <summary>True when the bar can be drawn (interactive terminal, output not redirected).</summary>
    public static bool Interactive => !Console.IsOutputRedirected && AnsiConsole.Profile.Capabilities.Interactive;

    /// <summary>Runs <paramref name="body"/> with a view.</summary>
    public static T Run<T>(Func<ProgressView, T> body)
    {
        if (!Interactive) return body(new ProgressView(null));
        return AnsiConsole.Progress()
            .AutoClear(false)
            .HideCompleted(false)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn(), new RemainingTimeColumn())
            .Start(ctx => body(new ProgressView(ctx)));
    }

    /// <summary>Reports a batch.</summary>
    public void Batch(BatchProgress p, string prefix = "")
    {
        string text = $"{prefix}epoch {p.Epoch} loss {p.RunningLoss:F4} {p.TokensPerSecond:N0} tok/s";
        if (_ctx is not null)
        {
            if (_task is null || _epoch != p.Epoch)
            {
                _task?.StopTask();
                _task = _ctx.AddTask(Markup.Escape(text), maxValue: p.Batches);
                _epoch = p.Epoch;
            }
            _task.Description = Markup.Escape(text);
            _task.Value = p.Batch;
            return;
        }
        // Plain output: a line every 10 seconds and at the end of each epoch.
        if (p.Batch == p.Batches || DateTime.UtcNow - _lastLine > TimeSpan.FromSeconds(10))
        {
            _lastLine = DateTime.UtcNow;
            Console.WriteLine($"{text}  batch {p.Batch}/{p.Batches}  {p.Elapsed:hh\\:mm\\:ss}");
        }
    }

    /// <summary>Prints a line (above the bar when there is one).</summary>
    public void Line(string text)
    {
        if (_ctx is not null)
        {
            _task?.StopTask();
            _task = null;
            AnsiConsole.MarkupLine(Markup.Escape(text));
        }
        else Console.WriteLine(text);
    }

    /// <summary>The standard line for an epoch result.</summary>
    public static string Describe(EpochResult r, string accuracyName) =>
        $"epoch {r.Epoch,3}: loss {r.TrainLoss:F4}  dev {accuracyName} {(double.IsNaN(r.DevAccuracy) ? "n/a" : r.DevAccuracy.ToString("F4"))}" +
        $"  {r.TokensPerSecond:N0} tok/s  plans {r.PlansCreated}  lr {r.LearningRate:G3}  {r.Elapsed:hh\\:mm\\:ss}{(r.Partial ? "  (partial epoch: time limit)" : "")}" +
        $"{(r.LossScale != 1 ? $"  loss scale {r.LossScale:R}" : "")}" +
        $"{(r.SkippedSteps > 0 ? $"  ({r.SkippedSteps} non-finite step(s) skipped)" : "")}{(r.IsBest ? "  *best*" : "")}";
}
