using System.Numerics;
using CsCheck;
using CudnnRnn.Cpu;
using CudnnRnn.Verification;
using Xunit;

namespace CudnnRnn.Tests;

/// <summary>
/// Issue 16 item 8(a): property tests (CsCheck) over random networks and data shapes. Valid ones run on the CPU engine in
/// float32 and match the CPU float64 reference on the same (float-rounded) inputs within the derived tolerance; invalid
/// ones (one rule broken at a time) throw an ArgumentException-family exception before any work, never anything else.
/// Bounded in CI; <c>CUDNNRNN_FUZZ_LONG=1</c> runs the long mode (500 valid and 1000 invalid configurations).
/// </summary>
public sealed class DescriptorFuzzTests
{
    private static readonly bool LongMode = Environment.GetEnvironmentVariable("CUDNNRNN_FUZZ_LONG") == "1";
    private static long ValidCount => LongMode ? 500 : 60;
    private static long InvalidCount => LongMode ? 1000 : 100;
    // Fixed seeds in CI (reproducible); the long mode explores new ones each run (CsCheck prints the seed of a failure).
    private static string? Seed(string ci) => LongMode ? null : ci;

    /// <summary>One network and data shape; every field is valid by construction.</summary>
    internal sealed record Config(RnnMode Mode, int Input, int Hidden, int Layers, bool Bidirectional, int Proj, RnnBiasMode Bias,
        bool Skip, double Dropout, double Clip, RnnDataLayout Layout, int T, int B, int[] Lengths, int DataSeed)
    {
        public RnnDescriptor Rnn(RnnDataType dt) => new(Mode, Skip ? Hidden : Input, Hidden, Layers,
            Bidirectional ? RnnDirection.Bidirectional : RnnDirection.Unidirectional,
            Mode == RnnMode.Lstm && Proj > 0 && Proj < Hidden ? Proj : null, Bias, Skip ? RnnInputMode.Skip : RnnInputMode.Linear, dt,
            Layers > 1 ? Dropout : 0, (ulong)DataSeed, Mode == RnnMode.Lstm && Clip > 0 ? new RnnCellClip(-Clip, Clip) : null);

        public RnnDataDescriptor XDesc(int inputSize)
        {
            int[] lengths = Layout == RnnDataLayout.SeqMajorPacked ? [.. Lengths.OrderDescending()] : Lengths;
            return new RnnDataDescriptor(Layout, T, B, inputSize, lengths, paddingFill: 0.5);
        }

        public override string ToString() => $"{Rnn(RnnDataType.Float32)} | {XDesc(Skip ? Hidden : Input)}";
    }

    private static readonly Gen<Config> ValidConfig =
        from mode in Gen.Enum<RnnMode>()
        from input in Gen.Int[1, 6]
        from hidden in Gen.Int[1, 6]
        from layers in Gen.Int[1, 3]
        from bidirectional in Gen.Bool
        from proj in Gen.Int[0, 5]
        from bias in Gen.Enum<RnnBiasMode>()
        from skip in Gen.Bool
        from dropout in Gen.OneOf(0.0, 0.0, 0.3, 0.6)
        from clip in Gen.OneOf(0.0, 0.0, 0.8, 2.0)
        from layout in Gen.Enum<RnnDataLayout>()
        from t in Gen.Int[1, 5]
        from b in Gen.Int[1, 4]
        from lengths in Gen.Int[1, t].Array[b]
        from seed in Gen.Int[0, 1_000_000]
        select new Config(mode, input, hidden, layers, bidirectional, proj, bias, skip, dropout, clip, layout, t, b, lengths, seed);

    [Fact]
    public void ValidConfigurations_Float32MatchesTheFloat64Reference()
    {
        int ran = 0;
        ValidConfig.Sample(c =>
        {
            RunAndCompare(c);
            Interlocked.Increment(ref ran);
        }, seed: Seed("0N0XIzNsQ0O2"), iter: ValidCount, threads: 1);
        Assert.Equal(ValidCount, ran);
        TestContext.Current.TestOutputHelper?.WriteLine($"{ran} valid configurations ran and matched (long mode: {LongMode}).");
    }

    /// <summary>Training forward, backward data and backward weights in float32 and float64 on identical inputs.</summary>
    private static void RunAndCompare(Config c, IRnnEngine? float32Engine = null)
    {
        var rnn64 = c.Rnn(RnnDataType.Float64);
        var rnn32 = c.Rnn(RnnDataType.Float32);
        var xDesc = c.XDesc(rnn64.InputSize);
        var yDesc = xDesc.WithVectorSize(rnn64.OutputSize);
        // Inputs rounded to float once, so both runs see the same numbers and only the arithmetic differs.
        static double[] F(double[] a) => [.. a.Select(v => (double)(float)v)];
        var w = F(Rand.Weights(c.DataSeed, rnn64));
        var x = F(Rand.Data(c.DataSeed + 1, xDesc, padding: 0));
        var dy = F(Rand.Data(c.DataSeed + 2, yDesc, padding: 0));
        long states = (long)rnn64.PseudoLayerCount * xDesc.Batch;
        var hx = F(Rand.Uniform(c.DataSeed + 3, states * rnn64.StateSize));
        var cx = rnn64.Mode == RnnMode.Lstm ? F(Rand.Uniform(c.DataSeed + 4, states * rnn64.HiddenSize)) : null;
        var dhy = F(Rand.Uniform(c.DataSeed + 5, states * rnn64.StateSize));
        var dcy = cx is null ? null : F(Rand.Uniform(c.DataSeed + 6, cx.LongLength));

        using var cpu = TestCpu.Engine();
        var r64 = Pass<double>.Run(cpu, rnn64, xDesc, w, x, hx, cx, dy, dhy, dcy);
        static float[] S(double[]? a) => a is null ? null! : [.. a.Select(v => (float)v)];
        var r32 = Pass<float>.Run(float32Engine ?? cpu, rnn32, xDesc, S(w), S(x), S(hx), cx is null ? null : S(cx), S(dy), S(dhy), dcy is null ? null : S(dcy));

        double eps = Tolerance.Epsilon<float>();
        double fwd = Tolerance.Relative(rnn64, xDesc.MaxSeqLength, xDesc.TotalSteps, eps, backward: false);
        double bwd = Tolerance.Relative(rnn64, xDesc.MaxSeqLength, xDesc.TotalSteps, eps, backward: true);
        double wgt = Tolerance.Relative(rnn64, xDesc.MaxSeqLength, xDesc.TotalSteps, eps, backward: true, weightGradient: true);
        var failures = new List<string>();
        void Check(string name, float[] a, double[] e, double rtol)
        {
            var cmp = TensorComparison.Compare(name, "fuzz", [.. a.Select(v => (double)v)], e, rtol);
            if (!cmp.Passed) failures.Add(cmp.ToString());
        }
        Check("y", r32.Y, r64.Y, fwd);
        Check("hy", r32.Hy, r64.Hy, fwd);
        Check("cy", r32.Cy, r64.Cy, fwd);
        Check("dx", r32.Dx, r64.Dx, bwd);
        Check("dhx", r32.Dhx, r64.Dhx, bwd);
        Check("dcx", r32.Dcx, r64.Dcx, bwd);
        Check("dw", r32.Dw, r64.Dw, wgt);
        if (failures.Count > 0) throw new Xunit.Sdk.XunitException($"{c}: float32 vs float64: {string.Join("; ", failures)}");
    }

    [Theory]
    [InlineData(RnnDataType.Float16)]
    [InlineData(RnnDataType.BFloat16)]
    public void ValidConfigurations_16BitPlanIsTheFloatPlanOnWidenedInputs_RoundedOnce(RnnDataType dataType)
    {
        // The CPU engine's 16-bit contract (16-bit storage, float arithmetic, each output rounded once to nearest even)
        // as an exact property over the fuzzed networks and shapes (projection, skip input, clipping, dropout, packed and
        // batch-major data, ragged lengths): the 16-bit pass equals the float32 pass on the widened inputs, rounded.
        // Exact, so no tolerance: any double rounding, a skipped conversion or a different dropout mask fails it.
        int ran = 0;
        ValidConfig.Sample(c =>
        {
            if (dataType == RnnDataType.Float16) Check16<Half>(c, dataType, v => (Half)v, v => (Half)v);
            else Check16<BFloat16>(c, dataType, v => (BFloat16)v, v => (BFloat16)v);
            Interlocked.Increment(ref ran);
        }, seed: Seed(dataType == RnnDataType.Float16 ? "4Jw0dK7sTq31" : "8Hc2mN5rVx02"), iter: ValidCount / 2, threads: 1);
        Assert.Equal(ValidCount / 2, ran);
    }

    /// <summary>One configuration of the 16-bit property (see the theory above); throws with what differs.</summary>
    internal static void Check16<T>(Config c, RnnDataType dataType, Func<double, T> fromDouble, Func<float, T> round, IRnnEngine? engine = null)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var rnn16 = c.Rnn(dataType);
        var rnn32 = c.Rnn(RnnDataType.Float32);
        var xDesc = c.XDesc(rnn16.InputSize);
        var yDesc = xDesc.WithVectorSize(rnn16.OutputSize);
        long states = (long)rnn16.PseudoLayerCount * xDesc.Batch;
        T[] H(double[] a) => [.. a.Select(fromDouble)];
        static float[] W<TH>(TH[] a) where TH : unmanaged, IFloatingPointIeee754<TH> => [.. a.Select(float.CreateChecked)];
        var w = H(Rand.Weights(c.DataSeed, rnn16));
        var x = H(Rand.Data(c.DataSeed + 1, xDesc, padding: 0));
        var dy = H(Rand.Data(c.DataSeed + 2, yDesc, padding: 0));
        var hx = H(Rand.Uniform(c.DataSeed + 3, states * rnn16.StateSize));
        var cx = rnn16.Mode == RnnMode.Lstm ? H(Rand.Uniform(c.DataSeed + 4, states * rnn16.HiddenSize)) : null;
        var dhy = H(Rand.Uniform(c.DataSeed + 5, states * rnn16.StateSize));
        var dcy = cx is null ? null : H(Rand.Uniform(c.DataSeed + 6, cx.LongLength));

        using var own = engine is null ? TestCpu.Engine() : null;
        var e = engine ?? own!;
        var r16 = Pass<T>.Run(e, rnn16, xDesc, w, x, hx, cx, dy, dhy, dcy);
        var r32 = Pass<float>.Run(e, rnn32, xDesc, W(w), W(x), hx is null ? null : W(hx), cx is null ? null : W(cx), W(dy),
            dhy is null ? null : W(dhy), dcy is null ? null : W(dcy));
        var failures = RoundedOnce.Passes(r16, r32, round);
        if (failures.Count > 0) throw new Xunit.Sdk.XunitException($"{c} in {dataType}: {string.Join("; ", failures)}");
    }

    [Fact]
    public void The16BitProperty_CatchesAnOutputRoundedTowardZero()
    {
        // The checker can fail: rounding the float pass toward zero (truncation) instead of to nearest even differs from
        // the plan on almost every configuration; require it on most of 10.
        int caught = 0;
        ValidConfig.Sample(c =>
        {
            var ex = Record.Exception(() => Check16<BFloat16>(c, RnnDataType.BFloat16, v => (BFloat16)v, BFloat16Truncate));
            if (ex is not null) Interlocked.Increment(ref caught);
        }, seed: "8Hc2mN5rVx02", iter: 10, threads: 1);
        Assert.True(caught >= 8, $"truncation caught on {caught} of 10 configurations");
    }

    private static BFloat16 BFloat16Truncate(float v) =>
        float.IsNaN(v) ? (BFloat16)v : BFloat16.FromBits((ushort)(BitConverter.SingleToUInt32Bits(v) >> 16));

    [Fact]
    public void TheComparison_CatchesAWrongWeightGradient()
    {
        // The checker can fail: an engine whose float32 weight gradient is off by 1e-3 is caught on valid configurations.
        using var corrupting = new CorruptingEngine();
        int caught = 0;
        ValidConfig.Sample(c =>
        {
            var ex = Record.Exception(() => RunAndCompare(c, corrupting));
            Assert.NotNull(ex);
            Assert.Contains("dw:", ex.Message, StringComparison.Ordinal);
            caught++;
        }, seed: "0N0XIzNsQ0O2", iter: 10, threads: 1);
        Assert.Equal(10, caught);
    }

    /// <summary>The rules a configuration can break, one at a time.</summary>
    internal enum Break
    {
        InputSize, HiddenSize, Layers, ProjTooBig, ProjNonLstm, SkipSizes, DropoutRange, DropoutRoundsToOne, ClipOrder, ClipNan,
        ClipNonLstm, ModeEnum, LayoutEnum, MaxSeqLength, Batch, VectorSize, LengthsCount, LengthZero, LengthTooLong, PackedUnsorted,
        PaddingFill, PlanVectorSize, PlanDataType, BufferTooShort, BufferTooLong, AliasYx, AliasDxDy, ShapeBeyondLimit, HiddenBeyondInt,
    }

    [Fact]
    public void InvalidConfigurations_ThrowArgumentExceptionsBeforeAnyWork()
    {
        var counts = new int[Enum.GetValues<Break>().Length];
        var gen = from c in ValidConfig from broken in Gen.Enum<Break>() from k in Gen.Int[1, 1000] select (c, broken, k);
        gen.Sample((c, broken, k) =>
        {
            var ex = Record.Exception(() => Attempt(c, broken, k));
            if (ex is not ArgumentException)
                throw new Xunit.Sdk.XunitException($"{broken} on {c}: expected an ArgumentException-family exception, got {ex?.GetType().Name ?? "none"}: {ex}");
            Interlocked.Increment(ref counts[(int)broken]);
        }, seed: Seed("3hQ5cAvxPtU2"), iter: InvalidCount, threads: 1);
        Assert.Equal(InvalidCount, counts.Sum());
        TestContext.Current.TestOutputHelper?.WriteLine($"{counts.Sum()} invalid configurations, by rule: " +
            string.Join(", ", Enum.GetValues<Break>().Select(b => $"{b} {counts[(int)b]}")));
    }

    /// <summary>Builds the configuration with one rule broken, then runs what it can; must throw before any work.</summary>
    private static void Attempt(Config c, Break broken, int k)
    {
        int input = c.Skip ? c.Hidden : c.Input;
        RnnDescriptor Net(RnnMode? mode = null, int? inputSize = null, int? hidden = null, int? layers = null, int? proj = null,
            RnnInputMode? im = null, double? dropout = null, RnnCellClip? clip = null) =>
            new(mode ?? c.Mode, inputSize ?? input, hidden ?? c.Hidden, layers ?? c.Layers,
                c.Bidirectional ? RnnDirection.Bidirectional : RnnDirection.Unidirectional, proj, c.Bias,
                im ?? (c.Skip ? RnnInputMode.Skip : RnnInputMode.Linear), RnnDataType.Float32, dropout ?? 0, 1, clip);
        RnnDataDescriptor Data(RnnDataLayout? layout = null, int? t = null, int? b = null, int? v = null, int[]? lengths = null, double fill = 0) =>
            new(layout ?? c.Layout, t ?? c.T, b ?? c.B, v ?? input, lengths ?? c.XDesc(input).SeqLengths.ToArray(), fill);

        switch (broken)
        {
            case Break.InputSize: Net(inputSize: 1 - k, im: RnnInputMode.Linear); return;
            case Break.HiddenSize: Net(hidden: -k % 3); return;
            case Break.Layers: Net(layers: 1 - k); return;
            case Break.ProjTooBig: Net(mode: RnnMode.Lstm, proj: c.Hidden + k); return;
            case Break.ProjNonLstm: Net(mode: k % 2 == 0 ? RnnMode.Gru : RnnMode.RnnTanh, proj: Math.Max(1, c.Hidden - 1), hidden: c.Hidden + 1, inputSize: c.Skip ? c.Hidden + 1 : input); return;
            case Break.SkipSizes: Net(inputSize: c.Hidden + k, im: RnnInputMode.Skip); return;
            case Break.DropoutRange: Net(dropout: k % 3 == 0 ? double.NaN : k % 3 == 1 ? 1.0 + k / 1000.0 - 0.001 : -k / 1000.0); return;
            case Break.DropoutRoundsToOne: Net(dropout: 1.0 - 1.0 / (1L << 25) * (k % 2 == 0 ? 1 : 0.5)); return;
            case Break.ClipOrder: Net(mode: RnnMode.Lstm, clip: new RnnCellClip(k, k - 0.5)); return;
            case Break.ClipNan: Net(mode: RnnMode.Lstm, clip: new RnnCellClip(double.NaN, k)); return;
            case Break.ClipNonLstm: Net(mode: RnnMode.Gru, clip: new RnnCellClip(-k, k)); return;
            case Break.ModeEnum: Net(mode: (RnnMode)(10 + k)); return;
            case Break.LayoutEnum: Data(layout: (RnnDataLayout)(-k)); return;
            case Break.MaxSeqLength: Data(t: 1 - k); return;
            case Break.Batch: Data(b: -k % 2, lengths: []); return;
            case Break.VectorSize: Data(v: 1 - k); return;
            case Break.LengthsCount: Data(lengths: [.. c.Lengths, 1]); return;
            case Break.LengthZero: Data(lengths: [.. c.Lengths.Select((l, i) => i == k % c.B ? 0 : l)]); return;
            case Break.LengthTooLong: Data(lengths: [.. c.Lengths.Select((l, i) => i == k % c.B ? c.T + k : l)]); return;
            case Break.PackedUnsorted: Data(layout: RnnDataLayout.SeqMajorPacked, t: c.T + 1, b: c.B + 1, lengths: [1, .. Enumerable.Repeat(c.T + 1, c.B)]); return;
            case Break.PaddingFill: Data(fill: k % 2 == 0 ? double.NaN : double.PositiveInfinity); return;
            case Break.ShapeBeyondLimit:
                // Every count is right (64-bit), but more than one managed array: refused by CreatePlan before any work.
                RunBroken(Net(), RnnDataDescriptor.Uniform(c.Layout, 1 << 16, (1 << 15) + k, input), k);
                return;
            case Break.HiddenBeyondInt: Net(mode: RnnMode.Lstm, hidden: (1 << 29) + k, inputSize: 1, im: RnnInputMode.Linear); return;
            default:
                RunBroken(Net(proj: c.Mode == RnnMode.Lstm && c.Proj > 0 && c.Proj < c.Hidden ? c.Proj : null, clip: null), Data(), k, broken);
                return;
        }
    }

    /// <summary>The plan-level rules: a plan or a call with bad arguments. Output buffers are poisoned first and must
    /// come back untouched (no work started).</summary>
    private static void RunBroken(RnnDescriptor rnn, RnnDataDescriptor xDesc, int k, Break broken = Break.ShapeBeyondLimit)
    {
        using var cpu = CpuEngine.Create(maxThreads: 1);
        if (broken == Break.PlanVectorSize) { cpu.CreatePlan<float>(rnn, xDesc.WithVectorSize(xDesc.VectorSize + k)); return; }
        if (broken == Break.PlanDataType) { cpu.CreatePlan<double>(rnn, xDesc); return; }
        using var plan = cpu.CreatePlan<float>(rnn, xDesc);
        long xLen = xDesc.ElementCount + (broken == Break.BufferTooShort ? -1 : broken == Break.BufferTooLong ? k : 0);
        using var x = cpu.Allocate<float>(xLen);
        using var y = cpu.Allocate<float>(plan.YDesc.ElementCount);
        using var w = cpu.Allocate<float>(plan.WeightLayout.TotalElements);
        using var reserve = plan.CreateReserve();
        y.Fill(float.NaN);
        try
        {
            if (broken == Break.AliasDxDy)
            {
                using var dy = cpu.Allocate<float>(plan.YDesc.ElementCount);
                plan.Forward(RnnForwardMode.Training, x, y, null, null, null, null, w, reserve);
                // dx has x's size; dy has y's: they alias only when the two sizes agree, so pass y for both when they do,
                // and otherwise x as both dx and the (wrongly sized) dy: either an alias or a size error, both argument errors.
                if (plan.YDesc.ElementCount == xDesc.ElementCount) plan.BackwardData(y, dy, dy, null, null, null, null, null, null, w, reserve);
                else plan.BackwardData(y, x, x, null, null, null, null, null, null, w, reserve);
                return;
            }
            plan.Forward(RnnForwardMode.Inference, x, broken == Break.AliasYx ? x : y, null, null, null, null, w, null);
        }
        finally
        {
            if (broken != Break.AliasDxDy)
                Assert.All(y.ToArray(), v => Assert.True(float.IsNaN(v), "an output was written although the call was refused"));
        }
    }
}
