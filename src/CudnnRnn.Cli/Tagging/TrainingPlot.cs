using CudnnRnn.Training;

namespace CudnnRnn.Cli.Tagging;

/// <summary>PNG plots of training runs (ScottPlot, rendered headless through SkiaSharp).</summary>
internal static class TrainingPlot
{
    /// <summary>One curve of dev accuracy per epoch, with a legend label.</summary>
    public sealed record Series(string Label, IReadOnlyList<EpochResult> Epochs);

    /// <summary>
    /// Writes training loss (left axis) and dev accuracy (right axis) per epoch of each series to <paramref name="path"/>.
    /// The loss is drawn for the first series only, to keep the plot readable.
    /// </summary>
    public static void Save(string path, string title, string accuracyLabel, params Series[] series)
    {
        var plt = new ScottPlot.Plot();
        plt.Title(title);
        plt.XLabel("epoch");
        plt.YLabel("training loss (mean per token)");
        plt.Axes.Right.Label.Text = accuracyLabel;
        var colors = new[] { ScottPlot.Colors.C1, ScottPlot.Colors.C2, ScottPlot.Colors.C3, ScottPlot.Colors.C4 };
        var main = series[0].Epochs;
        if (main.Count > 0)
        {
            var loss = plt.Add.Scatter(main.Select(e => (double)e.Epoch).ToArray(), main.Select(e => e.TrainLoss).ToArray());
            loss.LegendText = series.Length > 1 ? $"training loss ({series[0].Label.Split(':')[0]})" : "training loss";
            loss.Color = ScottPlot.Colors.C0;
            loss.LineWidth = 2;
            loss.MarkerSize = 6;
        }
        for (int i = 0; i < series.Length; i++)
        {
            var ep = series[i].Epochs.Where(e => !double.IsNaN(e.DevAccuracy)).ToArray();
            if (ep.Length == 0) continue;
            var acc = plt.Add.Scatter(ep.Select(e => (double)e.Epoch).ToArray(), ep.Select(e => e.DevAccuracy).ToArray());
            acc.Axes.YAxis = plt.Axes.Right;
            acc.LegendText = series[i].Label;
            acc.Color = colors[i % colors.Length];
            acc.LineWidth = 2;
            acc.MarkerSize = 6;
            var best = ep.MaxBy(e => e.DevAccuracy)!;
            var mark = plt.Add.Marker(best.Epoch, best.DevAccuracy, ScottPlot.MarkerShape.OpenCircle, 14, colors[i % colors.Length]);
            mark.Axes.YAxis = plt.Axes.Right;
            var text = plt.Add.Text($"{best.DevAccuracy:P2}", best.Epoch, best.DevAccuracy);
            text.Axes.YAxis = plt.Axes.Right;
            text.LabelFontSize = 13;
            text.LabelFontColor = colors[i % colors.Length];
            text.LabelAlignment = ScottPlot.Alignment.LowerRight;
        }
        // Whole epochs only on the x axis.
        int last = series.Max(x => x.Epochs.Count == 0 ? 1 : x.Epochs[^1].Epoch);
        int step = Math.Max(1, (int)Math.Ceiling(last / 12.0));
        var ticks = new ScottPlot.TickGenerators.NumericManual();
        for (int e = 1; e <= last; e += step) ticks.AddMajor(e, e.ToString(System.Globalization.CultureInfo.InvariantCulture));
        plt.Axes.Bottom.TickGenerator = ticks;
        plt.ShowLegend(ScottPlot.Alignment.MiddleRight);
        string? dir = Path.GetDirectoryName(Path.GetFullPath(path));
        if (dir is not null) Directory.CreateDirectory(dir);
        plt.SavePng(path, 900, 540);
    }
}
