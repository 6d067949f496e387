using System.Numerics;
using CudnnRnn.Cpu;

namespace CudnnRnn.Tests;

/// <summary>Runs one forward-training + backward pass on the CPU engine and returns every output on the host.</summary>
internal sealed record Pass<T>(T[] Y, T[] Hy, T[] Cy, T[] Dx, T[] Dhx, T[] Dcx, T[] Dw) where T : unmanaged, IFloatingPointIeee754<T>
{
    public static Pass<T> Run(IRnnEngine engine, RnnDescriptor rnn, RnnDataDescriptor xDesc, T[] weights, T[] x, T[]? hx, T[]? cx,
        T[] dy, T[]? dhy, T[]? dcy, bool inferenceOnly = false)
    {
        using var plan = engine.CreatePlan<T>(rnn, xDesc);
        bool lstm = rnn.Mode == RnnMode.Lstm;
        RnnBuffer<T>? Up(T[]? a) => a is null ? null : engine.Upload<T>(a);
        using var bx = Up(x)!; using var bw = Up(weights)!; using var bhx = Up(hx); using var bcx = Up(cx);
        using var bdy = Up(dy)!; using var bdhy = Up(dhy); using var bdcy = Up(dcy);
        using var y = engine.Allocate<T>(plan.YDesc.ElementCount);
        using var hy = engine.Allocate<T>(plan.HiddenStateElements);
        using var cy = lstm ? engine.Allocate<T>(plan.CellStateElements) : null;
        using var dx = engine.Allocate<T>(xDesc.ElementCount);
        using var dhx = engine.Allocate<T>(plan.HiddenStateElements);
        using var dcx = lstm ? engine.Allocate<T>(plan.CellStateElements) : null;
        using var dw = engine.Allocate<T>(weights.Length);
        if (inferenceOnly)
        {
            plan.Forward(RnnForwardMode.Inference, bx, y, bhx, hy, bcx, cy, bw, null);
            return new Pass<T>(y.ToArray(), hy.ToArray(), cy?.ToArray() ?? [], [], [], [], []);
        }
        using var reserve = plan.CreateReserve();
        plan.Forward(RnnForwardMode.Training, bx, y, bhx, hy, bcx, cy, bw, reserve);
        plan.BackwardData(y, bdy, dx, bhx, bdhy, dhx, bcx, bdcy, dcx, bw, reserve);
        plan.BackwardWeights(WeightGradMode.Set, bx, bhx, y, dw, reserve);
        return new Pass<T>(y.ToArray(), hy.ToArray(), cy?.ToArray() ?? [], dx.ToArray(), dhx.ToArray(), dcx?.ToArray() ?? [], dw.ToArray());
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
