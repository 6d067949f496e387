using System.Numerics;
using CudnnRnn.Cpu;
using CudnnRnn.Verification;

namespace CudnnRnn.Tests;

/// <summary>Runs one forward-training + backward pass on the CPU engine and returns every output on the host.</summary>
internal sealed record Pass<T>(T[] Y, T[] Hy, T[] Cy, T[] Dx, T[] Dhx, T[] Dcx, T[] Dw) where T : unmanaged, IFloatingPointIeee754<T>
{
    public static Pass<T> Run(IRnnEngine engine, RnnDescriptor rnn, RnnDataDescriptor xDesc, T[] weights, T[] x, T[]? hx, T[]? cx,
        T[] dy, T[]? dhy, T[]? dcy, bool inferenceOnly = false)
    {
        using var plan = engine.CreatePlan<T>(rnn, xDesc);
        using var p = new PassBuffers<T>(plan, x, weights, hx, cx, dy, dhy, dcy);
        if (inferenceOnly)
        {
            p.RunInference();
            return new Pass<T>(p.Y.ToArray(), p.Hy.ToArray(), p.Cy?.ToArray() ?? [], [], [], [], []);
        }
        p.RunTraining(WeightGradMode.Set);
        return new Pass<T>(p.Y.ToArray(), p.Hy.ToArray(), p.Cy?.ToArray() ?? [], p.Dx.ToArray(), p.Dhx.ToArray(), p.Dcx?.ToArray() ?? [], p.Dw.ToArray());
    }
}

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
