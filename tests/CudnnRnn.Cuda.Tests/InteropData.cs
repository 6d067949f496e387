// A copy of the CLI interop example's helper (src/CudnnRnn.Cli/Examples/InteropExample.Cuda.cs): the test project does
// not reference the CLI executable.
using CudnnRnn.Cuda;

namespace CudnnRnn.Cuda.Tests;

/// <summary>The data, buffers and the one training step the CUDA interop example runs on two sets of buffers.</summary>
internal static class CudaInteropData
{
    internal sealed record Host(float[] X, float[] Hx, float[] Cx, float[] W, float[] Dy, float[] Dhy, float[] Dcy, long YElements);

    public static Host Create(CudaEngine engine, RnnDescriptor rnn, RnnDataDescriptor xDesc, ulong seed)
    {
        var random = new SeededRandom(seed);
        float[] Random(long n)
        {
            var a = new float[n];
            random.FillUniform<float>(a, 0.5);
            return a;
        }
        long state = (long)rnn.PseudoLayerCount * xDesc.Batch * rnn.StateSize;
        long cell = (long)rnn.PseudoLayerCount * xDesc.Batch * rnn.HiddenSize;
        long y = xDesc.WithVectorSize(rnn.OutputSize).ElementCount;
        var x = Random(xDesc.ElementCount);
        var dy = Random(y);
        // Padded positions hold zeros in x and dy, as an unpacked batch does.
        return new Host(x, Random(state), Random(cell), Random(engine.GetWeightLayout(rnn).TotalElements), dy, Random(state), Random(cell), y);
    }

    internal sealed class Buffers : IDisposable
    {
        public required RnnBuffer<float> X, Hx, Cx, W, Dy, Dhy, Dcy, Y, Hy, Cy, Dx, Dhx, Dcx, Dw;

        public static Buffers Allocate(IRnnEngine e, Host h) => From(h, v => e.Upload<float>(v));

        public static Buffers From(Host h, Func<float[], RnnBuffer<float>> make) => new()
        {
            X = make(h.X), Hx = make(h.Hx), Cx = make(h.Cx), W = make(h.W), Dy = make(h.Dy), Dhy = make(h.Dhy), Dcy = make(h.Dcy),
            Y = make(new float[h.YElements]), Hy = make(new float[h.Hx.Length]), Cy = make(new float[h.Cx.Length]),
            Dx = make(new float[h.X.Length]), Dhx = make(new float[h.Hx.Length]), Dcx = make(new float[h.Cx.Length]), Dw = make(new float[h.W.Length]),
        };

        public Dictionary<string, float[]> ReadAll() => new()
        {
            ["y"] = Y.ToArray(), ["hy"] = Hy.ToArray(), ["cy"] = Cy.ToArray(), ["dx"] = Dx.ToArray(),
            ["dhx"] = Dhx.ToArray(), ["dcx"] = Dcx.ToArray(), ["dw"] = Dw.ToArray(),
        };

        public void Dispose()
        {
            foreach (var b in new[] { X, Hx, Cx, W, Dy, Dhy, Dcy, Y, Hy, Cy, Dx, Dhx, Dcx, Dw }) b.Dispose();
        }
    }

    /// <summary>Training forward, backward data, backward weights (Set) on <paramref name="plan"/>.</summary>
    public static void Step(RnnPlan<float> plan, RnnDataDescriptor xDesc, Buffers b)
    {
        using var reserve = plan.CreateReserve();
        plan.Forward(RnnForwardMode.Training, xDesc, b.X, b.Y, b.Hx, b.Hy, b.Cx, b.Cy, b.W, reserve);
        plan.BackwardData(xDesc, b.Y, b.Dy, b.Dx, b.Hx, b.Dhy, b.Dhx, b.Cx, b.Dcy, b.Dcx, b.W, reserve);
        plan.BackwardWeights(WeightGradMode.Set, xDesc, b.X, b.Hx, b.Y, b.Dw, reserve);
    }

    /// <summary>How many elements differ in their bits (a length mismatch counts every missing element).</summary>
    public static int BitwiseDifferences(float[] a, float[] b)
    {
        int n = Math.Abs(a.Length - b.Length);
        for (int i = 0; i < Math.Min(a.Length, b.Length); i++)
            if (BitConverter.SingleToInt32Bits(a[i]) != BitConverter.SingleToInt32Bits(b[i])) n++;
        return n;
    }
}
