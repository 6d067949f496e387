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
        var data = ParityInputs.Draw(rnn, xDesc, seed);

        using var cpu = CpuEngine.Create();
        // Every input rounded to T16 first, so the float64 reference and the 16-bit engine see the same numbers.
        var expected = data.Run(cpu, rnn.WithDataType(RnnDataType.Float64), xDesc, v => double.CreateChecked(T16.CreateChecked(v)));
        var actual = data.Run(engine, rnn, xDesc, T16.CreateChecked);
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
