using System.Numerics;

namespace CudnnRnn.Verification;

/// <summary>
/// Tolerances derived from the numerics, never tuned to pass (../shared/STYLE.md §13):
/// an element passes when <c>|a − e| ≤ rtol·(|e| + scale)</c>, where scale is the largest |e| of the tensor (errors in a
/// recurrent network are relative to the magnitude of the terms summed, which the tensor's scale bounds) and
/// <c>rtol = k · ε · ⌈log2 K⌉ · depth</c>: ε the machine epsilon of the compute type, K the longest accumulation (dot
/// product length, or rows summed into a weight gradient), depth = steps × layers through which rounding compounds,
/// k = 4 for forward values and 8 (doubled) for gradients.
/// </summary>
public static class Tolerance
{
    /// <summary>Machine epsilon (1 ulp at 1.0) — not <c>float.Epsilon</c>, which is the smallest subnormal.</summary>
    public static double Epsilon<T>() where T : IFloatingPointIeee754<T> => double.CreateChecked(T.BitIncrement(T.One) - T.One);

    /// <summary>Relative tolerance for a network and data shape.</summary>
    /// <param name="rnn">The network.</param>
    /// <param name="maxSeqLength">Steps.</param>
    /// <param name="totalSteps">Valid (t, b) vectors (rows summed into weight gradients).</param>
    /// <param name="epsilon">Machine epsilon of the compute type.</param>
    /// <param name="backward">Gradients (k doubled) or forward values.</param>
    /// <param name="weightGradient">A weight gradient: K includes the rows summed.</param>
    public static double Relative(RnnDescriptor rnn, int maxSeqLength, long totalSteps, double epsilon, bool backward, bool weightGradient = false)
    {
        long dot = (long)Math.Max(rnn.InputSize, rnn.OutputSize) + rnn.StateSize + (long)rnn.Gates * rnn.HiddenSize + 2;
        long k = weightGradient ? Math.Max(dot, totalSteps) : dot;
        double log2 = Math.Ceiling(Math.Log2(Math.Max(2, k)));
        double depth = (double)maxSeqLength * rnn.NumLayers;
        return (backward ? 8 : 4) * epsilon * log2 * depth;
    }
}

/// <summary>How one tensor compared: worst absolute error, the tensor's scale, the tolerance and where it was worst.</summary>
public sealed record TensorComparison(string Name, string Group, double MaxAbs, double Scale, double Rtol, int WorstIndex,
    double WorstActual, double WorstExpected, bool Passed)
{
    /// <summary>Worst error relative to the scale (max |a−e| / max |e|).</summary>
    public double RelativeToScale => Scale > 0 ? MaxAbs / Scale : MaxAbs;

    /// <summary>
    /// Compares <paramref name="actual"/> with <paramref name="expected"/> under <c>|a−e| ≤ rtol·(|e| + scale) + atol</c>
    /// (<paramref name="atol"/>: an absolute floor, e.g. half the subnormal spacing of a 16-bit storage type); NaN and
    /// infinite errors never pass.
    /// </summary>
    public static TensorComparison Compare(string name, string group, ReadOnlySpan<double> actual, ReadOnlySpan<double> expected, double rtol, double atol = 0)
    {
        if (actual.Length != expected.Length)
            throw new ArgumentException($"'{name}': {actual.Length} values to compare with {expected.Length}.", nameof(actual));
        double scale = 0;
        foreach (double e in expected) scale = Math.Max(scale, Math.Abs(e));
        double maxAbs = 0, worstMargin = double.NegativeInfinity;
        int worst = -1;
        bool passed = true;
        for (int i = 0; i < actual.Length; i++)
        {
            double err = Math.Abs(actual[i] - expected[i]);
            double tol = rtol * (Math.Abs(expected[i]) + scale) + atol;
            if (double.IsNaN(err)) err = double.PositiveInfinity;
            if (err > tol) passed = false;
            maxAbs = Math.Max(maxAbs, err);
            double margin = err - tol;
            if (margin > worstMargin) { worstMargin = margin; worst = i; }
        }
        return new TensorComparison(name, group, maxAbs, scale, rtol, worst,
            worst >= 0 ? actual[worst] : 0, worst >= 0 ? expected[worst] : 0, passed);
    }

    /// <inheritdoc/>
    public override string ToString() =>
        $"{Name}: max|a-e| {MaxAbs:E2} (scale {Scale:E2}, rel {RelativeToScale:E2}, rtol {Rtol:E1}){(Passed ? "" : $" FAILED at [{WorstIndex}]: {WorstActual:R} vs {WorstExpected:R}")}";
}
