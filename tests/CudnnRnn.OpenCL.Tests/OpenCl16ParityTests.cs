using System.Numerics;
using CudnnRnn.Cpu;
using CudnnRnn.Testing;
using CudnnRnn.Verification;
using Xunit;

namespace CudnnRnn.OpenCL.Tests;

/// <summary>
/// The OpenCL engine's 16-bit plans on the random configurations (every mode, layouts, projection, clipping, bias modes,
/// skip input, dropout, padding fill): an inference forward, two training forwards (the second with the next dropout
/// masks), backward data, and backward weights adding onto a non-zero dW — against the CPU engine in float64 on the same
/// 16-bit inputs, under a tolerance tighter than HalfPrecision's (<see cref="Check16"/>: the storage rounding relative to
/// each element, not to the tensor's scale). The comparison with the CPU 16-bit reference runs in OpenClConformanceTests.
/// Padded positions of x and dy hold NaN and every output starts as NaN, as in EngineParity.
/// </summary>
public sealed class OpenCl16ParityTests
{
    public static TheoryData<int> Seeds() => new(Enumerable.Range(0, RandomConfigurations.Count));

    [Theory]
    [MemberData(nameof(Seeds))]
    public void Parity_Float16_AgainstFloat64OfRoundedInputs(int seed) => AssertParity<Half>(seed);

    [Theory]
    [MemberData(nameof(Seeds))]
    public void Parity_BFloat16_AgainstFloat64OfRoundedInputs(int seed) => AssertParity<BFloat16>(seed);

    /// <summary>The checker rejects one weight-gradient element two ulps off (seed 0, in both types).</summary>
    [Fact]
    public void Checker_RejectsTwoUlpsOnOneWeightGradient()
    {
        foreach (var run in new Action[] { () => AssertParity<Half>(0, Corrupt<Half>), () => AssertParity<BFloat16>(0, Corrupt<BFloat16>) })
        {
            var e = Assert.ThrowsAny<Xunit.Sdk.XunitException>(run);
            Assert.Contains("grad.", e.Message);
        }
    }

    /// <summary>Moves the largest |value| of the first weight gradient two ulps away from zero. It was within half an ulp
    /// plus the float32 bound of the reference, so it ends at least 1.5 ulps ≥ 1.5·u·|e| off, beyond u·|e| + 2·rtol32·|e|
    /// (rtol32 for these small shapes is far below u/4).</summary>
    private static void Corrupt<T16>(Dictionary<string, double[]> actual) where T16 : unmanaged, IFloatingPointIeee754<T16>
    {
        var g = actual.First(kv => kv.Key.StartsWith("grad.", StringComparison.Ordinal)).Value;
        int i = Array.IndexOf(g, g.MaxBy(Math.Abs));
        var v = T16.CreateChecked(g[i]);
        for (int k = 0; k < 2; k++) v = T16.IsNegative(v) ? T16.BitDecrement(v) : T16.BitIncrement(v);
        g[i] = double.CreateChecked(v);
    }

    internal static void AssertParity<T16>(int seed, Action<Dictionary<string, double[]>>? alter = null) where T16 : unmanaged, IFloatingPointIeee754<T16>
    {
        var engine = SharedOpenCl.Require();
        var (rnn, xDesc) = RandomConfigurations.Get(seed, RnnDescriptor.DataTypeOf<T16>());
        var output = TestContext.Current.TestOutputHelper;
        output?.WriteLine($"{rnn} | {xDesc}");
        var data = ParityData.Draw(rnn, xDesc, seed);

        using var cpu = CpuEngine.Create();
        var expected = data.Run<double, T16>(cpu, rnn.WithDataType(RnnDataType.Float64), xDesc);
        var actual = data.Run<T16, T16>(engine, rnn, xDesc);
        alter?.Invoke(actual);

        var yDesc = xDesc.WithVectorSize(rnn.OutputSize);
        var failures = new List<string>();
        foreach (var name in new[] { "y", "yInference" })
            if (EngineParity.PaddingError(actual[name], yDesc, double.CreateChecked(T16.CreateChecked(yDesc.PaddingFill))) is { } e)
                failures.Add($"{name} padding: {e}");
        if (EngineParity.PaddingError(actual["dx"], xDesc, 0) is { } dxe) failures.Add($"dx padding: {dxe}");

        // One 16-bit rounding of each output (the reference is float64 on the same 16-bit inputs, dW0 included), plus
        // float32 arithmetic bounded by Tolerance.Relative with float32's epsilon.
        var dt = RnnDescriptor.DataTypeOf<T16>();
        double u = HalfPrecision.UnitRoundoff(dt), tiny = HalfPrecision.SubnormalHalfSpacing(dt), eps32 = Tolerance.Epsilon<float>();
        long n = xDesc.TotalSteps;
        int steps = xDesc.MaxSeqLength;
        foreach (var (name, e) in expected)
        {
            bool weight = name.StartsWith("grad.", StringComparison.Ordinal);
            bool backward = weight || name is "dx" or "dhx" or "dcx";
            double rtol32 = Tolerance.Relative(rnn, steps, n, eps32, backward, weight);
            var c = Check16.Compare(name, actual[name], e, u, tiny, roundings: 1, rtol32);
            output?.WriteLine(c.ToString());
            if (!c.Passed) failures.Add(c.ToString());
        }
        Assert.True(failures.Count == 0, $"seed {seed} [{typeof(T16).Name}] {rnn} | {xDesc}: {string.Join("; ", failures)}");
    }
}

/// <summary>Random inputs of one parity case (as double), run on any engine and element type.</summary>
internal sealed record ParityData(Dictionary<string, double[]> W, Dictionary<string, double[]> Dw0, double[] X, double[] Dy,
    double[]? Hx, double[]? Dhy, double[]? Cx, double[]? Dcy)
{
    public static ParityData Draw(RnnDescriptor rnn, RnnDataDescriptor xDesc, int seed)
    {
        var rng = new Random(seed * 7919 + 17);
        var yDesc = xDesc.WithVectorSize(rnn.OutputSize);
        long hElems = (long)rnn.PseudoLayerCount * xDesc.Batch * rnn.StateSize;
        long cElems = rnn.Mode == RnnMode.Lstm ? (long)rnn.PseudoLayerCount * xDesc.Batch * rnn.HiddenSize : 0;
        bool lstm = rnn.Mode == RnnMode.Lstm;
        var names = RnnWeightLayout.Canonical(rnn).PyTorchParameters;
        return new ParityData(
            names.ToDictionary(p => p.Name, p => Uniform(rng, p.Count, 0.5)),
            names.ToDictionary(p => p.Name, p => Uniform(rng, p.Count, 0.1)),
            SequenceData(rng, xDesc), SequenceData(rng, yDesc),
            rng.Next(4) == 0 ? null : Uniform(rng, hElems, 1),
            rng.Next(4) == 0 ? null : Uniform(rng, hElems, 1),
            lstm && rng.Next(4) != 0 ? Uniform(rng, cElems, 1) : null,
            lstm && rng.Next(4) != 0 ? Uniform(rng, cElems, 1) : null);
    }

    /// <summary>One pass (inference first, two training forwards, backward data, backward weights Add onto dW0); every
    /// input is rounded to <typeparamref name="T16"/> before it becomes T (exactly).</summary>
    public Dictionary<string, double[]> Run<T, T16>(IRnnEngine engine, RnnDescriptor rnn, RnnDataDescriptor xDesc)
        where T : unmanaged, IFloatingPointIeee754<T> where T16 : unmanaged, IFloatingPointIeee754<T16>
    {
        T[] C(double[] a) => a.Select(v => double.IsNaN(v) ? T.NaN : T.CreateChecked(T16.CreateChecked(v))).ToArray();
        T[]? Co(double[]? a) => a is null ? null : C(a);
        Dictionary<string, T[]> Cd(Dictionary<string, double[]> d) => d.ToDictionary(kv => kv.Key, kv => C(kv.Value));
        return EngineParity.Run(engine, rnn, xDesc, Cd(W), Cd(Dw0), C(X), C(Dy), Co(Hx), Co(Dhy), Co(Cx), Co(Dcy));
    }

    private static double[] Uniform(Random rng, long count, double scale)
    {
        var a = new double[count];
        for (long i = 0; i < count; i++) a[i] = (2 * rng.NextDouble() - 1) * scale;
        return a;
    }

    private static double[] SequenceData(Random rng, RnnDataDescriptor desc)
    {
        var a = new double[desc.ElementCount];
        Array.Fill(a, double.NaN);
        for (int t = 0; t < desc.MaxSeqLength; t++)
            for (int b = 0; b < desc.Batch; b++)
            {
                long o = desc.Offset(t, b);
                if (o < 0) continue;
                for (int k = 0; k < desc.VectorSize; k++) a[o + k] = 2 * rng.NextDouble() - 1;
            }
        return a;
    }
}
