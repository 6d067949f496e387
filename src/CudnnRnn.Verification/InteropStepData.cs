namespace CudnnRnn.Verification;

/// <summary>
/// The data, buffers and the one training step (training forward, backward data, backward weights) that the CUDA interop
/// example and its GPU tests run twice — on engine-allocated buffers and on memory another library owns — to compare bitwise.
/// </summary>
public static class InteropStepData
{
    /// <summary>The host inputs of the step: x, hx, cx, the weights, dy, dhy, dcy, and the element count of y.</summary>
    /// <param name="X">Input sequence data.</param>
    /// <param name="Hx">Initial hidden state.</param>
    /// <param name="Cx">Initial cell state.</param>
    /// <param name="W">Weight space.</param>
    /// <param name="Dy">Gradient of the loss with respect to y.</param>
    /// <param name="Dhy">Gradient with respect to the final hidden state.</param>
    /// <param name="Dcy">Gradient with respect to the final cell state.</param>
    /// <param name="YElements">Elements of y.</param>
    public sealed record Host(float[] X, float[] Hx, float[] Cx, float[] W, float[] Dy, float[] Dhy, float[] Dcy, long YElements);

    /// <summary>Seeded uniform inputs in [−0.5, 0.5) for <paramref name="rnn"/> and <paramref name="xDesc"/> on <paramref name="engine"/>'s weight layout.</summary>
    public static Host Create(IRnnEngine engine, RnnDescriptor rnn, RnnDataDescriptor xDesc, ulong seed)
    {
        ArgumentNullException.ThrowIfNull(engine);
        ArgumentNullException.ThrowIfNull(rnn);
        ArgumentNullException.ThrowIfNull(xDesc);
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
        return new Host(x, Random(state), Random(cell), Random(engine.GetWeightLayout(rnn).TotalElements), dy, Random(state), Random(cell), y);
    }

    /// <summary>Every buffer of the step: the inputs and the outputs and gradients it writes.</summary>
    public sealed class Buffers : IDisposable
    {
        /// <summary>Inputs.</summary>
        public required RnnBuffer<float> X, Hx, Cx, W, Dy, Dhy, Dcy;
        /// <summary>Outputs and gradients.</summary>
        public required RnnBuffer<float> Y, Hy, Cy, Dx, Dhx, Dcx, Dw;

        /// <summary>Buffers that <paramref name="e"/> allocates, holding <paramref name="h"/>.</summary>
        public static Buffers Allocate(IRnnEngine e, Host h) => From(h, v => e.Upload<float>(v));

        /// <summary>Buffers made by <paramref name="make"/> (another library's memory, wrapped) holding <paramref name="h"/>.</summary>
        public static Buffers From(Host h, Func<float[], RnnBuffer<float>> make)
        {
            ArgumentNullException.ThrowIfNull(h);
            ArgumentNullException.ThrowIfNull(make);
            return new()
            {
                X = make(h.X), Hx = make(h.Hx), Cx = make(h.Cx), W = make(h.W), Dy = make(h.Dy), Dhy = make(h.Dhy), Dcy = make(h.Dcy),
                Y = make(new float[h.YElements]), Hy = make(new float[h.Hx.Length]), Cy = make(new float[h.Cx.Length]),
                Dx = make(new float[h.X.Length]), Dhx = make(new float[h.Hx.Length]), Dcx = make(new float[h.Cx.Length]), Dw = make(new float[h.W.Length]),
            };
        }

        /// <summary>The step's results by name (y, hy, cy, dx, dhx, dcx, dw), read back to the host.</summary>
        public Dictionary<string, float[]> ReadAll() => new()
        {
            ["y"] = Y.ToArray(), ["hy"] = Hy.ToArray(), ["cy"] = Cy.ToArray(), ["dx"] = Dx.ToArray(),
            ["dhx"] = Dhx.ToArray(), ["dcx"] = Dcx.ToArray(), ["dw"] = Dw.ToArray(),
        };

        /// <inheritdoc/>
        public void Dispose()
        {
            foreach (var b in new[] { X, Hx, Cx, W, Dy, Dhy, Dcy, Y, Hy, Cy, Dx, Dhx, Dcx, Dw }) b?.Dispose();
        }
    }

    /// <summary>Training forward, backward data, backward weights (Set) on <paramref name="plan"/>.</summary>
    public static void Step(RnnPlan<float> plan, RnnDataDescriptor xDesc, Buffers b)
    {
        ArgumentNullException.ThrowIfNull(plan);
        ArgumentNullException.ThrowIfNull(b);
        using var reserve = plan.CreateReserve();
        plan.Forward(RnnForwardMode.Training, xDesc, b.X, b.Y, b.Hx, b.Hy, b.Cx, b.Cy, b.W, reserve);
        plan.BackwardData(xDesc, b.Y, b.Dy, b.Dx, b.Hx, b.Dhy, b.Dhx, b.Cx, b.Dcy, b.Dcx, b.W, reserve);
        plan.BackwardWeights(WeightGradMode.Set, xDesc, b.X, b.Hx, b.Y, b.Dw, reserve);
    }

    /// <summary>How many elements differ in their bits (a length mismatch counts every missing element).</summary>
    public static int BitwiseDifferences(float[] a, float[] b)
    {
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(b);
        int n = Math.Abs(a.Length - b.Length);
        for (int i = 0; i < Math.Min(a.Length, b.Length); i++)
            if (BitConverter.SingleToInt32Bits(a[i]) != BitConverter.SingleToInt32Bits(b[i])) n++;
        return n;
    }
}
