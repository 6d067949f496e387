using System.Numerics;
using CudnnRnn.Cpu;
using CudnnRnn.Testing;
using CudnnRnn.Verification;
using Xunit;

namespace CudnnRnn.OpenCL.Tests;

/// <summary>
/// Every golden case in 16-bit storage on the OpenCL engine, in every layout. The inputs and weights are rounded to the
/// 16-bit type; the reference is the CPU engine in float64 on those rounded values, so what is measured is the engine's
/// own error: float32 arithmetic plus one rounding of each output to 16 bits. The total error against the original
/// float64 golden (input rounding included) is reported in the test output, not asserted (it depends on each network's
/// conditioning, which no bound here derives).
/// </summary>
public sealed class OpenCl16GoldenTests
{
    public static TheoryData<string, RnnDataLayout> GoldenCases() => EngineConformance.GoldenCases();

    [Theory]
    [MemberData(nameof(GoldenCases))]
    public void Golden_Float16(string file, RnnDataLayout layout) => AssertGolden<Half>(file, layout);

    [Theory]
    [MemberData(nameof(GoldenCases))]
    public void Golden_BFloat16(string file, RnnDataLayout layout) => AssertGolden<BFloat16>(file, layout);

    /// <summary>
    /// The checker rejects a result two 16-bit ulps away from the right one on the largest element of y (p00, where the
    /// float32 part of the tolerance is far below the storage rounding): the tolerance is tight at the storage's unit.
    /// </summary>
    [Fact]
    public void Checker_RejectsTwoUlpsOnOneElement_Float16() => AssertCheckerRejectsCorruption<Half>();

    /// <summary>As for Float16, with bfloat16's ulp.</summary>
    [Fact]
    public void Checker_RejectsTwoUlpsOnOneElement_BFloat16() => AssertCheckerRejectsCorruption<BFloat16>();

    internal static void AssertGolden<T16>(string file, RnnDataLayout layout) where T16 : unmanaged, IFloatingPointIeee754<T16>
    {
        var engine = SharedOpenCl.Require();
        var g = GoldenCase.Load(SharedData.Path("golden", file));
        var (checks, total) = Measure<T16>(engine, g, layout);
        var output = TestContext.Current.TestOutputHelper;
        foreach (var c in checks) output?.WriteLine($"vs rounded-input float64: {c}");
        foreach (var c in total) output?.WriteLine($"vs original golden (total): {c}");
        var failed = checks.Where(c => !c.Passed).ToList();
        Assert.True(failed.Count == 0, $"{file} [{typeof(T16).Name}, {layout}] on opencl: {string.Join("; ", failed)}");
    }

    /// <summary>The engine's 16-bit pass against the float64 pass of the rounded inputs (asserted) and against the
    /// original golden (reported).</summary>
    internal static (List<Check16> Checks, List<Check16> Total) Measure<T16>(IRnnEngine engine, GoldenCase g, RnnDataLayout layout,
        Action<Dictionary<string, double[]>>? corrupt = null)
        where T16 : unmanaged, IFloatingPointIeee754<T16>
    {
        var inputs = Golden16.RoundedInputs<T16>(g);
        using var cpu = CpuEngine.Create();
        var reference = Golden16.Run<double>(cpu, g, layout, inputs);
        var actual = Golden16.Run<T16>(engine, g, layout, inputs);
        corrupt?.Invoke(actual);
        double u = Storage16.UnitRoundoff<T16>(), tiny = Storage16.Tiny<T16>();
        var checks = new List<Check16>();
        var total = new List<Check16>();
        foreach (var (name, e) in reference)
        {
            // One rounding separates the two sides: the engine's float result rounded to 16 bits (the reference is exact
            // double on the same 16-bit inputs). Its float32 arithmetic adds rtol32 of Tolerance.Relative.
            double rtol32 = Rtol32(g, layout, name);
            checks.Add(Check16.Compare(name, actual[name], e, u, tiny, roundings: 1, rtol32));
            total.Add(Check16.Compare(name, actual[name], g.Get(name).Data, u, tiny, roundings: 1, rtol32));
        }
        return (checks, total);
    }

    /// <summary>Tolerance.Relative for float32 arithmetic on this case (the same k, K and depth as the float32 golden checks).</summary>
    internal static double Rtol32(GoldenCase g, RnnDataLayout layout, string tensor)
    {
        var io = new SequenceIo(g.SeqLengths, g.MaxSeqLength, layout);
        long n = io.Descriptor(g.Rnn.InputSize).TotalSteps;
        bool weight = tensor.StartsWith("grad.", StringComparison.Ordinal);
        bool backward = weight || tensor is "dx" or "dhx" or "dcx";
        return Tolerance.Relative(g.Rnn, g.MaxSeqLength, n, Tolerance.Epsilon<float>(), backward, weight);
    }

    internal static void AssertCheckerRejectsCorruption<T16>() where T16 : unmanaged, IFloatingPointIeee754<T16>
    {
        var engine = SharedOpenCl.Require();
        var g = GoldenCase.Load(SharedData.Path("golden", "p00_rnn_tanh_L1uni_fixed_bias.json"));
        double u = Storage16.UnitRoundoff<T16>();
        // The engine's value is within half an ulp (plus the float32 error) of the reference; moved two ulps it is at
        // least 1.5 ulps away, and one ulp of T16 at |v| is at least u·|v| (2u at the bottom of a binade, u at its top),
        // which beats the tolerance u·|e| + rtol32·(|e| + scale) = (u + 2·rtol32)·|e| at the largest |e| when rtol32 < u/4.
        Assert.True(Rtol32(g, RnnDataLayout.SeqMajorUnpacked, "y") < u / 4, "precondition: float32 part well below the storage rounding");
        var (clean, _) = Measure<T16>(engine, g, RnnDataLayout.SeqMajorUnpacked);
        Assert.All(clean, c => Assert.True(c.Passed, c.ToString()));
        var (bad, _) = Measure<T16>(engine, g, RnnDataLayout.SeqMajorUnpacked, actual =>
        {
            var y = actual["y"];
            int i = Array.IndexOf(y, y.MaxBy(Math.Abs));
            var v = T16.CreateChecked(y[i]);
            v = T16.IsNegative(v) ? T16.BitDecrement(T16.BitDecrement(v)) : T16.BitIncrement(T16.BitIncrement(v));
            y[i] = double.CreateChecked(v);
        });
        var yCheck = Assert.Single(bad, c => c.Name == "y");
        Assert.False(yCheck.Passed, $"a value two {typeof(T16).Name} ulps off passed: {yCheck}");
    }
}
