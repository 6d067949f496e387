// Reproduces the classic "predict a sine wave with an LSTM/GRU" tutorial experiment: the signal
// y = 3·sin(2πx) + cos(πx) + U(−0.05, 0.05), sampled every 0.01, is cut into windows; each window of the past
// predicts the next value. A GRU(32) and an LSTM(32), each followed by two dense layers, learn on x ∈ [1, 200) and are
// tested on x ∈ [200.02, 240), which they never saw.
using System.Diagnostics;
using CudnnRnn.Training;
using ScottPlot;

namespace CudnnRnn.Cli.Examples;

/// <summary>Test mean squared error of each cell (in the signal's units) and where the plot is.</summary>
/// <param name="TestMse">Test MSE per cell.</param>
/// <param name="SignalVariance">Variance of the test signal: the MSE of always predicting its mean.</param>
/// <param name="RepeatLastMse">MSE of predicting that the next value equals the last one (the naive baseline).</param>
/// <param name="PlotPath">The PNG.</param>
internal sealed record SineResult(IReadOnlyDictionary<RnnMode, double> TestMse, double SignalVariance, double RepeatLastMse, string PlotPath);

internal static class SineExample
{
    private const int Window = 20;       // past samples the model sees (0.2 in x: a fifth of sin(2πx)'s period)
    private const int Hidden = 32;
    private const int BatchSize = 128;
    private const float Scale = 4f;      // |3 sin + cos| ≤ 4: the network sees values in about [−1, 1]

    public static SineResult Run(IRnnEngine engine, ExampleOptions options)
    {
        var log = options.Log;
        var rng = new SeededRandom(options.Seed);
        // x = 1.00, 1.01, …, 199.99 and x = 200.02, …, 239.99, computed from integers so that no step drifts.
        var (_, train) = Signal(100, 20000, ref rng);
        var (testX, test) = Signal(20002, 24000, ref rng);
        double variance = Variance(test);
        double repeatLast = ExampleMath.MeanSquaredError(test.AsSpan(Window - 1, test.Length - Window), test.AsSpan(Window));
        int epochs = options.Epochs ?? 4;
        log.WriteLine($"sine: {train.Length} training samples (x in [1, 200)), {test.Length} test samples (x in [200.02, 240)), " +
                      $"windows of {Window} predict the next value");
        log.WriteLine($"  baselines on the test range: predicting the mean, MSE {variance:F4} (the variance); repeating the last value, MSE {repeatLast:F4}");

        var cells = options.Cell is { } c ? [c] : new[] { RnnMode.Gru, RnnMode.Lstm };
        var mse = new Dictionary<RnnMode, double>();
        var predictions = new Dictionary<RnnMode, float[]>();
        foreach (var cell in cells)
        {
            var clock = Stopwatch.StartNew();
            using var model = new Model(engine, cell, options.Seed, options.Precision);
            model.Train(train, epochs, options.Seed, log);
            predictions[cell] = model.Predict(test);
            mse[cell] = ExampleMath.MeanSquaredError(predictions[cell], test.AsSpan(Window));
            log.WriteLine($"  {ExampleMath.CellName(cell),-5} test MSE {mse[cell]:F5} ({mse[cell] / variance:P3} of the variance), {clock.Elapsed.TotalSeconds:F1} s");
        }

        string path = ExampleMath.PlotPath(options, "sine.png");
        SavePlot(path, testX, test, predictions, mse);
        log.WriteLine($"plot: {path}");
        return new SineResult(mse, variance, repeatLast, path);
    }

    /// <summary>x = i/100 for i in [from, to), y = 3 sin(2πx) + cos(πx) + U(−0.05, 0.05).</summary>
    private static (double[] X, float[] Y) Signal(int from, int to, ref SeededRandom rng)
    {
        var x = new double[to - from];
        var y = new float[to - from];
        for (int i = 0; i < x.Length; i++)
        {
            x[i] = (from + i) / 100.0;
            y[i] = (float)(3 * Math.Sin(2 * Math.PI * x[i]) + Math.Cos(Math.PI * x[i]) + (rng.NextDouble() - 0.5) * 0.1);
        }
        return (x, y);
    }

    private static double Variance(float[] v)
    {
        double mean = v.Average(f => (double)f);
        return v.Average(f => (f - mean) * (f - mean));
    }

    /// <summary>RNN → last hidden state → Dense(32→16) → ReLU → Dense(16→1).</summary>
    private sealed class Model : IDisposable
    {
        private readonly ExampleRnn _rnn;               // fp32: an RnnLayer whose weights Adam updates in place; fp16/bf16: autocast
        private readonly Parameter<float> _rnnWeights;  // the float32 weights (master copy with fp16/bf16)
        private readonly Dense _hidden, _output;
        private readonly Precision _precision;

        public Model(IRnnEngine engine, RnnMode cell, ulong seed, Precision precision)
        {
            _precision = precision;
            _rnn = new ExampleRnn(engine, new RnnDescriptor(cell, inputSize: 1, hiddenSize: Hidden, dataType: RnnDataType.Float32), seed, precision);
            _rnnWeights = _rnn.Weights;
            var rng = new SeededRandom(seed + 1);
            _hidden = new Dense("hidden", Hidden, 16, ref rng);
            _output = new Dense("output", 16, 1, ref rng);
        }

        public IReadOnlyList<Parameter<float>> Parameters => [_rnnWeights, .. _hidden.Parameters, .. _output.Parameters];

        /// <summary>Adam on shuffled mini-batches of windows, learning rate decaying along a cosine.</summary>
        public void Train(float[] series, int epochs, ulong seed, TextWriter log)
        {
            int windows = series.Length - Window;
            var order = Enumerable.Range(0, windows).ToArray();
            var rng = new SeededRandom(seed + 2);
            var adam = new Adam<float>(Parameters, learningRate: 3e-3);
            var scaler = GradScaler.For(_precision); // fp16: dynamic loss scaling (PyTorch's GradScaler); else scale 1, plain steps
            var schedule = new LearningRateSchedule.Cosine(MinFactor: 0.05);
            int steps = epochs * (windows / BatchSize), step = 0;
            for (int epoch = 0; epoch < epochs; epoch++)
            {
                rng.Shuffle<int>(order);
                double loss = 0;
                for (int first = 0; first + BatchSize <= windows; first += BatchSize)
                {
                    var (x, target) = Batch(series, order.AsSpan(first, BatchSize));
                    adam.LearningRate = schedule.RateAt(3e-3, (double)step++ / steps, epoch);
                    adam.ZeroGrad();
                    // Forward: the RNN reads the window; its final hidden state hy [1, B, 32] feeds the dense head.
                    var xDesc = RnnDataDescriptor.Uniform(RnnDataLayout.BatchMajorUnpacked, Window, BatchSize, 1);
                    var h = _rnn.ForwardHy(xDesc, x, training: true);
                    var a = ExampleMath.Relu(_hidden.Forward(h, BatchSize));
                    var prediction = _output.Forward(a, BatchSize);
                    var dPrediction = new float[BatchSize];
                    loss += ExampleMath.MeanSquaredError(prediction, target, dPrediction);
                    for (int i = 0; i < dPrediction.Length; i++) dPrediction[i] *= scaler.Scale; // backward of the scaled loss
                    // Backward, in reverse order; the gradient enters the RNN through dhy (dy is zero: y is unused).
                    var da = _output.Backward(a, BatchSize, dPrediction);
                    ExampleMath.ReluBackward(a, da);
                    var dh = _hidden.Backward(h, BatchSize, da);
                    _rnn.BackwardHy(dh);
                    scaler.Step(adam); // unscales (fp16), skips a step with an Inf/NaN gradient, else updates the weights in place
                    scaler.Update();
                }
                log.WriteLine($"    epoch {epoch + 1}/{epochs}: training MSE {loss / (windows / BatchSize) * Scale * Scale:F5}" +
                              (scaler.IsEnabled ? $" (loss scale {scaler.Scale:R}, {scaler.SkippedSteps} step(s) skipped)" : ""));
            }
        }

        /// <summary>One-step-ahead predictions for series[Window..], each from the true previous <see cref="Window"/> values.</summary>
        public float[] Predict(float[] series)
        {
            int n = series.Length - Window;
            var (x, _) = Batch(series, Enumerable.Range(0, n).ToArray());
            var xDesc = RnnDataDescriptor.Uniform(RnnDataLayout.BatchMajorUnpacked, Window, n, 1);
            var h = _rnn.ForwardHy(xDesc, x, training: false);
            var prediction = _output.Forward(ExampleMath.Relu(_hidden.Forward(h, n)), n);
            for (int i = 0; i < n; i++) prediction[i] *= Scale;
            return prediction;
        }

        /// <summary>Windows starting at <paramref name="starts"/>, batch-major [B, Window, 1], and the value after each.</summary>
        private static (float[] X, float[] Target) Batch(float[] series, ReadOnlySpan<int> starts)
        {
            var x = new float[starts.Length * Window];
            var target = new float[starts.Length];
            for (int b = 0; b < starts.Length; b++)
            {
                for (int t = 0; t < Window; t++) x[b * Window + t] = series[starts[b] + t] / Scale;
                target[b] = series[starts[b] + Window] / Scale;
            }
            return (x, target);
        }

        public void Dispose() => _rnn.Dispose();
    }

    /// <summary>Top: the whole test range; bottom: its first two periods, where the curves can be told apart.</summary>
    private static void SavePlot(string path, double[] x, float[] truth, Dictionary<RnnMode, float[]> predictions, Dictionary<RnnMode, double> mse)
    {
        var multiplot = new Multiplot();
        multiplot.AddPlots(2);
        var colors = new Dictionary<RnnMode, Color> { [RnnMode.Gru] = Colors.C1, [RnnMode.Lstm] = Colors.C2 };
        for (int panel = 0; panel < 2; panel++)
        {
            var plt = multiplot.GetPlot(panel);
            int count = panel == 0 ? x.Length : 400;
            var t = plt.Add.ScatterLine(x[..count], truth.Select(v => (double)v).ToArray()[..count]);
            t.LegendText = "truth (noisy signal)";
            t.Color = Colors.Black;
            t.LineWidth = 3;
            foreach (var (cell, p) in predictions)
            {
                int m = Math.Min(count - Window, p.Length);
                var s = plt.Add.ScatterLine(x[Window..(Window + m)], p[..m].Select(v => (double)v).ToArray());
                s.LegendText = $"{ExampleMath.CellName(cell)}(32) prediction, test MSE {mse[cell]:F4}";
                s.Color = colors.GetValueOrDefault(cell, Colors.C3);
                s.LineWidth = 1.5f;
                s.LinePattern = cell == RnnMode.Lstm ? LinePattern.Dashed : LinePattern.Solid;
            }
            plt.XLabel("x");
            plt.YLabel("y = 3 sin(2πx) + cos(πx) + noise");
            plt.Title(panel == 0
                ? "Next-value prediction on the unseen test range x ∈ [200.02, 240)"
                : "Zoom: the first 4 units of the test range");
            plt.Axes.SetLimitsY(-4.5, 6);
            plt.Legend.Orientation = Orientation.Horizontal;
            plt.ShowLegend(Alignment.UpperCenter);
        }
        multiplot.SavePng(path, 1200, 900);
    }
}
