// Reproduces the classic "forecast international airline passengers with an LSTM" tutorial experiment (Box & Jenkins'
// monthly totals 1949–1960, in thousands): the last 3 months predict the next one, a 2-layer LSTM with hidden size 6
// and a linear head learns on the first 80% of the months with Adam and forecasts the last 20% one month at a time.
using CudnnRnn.Training;
using ScottPlot;

namespace CudnnRnn.Cli.Examples;

/// <summary>Root mean squared errors in thousands of passengers, the naive baseline's, and where the plot is.</summary>
/// <param name="TrainRmse">RMSE of the fitted values on the training months.</param>
/// <param name="TestRmse">RMSE of the one-month-ahead forecasts on the test months.</param>
/// <param name="RepeatLastTrainRmse">RMSE on the training months of forecasting "same as last month".</param>
/// <param name="RepeatLastTestRmse">RMSE on the test months of forecasting "same as last month".</param>
/// <param name="PlotPath">The PNG.</param>
internal sealed record AirlineResult(double TrainRmse, double TestRmse, double RepeatLastTrainRmse, double RepeatLastTestRmse, string PlotPath);

internal static class AirlineExample
{
    /// <summary>Monthly international airline passengers (thousands), January 1949 to December 1960 (Box &amp; Jenkins, series G).</summary>
    public static readonly int[] Passengers =
    [
        112, 118, 132, 129, 121, 135, 148, 148, 136, 119, 104, 118, // 1949
        115, 126, 141, 135, 125, 149, 170, 170, 158, 133, 114, 140, // 1950
        145, 150, 178, 163, 172, 178, 199, 199, 184, 162, 146, 166, // 1951
        171, 180, 193, 181, 183, 218, 230, 242, 209, 191, 172, 194, // 1952
        196, 196, 236, 235, 229, 243, 264, 272, 237, 211, 180, 201, // 1953
        204, 188, 235, 227, 234, 264, 302, 293, 259, 229, 203, 229, // 1954
        242, 233, 267, 269, 270, 315, 364, 347, 312, 274, 237, 278, // 1955
        284, 277, 317, 313, 318, 374, 413, 405, 355, 306, 271, 306, // 1956
        315, 301, 356, 348, 355, 422, 465, 467, 404, 347, 305, 336, // 1957
        340, 318, 362, 348, 363, 435, 491, 505, 404, 359, 310, 337, // 1958
        360, 342, 406, 396, 420, 472, 548, 559, 463, 407, 362, 405, // 1959
        417, 391, 419, 461, 472, 535, 622, 606, 508, 461, 390, 432, // 1960
    ];

    private const int LookBack = 3;
    private const int Hidden = 6;
    private const int Layers = 2;

    public static AirlineResult Run(IRnnEngine engine, ExampleOptions options)
    {
        CheckData();
        var log = options.Log;
        var cell = options.Cell ?? RnnMode.Lstm;
        int epochs = options.Epochs ?? 1000;
        int trainMonths = (int)(0.8 * Passengers.Length);   // 115 months: Jan 1949 – Jul 1958; the test is Aug 1958 – Dec 1960
        // Min-max scaling from the training months only, so nothing about the test months leaks into the model.
        double min = Passengers[..trainMonths].Min(), max = Passengers[..trainMonths].Max();
        var scaled = Passengers.Select(p => (float)((p - min) / (max - min))).ToArray();

        // Sample i: months i, i+1, i+2 → month i+3. Training samples have their target in the training months.
        int samples = Passengers.Length - LookBack, trainSamples = trainMonths - LookBack;
        var x = new float[samples * LookBack];   // batch-major [samples, LookBack, 1]
        var target = new float[samples];
        for (int i = 0; i < samples; i++)
        {
            scaled.AsSpan(i, LookBack).CopyTo(x.AsSpan(i * LookBack));
            target[i] = scaled[i + LookBack];
        }
        log.WriteLine($"airline: {Passengers.Length} months, {trainSamples} training samples (targets Apr 1949 – Jul 1958), " +
                      $"{samples - trainSamples} test samples (Aug 1958 – Dec 1960); {LookBack}-month look-back");
        log.WriteLine($"  model: {Layers}-layer {ExampleMath.CellName(cell)}, hidden {Hidden}, linear head; Adam, {epochs} full-batch epochs" +
                      (options.Precision == Precision.Fp32 ? "" : $"; RNN in {options.Precision.ToString().ToLowerInvariant()} with float32 master weights"));

        // fp32: an RnnLayer whose weights Adam updates in place; fp16/bf16: the RNN in 16 bits cast from float32 masters.
        using var rnn = new ExampleRnn(engine, new RnnDescriptor(cell, inputSize: 1, hiddenSize: Hidden, numLayers: Layers, dataType: RnnDataType.Float32),
            options.Seed, options.Precision);
        var rng = new SeededRandom(options.Seed + 1);
        var head = new Dense("head", Hidden, 1, ref rng);
        var adam = new Adam<float>([rnn.Weights, .. head.Parameters], learningRate: 3e-3);
        var scaler = GradScaler.For(options.Precision); // fp16: dynamic loss scaling; fp32/bf16: scale 1, plain steps
        var trainDesc = RnnDataDescriptor.Uniform(RnnDataLayout.BatchMajorUnpacked, LookBack, trainSamples, 1);
        var trainX = x.AsSpan(0, trainSamples * LookBack).ToArray();
        var trainTarget = target[..trainSamples];
        for (int epoch = 1; epoch <= epochs; epoch++)
        {
            adam.ZeroGrad();
            // hy is [layers, batch, hidden]; the head reads the last layer's final state.
            var h = LastLayer(rnn.ForwardHy(trainDesc, trainX, training: true), trainSamples);
            var prediction = head.Forward(h, trainSamples);
            var dPrediction = new float[trainSamples];
            double loss = ExampleMath.MeanSquaredError(prediction, trainTarget, dPrediction);
            for (int i = 0; i < dPrediction.Length; i++) dPrediction[i] *= scaler.Scale; // backward of the scaled loss
            var dh = head.Backward(h, trainSamples, dPrediction);
            var dhy = new float[Layers * trainSamples * Hidden];
            dh.CopyTo(dhy.AsSpan((Layers - 1) * trainSamples * Hidden));
            rnn.BackwardHy(dhy); // y is unused: the gradient enters through dhy alone
            scaler.Step(adam);   // unscales (fp16), skips a step with an Inf/NaN gradient, else updates the weights
            scaler.Update();
            if (epoch % (epochs / 5) == 0 || epoch == 1)
                log.WriteLine($"    epoch {epoch,5}: training RMSE {Math.Sqrt(loss) * (max - min),7:F2} thousand passengers");
        }

        // One-month-ahead predictions for every sample, from the true previous months.
        var allDesc = RnnDataDescriptor.Uniform(RnnDataLayout.BatchMajorUnpacked, LookBack, samples, 1);
        var hAll = rnn.ForwardHy(allDesc, x, training: false);
        var predicted = head.Forward(LastLayer(hAll, samples), samples)
            .Select(p => (double)p * (max - min) + min).ToArray();
        double Rmse(int from, int to, Func<int, double> forecast) =>
            Math.Sqrt(Enumerable.Range(from, to - from).Average(i => Math.Pow(forecast(i) - Passengers[i + LookBack], 2)));
        double trainRmse = Rmse(0, trainSamples, i => predicted[i]);
        double testRmse = Rmse(trainSamples, samples, i => predicted[i]);
        double naiveTrain = Rmse(0, trainSamples, i => Passengers[i + LookBack - 1]);
        double naive = Rmse(trainSamples, samples, i => Passengers[i + LookBack - 1]);
        log.WriteLine($"  train RMSE {trainRmse:F2}, test RMSE {testRmse:F2} thousand passengers");
        log.WriteLine($"  baseline \"same as last month\": train RMSE {naiveTrain:F2}, test RMSE {naive:F2}");
        if (testRmse >= naive)
            log.WriteLine("  the LSTM beats the baseline on the months it learned from, not on the unseen ones: 3 months cannot show " +
                          "where in the yearly season a month lies, and the test years climb above every training month");

        string path = ExampleMath.PlotPath(options, "airline.png");
        SavePlot(path, predicted, trainSamples, cell, trainRmse, testRmse, naive);
        log.WriteLine($"plot: {path}");
        return new AirlineResult(trainRmse, testRmse, naiveTrain, naive, path);
    }

    /// <summary>The last layer's rows of hy [layers, batch, hidden].</summary>
    private static float[] LastLayer(float[] hy, int batch) => hy.AsSpan((Layers - 1) * batch * Hidden, batch * Hidden).ToArray();

    /// <summary>The embedded numbers are the published ones: 144 months, yearly totals 1520 (1949) and 5714 (1960).</summary>
    public static void CheckData()
    {
        if (Passengers.Length != 144 || Passengers[..12].Sum() != 1520 || Passengers[^12..].Sum() != 5714 || Passengers.Sum() != 40363)
            throw new InvalidDataException("The embedded airline passenger series does not match Box & Jenkins' published numbers.");
    }

    private static void SavePlot(string path, double[] predicted, int trainSamples, RnnMode cell, double trainRmse, double testRmse, double naive)
    {
        double Month(int i) => new DateTime(1949 + i / 12, i % 12 + 1, 1).ToOADate();
        var plt = new Plot();
        var actual = plt.Add.Scatter(Enumerable.Range(0, Passengers.Length).Select(Month).ToArray(), Passengers.Select(p => (double)p).ToArray());
        actual.LegendText = "actual";
        actual.Color = Colors.Black;
        actual.LineWidth = 2;
        actual.MarkerSize = 4;
        var fitted = plt.Add.ScatterLine(Enumerable.Range(LookBack, trainSamples).Select(Month).ToArray(), predicted[..trainSamples]);
        fitted.LegendText = $"fitted on the training months (RMSE {trainRmse:F1})";
        fitted.Color = Colors.C0;
        fitted.LineWidth = 2;
        var test = plt.Add.Scatter(Enumerable.Range(LookBack + trainSamples, predicted.Length - trainSamples).Select(Month).ToArray(), predicted[trainSamples..]);
        test.LegendText = $"forecast one month ahead on the test months (RMSE {testRmse:F1}; repeat-last-month {naive:F1})";
        test.Color = Colors.C3;
        test.LineWidth = 2;
        test.MarkerSize = 5;
        var split = plt.Add.VerticalLine(Month(LookBack + trainSamples) - 15);
        split.Color = Colors.Gray;
        split.LinePattern = LinePattern.Dashed;
        split.LegendText = "train | test split (August 1958)";
        plt.Axes.DateTimeTicksBottom();
        plt.Title($"International airline passengers: {Layers}-layer {ExampleMath.CellName(cell)}({Hidden}), {LookBack}-month look-back");
        plt.XLabel("month");
        plt.YLabel("passengers (thousands)");
        plt.ShowLegend(Alignment.UpperLeft);
        plt.SavePng(path, 1100, 600);
    }
}
