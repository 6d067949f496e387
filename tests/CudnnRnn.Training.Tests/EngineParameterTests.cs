using CudnnRnn.Cpu;
using CudnnRnn.Training;
using Xunit;

namespace CudnnRnn.Training.Tests;

/// <summary>
/// Parameters in engine memory on the CPU engine and through the staged (download, step, upload) path that CUDA uses:
/// every update must be bit for bit the host-array optimizer's, land in the engine buffer itself, and bump its version.
/// </summary>
public class EngineParameterTests
{
    private static float[] Random(int n, ulong seed, double scale)
    {
        var a = new float[n];
        new SeededRandom(seed).FillUniform<float>(a, scale);
        return a;
    }

    private static Optimizer<float> Make(string kind, Parameter<float> p) => kind switch
    {
        "adam" => new Adam<float>([p], 1e-2, weightDecay: 1e-3),
        "adam-plain" => new Adam<float>([p], 3e-3),
        "sgd" => new Sgd<float>([p], 0.05),
        _ => new Sgd<float>([p], 0.05, momentum: 0.9, weightDecay: 1e-3),
    };

    /// <summary>Index of the first element whose bits differ, or −1 (a mismatch in sign of zero or NaN payload counts).</summary>
    internal static int FirstBitDifference(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        if (a.Length != b.Length) return 0;
        for (int i = 0; i < a.Length; i++) if (BitConverter.SingleToInt32Bits(a[i]) != BitConverter.SingleToInt32Bits(b[i])) return i;
        return -1;
    }

    [Fact]
    public void Bit_comparison_catches_one_ulp()
    {
        var a = Random(10, 1, 1);
        var b = (float[])a.Clone();
        Assert.Equal(-1, FirstBitDifference(a, b));
        b[7] = MathF.BitIncrement(b[7]);
        Assert.Equal(7, FirstBitDifference(a, b));
        b[7] = a[7];
        b[3] = -0f; a[3] = 0f;
        Assert.Equal(3, FirstBitDifference(a, b));
    }

    [Theory]
    [InlineData("adam")]
    [InlineData("sgd")]
    [InlineData("sgd-momentum")]
    public void Cpu_engine_buffers_update_in_place_bitwise_as_host_arrays(string kind)
    {
        const int n = 1000;
        using var cpu = CpuEngine.Create(1);
        var host = new Parameter<float>("w", n);
        using var wb = cpu.Allocate<float>(n);
        using var gb = cpu.Allocate<float>(n);
        var onEngine = Parameter<float>.FromBuffers("w", wb, gb);
        Random(n, 2, 0.5).CopyTo(host.Value, 0);
        wb.CopyFrom(host.Value);
        var a = Make(kind, host);
        var b = Make(kind, onEngine);
        for (int step = 0; step < 5; step++)
        {
            var g = Random(n, 10 + (ulong)step, 1.0);
            g.CopyTo(host.Grad, 0);
            gb.CopyFrom(g);
            long version = wb.Version;
            Assert.True(a.Step());
            Assert.True(b.Step());
            Assert.True(wb.Version > version, "an in-place step must bump the buffer's version");
            var span = ((CpuBuffer<float>)wb).Span; // the engine buffer itself, no copy
            Assert.Equal(-1, FirstBitDifference(host.Value, span));
        }
        foreach (var ((name, hs), (_, es)) in a.StateBuffers.Zip(b.StateBuffers))
            Assert.True(FirstBitDifference(hs[0], es[0]) < 0, $"state {name} differs");
    }

    [Fact]
    public void Optimizer_step_on_layer_weights_makes_an_earlier_forward_refuse_its_backward()
    {
        using var cpu = CpuEngine.Create(1);
        using var layer = new RnnLayer<float>(cpu, new RnnDescriptor(RnnMode.Lstm, 3, 4, dataType: RnnDataType.Float32), seed: 5);
        var p = Parameter<float>.Of(layer);
        var adam = new Adam<float>([p], 1e-2);
        var xDesc = RnnDataDescriptor.Uniform(RnnDataLayout.SeqMajorUnpacked, 5, 2, 3);
        var x = Random((int)xDesc.ElementCount, 6, 1);
        using (var first = layer.Forward(xDesc, x))
            layer.Backward(first, Random((int)first.Y.Length, 7, 1));
        var before = layer.Weights.ToArray();
        using var stale = layer.Forward(xDesc, x);
        Assert.True(adam.Step());
        Assert.True(FirstBitDifference(before, layer.Weights.ToArray()) >= 0, "the step must change the layer's own weights");
        var e = Assert.Throws<InvalidOperationException>(() => layer.Backward(stale, Random((int)stale.Y.Length, 8, 1)));
        Assert.Contains("weights changed", e.Message);
        using var fresh = layer.Forward(xDesc, x); // a forward after the step backpropagates fine
        layer.Backward(fresh, Random((int)fresh.Y.Length, 8, 1));
    }

    /// <summary>Engine memory the process cannot address: what the optimizer sees of a CUDA buffer (counts the copies).</summary>
    private sealed class OpaqueStorage(RnnBuffer<float> value, RnnBuffer<float> gradient) : IParameterStorage<float>
    {
        public int ValueReads, ValueWrites, GradientReads;
        public long Count => value.Length;
        public RnnBuffer<float>? ValueBuffer => value;
        public RnnBuffer<float>? GradientBuffer => gradient;
        public bool TryGetHostSpans(out Span<float> v, out Span<float> g) { v = g = default; return false; }
        public void ReadValue(Span<float> d) { ValueReads++; value.CopyTo(d); }
        public void WriteValue(ReadOnlySpan<float> s) { ValueWrites++; value.CopyFrom(s); }
        public void ReadGradient(Span<float> d) { GradientReads++; gradient.CopyTo(d); }
        public void WriteGradient(ReadOnlySpan<float> s) => gradient.CopyFrom(s);
        public void ClearGradient() => gradient.Clear();
        public void MarkValueModified() => value.MarkModified();
    }

    [Theory]
    [InlineData("adam")]
    [InlineData("sgd-momentum")]
    public void Staged_update_is_bitwise_the_host_update_and_moves_one_gradient_down_and_the_values_up(string kind)
    {
        const int n = 300;
        using var cpu = CpuEngine.Create(1);
        var host = new Parameter<float>("w", n);
        using var wb = cpu.Allocate<float>(n);
        using var gb = cpu.Allocate<float>(n);
        var storage = new OpaqueStorage(wb, gb);
        var staged = new Parameter<float>("w", storage);
        Random(n, 3, 0.5).CopyTo(host.Value, 0);
        wb.CopyFrom(host.Value);
        var a = Make(kind, host);
        var b = Make(kind, staged);
        for (int step = 0; step < 4; step++)
        {
            var g = Random(n, 20 + (ulong)step, 1.0);
            g.CopyTo(host.Grad, 0);
            gb.CopyFrom(g);
            if (step == 2)
            {
                // A write to the weights between steps (e.g. loading a checkpoint) must be seen: the host copy is re-read.
                host.Value[0] = 0.25f;
                wb.Write(0, [0.25f]);
            }
            a.Step();
            b.Step();
            Assert.Equal(-1, FirstBitDifference(host.Value, wb.ToArray()));
        }
        Assert.Equal(4, storage.GradientReads);
        Assert.Equal(4, storage.ValueWrites);
        Assert.Equal(2, storage.ValueReads); // the first step, and the step after the outside write
    }

    [Fact]
    public void Staged_and_engine_parameters_skip_a_step_with_a_non_finite_gradient()
    {
        using var cpu = CpuEngine.Create(1);
        using var wb = cpu.Allocate<float>(8);
        using var gb = cpu.Allocate<float>(8);
        wb.CopyFrom(Random(8, 4, 1));
        foreach (var p in new[] { Parameter<float>.FromBuffers("w", wb, gb), new Parameter<float>("w", new OpaqueStorage(wb, gb)) })
        {
            var opt = new Adam<float>([p], 0.1);
            var before = wb.ToArray();
            gb.Write(5, [float.NaN]);
            Assert.False(opt.Step());
            Assert.Equal(1, opt.SkippedSteps);
            Assert.Equal(-1, FirstBitDifference(before, wb.ToArray()));
            gb.Clear();
        }
    }

    [Fact]
    public void Clipping_staged_gradients_equals_clipping_host_arrays()
    {
        const int n = 50;
        using var cpu = CpuEngine.Create(1);
        var host = new Parameter<float>("w", n);
        using var wb = cpu.Allocate<float>(n);
        using var gb = cpu.Allocate<float>(n);
        var staged = new Parameter<float>("w", new OpaqueStorage(wb, gb));
        var g = Random(n, 9, 10);
        g.CopyTo(host.Grad, 0);
        gb.CopyFrom(g);
        double nh = GradientClipping.ClipByGlobalNorm([host], 1.0);
        double ns = GradientClipping.ClipByGlobalNorm([staged], 1.0);
        Assert.Equal(nh, ns);
        Assert.True(nh > 1);
        Assert.Equal(-1, FirstBitDifference(host.Grad, gb.ToArray()));
    }

    [Fact]
    public void Engine_parameters_refuse_bad_buffers_and_have_no_host_arrays()
    {
        using var cpu = CpuEngine.Create(1);
        using var other = CpuEngine.Create(1);
        using var a = cpu.Allocate<float>(4);
        using var b = cpu.Allocate<float>(5);
        using var c = other.Allocate<float>(4);
        Assert.Equal("gradient", Assert.Throws<ArgumentException>(() => Parameter<float>.FromBuffers("w", a, b)).ParamName);
        Assert.Equal("gradient", Assert.Throws<ArgumentException>(() => Parameter<float>.FromBuffers("w", a, c)).ParamName);
        Assert.Equal("gradient", Assert.Throws<ArgumentException>(() => Parameter<float>.FromBuffers("w", a, a)).ParamName);
        Assert.Throws<ArgumentException>(() => Parameter<float>.FromBuffers("w", a, cpu.Wrap(new float[4]), 3, 2));
        var p = Parameter<float>.FromBuffers("w", a, cpu.Allocate<float>(4));
        Assert.False(p.HasHostArrays);
        Assert.Contains("CopyValueTo", Assert.Throws<InvalidOperationException>(() => p.Value).Message);
        Assert.Throws<ArgumentException>(() => p.CopyValueFrom(new float[3]));
        var allocated = Parameter<float>.Allocate(cpu, "w", 2, 3);
        Assert.True(allocated.HasHostArrays); // CPU engine: host arrays seen through engine views
        allocated.Value[4] = 7;
        Assert.Equal(7, allocated.ValueBuffer!.ToArray()[4]);
    }

    [Fact]
    public void Layer_over_shared_weights_refuses_foreign_or_misshapen_buffers()
    {
        using var cpu = CpuEngine.Create(1);
        using var other = CpuEngine.Create(1);
        var rnn = new RnnDescriptor(RnnMode.Gru, 2, 3, dataType: RnnDataType.Float32);
        long n = cpu.GetWeightLayout(rnn).TotalElements;
        using var w = cpu.Allocate<float>(n);
        Assert.Equal("weights", Assert.Throws<ArgumentException>(() => new RnnLayer<float>(cpu, rnn, other.Allocate<float>(n))).ParamName);
        Assert.Equal("weights", Assert.Throws<ArgumentException>(() => new RnnLayer<float>(cpu, rnn, cpu.Allocate<float>(n + 1))).ParamName);
        Assert.Equal("weightGradients", Assert.Throws<ArgumentException>(() => new RnnLayer<float>(cpu, rnn, w, w)).ParamName);
        // Two layers over one buffer: disposing one leaves the weights alive for the other.
        var first = new RnnLayer<float>(cpu, rnn, w);
        using var second = new RnnLayer<float>(cpu, rnn, w);
        first.Dispose();
        Assert.False(w.IsDisposed);
    }
}
