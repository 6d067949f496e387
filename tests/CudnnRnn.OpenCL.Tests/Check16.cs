using CudnnRnn.Verification;

namespace CudnnRnn.OpenCL.Tests;

/// <summary>
/// The 16-bit comparison: an element passes when <c>|a − e| ≤ k·u·|e| + rtol32·(|e| + scale) + k·tiny</c>, with u the
/// storage type's unit roundoff (fp16 2⁻¹¹, bf16 2⁻⁸), rtol32 the float32 arithmetic bound of
/// <see cref="Tolerance.Relative"/> (machine epsilon 2⁻²³, dot length, depth), tiny half the smallest positive subnormal
/// of the storage type, and k the number of independent 16-bit roundings between the two sides. NaN never passes.
/// </summary>
internal sealed record Check16(string Name, double MaxAbs, double Scale, int WorstIndex, double WorstActual, double WorstExpected, bool Passed)
{
    public static Check16 Compare(string name, double[] actual, double[] expected, double u, double tiny, int roundings, double rtol32)
    {
        if (actual.Length != expected.Length) throw new ArgumentException($"'{name}': {actual.Length} values vs {expected.Length}.");
        double scale = expected.Length == 0 ? 0 : expected.Max(Math.Abs);
        double maxAbs = 0, worstMargin = double.NegativeInfinity;
        int worst = -1;
        bool passed = true;
        for (int i = 0; i < actual.Length; i++)
        {
            double err = Math.Abs(actual[i] - expected[i]);
            if (double.IsNaN(err)) err = double.PositiveInfinity;
            double e = Math.Abs(expected[i]);
            double tol = roundings * (u * e + tiny) + rtol32 * (e + scale);
            if (err > tol) passed = false;
            maxAbs = Math.Max(maxAbs, err);
            if (err - tol > worstMargin) { worstMargin = err - tol; worst = i; }
        }
        return new Check16(name, maxAbs, scale, worst, worst >= 0 ? actual[worst] : 0, worst >= 0 ? expected[worst] : 0, passed);
    }

    /// <summary>Worst error relative to the tensor's scale.</summary>
    public double RelativeToScale => Scale > 0 ? MaxAbs / Scale : MaxAbs;

    public override string ToString() =>
        $"{Name}: max|a-e| {MaxAbs:E2} (scale {Scale:E2}, rel {RelativeToScale:E2}){(Passed ? "" : $" FAILED at [{WorstIndex}]: {WorstActual:R} vs {WorstExpected:R}")}";
}
