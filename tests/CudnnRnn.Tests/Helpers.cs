global using CudnnRnn.Testing;
using System.Numerics;

namespace CudnnRnn.Tests;

internal static class Rand
{
    /// <summary>Seeded uniform values in [-1, 1].</summary>
    public static double[] Uniform(int seed, long n, double scale = 1)
    {
        var r = new Random(seed);
        var a = new double[n];
        for (long i = 0; i < n; i++) a[i] = (2 * r.NextDouble() - 1) * scale;
        return a;
    }

    /// <summary>Seeded random data in the valid positions of a layout; padding is NaN (a read of padding poisons results).</summary>
    public static double[] Data(int seed, RnnDataDescriptor d, double padding = double.NaN)
    {
        var r = new Random(seed);
        var a = new double[d.ElementCount];
        Array.Fill(a, padding);
        for (int t = 0; t < d.MaxSeqLength; t++)
            for (int b = 0; b < d.Batch; b++)
            {
                long o = d.Offset(t, b);
                if (o >= 0) for (int k = 0; k < d.VectorSize; k++) a[o + k] = 2 * r.NextDouble() - 1;
            }
        return a;
    }

    public static double[] Weights(int seed, RnnDescriptor rnn) =>
        Uniform(seed, RnnWeightLayout.Canonical(rnn).TotalElements, 1 / Math.Sqrt(rnn.HiddenSize));
}
