using CudnnRnn.Verification;
using Xunit;

namespace CudnnRnn.Tests;

/// <summary>
/// float64 central finite differences of dx, dhx, dcx and every weight gradient (budget: see
/// <see cref="GradientCheckOptions.RelativeBudget"/>) over every mode × {1, 2 layers} × {uni, bi} × {equal, varied lengths}
/// × {projection, none} × {clip on, off} (the last two for LSTM only), plus a seeded fuzz over 240 random configurations.
/// </summary>
public sealed class GradientCheckTests
{
    public static TheoryData<RnnMode, int, RnnDirection, bool, bool, bool> Grid()
    {
        var data = new TheoryData<RnnMode, int, RnnDirection, bool, bool, bool>();
        foreach (var mode in Enum.GetValues<RnnMode>())
            foreach (int layers in new[] { 1, 2 })
                foreach (var dir in Enum.GetValues<RnnDirection>())
                    foreach (bool varied in new[] { false, true })
                        foreach (bool proj in mode == RnnMode.Lstm ? new[] { false, true } : [false])
                            foreach (bool clip in mode == RnnMode.Lstm ? new[] { false, true } : [false])
                                data.Add(mode, layers, dir, varied, proj, clip);
        return data;
    }

    [Theory]
    [MemberData(nameof(Grid))]
    public void FiniteDifferences_Grid(RnnMode mode, int layers, RnnDirection dir, bool varied, bool proj, bool clip)
    {
        var rnn = new RnnDescriptor(mode, inputSize: 3, hiddenSize: 4, numLayers: layers, direction: dir,
            projSize: proj ? 2 : null, dataType: RnnDataType.Float64,
            // Bounds inside the range c takes here, so both clipped and unclipped cells are exercised.
            cellClip: clip ? new RnnCellClip(-0.25, 0.3) : null);
        int[] lengths = varied ? [3, 5, 1, 4] : [5, 5, 5, 5];
        var xDesc = new RnnDataDescriptor(RnnDataLayout.SeqMajorUnpacked, 5, 4, 3, lengths);
        var report = GradientChecker.Check(rnn, xDesc, new GradientCheckOptions { Seed = 17, SamplesPerTensor = 4 });
        Assert.True(report.Passed, report.ToString());
        Assert.Contains(report.Samples, s => s.Tensor == "dx");
        Assert.Contains(report.Samples, s => s.Tensor == "dhx");
        Assert.Contains(report.Samples, s => s.Tensor.StartsWith("grad.weight_hh", StringComparison.Ordinal));
        if (mode == RnnMode.Lstm) Assert.Contains(report.Samples, s => s.Tensor == "dcx");
        if (proj) Assert.Contains(report.Samples, s => s.Tensor.StartsWith("grad.weight_hr", StringComparison.Ordinal));
    }

    public static TheoryData<int> FuzzBatches() => new(Enumerable.Range(0, 24));

    /// <summary>24 batches × 10 seeded random configurations = 240 configurations, including skip input, all bias modes
    /// and all three layouts.</summary>
    [Theory]
    [MemberData(nameof(FuzzBatches))]
    public void FiniteDifferences_Fuzz(int batch)
    {
        for (int k = 0; k < 10; k++)
        {
            var rng = new Random(10_000 + batch * 10 + k);
            var mode = (RnnMode)rng.Next(4);
            int hidden = rng.Next(1, 6);
            bool skip = rng.Next(4) == 0;
            int input = skip ? hidden : rng.Next(1, 6);
            bool proj = mode == RnnMode.Lstm && hidden > 1 && rng.Next(2) == 0;
            bool clip = mode == RnnMode.Lstm && rng.Next(3) == 0;
            var rnn = new RnnDescriptor(mode, input, hidden, rng.Next(1, 4), (RnnDirection)rng.Next(2),
                proj ? rng.Next(1, hidden) : null, (RnnBiasMode)rng.Next(4), skip ? RnnInputMode.Skip : RnnInputMode.Linear,
                RnnDataType.Float64, cellClip: clip ? new RnnCellClip(-0.3, 0.3) : null);
            int T = rng.Next(1, 6), B = rng.Next(1, 5);
            var lengths = Enumerable.Range(0, B).Select(_ => rng.Next(1, T + 1)).ToArray();
            var layout = (RnnDataLayout)rng.Next(3);
            if (layout == RnnDataLayout.SeqMajorPacked) lengths = lengths.OrderDescending().ToArray();
            var xDesc = new RnnDataDescriptor(layout, T, B, input, lengths);
            var report = GradientChecker.Check(rnn, xDesc, new GradientCheckOptions
            {
                Seed = (ulong)(batch * 10 + k + 1),
                SamplesPerTensor = 2,
                UseInitialState = rng.Next(3) != 0,
                UseFinalStateGradients = rng.Next(3) != 0,
            });
            Assert.True(report.Passed, $"fuzz #{batch * 10 + k}: {report}");
        }
    }

    [Fact]
    public void Checker_DetectsAWrongGradient()
    {
        // The checker must be able to fail: corrupt one weight gradient through a wrapper engine and expect a failure.
        var rnn = new RnnDescriptor(RnnMode.Gru, 3, 4, dataType: RnnDataType.Float64);
        var xDesc = RnnDataDescriptor.Uniform(RnnDataLayout.SeqMajorUnpacked, 3, 2, 3);
        using var engine = new CorruptingEngine();
        var report = GradientChecker.Check(rnn, xDesc, new GradientCheckOptions { SamplesPerTensor = 50 }, engine);
        Assert.False(report.Passed);
        Assert.All(report.Failures, f => Assert.StartsWith("grad.", f.Tensor, StringComparison.Ordinal));
    }

    [Fact]
    public void Checker_RejectsDropout()
    {
        var rnn = new RnnDescriptor(RnnMode.Lstm, 3, 4, numLayers: 2, dataType: RnnDataType.Float64, dropout: 0.5);
        var ex = Assert.Throws<ArgumentException>(() => GradientChecker.Check(rnn, RnnDataDescriptor.Uniform(RnnDataLayout.SeqMajorUnpacked, 2, 2, 3)));
        Assert.Equal("rnn", ex.ParamName);
    }
}
