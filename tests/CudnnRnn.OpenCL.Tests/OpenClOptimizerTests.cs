using CudnnRnn.Training;
using Xunit;

namespace CudnnRnn.OpenCL.Tests;

/// <summary>
/// The OpenCL optimizer kernels (native/opencl/optimizer.cl) against the training toolkit's host optimizers, which are
/// the reference: parameters whose buffers live on the OpenCL engine are updated in place by kernels.
/// </summary>
public class OpenClOptimizerTests
{
    private const double Eps32 = 1.0 / (1 << 23); // float machine epsilon: ulp(x) ≤ Eps32·|x|

    private static float[] Random(int n, ulong seed, double scale)
    {
        var a = new float[n];
        new SeededRandom(seed).FillUniform<float>(a, scale);
        return a;
    }

    private static int FirstBitDifference(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        if (a.Length != b.Length) return 0;
        for (int i = 0; i < a.Length; i++) if (BitConverter.SingleToInt32Bits(a[i]) != BitConverter.SingleToInt32Bits(b[i])) return i;
        return -1;
    }

    [Theory]
    [InlineData(0.0, 0.0)]
    [InlineData(0.9, 1e-3)]
    public void Sgd_kernel_is_bitwise_the_host_update(double momentum, double weightDecay)
    {
        // Same operations in the same order (g = w·wd + g; v = v·μ + g; w = g·(−lr) + w), each rounded to float, with
        // FP_CONTRACT OFF on the device and TensorPrimitives.MultiplyAdd's unfused multiply-add on the host: no tolerance.
        var engine = SharedOpenCl.Require();
        const int n = 4099; // not a multiple of the work-group: the kernels' bounds checks are exercised
        var host = new Parameter<float>("w", n);
        using var wb = engine.Allocate<float>(n);
        using var gb = engine.Allocate<float>(n);
        var device = Parameter<float>.FromBuffers("w", wb, gb);
        Random(n, 1, 0.5).CopyTo(host.Value, 0);
        wb.CopyFrom(host.Value);
        var a = new Sgd<float>([host], 0.05, momentum, weightDecay);
        using var b = new Sgd<float>([device], 0.05, momentum, weightDecay);
        for (int step = 0; step < 3; step++)
        {
            var g = Random(n, 10 + (ulong)step, 1);
            g.CopyTo(host.Grad, 0);
            gb.CopyFrom(g);
            long version = wb.Version;
            Assert.True(a.Step());
            long syncs = engine.SynchronizingCalls;
            Assert.True(b.Step());
            // Per parameter, the gradient's non-finite check and the update each write and read the kernels' flags with a
            // blocking call: 4 host waits, counted like every other wait of the engine (the momentum state's first upload,
            // a counted blocking write, comes on top in the first step only).
            long expected = 4 + (step == 0 && momentum > 0 ? 1 : 0);
            Assert.Equal(expected, engine.SynchronizingCalls - syncs);
            Assert.True(wb.Version > version, "the kernel update must bump the buffer's version");
            Assert.Equal(-1, FirstBitDifference(host.Value, wb.ToArray()));
            Assert.Equal(-1, FirstBitDifference(host.Grad, gb.ToArray())); // weight decay is written into the gradient on both
        }
        if (momentum > 0) Assert.Equal(-1, FirstBitDifference(a.StateBuffers[0].Value[0], b.StateBuffers[0].Value[0]));
    }

    /// <summary>
    /// Elements where the device's Adam weights are farther from the host's than the rounding allows, or an empty list.
    /// Host and device compute m and v with the same unfused operations (bitwise equal, checked separately); they may
    /// differ only in √v and in the division, which OpenCL C 1.2 lets a device round to 3 ulp and 2.5 ulp (the host: 0.5
    /// ulp each). So q = stepSize·m / (√v·c + ε) differs by at most (3 + 0.5 [√] + 0.5 + 0.5 [·c, +ε on each side] +
    /// 2.5 + 0.5 [÷]) ≈ 8 ulp ≤ 8·Eps32·|q| (10 with margin), and the final w − q is rounded on each side: one more
    /// ulp(w) ≤ Eps32·|w| each. |q| is taken as |w_before − w_host| plus one ulp.
    /// </summary>
    private static List<int> AdamOutliers(float[] before, float[] host, float[] device)
    {
        var bad = new List<int>();
        for (int i = 0; i < host.Length; i++)
        {
            double q = Math.Abs((double)before[i] - host[i]) + Eps32 * Math.Abs(before[i]);
            double bound = 10 * Eps32 * q + 2 * Eps32 * Math.Abs(host[i]);
            if (!(Math.Abs((double)device[i] - host[i]) <= bound)) bad.Add(i);
        }
        return bad;
    }

    [Fact]
    public void Adam_kernel_matches_the_host_update_within_the_rounding_of_sqrt_and_division()
    {
        var engine = SharedOpenCl.Require();
        const int n = 2049;
        var host = new Parameter<float>("w", n);
        using var wb = engine.Allocate<float>(n);
        using var gb = engine.Allocate<float>(n);
        var device = Parameter<float>.FromBuffers("w", wb, gb);
        Random(n, 2, 0.5).CopyTo(host.Value, 0);
        var a = new Adam<float>([host], 1e-2);
        using var b = new Adam<float>([device], 1e-2);
        for (int step = 0; step < 4; step++)
        {
            var before = (float[])host.Value.Clone();
            wb.CopyFrom(before); // each step from the same weights: the comparison is per step, not accumulated drift
            var g = Random(n, 30 + (ulong)step, 1);
            g.CopyTo(host.Grad, 0);
            gb.CopyFrom(g);
            Assert.True(a.Step());
            Assert.True(b.Step());
            var onDevice = wb.ToArray();
            Assert.Empty(AdamOutliers(before, host.Value, onDevice));
            // m and v use no square root or division: bitwise (read back through StateBuffers, which downloads them).
            var (hs, ds) = (a.StateBuffers, b.StateBuffers);
            Assert.Equal(-1, FirstBitDifference(hs[0].Value[0], ds[0].Value[0]));
            Assert.Equal(-1, FirstBitDifference(hs[1].Value[0], ds[1].Value[0]));
            if (step == 3)
            {
                // The checker rejects an element 20 ulp of the step away from the host's value.
                int k = 100;
                double q = Math.Abs((double)before[k] - host.Value[k]);
                onDevice[k] = (float)(host.Value[k] + 20 * Eps32 * q + 4 * Eps32 * Math.Abs(host.Value[k]));
                Assert.Equal([k], AdamOutliers(before, host.Value, onDevice));
            }
        }
    }

    [Fact]
    public void Adam_state_written_through_StateBuffers_is_uploaded_before_the_next_step()
    {
        // As a checkpoint restore does: the next step must continue from the written state, not the device's old one.
        var engine = SharedOpenCl.Require();
        const int n = 64;
        var host = new Parameter<float>("w", n);
        using var wb = engine.Allocate<float>(n);
        using var gb = engine.Allocate<float>(n);
        var device = Parameter<float>.FromBuffers("w", wb, gb);
        var a = new Adam<float>([host], 1e-2);
        using var b = new Adam<float>([device], 1e-2);
        var g = Random(n, 5, 1);
        g.CopyTo(host.Grad, 0); gb.CopyFrom(g);
        a.Step(); b.Step();
        Random(n, 6, 0.1).CopyTo(b.StateBuffers[0].Value[0], 0); // overwrite m on the host side of b
        b.StateBuffers[0].Value[0].CopyTo(a.StateBuffers[0].Value[0], 0);
        a.StateBuffers[1].Value[0].CopyTo(b.StateBuffers[1].Value[0], 0);
        wb.CopyFrom(host.Value);
        a.Step(); b.Step();
        Assert.Equal(-1, FirstBitDifference(a.StateBuffers[0].Value[0], b.StateBuffers[0].Value[0]));
    }

    [Fact]
    public void Non_finite_gradient_in_device_memory_skips_the_step_and_leaves_the_weights()
    {
        var engine = SharedOpenCl.Require();
        using var wb = engine.Allocate<float>(300);
        using var gb = engine.Allocate<float>(300);
        wb.CopyFrom(Random(300, 7, 1));
        var p = Parameter<float>.FromBuffers("w", wb, gb);
        using var opt = new Adam<float>([p], 0.1);
        var before = wb.ToArray();
        gb.Write(257, [float.PositiveInfinity]);
        Assert.False(opt.Step());
        Assert.Equal(1, opt.SkippedSteps);
        Assert.Equal(-1, FirstBitDifference(before, wb.ToArray()));
        Assert.Equal(257, engine.IndexOfNonFinite(gb));
        gb.Clear();
        Assert.Equal(-1, engine.IndexOfNonFinite(gb));
        Assert.True(opt.Step());
    }

    [Fact]
    public void Update_that_overflows_a_weight_is_reported_as_divergence()
    {
        var engine = SharedOpenCl.Require();
        using var wb = engine.Allocate<float>(4);
        using var gb = engine.Allocate<float>(4);
        wb.CopyFrom([1, 2, 3, 4]);
        gb.CopyFrom([0, 0, 3e38f, 0]);
        var p = Parameter<float>.FromBuffers("w", wb, gb);
        var e = Assert.Throws<TrainingDivergedException>(() => new Sgd<float>([p], 1e30).Step());
        Assert.Contains("element 2", e.Message);
    }

    [Fact]
    public void Clipping_device_gradients_equals_clipping_host_arrays()
    {
        var engine = SharedOpenCl.Require();
        const int n = 500;
        var host = new Parameter<float>("w", n);
        using var wb = engine.Allocate<float>(n);
        using var gb = engine.Allocate<float>(n);
        var device = Parameter<float>.FromBuffers("w", wb, gb);
        var g = Random(n, 8, 10);
        g.CopyTo(host.Grad, 0);
        gb.CopyFrom(g);
        Assert.Equal(GradientClipping.ClipByGlobalNorm([host], 1.0), GradientClipping.ClipByGlobalNorm([device], 1.0));
        Assert.Equal(-1, FirstBitDifference(host.Grad, gb.ToArray())); // x·s on both sides
    }

    [Fact]
    public void Optimizer_step_makes_an_earlier_forward_on_the_device_refuse_its_backward()
    {
        var engine = SharedOpenCl.Require();
        using var layer = new RnnLayer<float>(engine, new RnnDescriptor(RnnMode.Gru, 3, 4, dataType: RnnDataType.Float32), seed: 3);
        using var adam = new Adam<float>([Parameter<float>.Of(layer)], 1e-2);
        var xDesc = RnnDataDescriptor.Uniform(RnnDataLayout.SeqMajorUnpacked, 4, 2, 3);
        var x = Random((int)xDesc.ElementCount, 9, 1);
        using (var c = layer.Forward(xDesc, x)) layer.Backward(c, Random((int)c.Y.Length, 10, 1));
        using var stale = layer.Forward(xDesc, x);
        Assert.True(adam.Step());
        Assert.Throws<InvalidOperationException>(() => layer.Backward(stale, Random((int)stale.Y.Length, 10, 1)));
    }

    [Fact]
    public void Kernels_refuse_buffers_of_another_engine_or_length_before_running()
    {
        var engine = SharedOpenCl.Require();
        using var cpu = CudnnRnn.Cpu.CpuEngine.Create(1);
        using var w = engine.Allocate<float>(8);
        using var g = engine.Allocate<float>(7);
        using var foreign = cpu.Allocate<float>(8);
        Assert.Equal("weights", Assert.Throws<ArgumentException>(() => engine.SgdStep(foreign, w, null, 1f, 0f, 0f)).ParamName);
        Assert.Equal("gradient", Assert.Throws<ArgumentException>(() => engine.SgdStep(w, g, null, 1f, 0f, 0f)).ParamName);
        var disposed = engine.Allocate<float>(8);
        disposed.Dispose();
        Assert.Throws<ObjectDisposedException>(() => engine.IndexOfNonFinite(disposed));
    }
}
