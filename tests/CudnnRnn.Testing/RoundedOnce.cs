using System.Numerics;

namespace CudnnRnn.Testing;

/// <summary>
/// The exact check of the 16-bit contract (16-bit storage, float arithmetic, each output rounded once): a 16-bit pass
/// against a float pass on the widened inputs, element by element, with no tolerance.
/// </summary>
public static class RoundedOnce
{
    /// <summary>
    /// Adds to <paramref name="failures"/> the first element of <paramref name="got"/> that is not
    /// <paramref name="round"/>(<paramref name="wide"/>[i]) (NaN matches NaN; the sign of a zero must match), or a length
    /// mismatch.
    /// </summary>
    public static void Check<T>(List<string> failures, string name, T[] got, float[] wide, Func<float, T> round)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (got.Length != wide.Length) { failures.Add($"{name}: {got.Length} elements, the float pass has {wide.Length}"); return; }
        for (int i = 0; i < got.Length; i++)
        {
            T want = round(wide[i]);
            bool equal = T.IsNaN(want) ? T.IsNaN(got[i]) : got[i] == want && T.IsNegative(got[i]) == T.IsNegative(want);
            if (!equal) { failures.Add($"{name}[{i}]: {got[i]} vs the float pass {wide[i]:R} rounded to {want}"); return; }
        }
    }

    /// <summary>Every output of the two passes (the inference outputs when the passes ran one first; dW unless excluded).</summary>
    public static List<string> Passes<T>(Pass<T> p16, Pass<float> p32, Func<float, T> round, bool includeDw = true)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var failures = new List<string>();
        Check(failures, "yInference", p16.YInference, p32.YInference, round);
        Check(failures, "hyInference", p16.HyInference, p32.HyInference, round);
        Check(failures, "y", p16.Y, p32.Y, round);
        Check(failures, "hy", p16.Hy, p32.Hy, round);
        Check(failures, "cy", p16.Cy, p32.Cy, round);
        Check(failures, "dx", p16.Dx, p32.Dx, round);
        Check(failures, "dhx", p16.Dhx, p32.Dhx, round);
        Check(failures, "dcx", p16.Dcx, p32.Dcx, round);
        if (includeDw) Check(failures, "dw", p16.Dw, p32.Dw, round);
        return failures;
    }
}
