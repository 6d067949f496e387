using System.Runtime.InteropServices;
using CudnnRnn.Cpu;
using CudnnRnn.Testing;
using Xunit;

namespace CudnnRnn.Tests;

/// <summary>The layer on outside memory (array, Memory&lt;T&gt; slice, pinned pointer) on the CPU engine.</summary>
public sealed unsafe class CpuLayerInteropTests : LayerInterop
{
    protected override IRnnEngine? TryCreateEngine(out string reason)
    {
        reason = "";
        return TestCpu.Engine();
    }

    protected override IReadOnlyList<string> WrapKinds => ["array", "memory", "pointer"];

    protected override RnnBuffer<float> WrapOutside(IRnnEngine engine, string kind, float[] contents, List<IDisposable> owners)
    {
        var cpu = (CpuEngine)engine;
        switch (kind)
        {
            case "array":
                return cpu.Wrap((float[])contents.Clone());
            case "memory":
            {
                // A slice in the middle of a larger array: the view must address its own range only.
                var big = new float[contents.Length + 7];
                big.AsSpan(0, 3).Fill(float.NaN);
                big.AsSpan(3 + contents.Length).Fill(float.NaN);
                contents.CopyTo(big, 3);
                return cpu.Wrap(big.AsMemory(3, contents.Length));
            }
            case "pointer":
            {
                var native = new NativeBlock(contents.Length);
                owners.Add(native);
                contents.CopyTo(new Span<float>(native.Pointer, contents.Length));
                return cpu.Wrap(native.Pointer, contents.Length);
            }
            default: throw new ArgumentOutOfRangeException(nameof(kind), kind, null);
        }
    }

    /// <summary>Native memory the test owns (NativeMemory.Alloc / Free).</summary>
    private sealed class NativeBlock(int length) : IDisposable
    {
        public float* Pointer { get; private set; } = (float*)NativeMemory.Alloc((nuint)Math.Max(length, 1), sizeof(float));
        public void Dispose()
        {
            NativeMemory.Free(Pointer);
            Pointer = null;
        }
    }
}

/// <summary>CPU views: zero copy, aliasing seen across views of one memory, lifetime, and bad input.</summary>
public sealed unsafe class CpuViewTests
{
    [Fact]
    public void Views_AreZeroCopy_AndDisposingThemLeavesTheMemoryAlone()
    {
        using var engine = CpuEngine.Create();
        var array = new float[8];
        var viaMemory = engine.Wrap(array.AsMemory(2, 4));
        viaMemory.Span[0] = 5f;
        Assert.Equal(5f, array[2]);
        Assert.True(viaMemory.IsView);
        viaMemory.Dispose();
        viaMemory.Dispose(); // harmless
        Assert.Equal(5f, array[2]);
        Assert.Throws<ObjectDisposedException>(() => viaMemory.Span.ToArray());

        float* p = (float*)NativeMemory.Alloc(16, sizeof(float));
        try
        {
            var viaPointer = engine.Wrap(p + 4, 8);
            viaPointer.Write(0, [1f, 2f]);
            Assert.Equal(2f, p[5]);
            viaPointer.Dispose();
            Assert.Equal(2f, p[5]);          // still our memory; NativeMemory.Free below would fault on a double free
            Assert.False(engine.Allocate<float>(1) is CpuBuffer<float> { IsView: true });
        }
        finally { NativeMemory.Free(p); }
    }

    [Fact]
    public void SharesMemoryWith_SeesOverlapBetweenViewsOfOneMemory()
    {
        using var engine = CpuEngine.Create();
        var array = GC.AllocateArray<float>(32, pinned: true);
        using var whole = engine.Wrap(array);
        using var head = engine.Wrap(array.AsMemory(0, 16));
        using var tail = engine.Wrap(array.AsMemory(16, 16));
        fixed (float* p = array)
        {
            using var mid = engine.Wrap(p + 12, 8);      // elements 12..19: overlaps head and tail
            using var p1 = engine.Wrap(p + 20, 4);
            using var p2 = engine.Wrap(p + 22, 4);       // overlaps p1 by two elements
            using var p3 = engine.Wrap(p + 24, 4);       // touches p1's end only
            Assert.True(whole.SharesMemoryWith(head));
            Assert.True(head.SharesMemoryWith(whole));
            Assert.False(head.SharesMemoryWith(tail));
            Assert.True(mid.SharesMemoryWith(head));
            Assert.True(mid.SharesMemoryWith(tail));
            Assert.True(mid.SharesMemoryWith(whole));
            Assert.True(p1.SharesMemoryWith(p2));
            Assert.False(p1.SharesMemoryWith(p3));
        }
        using var other = engine.Allocate<float>(32);
        Assert.False(other.SharesMemoryWith(whole));
    }

    [Fact]
    public void A_plan_refuses_an_output_that_overlaps_an_input_through_views()
    {
        using var engine = CpuEngine.Create();
        var rnn = new RnnDescriptor(RnnMode.RnnTanh, 4, 4, 1, RnnDirection.Unidirectional, dataType: RnnDataType.Float32);
        var xDesc = RnnDataDescriptor.Uniform(RnnDataLayout.SeqMajorUnpacked, 3, 2, 4);
        using var plan = engine.CreatePlan<float>(rnn, xDesc);
        using var w = engine.Allocate<float>(plan.WeightLayout.TotalElements);
        var storage = GC.AllocateArray<float>(2 * 24, pinned: true);
        using var x = engine.Wrap(storage.AsMemory(0, 24));
        using var yAliasingX = engine.Wrap(storage.AsMemory(12, 24));   // overlaps x's second half
        var e = Assert.Throws<ArgumentException>(() => plan.Forward(RnnForwardMode.Inference, x, yAliasingX, null, null, null, null, w, null));
        Assert.Equal("y", e.ParamName);
        fixed (float* p = storage)
        {
            using var xp = engine.Wrap(p, 24);
            using var yp = engine.Wrap(p + 20, 24);
            Assert.Equal("y", Assert.Throws<ArgumentException>(() => plan.Forward(RnnForwardMode.Inference, xp, yp, null, null, null, null, w, null)).ParamName);
        }
        using var y = engine.Wrap(storage.AsMemory(24, 24));             // disjoint: accepted
        plan.Forward(RnnForwardMode.Inference, x, y, null, null, null, null, w, null);
    }

    [Fact]
    public void Bad_input_is_refused_before_any_work()
    {
        using var engine = CpuEngine.Create();
        Assert.Equal("pointer", Assert.Throws<ArgumentNullException>(() => engine.Wrap<float>((float*)null, 4)).ParamName);
        float* p = stackalloc float[4];
        Assert.Equal("length", Assert.Throws<ArgumentOutOfRangeException>(() => engine.Wrap(p, -1)).ParamName);
        Assert.Equal("length", Assert.Throws<ArgumentOutOfRangeException>(() => engine.Wrap(p, (long)Array.MaxLength + 1)).ParamName);
        // A range that wraps past the end of the address space (length × sizeof(T) beyond what is left above the pointer).
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => engine.Wrap((double*)(nuint.MaxValue - 15), 4));
        Assert.Equal("length", e.ParamName);
        Assert.Contains("wrap", e.Message);
        Assert.Throws<ArgumentNullException>(() => engine.Wrap<float>((float[])null!));

        var view = engine.Wrap(p, 4);
        view.Dispose();
        var rnn = new RnnDescriptor(RnnMode.RnnTanh, 2, 2, 1, RnnDirection.Unidirectional, dataType: RnnDataType.Float32);
        using var layer = new RnnLayer<float>(engine, rnn, seed: 1);
        var xDesc = RnnDataDescriptor.Uniform(RnnDataLayout.SeqMajorUnpacked, 2, 1, 2);
        Assert.Throws<ObjectDisposedException>(() => layer.Forward(xDesc, view));

        var disposed = CpuEngine.Create();
        disposed.Dispose();
        Assert.Throws<ObjectDisposedException>(() => disposed.Wrap(p, 4));
        Assert.Throws<ObjectDisposedException>(() => disposed.Wrap(new float[4].AsMemory()));
    }
}
