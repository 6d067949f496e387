using CudnnRnn.Cpu;
using Xunit;

namespace CudnnRnn.Tests;

/// <summary>
/// <see cref="RnnLayer{T}"/> forward contexts: several forwards in flight, backward in any order, once each, refused after
/// a change of weights or inputs, optional dy/dhy/dcy, engine-buffer and host-span entry points that agree bitwise.
/// </summary>
public sealed class LayerContextTests
{
    private static readonly RnnDescriptor Lstm2Bi = new(RnnMode.Lstm, 3, 5, 2, RnnDirection.Bidirectional, dataType: RnnDataType.Float64);
    private static readonly RnnDataDescriptor XDesc = new(RnnDataLayout.SeqMajorUnpacked, 4, 3, 3, [4, 2, 3]);

    private static RnnLayer<double> Layer(ulong seed = 7) => new(CpuEngine.Create(), Lstm2Bi, seed);

    [Fact]
    public void TwoForwardsInFlight_BackwardInReverseOrder_EqualsTwoSeparateRunsBitwise()
    {
        var x1 = Rand.Data(1, XDesc, 0);
        var x2 = Rand.Data(2, XDesc, 0);
        var yDesc = XDesc.WithVectorSize(10);
        var dy1 = Rand.Data(3, yDesc, 0);
        var dy2 = Rand.Data(4, yDesc, 0);

        // Interleaved: forward 1, forward 2, backward 2, backward 1.
        using var a = Layer();
        using var c1 = a.Forward(XDesc, x1);
        using var c2 = a.Forward(XDesc, x2);
        var y1 = c1.Y.ToArray();
        var y2 = c2.Y.ToArray();
        var g2 = a.Backward(c2, dy2);
        var g1 = a.Backward(c1, dy1);

        // Separate: each forward immediately followed by its backward, in the same gradient order (2 then 1).
        using var b = Layer();
        RnnOutput<double> o2, o1;
        RnnInputGradients<double> s2, s1;
        using (var c = b.Forward(XDesc, x2)) { o2 = c.ReadOutputs(); s2 = b.Backward(c, dy2); }
        using (var c = b.Forward(XDesc, x1)) { o1 = c.ReadOutputs(); s1 = b.Backward(c, dy1); }

        Assert.Equal(o1.Y, y1);
        Assert.Equal(o2.Y, y2);
        Assert.Equal(s1.Dx, g1.Dx);
        Assert.Equal(s2.Dx, g2.Dx);
        Assert.Equal(s1.Dhx, g1.Dhx);
        Assert.Equal(s2.Dcx, g2.Dcx);
        Assert.Equal(b.WeightGradients.ToArray(), a.WeightGradients.ToArray());
        // The two inputs differ, so a context that silently used the other forward's state would not match.
        Assert.NotEqual(y1, y2);
    }

    [Fact]
    public void BackwardTwice_AfterDispose_AfterWeightChange_AfterInputChange_AreRefused()
    {
        using var layer = Layer();
        var x = Rand.Data(1, XDesc, 0);
        var dy = Rand.Data(2, XDesc.WithVectorSize(10), 0);

        var c = layer.Forward(XDesc, x);
        layer.Backward(c, dy);
        Assert.Contains("already been backpropagated", Assert.Throws<InvalidOperationException>(() => layer.Backward(c, dy)).Message);
        c.Dispose();
        c.Dispose(); // harmless
        Assert.Throws<ObjectDisposedException>(() => layer.Backward(c, dy));

        var d = layer.Forward(XDesc, x);
        layer.ImportPyTorch("bias_hh_l1_reverse", new double[4 * 5]);
        Assert.Contains("weights changed", Assert.Throws<InvalidOperationException>(() => layer.Backward(d, dy)).Message);
        d.Dispose();

        using var xb = layer.Engine.Upload<double>(x);
        using var e = layer.Forward(XDesc, xb);
        xb.Write(0, [0.5]);
        Assert.Contains("input x", Assert.Throws<InvalidOperationException>(() => layer.Backward(e, dy)).Message);

        using var xh = layer.Engine.Upload<double>(x);
        using var hx = layer.Engine.Allocate<double>(4 * 3 * 5);
        using var f = layer.Forward(XDesc, xh, hx);
        hx.MarkModified(); // a write through a raw span, declared
        Assert.Contains("hx", Assert.Throws<InvalidOperationException>(() => layer.Backward(f, dy)).Message);

        layer.Training = false;
        using var g = layer.Forward(XDesc, x);
        Assert.Contains("inference forward", Assert.Throws<InvalidOperationException>(() => layer.Backward(g, dy)).Message);

        layer.Training = true;
        using var other = Layer();
        using var h = other.Forward(XDesc, x);
        Assert.Equal("context", Assert.Throws<ArgumentException>(() => layer.Backward(h, dy)).ParamName);
    }

    [Fact]
    public void AbsentDy_IsZeros_AndOnlyDhyCanDriveTheBackward()
    {
        var x = Rand.Data(1, XDesc, 0);
        var yDesc = XDesc.WithVectorSize(10);
        var dhy = Rand.Uniform(5, 4 * 3 * 5);
        using var a = Layer();
        using var b = Layer();
        using var ca = a.Forward(XDesc, x);
        using var cb = b.Forward(XDesc, x);
        var ga = a.Backward(ca, default, dhy);
        var gb = b.Backward(cb, new double[yDesc.ElementCount], dhy);
        Assert.Equal(gb.Dx, ga.Dx);
        Assert.Equal(gb.Dhx, ga.Dhx);
        Assert.Equal(b.WeightGradients.ToArray(), a.WeightGradients.ToArray());
        Assert.Contains(ga.Dx, v => v != 0); // dhy alone reaches dx: the test would not notice a no-op otherwise

        // No gradient at all is a valid (zero) backward, not an error.
        using var c = Layer();
        using var cc = c.Forward(XDesc, x);
        c.Backward(cc);
        Assert.All(c.WeightGradients.ToArray(), v => Assert.Equal(0.0, v));
    }

    [Fact]
    public void EngineBuffers_MatchHostSpans_Bitwise()
    {
        var x = Rand.Data(1, XDesc, 0);
        var hxv = Rand.Uniform(2, 4 * 3 * 5);
        var cxv = Rand.Uniform(3, 4 * 3 * 5);
        var dyv = Rand.Data(4, XDesc.WithVectorSize(10), 0);
        var dcyv = Rand.Uniform(6, 4 * 3 * 5);

        using var host = Layer();
        using var ch = host.Forward(XDesc, x, hxv, cxv);
        var oh = ch.ReadOutputs();
        var gh = host.Backward(ch, dyv, default, dcyv);

        using var dev = Layer();
        var e = dev.Engine;
        using var xb = e.Upload<double>(x);
        using var hx = e.Upload<double>(hxv);
        using var cx = e.Upload<double>(cxv);
        using var dy = e.Upload<double>(dyv);
        using var dcy = e.Upload<double>(dcyv);
        using var dx = e.Allocate<double>(XDesc.ElementCount);
        using var dhx = e.Allocate<double>(4 * 3 * 5);
        using var dcx = e.Allocate<double>(4 * 3 * 5);
        using var cd = dev.Forward(XDesc, xb, hx, cx);
        Assert.Equal(oh.Y, cd.Y.ToArray());
        Assert.Equal(oh.Hy, cd.Hy.ToArray());
        Assert.Equal(oh.Cy, cd.Cy!.ToArray());
        dev.Backward(cd, dy, null, dcy, dx, dhx, dcx);
        Assert.Equal(gh.Dx, dx.ToArray());
        Assert.Equal(gh.Dhx, dhx.ToArray());
        Assert.Equal(gh.Dcx, dcx.ToArray());
        Assert.Equal(host.WeightGradients.ToArray(), dev.WeightGradients.ToArray());
    }

    [Fact]
    public void TruncatedBptt_ChunksWithHyFedBack_MatchTheWholeSequence()
    {
        // Equal lengths (a chunked sequence has no per-sequence ends inside it), unidirectional LSTM.
        var rnn = new RnnDescriptor(RnnMode.Lstm, 3, 5, 2, dataType: RnnDataType.Float64);
        var whole = new RnnDataDescriptor(RnnDataLayout.SeqMajorUnpacked, 6, 2, 3, [6, 6]);
        var half = new RnnDataDescriptor(RnnDataLayout.SeqMajorUnpacked, 3, 2, 3, [3, 3]);
        var x = Rand.Data(1, whole, 0);
        var dy = Rand.Data(2, whole.WithVectorSize(5), 0);
        int n = 3 * 2 * 3, m = 3 * 2 * 5;

        using var full = new RnnLayer<double>(CpuEngine.Create(), rnn, 3);
        using var cf = full.Forward(whole, x);
        var of = cf.ReadOutputs();
        var gf = full.Backward(cf, dy);

        using var chunked = new RnnLayer<double>(CpuEngine.Create(), rnn, 3);
        using var c1 = chunked.Forward(half, x.AsSpan(0, n));
        using var c2 = chunked.Forward(half, x.AsSpan(n, n), c1.Hy.ToArray(), c1.Cy!.ToArray());
        var g2 = chunked.Backward(c2, dy.AsSpan(m, m));
        var g1 = chunked.Backward(c1, dy.AsSpan(0, m), g2.Dhx, g2.Dcx);

        // Forward: the same operations on the same rows, so bitwise.
        Assert.Equal(of.Y, c1.Y.ToArray().Concat(c2.Y.ToArray()).ToArray());
        Assert.Equal(of.Hy, c2.Hy.ToArray());
        // Backward: dx is the same chain of operations; the weight gradient sums the two chunks' contributions in another
        // order (and the input GEMM over 6 rows vs 2 × 3), so it agrees to float64 rounding: |Δ| ≤ 16·ε·Σ|terms|, bounded
        // here by 16·ε·(|e| + max|dW|) with ~6 steps × 2 rows of terms per element.
        Assert.Equal(gf.Dx, g1.Dx.Concat(g2.Dx).ToArray());
        var a = full.WeightGradients.ToArray();
        var b = chunked.WeightGradients.ToArray();
        double scale = a.Max(Math.Abs), eps = Math.BitIncrement(1.0) - 1.0;
        for (int i = 0; i < a.Length; i++)
            Assert.True(Math.Abs(a[i] - b[i]) <= 16 * eps * (Math.Abs(a[i]) + scale), $"dW[{i}]: {a[i]} vs {b[i]}");
    }

    [Fact]
    public void ContextMemoryIsPooled_AndAnEvictedShapeStaysUsableForItsLiveContexts()
    {
        using var layer = Layer();
        var x = Rand.Data(1, XDesc, 0);
        var dy = Rand.Data(2, XDesc.WithVectorSize(10), 0);
        var live = layer.Forward(XDesc, x);
        var y = live.Y.ToArray();
        // Fill the plan cache with 16 other shapes: XDesc is evicted while `live` still needs its plan.
        for (int b = 1; b <= 16; b++)
        {
            var d = new RnnDataDescriptor(RnnDataLayout.SeqMajorUnpacked, 2, b, 3, Enumerable.Repeat(2, b).ToArray());
            using var c = layer.Forward(d, new double[d.ElementCount]);
        }
        Assert.Equal(16, layer.CachedShapes);
        var g = layer.Backward(live, dy);
        Assert.Equal(y, live.Y.ToArray());
        live.Dispose();

        using var fresh = Layer();
        using (var c = fresh.Forward(XDesc, x))
        {
            var gf = fresh.Backward(c, dy);
            Assert.Equal(gf.Dx, g.Dx);
        }
        // Many contexts alive at once, then disposed: the pool keeps at most MaxPooledContextsPerShape of them.
        var many = Enumerable.Range(0, 10).Select(_ => fresh.Forward(XDesc, x)).ToList();
        foreach (var c in many) c.Dispose();
        var shape = typeof(RnnLayer<double>).GetField("_shapes", System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Instance)!
            .GetValue(fresh) as Dictionary<RnnDataShape, RnnLayerShape<double>>;
        Assert.Equal(RnnLayer<double>.MaxPooledContextsPerShape, shape![RnnDataShape.Of(XDesc)].PooledCount);
        Assert.Equal(0, shape[RnnDataShape.Of(XDesc)].LiveContexts);
    }

    [Fact]
    public void LayerDispose_LeavesLiveContextsClearlyUnusable()
    {
        var layer = Layer();
        var c = layer.Forward(XDesc, Rand.Data(1, XDesc, 0));
        layer.Dispose();
        Assert.Throws<ObjectDisposedException>(() => layer.Backward(c));
        c.Dispose();
        c.Dispose();
    }
}
