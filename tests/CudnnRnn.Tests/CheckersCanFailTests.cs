using System.Numerics;
using CudnnRnn.Cpu;
using CudnnRnn.Verification;
using Xunit;

namespace CudnnRnn.Tests;

/// <summary>
/// The checkers themselves can fail: an engine that corrupts one value of one result is caught by the golden verifier,
/// by the conformance parity (values and padding), and the tensor comparison rejects one value just outside its
/// tolerance and NaN. Without these, a checker that passes everything would go unnoticed.
/// </summary>
public sealed class CheckersCanFailTests
{
    private static GoldenCase Golden() => GoldenCase.Load(SharedData.Path("golden", "p25_lstm_L2bi_var_bias_proj3.json"));

    [Theory]
    [InlineData("y")]
    [InlineData("dx")]
    [InlineData("dw")]
    public void Golden_verifier_fails_when_one_value_is_corrupted(string target)
    {
        var golden = Golden();
        using (var honest = CpuEngine.Create())
            Assert.True(GoldenVerifier.Run<double>(honest, golden, RnnDataLayout.BatchMajorUnpacked).Passed);
        using var bad = new CorruptingEngine(CpuEngine.Create(), target);
        var result = GoldenVerifier.Run<double>(bad, golden, RnnDataLayout.BatchMajorUnpacked);
        Assert.False(result.Passed);
        Assert.Equal([target], result.Tensors.Where(t => !t.Passed).Select(t => t.Group).Distinct());
    }

    [Theory]
    [InlineData("y")]
    [InlineData("dx")]
    [InlineData("dw")]
    [InlineData("y-padding")]
    [InlineData("dx-padding")]
    public void Conformance_parity_fails_when_one_value_is_corrupted(string target)
    {
        var rnn = new RnnDescriptor(RnnMode.Gru, 3, 5, 2, RnnDirection.Bidirectional, dataType: RnnDataType.Float64);
        var xDesc = new RnnDataDescriptor(RnnDataLayout.SeqMajorUnpacked, 4, 3, 3, [4, 2, 3], paddingFill: -1.25);
        using (var honest = CpuEngine.Create()) EngineParity.AssertMatchesCpu<double>(honest, rnn, xDesc, seed: 3);
        using var bad = new CorruptingEngine(CpuEngine.Create(), target);
        var e = Assert.ThrowsAny<Xunit.Sdk.XunitException>(() => EngineParity.AssertMatchesCpu<double>(bad, rnn, xDesc, seed: 3));
        Assert.Contains(target.EndsWith("-padding", StringComparison.Ordinal) ? "padding" : "FAILED", e.Message);
    }

    [Fact]
    public void Tensor_comparison_fails_just_outside_its_tolerance_and_on_NaN()
    {
        double[] expected = [1, -2, 0.5];
        const double rtol = 1e-6; // element 0 may differ by rtol·(|1| + scale 2) = 3e-6
        Assert.True(TensorComparison.Compare("t", "t", [1 + 2.9e-6, -2, 0.5], expected, rtol).Passed);
        var outside = TensorComparison.Compare("t", "t", [1 + 3.1e-6, -2, 0.5], expected, rtol);
        Assert.False(outside.Passed);
        Assert.Equal(0, outside.WorstIndex);
        Assert.False(TensorComparison.Compare("t", "t", [1, double.NaN, 0.5], expected, rtol).Passed);
    }

    /// <summary>Wraps an engine; its plans run the inner plan, then corrupt one value of one result.</summary>
    private sealed class CorruptingEngine(IRnnEngine inner, string target) : IRnnEngine
    {
        public string Name => inner.Name + "+corrupt-" + target;
        public string DeviceDescription => inner.DeviceDescription;
        public bool Supports(RnnDataType dataType, out string? reason) => inner.Supports(dataType, out reason);
        public RnnBuffer<T> Allocate<T>(long length) where T : unmanaged, IFloatingPointIeee754<T> => inner.Allocate<T>(length);
        public RnnWeightLayout GetWeightLayout(RnnDescriptor rnn) => inner.GetWeightLayout(rnn);
        public RnnPlan<T> CreatePlan<T>(RnnDescriptor rnn, RnnDataDescriptor xDesc) where T : unmanaged, IFloatingPointIeee754<T> =>
            new CorruptingPlan<T>(this, inner.CreatePlan<T>(rnn, xDesc), target);
        public void Dispose() => inner.Dispose();
    }

    private sealed class CorruptingPlan<T>(IRnnEngine engine, RnnPlan<T> inner, string target)
        : RnnPlan<T>(engine, inner.Rnn, inner.XDesc, inner.WeightLayout) where T : unmanaged, IFloatingPointIeee754<T>
    {
        private RnnReserve<T>? _reserve;

        public override long WorkspaceBytes => inner.WorkspaceBytes;
        public override long ReserveBytes => inner.ReserveBytes;
        protected override bool Accepts(RnnBuffer<T> buffer) => true;

        protected override RnnBuffer<T> AllocateReserveStorage()
        {
            _reserve ??= inner.CreateReserve();
            return inner.Engine.Allocate<T>(1);
        }

        protected override void ForwardCore(RnnForwardMode mode, RnnDataDescriptor xDesc, RnnBuffer<T> x, RnnBuffer<T> y, RnnBuffer<T>? hx, RnnBuffer<T>? hy,
            RnnBuffer<T>? cx, RnnBuffer<T>? cy, RnnBuffer<T> weights, RnnReserve<T>? reserve)
        {
            inner.Forward(mode, xDesc, x, y, hx, hy, cx, cy, weights, mode == RnnForwardMode.Training ? _reserve : null);
            if (target == "y") Corrupt(y, 0);
            if (target == "y-padding") Corrupt(y, FirstPadded(YDesc));
        }

        protected override void BackwardDataCore(RnnDataDescriptor xDesc, RnnBuffer<T> y, RnnBuffer<T> dy, RnnBuffer<T> dx, RnnBuffer<T>? hx, RnnBuffer<T>? dhy,
            RnnBuffer<T>? dhx, RnnBuffer<T>? cx, RnnBuffer<T>? dcy, RnnBuffer<T>? dcx, RnnBuffer<T> weights, RnnReserve<T> reserve)
        {
            inner.BackwardData(xDesc, y, dy, dx, hx, dhy, dhx, cx, dcy, dcx, weights, _reserve!);
            if (target == "dx") Corrupt(dx, 0);
            if (target == "dx-padding") Corrupt(dx, FirstPadded(XDesc));
        }

        protected override void BackwardWeightsCore(RnnDataDescriptor xDesc, RnnBuffer<T> x, RnnBuffer<T>? hx, RnnBuffer<T> y, RnnBuffer<T> dweights, RnnReserve<T> reserve)
        {
            inner.BackwardWeights(WeightGradMode.Add, xDesc, x, hx, y, dweights, _reserve!);
            if (target == "dw") Corrupt(dweights, 0);
        }

        protected override void DisposeCore()
        {
            _reserve?.Dispose();
            inner.Dispose();
        }

        /// <summary>Moves one value by 1e-6 relative: far outside any float64 tolerance, small enough to look plausible.</summary>
        private static void Corrupt(RnnBuffer<T> b, long index)
        {
            var a = b.ToArray();
            a[index] += T.CreateChecked(1e-6) * (T.One + T.Abs(a[index]));
            b.CopyFrom(a);
        }

        private static long FirstPadded(RnnDataDescriptor d)
        {
            for (int t = 0; t < d.MaxSeqLength; t++)
                for (int b = 0; b < d.Batch; b++)
                    if (t >= d.SeqLengths[b]) return d.PaddedOffset(t, b);
            throw new InvalidOperationException("The case has no padding.");
        }
    }
}
