using System.Numerics;
using CudnnRnn.Cpu;

namespace CudnnRnn.Verification;

/// <summary>The result of one golden case in a 16-bit storage type on one engine.</summary>
/// <param name="Case">Case name.</param><param name="Engine">Engine name.</param><param name="DataType">Float16 or BFloat16.</param>
/// <param name="Layout">Data layout.</param>
/// <param name="VsRounded">Against the float64 CPU result of the inputs rounded to the 16-bit type: the engine's arithmetic
/// and output rounding alone, under the derived tolerance of <see cref="HalfPrecision.Tolerances"/>. This is what passes or fails.</param>
/// <param name="VsGolden">Against the original float64 golden: the total error, input rounding included. Reported;
/// "Passed" there means within the as-if-16-bit-arithmetic bound (<see cref="HalfPrecision.TotalErrorTolerances"/>).</param>
public sealed record Golden16Result(string Case, string Engine, RnnDataType DataType, RnnDataLayout Layout,
    IReadOnlyList<TensorComparison> VsRounded, IReadOnlyList<TensorComparison> VsGolden)
{
    /// <summary>True when every tensor is within the derived tolerance against the rounded-input reference.</summary>
    public bool Passed => VsRounded.All(t => t.Passed);

    /// <summary>Worst relative-to-scale error per tensor group (y, hy, cy, dx, dhx, dcx, dw) of a list.</summary>
    public static IEnumerable<TensorComparison> WorstPerGroup(IEnumerable<TensorComparison> list) =>
        list.GroupBy(t => t.Group).Select(g => g.OrderByDescending(t => t.Passed ? 0 : 1).ThenByDescending(t => t.RelativeToScale).First());
}

/// <summary>Per-group tolerances: relative (times |e| + the tensor's scale) and an absolute floor.</summary>
/// <param name="Forward">y, hy, cy.</param><param name="Backward">dx, dhx, dcx.</param><param name="Weights">dw.</param>
/// <param name="Absolute">Absolute floor for every element.</param>
public readonly record struct GroupTolerances(double Forward, double Backward, double Weights, double Absolute)
{
    /// <summary>The relative tolerance of a tensor by name (grad.* → Weights; y/hy/cy and their inference twins → Forward).</summary>
    public double For(string name) => name.StartsWith("grad.", StringComparison.Ordinal) ? Weights
        : name is "y" or "hy" or "cy" or "yInference" or "hyInference" ? Forward : Backward;
}

/// <summary>
/// 16-bit storage (Float16, BFloat16) verification shared by every engine and the CLI: golden cases with inputs and weights
/// rounded from the float64 values, tolerances derived from the storage unit roundoff and the float32 accumulation bound.
/// </summary>
public static class HalfPrecision
{
    /// <summary>Unit roundoff of the storage type (half an ulp at 1): fp16 2^−11, bf16 2^−8, float 2^−24, double 2^−53.</summary>
    public static double UnitRoundoff(RnnDataType dataType) => dataType switch
    {
        RnnDataType.Float16 => Math.Pow(2, -11),
        RnnDataType.BFloat16 => Math.Pow(2, -8),
        RnnDataType.Float32 => Math.Pow(2, -24),
        RnnDataType.Float64 => Math.Pow(2, -53),
        _ => throw new ArgumentOutOfRangeException(nameof(dataType), dataType, "Expected Float16, BFloat16, Float32 or Float64."),
    };

    /// <summary>
    /// Largest rounding error below the normal range: half the subnormal spacing (fp16 2^−25, bf16 2^−134); there the
    /// error is absolute, not relative to the value.
    /// </summary>
    public static double SubnormalHalfSpacing(RnnDataType dataType) => dataType switch
    {
        RnnDataType.Float16 => Math.Pow(2, -25),
        RnnDataType.BFloat16 => Math.Pow(2, -134),
        _ => 0,
    };

    /// <summary>
    /// Tolerances of a 16-bit result against the float64 result of the same (rounded) inputs.
    /// </summary>
    /// <param name="rnn">The network.</param><param name="maxSeqLength">Steps.</param><param name="totalSteps">Valid vectors.</param>
    /// <param name="dataType">Float16 or BFloat16.</param>
    /// <param name="intermediateRounding">False: the engine computes in float and rounds only the outputs (the CPU
    /// engine's contract). True: it also stores intermediates (layer outputs, states between steps) in 16 bits.</param>
    public static GroupTolerances Tolerances(RnnDescriptor rnn, int maxSeqLength, long totalSteps, RnnDataType dataType, bool intermediateRounding = false)
    {
        ArgumentNullException.ThrowIfNull(rnn);
        double u = UnitRoundoff(dataType), atol = SubnormalHalfSpacing(dataType);
        if (intermediateRounding)
        {
            // Every stored intermediate is rounded to 16 bits, so rounding compounds through steps and layers exactly as
            // Tolerance models for a whole computation in one precision: its formula with the 16-bit machine epsilon 2u.
            // (It dominates the float32 accumulation and the final rounding, which are added for completeness.)
            double f32 = Tolerance.Epsilon<float>();
            return new(Tolerance.Relative(rnn, maxSeqLength, totalSteps, 2 * u, backward: false) + Tolerance.Relative(rnn, maxSeqLength, totalSteps, f32, backward: false) + u,
                Tolerance.Relative(rnn, maxSeqLength, totalSteps, 2 * u, backward: true) + Tolerance.Relative(rnn, maxSeqLength, totalSteps, f32, backward: true) + u,
                Tolerance.Relative(rnn, maxSeqLength, totalSteps, 2 * u, backward: true, weightGradient: true)
                    + Tolerance.Relative(rnn, maxSeqLength, totalSteps, f32, backward: true, weightGradient: true) + u,
                atol);
        }
        // Float arithmetic then one rounding of each output: a = round16(f), f the float32 result. The float32 error
        // |f − e| ≤ r32·(|e| + scale), r32 = Tolerance.Relative with float's epsilon (k·ε32·⌈log2 K⌉·depth: ε32 = 2·u32,
        // K the longest accumulation — dot products, rows summed into dw — depth = steps × layers; the bound the float32
        // golden tests use). The final rounding adds u16·|f| ≤ u16·(1 + 2·r32)·(|e| + scale) in the normal range, or at most
        // half the subnormal spacing below it (the absolute floor). dw in Add mode sums old and new in float and rounds
        // once, the same single rounding.
        double Bound(double r32) => r32 + u * (1 + 2 * r32);
        double eps32 = Tolerance.Epsilon<float>();
        return new(Bound(Tolerance.Relative(rnn, maxSeqLength, totalSteps, eps32, backward: false)),
            Bound(Tolerance.Relative(rnn, maxSeqLength, totalSteps, eps32, backward: true)),
            Bound(Tolerance.Relative(rnn, maxSeqLength, totalSteps, eps32, backward: true, weightGradient: true)),
            atol);
    }

    /// <summary>
    /// Tolerances of one engine's 16-bit result against another's (e.g. the CPU 16-bit reference): both are a float
    /// computation (differing by at most twice the float32 bound, as EngineParity derives for float) rounded once each,
    /// so the difference is at most 2·u16·(1 + 2·r) + r with r = 2·r32, plus two absolute floors.
    /// </summary>
    public static GroupTolerances ParityTolerances(RnnDescriptor rnn, int maxSeqLength, long totalSteps, RnnDataType dataType, bool intermediateRounding = false)
    {
        ArgumentNullException.ThrowIfNull(rnn);
        double u = UnitRoundoff(dataType), atol = 2 * SubnormalHalfSpacing(dataType);
        if (intermediateRounding)
        {
            var one = Tolerances(rnn, maxSeqLength, totalSteps, dataType, intermediateRounding: true);
            return new(2 * one.Forward, 2 * one.Backward, 2 * one.Weights, atol); // each side within one bound of the exact result
        }
        double eps32 = Tolerance.Epsilon<float>();
        double Bound(double r32) => 2 * r32 + 2 * u * (1 + 4 * r32);
        return new(Bound(Tolerance.Relative(rnn, maxSeqLength, totalSteps, eps32, backward: false)),
            Bound(Tolerance.Relative(rnn, maxSeqLength, totalSteps, eps32, backward: true)),
            Bound(Tolerance.Relative(rnn, maxSeqLength, totalSteps, eps32, backward: true, weightGradient: true)),
            atol);
    }

    /// <summary>
    /// The bound reported (not required) for the total error against the original golden: Tolerance's formula as if
    /// every operation were done in the 16-bit type (machine epsilon 2u), which also covers the input rounding
    /// (one rounding per input, propagated like one more operation per step).
    /// </summary>
    public static GroupTolerances TotalErrorTolerances(RnnDescriptor rnn, int maxSeqLength, long totalSteps, RnnDataType dataType) =>
        Tolerances(rnn, maxSeqLength, totalSteps, dataType, intermediateRounding: true);

    /// <summary>Rounds a float64 value to <typeparamref name="T"/> and back (exact back).</summary>
    public static double RoundThrough<T>(double value) where T : unmanaged, IFloatingPointIeee754<T> => double.CreateChecked(T.CreateChecked(value));

    /// <summary>
    /// Runs <paramref name="golden"/> on <paramref name="engine"/> in <typeparamref name="T"/> (Half or BFloat16): inputs
    /// and weights rounded from the float64 values; compares with the CPU float64 engine on the same rounded inputs
    /// (derived tolerance) and with the original golden (reported).
    /// </summary>
    /// <param name="engine">The engine under test.</param><param name="golden">The case.</param><param name="layout">Data layout.</param>
    /// <param name="intermediateRounding">The engine stores intermediates in 16 bits (see <see cref="Tolerances"/>).</param>
    /// <param name="alterActual">Tests only: changes an output (by name) before it is compared, to show that the check
    /// rejects a wrong value. Null in every real use.</param>
    public static Golden16Result RunGolden<T>(IRnnEngine engine, GoldenCase golden, RnnDataLayout layout = RnnDataLayout.SeqMajorUnpacked,
        bool intermediateRounding = false, Action<string, double[]>? alterActual = null) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(engine);
        ArgumentNullException.ThrowIfNull(golden);
        var dt = RnnDescriptor.DataTypeOf<T>();
        if (dt is not (RnnDataType.Float16 or RnnDataType.BFloat16))
            throw new ArgumentException($"{typeof(T).Name} is not a 16-bit storage type; use GoldenVerifier.Run for float and double.", nameof(golden));
        var rounded = golden.WithRoundedInputs(RoundThrough<T>);
        var io = new SequenceIo(golden.SeqLengths, golden.MaxSeqLength, layout);
        var rnn16 = golden.Rnn.WithDataType(dt);
        var xDesc = io.Descriptor(golden.Rnn.InputSize);
        var actual = GoldenVerifier.RunNetwork<T>(engine, rnn16, xDesc, io, rounded);
        List<(string, double[])> reference;
        using (var cpu = CpuEngine.Create())
            reference = GoldenVerifier.RunNetwork<double>(cpu, golden.Rnn.WithDataType(RnnDataType.Float64), xDesc, io, rounded);

        long n = xDesc.TotalSteps;
        var tol = Tolerances(rnn16, golden.MaxSeqLength, n, dt, intermediateRounding);
        var total = TotalErrorTolerances(rnn16, golden.MaxSeqLength, n, dt);
        var vsRounded = new List<TensorComparison>();
        var vsGolden = new List<TensorComparison>();
        var refByName = reference.ToDictionary(r => r.Item1, r => r.Item2);
        foreach (var (name, values) in actual)
        {
            alterActual?.Invoke(name, values);
            string group = name.StartsWith("grad.", StringComparison.Ordinal) ? "dw" : name;
            vsRounded.Add(TensorComparison.Compare(name, group, values, refByName[name], tol.For(name), tol.Absolute));
            vsGolden.Add(TensorComparison.Compare(name, group, values, golden.Get(name).Data, total.For(name), total.Absolute));
        }
        return new Golden16Result(golden.Name, engine.Name, dt, layout, vsRounded, vsGolden);
    }
}
