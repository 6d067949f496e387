using Xunit;

namespace CudnnRnn.Testing;

/// <summary>
/// The layer on memory the engine did not allocate, written once and run per engine: every kind of outside memory the
/// engine can wrap gives the same forward and backward as engine-allocated buffers, bitwise; two forwards in flight with
/// their backwards in reverse order equal two separate runs, bitwise; a context refuses a second backward, a backward
/// after a weight change and after dispose. A derived class supplies the engine and the kinds of outside memory; an
/// engine that cannot run here makes every test skip with the reason (never pass).
/// </summary>
public abstract class LayerInterop
{
    /// <summary>Creates the engine, or returns null with the reason it is unavailable here.</summary>
    protected abstract IRnnEngine? TryCreateEngine(out string reason);

    /// <summary>The kinds of outside memory this engine wraps (e.g. "array", "memory", "pointer", "cl_mem").</summary>
    protected abstract IReadOnlyList<string> WrapKinds { get; }

    /// <summary>
    /// Creates outside memory of <paramref name="kind"/> holding <paramref name="contents"/> (made without the engine's
    /// Allocate) and returns the engine's zero-copy view of it; whatever must outlive the view goes in
    /// <paramref name="owners"/>, disposed after the views.
    /// </summary>
    protected abstract RnnBuffer<float> WrapOutside(IRnnEngine engine, string kind, float[] contents, List<IDisposable> owners);

    private static readonly RnnDescriptor Lstm = new(RnnMode.Lstm, 6, 8, 2, RnnDirection.Bidirectional, dataType: RnnDataType.Float32);
    private static readonly RnnDataDescriptor XDesc = new(RnnDataLayout.SeqMajorUnpacked, 5, 3, 6, [5, 2, 4]);

    private IRnnEngine Engine()
    {
        var e = TryCreateEngine(out string reason);
        if (e is null) Assert.Skip(reason);
        return e;
    }

    private static float[] Uniform(int seed, long n)
    {
        var r = new Random(seed);
        var a = new float[n];
        for (long i = 0; i < n; i++) a[i] = (float)(r.NextDouble() * 2 - 1);
        return a;
    }

    /// <summary>Every result of one forward + backward: y, hy, cy, dx, dhx, dcx, dw.</summary>
    private sealed record Results(float[] Y, float[] Hy, float[] Cy, float[] Dx, float[] Dhx, float[] Dcx, float[] Dw);

    private static Results Step(RnnLayer<float> layer, Func<float[], RnnBuffer<float>> make)
    {
        long y = XDesc.WithVectorSize(Lstm.OutputSize).ElementCount;
        long h = (long)Lstm.PseudoLayerCount * XDesc.Batch * Lstm.StateSize, c = (long)Lstm.PseudoLayerCount * XDesc.Batch * Lstm.HiddenSize;
        using var x = make(Uniform(1, XDesc.ElementCount));
        using var hx = make(Uniform(2, h));
        using var cx = make(Uniform(3, c));
        using var dy = make(Uniform(4, y));
        using var dhy = make(Uniform(5, h));
        using var dcy = make(Uniform(6, c));
        using var dx = make(new float[XDesc.ElementCount]);
        using var dhx = make(new float[h]);
        using var dcx = make(new float[c]);
        layer.ZeroGrad();
        using var context = layer.Forward(XDesc, x, hx, cx);
        layer.Backward(context, dy, dhy, dcy, dx, dhx, dcx);
        return new Results(context.Y.ToArray(), context.Hy.ToArray(), context.Cy!.ToArray(), dx.ToArray(), dhx.ToArray(), dcx.ToArray(),
            layer.WeightGradients.ToArray());
    }

    /// <summary>Outside memory of every kind == engine-allocated memory, bitwise, for every result of a training step.</summary>
    [Fact]
    public void WrappedMemory_EqualsEngineMemory_Bitwise()
    {
        using var engine = Engine();
        using var layer = new RnnLayer<float>(engine, Lstm, seed: 11);
        var expected = Step(layer, data => engine.Upload<float>(data));
        Assert.Contains(expected.Dw, v => v != 0);   // a step that computed nothing would match trivially
        foreach (string kind in WrapKinds)
        {
            var owners = new List<IDisposable>();
            try
            {
                var got = Step(layer, data => WrapOutside(engine, kind, data, owners));
                AssertBitwise(expected, got, kind);
            }
            finally
            {
                foreach (var o in owners) o.Dispose();
            }
        }
    }

    private static void AssertBitwise(Results a, Results b, string kind)
    {
        void Same(float[] x, float[] y, string what)
        {
            Assert.True(x.Length == y.Length, $"{kind}: {what} has {y.Length} elements, expected {x.Length}");
            for (int i = 0; i < x.Length; i++)
                if (BitConverter.SingleToInt32Bits(x[i]) != BitConverter.SingleToInt32Bits(y[i]))
                    Assert.Fail($"{kind}: {what}[{i}] = {y[i]:R}, engine memory gives {x[i]:R} (bitwise comparison)");
        }
        Same(a.Y, b.Y, "y"); Same(a.Hy, b.Hy, "hy"); Same(a.Cy, b.Cy, "cy");
        Same(a.Dx, b.Dx, "dx"); Same(a.Dhx, b.Dhx, "dhx"); Same(a.Dcx, b.Dcx, "dcx"); Same(a.Dw, b.Dw, "dw");
    }

    /// <summary>The checker above fails when one bit of one result differs (it is not vacuous).</summary>
    [Fact]
    public void TheBitwiseCheckerRejectsOneFlippedBit()
    {
        var r = new Results([1f, 2f], [3f], [4f], [5f], [6f], [7f], [8f, 9f]);
        var dw = (float[])r.Dw.Clone();
        dw[1] = BitConverter.Int32BitsToSingle(BitConverter.SingleToInt32Bits(dw[1]) ^ 1);
        Assert.ThrowsAny<Exception>(() => AssertBitwise(r, r with { Dw = dw }, "test"));
        AssertBitwise(r, r with { Dw = (float[])r.Dw.Clone() }, "test");
    }

    /// <summary>Forward 1, forward 2, backward 2, backward 1 on engine buffers == each forward followed by its backward.</summary>
    [Fact]
    public void TwoForwardsInFlight_BackwardInReverseOrder_EqualsTwoSeparateRuns_Bitwise()
    {
        using var engine = Engine();
        var yDesc = XDesc.WithVectorSize(Lstm.OutputSize);
        using var x1 = engine.Upload<float>(Uniform(1, XDesc.ElementCount));
        using var x2 = engine.Upload<float>(Uniform(2, XDesc.ElementCount));
        using var dy1 = engine.Upload<float>(Uniform(3, yDesc.ElementCount));
        using var dy2 = engine.Upload<float>(Uniform(4, yDesc.ElementCount));
        using var dxA1 = engine.Allocate<float>(XDesc.ElementCount);
        using var dxA2 = engine.Allocate<float>(XDesc.ElementCount);
        using var dxB1 = engine.Allocate<float>(XDesc.ElementCount);
        using var dxB2 = engine.Allocate<float>(XDesc.ElementCount);

        using var a = new RnnLayer<float>(engine, Lstm, seed: 5);
        using var c1 = a.Forward(XDesc, x1);
        using var c2 = a.Forward(XDesc, x2);
        a.Backward(c2, dy2, dx: dxA2);
        a.Backward(c1, dy1, dx: dxA1);

        using var b = new RnnLayer<float>(engine, Lstm, seed: 5);
        float[] y2, y1;
        using (var c = b.Forward(XDesc, x2)) { y2 = c.Y.ToArray(); b.Backward(c, dy2, dx: dxB2); }
        using (var c = b.Forward(XDesc, x1)) { y1 = c.Y.ToArray(); b.Backward(c, dy1, dx: dxB1); }

        Assert.Equal(y1, c1.Y.ToArray());
        Assert.Equal(y2, c2.Y.ToArray());
        Assert.Equal(dxB1.ToArray(), dxA1.ToArray());
        Assert.Equal(dxB2.ToArray(), dxA2.ToArray());
        Assert.Equal(b.WeightGradients.ToArray(), a.WeightGradients.ToArray());
        Assert.NotEqual(y1, y2);                         // a context that used the other forward's state would not match
        Assert.NotEqual(dxA1.ToArray(), dxA2.ToArray());
    }

    /// <summary>Backward twice, after a weight change and after dispose are refused, with engine buffers.</summary>
    [Fact]
    public void BackwardTwice_AfterWeightChange_AfterDispose_AreRefused()
    {
        using var engine = Engine();
        using var layer = new RnnLayer<float>(engine, Lstm, seed: 5);
        using var x = engine.Upload<float>(Uniform(1, XDesc.ElementCount));
        using var dy = engine.Upload<float>(Uniform(3, XDesc.WithVectorSize(Lstm.OutputSize).ElementCount));

        var c = layer.Forward(XDesc, x);
        layer.Backward(c, dy);
        Assert.Contains("already been backpropagated", Assert.Throws<InvalidOperationException>(() => layer.Backward(c, dy)).Message);
        c.Dispose();
        Assert.Throws<ObjectDisposedException>(() => layer.Backward(c, dy));

        using var d = layer.Forward(XDesc, x);
        layer.Weights.Write(0, [0.25f]);
        Assert.Contains("weights changed", Assert.Throws<InvalidOperationException>(() => layer.Backward(d, dy)).Message);
    }
}
