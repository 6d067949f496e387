// Reproduces the classic many-to-one "classify a sequence from the RNN's last hidden state" tutorial experiment, and
// its bidirectional variant that concatenates both directions' final states (PyTorch's
// torch.cat((h_n[-2], h_n[-1]), dim=1)), on variable-length sequences (PyTorch's pack_padded_sequence: h_n is taken at
// each sequence's own last step). Task: a noisy recording of 10 to 40 steps opens with a short burst of one of two
// frequencies, then only noise follows; which frequency was it? The forward direction must carry the burst through the
// noise to its final state; the reverse direction reads the burst last.
using CudnnRnn.Training;
using ScottPlot;

namespace CudnnRnn.Cli.Examples;

/// <summary>Test accuracy per epoch of the unidirectional and bidirectional classifiers, and where the plot is.</summary>
internal sealed record ClassifyResult(IReadOnlyList<double> UniAccuracy, IReadOnlyList<double> BiAccuracy, string PlotPath)
{
    /// <summary>Final test accuracy, unidirectional.</summary>
    public double Uni => UniAccuracy[^1];
    /// <summary>Final test accuracy, bidirectional.</summary>
    public double Bi => BiAccuracy[^1];
}

internal static class ClassifyExample
{
    private const int MinLength = 10, MaxLength = 40;   // steps per recording
    private const int Burst = 8;                        // the first 8 steps carry the signal
    private const double Noise = 0.6;                   // uniform noise in ±0.6 on every step
    private static readonly double[] Periods = [8, 3];  // class 0: slow (period 8 steps), class 1: fast (period 3)
    private const int Hidden = 16;
    private const int BatchSize = 32;

    /// <summary>Recordings (each of its own length) and their classes.</summary>
    private sealed record Recordings(float[][] Values, int[] Labels)
    {
        public int Count => Labels.Length;
    }

    public static ClassifyResult Run(IRnnEngine engine, ExampleOptions options)
    {
        var log = options.Log;
        var cell = options.Cell ?? RnnMode.Gru;
        int epochs = options.Epochs ?? 12;
        var train = Generate(2000, options.Seed);
        var test = Generate(1000, options.Seed + 1000);
        log.WriteLine($"classify: {train.Count} training and {test.Count} test recordings of {MinLength}-{MaxLength} steps; a burst of period " +
                      $"{Periods[0]} or {Periods[1]} steps in the first {Burst}, then noise; chance = 50%");

        var accuracy = new Dictionary<RnnDirection, List<double>>();
        foreach (var direction in new[] { RnnDirection.Unidirectional, RnnDirection.Bidirectional })
        {
            log.WriteLine($"  {(direction == RnnDirection.Bidirectional ? "bidirectional" : "unidirectional")} {ExampleMath.CellName(cell)}({Hidden}):");
            using var model = new Classifier(engine, cell, direction, options.Seed, options.Precision);
            accuracy[direction] = model.Train(train, test, epochs, options.Seed, log);
        }
        var uni = accuracy[RnnDirection.Unidirectional];
        var bi = accuracy[RnnDirection.Bidirectional];
        log.WriteLine($"  test accuracy: unidirectional {uni[^1]:P1}, bidirectional {bi[^1]:P1}; first epoch above 90%: " +
                      $"unidirectional {FirstAbove(uni, 0.9)}, bidirectional {FirstAbove(bi, 0.9)}");

        string path = ExampleMath.PlotPath(options, "classify.png");
        SavePlot(path, test, uni, bi, cell);
        log.WriteLine($"plot: {path}");
        return new ClassifyResult(uni, bi, path);
    }

    private static string FirstAbove(List<double> accuracy, double level) =>
        accuracy.FindIndex(a => a > level) is int i and >= 0 ? $"{i + 1}" : "never";

    private static Recordings Generate(int count, ulong seed)
    {
        var rng = new SeededRandom(seed);
        var values = new float[count][];
        var labels = new int[count];
        for (int b = 0; b < count; b++)
        {
            labels[b] = rng.NextInt(2);
            values[b] = new float[rng.NextInt(MinLength, MaxLength + 1)];
            double phase = rng.NextDouble() * 2 * Math.PI;
            for (int t = 0; t < values[b].Length; t++)
            {
                double signal = t < Burst ? Math.Sin(2 * Math.PI * t / Periods[labels[b]] + phase) : 0;
                values[b][t] = (float)(signal + (2 * rng.NextDouble() - 1) * Noise);
            }
        }
        return new Recordings(values, labels);
    }

    /// <summary>
    /// Recordings <paramref name="rows"/> as one padded sequence-major batch [MaxLength, B, 1] with their lengths: the
    /// engine stops each sequence at its own length, so hy holds the state after its last real step.
    /// </summary>
    private static (RnnDataDescriptor Desc, float[] X, int[] Labels) Batch(Recordings data, ReadOnlySpan<int> rows)
    {
        var lengths = new int[rows.Length];
        var labels = new int[rows.Length];
        var x = new float[MaxLength * rows.Length];
        for (int b = 0; b < rows.Length; b++)
        {
            var v = data.Values[rows[b]];
            lengths[b] = v.Length;
            labels[b] = data.Labels[rows[b]];
            for (int t = 0; t < v.Length; t++) x[t * rows.Length + b] = v[t];
        }
        return (new RnnDataDescriptor(RnnDataLayout.SeqMajorUnpacked, MaxLength, rows.Length, 1, lengths), x, labels);
    }

    /// <summary>RNN → final hidden state(s) → Dense → 2 logits.</summary>
    private sealed class Classifier : IDisposable
    {
        private readonly ExampleRnn _rnn;             // fp32: an RnnLayer updated in place; fp16/bf16: autocast from float32 masters
        private readonly Parameter<float> _rnnWeights; // the float32 weights the optimizer updates
        private readonly Dense _head;
        private readonly int _directions;
        private readonly Precision _precision;

        public Classifier(IRnnEngine engine, RnnMode cell, RnnDirection direction, ulong seed, Precision precision)
        {
            _precision = precision;
            _rnn = new ExampleRnn(engine, new RnnDescriptor(cell, inputSize: 1, hiddenSize: Hidden, direction: direction, dataType: RnnDataType.Float32),
                seed, precision);
            _rnnWeights = _rnn.Weights;
            _directions = direction == RnnDirection.Bidirectional ? 2 : 1;
            var rng = new SeededRandom(seed + 1);
            _head = new Dense("head", _directions * Hidden, 2, ref rng);
        }

        /// <summary>Trains with Adam and returns the test accuracy after each epoch.</summary>
        public List<double> Train(Recordings train, Recordings test, int epochs, ulong seed, TextWriter log)
        {
            var adam = new Adam<float>([_rnnWeights, .. _head.Parameters], learningRate: 1e-2);
            var scaler = GradScaler.For(_precision); // fp16: dynamic loss scaling; fp32/bf16: scale 1, plain steps
            var rng = new SeededRandom(seed + 2);
            var order = Enumerable.Range(0, train.Count).ToArray();
            var accuracy = new List<double>();
            for (int epoch = 1; epoch <= epochs; epoch++)
            {
                rng.Shuffle<int>(order);
                double loss = 0;
                for (int first = 0; first + BatchSize <= train.Count; first += BatchSize)
                {
                    var (xDesc, x, labels) = Batch(train, order.AsSpan(first, BatchSize));
                    adam.ZeroGrad();
                    var features = FinalStates(_rnn.ForwardHy(xDesc, x, training: true), BatchSize);
                    var logits = _head.Forward(features, BatchSize);
                    var dLogits = new float[logits.Length];
                    // The gradient of the scaled loss (fp16: × the loss scale; else × 1).
                    loss += SoftmaxCrossEntropy.Compute<float>(logits, 2, labels, scaler.Scale / BatchSize, dLogits) / scaler.Scale;
                    var dFeatures = _head.Backward(features, BatchSize, dLogits);
                    // Only hy feeds the loss: dy is zero and the gradient enters through dhy.
                    _rnn.BackwardHy(FinalStatesBackward(dFeatures, BatchSize));
                    scaler.Unscale(adam.Parameters); // clip the true gradients, as PyTorch's scaler.unscale_ before clip_grad_norm_
                    GradientClipping.ClipByGlobalNorm(adam.Parameters, maxNorm: 1.0);   // as clip_grad_norm_: keeps the LSTM from diverging
                    scaler.Step(adam); // skips a step with an Inf/NaN gradient (fp16), else updates the RNN weights
                    scaler.Update();
                }
                accuracy.Add(Accuracy(test));
                log.WriteLine($"    epoch {epoch,2}: training loss {loss / (train.Count / BatchSize):F3}, test accuracy {accuracy[^1]:P1}");
            }
            return accuracy;
        }

        /// <summary>Fraction of <paramref name="data"/> classified correctly.</summary>
        public double Accuracy(Recordings data)
        {
            var (xDesc, x, labels) = Batch(data, Enumerable.Range(0, data.Count).ToArray());
            var hy = _rnn.ForwardHy(xDesc, x, training: false);
            var logits = _head.Forward(FinalStates(hy, data.Count), data.Count);
            var predicted = new int[data.Count];
            SoftmaxCrossEntropy.ArgMax<float>(logits, 2, predicted);
            return predicted.Zip(labels).Count(p => p.First == p.Second) / (double)data.Count;
        }

        /// <summary>
        /// hy is [directions, batch, hidden]: hy[0, b] is the forward direction's state after sequence b's last step,
        /// hy[1, b] the reverse direction's after step 0. Row b of the result is [hy[0, b] ; hy[1, b]].
        /// </summary>
        private float[] FinalStates(float[] hy, int batch)
        {
            var features = new float[batch * _directions * Hidden];
            for (int d = 0; d < _directions; d++)
                for (int b = 0; b < batch; b++)
                    hy.AsSpan((d * batch + b) * Hidden, Hidden).CopyTo(features.AsSpan((b * _directions + d) * Hidden));
            return features;
        }

        /// <summary>The gradient of <see cref="FinalStates"/>: dhy [directions, batch, hidden] from d(features).</summary>
        private float[] FinalStatesBackward(float[] dFeatures, int batch)
        {
            var dhy = new float[dFeatures.Length];
            for (int d = 0; d < _directions; d++)
                for (int b = 0; b < batch; b++)
                    dFeatures.AsSpan((b * _directions + d) * Hidden, Hidden).CopyTo(dhy.AsSpan((d * batch + b) * Hidden));
            return dhy;
        }

        public void Dispose() => _rnn.Dispose();
    }

    /// <summary>Top: a test recording of each class; bottom: test accuracy per epoch.</summary>
    private static void SavePlot(string path, Recordings test, List<double> uni, List<double> bi, RnnMode cell)
    {
        var multiplot = new Multiplot();
        multiplot.AddPlots(2);
        string name = ExampleMath.CellName(cell);

        var top = multiplot.GetPlot(0);
        var classColors = new[] { Colors.C0, Colors.C3 };
        for (int c = 0; c < 2; c++)
        {
            int b = Enumerable.Range(0, test.Count).First(i => test.Labels[i] == c && test.Values[i].Length >= 30);
            var s = top.Add.Scatter(Enumerable.Range(0, test.Values[b].Length).Select(t => (double)t).ToArray(), test.Values[b].Select(v => (double)v).ToArray());
            s.LegendText = $"class {c}: burst of period {Periods[c]} steps ({test.Values[b].Length} steps long)";
            s.Color = classColors[c];
            s.LineWidth = 2;
        }
        var burst = top.Add.HorizontalSpan(-0.5, Burst - 0.5);
        burst.LegendText = "the burst: the only steps that tell the classes apart";
        burst.FillStyle.Color = Colors.Gray.WithAlpha(0.15);
        top.Title("Two test recordings: a short burst of one of two frequencies, then noise");
        top.XLabel("time step");
        top.YLabel("value");
        top.ShowLegend(Alignment.UpperRight);

        var bottom = multiplot.GetPlot(1);
        var epochs = Enumerable.Range(1, uni.Count).Select(e => (double)e).ToArray();
        var u = bottom.Add.Scatter(epochs, uni.ToArray());
        u.LegendText = $"unidirectional {name}: h_n (final {uni[^1]:P1})";
        u.Color = Colors.C1;
        u.LineWidth = 2;
        var b2 = bottom.Add.Scatter(epochs, bi.ToArray());
        b2.LegendText = $"bidirectional {name}: [h_n forward ; h_n reverse] (final {bi[^1]:P1})";
        b2.Color = Colors.C2;
        b2.LineWidth = 2;
        var chance = bottom.Add.HorizontalLine(0.5);
        chance.LegendText = "chance";
        chance.Color = Colors.Gray;
        chance.LinePattern = LinePattern.Dashed;
        bottom.Axes.SetLimitsY(0.4, 1.02);
        bottom.Title("Test accuracy per epoch, classifying from the final hidden state only");
        bottom.XLabel("epoch");
        bottom.YLabel("test accuracy");
        bottom.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericFixedInterval(1);
        bottom.ShowLegend(Alignment.MiddleRight);

        multiplot.SavePng(path, 1100, 850);
    }
}
