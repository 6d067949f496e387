using System.CommandLine;
using CudnnRnn.Cli;
using CudnnRnn.Cli.Examples;
using CudnnRnn.Cpu;
using Xunit;

namespace CudnnRnn.Cli.Tests;

/// <summary>
/// Each `cudnnrnn example` run in a reduced mode (fewer epochs, a temporary folder) on the CPU engine, asserting what
/// the example claims to show, not just that it ran. Seeds are fixed, so a failure reproduces.
/// </summary>
public sealed class ExamplesTests : IDisposable
{
    private static readonly byte[] PngSignature = [0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A];
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "cudnnrnn-examples-tests-" + Guid.NewGuid().ToString("N"));
    private readonly CpuEngine _engine = CpuEngine.Create();

    private ExampleOptions Options(int? epochs) => new() { OutputDirectory = _dir, Epochs = epochs, Seed = 1, Log = TextWriter.Null };

    [Fact]
    public void Sine_BothCellsPredictTheNextValueFarBetterThanTheBaselines()
    {
        var r = SineExample.Run(_engine, Options(epochs: 2));

        // The signal's variance is 9/2 + 1/2 = 5 (plus 1/1200 of noise): predicting the mean scores 5. Repeating the last
        // value scores ≈ (step · max slope)²/2 ≈ 0.02. The noise alone sets a floor of 0.1²/12 ≈ 0.0008. A bound of 0.01
        // is 0.2% of the variance and half the repeat-last baseline, so only a model that learned the waveform passes;
        // two epochs reach about 0.0025 here.
        Assert.InRange(r.SignalVariance, 4.5, 5.5);
        Assert.InRange(r.RepeatLastMse, 0.01, 0.04);
        Assert.Equal([RnnMode.Lstm, RnnMode.Gru], r.TestMse.Keys.Order());   // both cells ran (enum order: Lstm = 2, Gru = 3)
        foreach (var (cell, mse) in r.TestMse)
        {
            Assert.True(mse < 0.01, $"{cell}: test MSE {mse} ≥ 0.01");
            Assert.True(mse < r.RepeatLastMse / 2, $"{cell}: test MSE {mse} not below half the repeat-last baseline {r.RepeatLastMse}");
        }
        AssertPng(r.PlotPath);
    }

    [Theory]
    [InlineData(Training.Precision.Fp16)]
    [InlineData(Training.Precision.Bf16)]
    public void Sine_InMixedPrecisionPassesTheSameBound(Training.Precision precision)
    {
        // The same claim as in float32 (test MSE < 0.01, below half the repeat-last baseline) with the RNN in 16 bits on
        // the engine and float32 master weights: the bound is set by what the waveform allows, not by the precision, and
        // the 16-bit rounding of h_n (relative 2^-11 or 2^-8 of values ≤ 1) is far below the 0.1 (= √0.01) it leaves.
        var r = SineExample.Run(_engine, Options(epochs: 2) with { Precision = precision, Cell = RnnMode.Lstm });
        var mse = r.TestMse[RnnMode.Lstm];
        Assert.True(mse < 0.01, $"{precision}: test MSE {mse} ≥ 0.01");
        Assert.True(mse < r.RepeatLastMse / 2, $"{precision}: test MSE {mse} not below half the repeat-last baseline {r.RepeatLastMse}");
    }

    [Fact]
    public void Airline_EmbeddedSeriesIsTheClassicOne()
    {
        AirlineExample.CheckData();
        Assert.Equal(144, AirlineExample.Passengers.Length);
        Assert.Equal(1520, AirlineExample.Passengers[..12].Sum());
        Assert.Equal(5714, AirlineExample.Passengers[^12..].Sum());
        Assert.Equal(622, AirlineExample.Passengers.Max());   // July 1960
    }

    [Fact]
    public void Airline_FitsTheTrainingYearsBetterThanTheBaselineAndForecastsWithinABound()
    {
        var r = AirlineExample.Run(_engine, Options(epochs: 600));

        // On the months it learned from, the LSTM must beat "same as last month" (27.1 there). On the unseen years a
        // 3-month window cannot see the yearly season and the level climbs past every training month, so the honest claim
        // is a bound: within 1.5× the baseline's 52.5 (an unfitted model — the training mean, or a constant — is off by
        // 100 to 250 thousand).
        Assert.True(r.TrainRmse < r.RepeatLastTrainRmse, $"train RMSE {r.TrainRmse} ≥ baseline {r.RepeatLastTrainRmse}");
        Assert.InRange(r.RepeatLastTestRmse, 52, 53);
        Assert.True(r.TestRmse < 1.5 * r.RepeatLastTestRmse, $"test RMSE {r.TestRmse} ≥ 1.5 × baseline {r.RepeatLastTestRmse}");
        AssertPng(r.PlotPath);
    }

    [Fact]
    public void Classify_BothDirectionsWellAboveChance_BidirectionalAtLeastAsGood()
    {
        var r = ClassifyExample.Run(_engine, Options(epochs: 6));

        // Two balanced classes: chance is 50%. The bidirectional model reads the burst last and learns in the first epoch;
        // the unidirectional one needs a few epochs to learn to carry it through up to 32 steps of noise.
        Assert.Equal(6, r.UniAccuracy.Count);
        Assert.True(r.Bi >= 0.95, $"bidirectional accuracy {r.Bi}");
        Assert.True(r.Uni >= 0.75, $"unidirectional accuracy {r.Uni}");
        Assert.True(r.Bi >= r.Uni, $"bidirectional {r.Bi} < unidirectional {r.Uni}");
        Assert.True(r.BiAccuracy[0] > r.UniAccuracy[0], $"after one epoch: bidirectional {r.BiAccuracy[0]}, unidirectional {r.UniAccuracy[0]}");
        AssertPng(r.PlotPath);
    }

    [Theory]
    [InlineData(Training.Precision.Fp16)]
    [InlineData(Training.Precision.Bf16)]
    public void Airline_InMixedPrecisionMakesTheSameClaims(Training.Precision precision)
    {
        // The claims of the float32 run (fit better than the baseline on the training months, forecast within 1.5× the
        // baseline on the unseen ones) with the RNN in 16 bits: h_n ≤ 1 in magnitude is rounded to 2^-11 (fp16) or 2^-8
        // (bf16) relative, about 0.4 thousand passengers at bf16 on the 443-thousand range, far inside both margins.
        var r = AirlineExample.Run(_engine, Options(epochs: 600) with { Precision = precision });
        Assert.True(r.TrainRmse < r.RepeatLastTrainRmse, $"{precision}: train RMSE {r.TrainRmse} ≥ baseline {r.RepeatLastTrainRmse}");
        Assert.True(r.TestRmse < 1.5 * r.RepeatLastTestRmse, $"{precision}: test RMSE {r.TestRmse} ≥ 1.5 × baseline {r.RepeatLastTestRmse}");
    }

    [Theory]
    [InlineData(Training.Precision.Fp16)]
    [InlineData(Training.Precision.Bf16)]
    public void Classify_InMixedPrecisionMakesTheSameClaims(Training.Precision precision)
    {
        // The float32 claims (bidirectional ≥ 95%, unidirectional ≥ 75%, bidirectional at least as good) with the GRU in
        // 16 bits: fp16 runs GradScaler's loss scaling and unscales before clipping, bf16 runs unscaled.
        var r = ClassifyExample.Run(_engine, Options(epochs: 6) with { Precision = precision });
        Assert.True(r.Bi >= 0.95, $"{precision}: bidirectional accuracy {r.Bi}");
        Assert.True(r.Uni >= 0.75, $"{precision}: unidirectional accuracy {r.Uni}");
        Assert.True(r.Bi >= r.Uni, $"{precision}: bidirectional {r.Bi} < unidirectional {r.Uni}");
    }

    /// <summary>Cheap enough to run on every engine: the equalities are part of the engine contract. Skips visibly where an engine cannot run.</summary>
    [Theory]
    [InlineData("cpu")]
    [InlineData("cuda")]
    [InlineData("opencl")]
    public void Shapes_OutputHalvesEqualHnExactly_AndOutputLastIsNotHnReverse(string engineName)
    {
        IRnnEngine engine;
        try { engine = Engines.Create(Engines.Choices.Single(c => c.Name == engineName).Kind); }
        catch (RnnEngineUnavailableException e) { Assert.Skip(e.Message); throw; }
        using var _ = engine;
        var r = ShapesExample.Run(engine, Options(epochs: null));

        // 2 cells × (2 sequences × 3 comparisons + 1 padded output[-1]) = 14; each must come out as documented.
        Assert.Equal(14, r.Checks.Count);
        Assert.All(r.Checks, c => Assert.True(c.Holds, $"{c.Cell}: {c.Description}: max |diff| {c.MaxAbsDifference}"));
        Assert.All(r.Checks.Where(c => c.ExpectEqual), c => Assert.Equal(0.0, c.MaxAbsDifference));
        Assert.Contains(r.Checks, c => !c.ExpectEqual && c.Description.Contains("reverse half of output[-1]", StringComparison.Ordinal));
        // Batch-major is the same arithmetic in another memory order. Values are ≤ 1 and pass through ~10 dependent steps of
        // dot products of length ≤ 9; a reordering may move each by a few ulps (ε = 6e-8) per step: 1e-6 ≈ 16 ulps.
        Assert.True(r.MaxLayoutDifference <= 1e-6, $"layouts differ by {r.MaxLayoutDifference}");
    }

    [Fact]
    public void Command_RunsAnExample_AndRejectsBadEpochs()
    {
        var root = new RootCommand { ExampleCommand.Create() };
        Assert.Equal(0, root.Parse(["example", "shapes", "--cell", "rnn", "--out", _dir]).Invoke());
        Assert.Equal(CudnnRnn.Cli.Cli.UsageError, root.Parse(["example", "sine", "--epochs", "0", "--out", _dir]).Invoke());
        // --precision belongs to the training examples: shapes (and interop) refuse it instead of ignoring it.
        Assert.Equal(CudnnRnn.Cli.Cli.UsageError, root.Parse(["example", "shapes", "--precision", "fp16", "--out", _dir]).Invoke());
    }

    private static void AssertPng(string path)
    {
        Assert.True(File.Exists(path), $"{path} was not written");
        var head = new byte[PngSignature.Length];
        using (var f = File.OpenRead(path)) f.ReadExactly(head);
        Assert.Equal(PngSignature, head);
        Assert.True(new FileInfo(path).Length > 10_000, $"{path} is only {new FileInfo(path).Length} bytes");
    }

    public void Dispose()
    {
        _engine.Dispose();
        if (Directory.Exists(_dir)) Directory.Delete(_dir, recursive: true);
    }
}
