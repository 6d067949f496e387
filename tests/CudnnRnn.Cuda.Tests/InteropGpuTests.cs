using CudnnRnn.Verification;
using System.Runtime.InteropServices;
using CudnnRnn.Interop;
using Xunit;

namespace CudnnRnn.Cuda.Tests;

/// <summary>
/// The CUDA interop contract on a GPU (skips visibly without one): wrapped cudaMalloc memory gives bitwise the engine's
/// results, an engine on the caller's stream queues there and leaves the stream alive, the thread's context is restored
/// after every call (a foreign context made current stays current), an engine made in a foreign context works while the
/// thread is in another, and Wrap refuses host and unknown memory before any cuDNN call.
/// </summary>
[Collection(NativeCollection.Name)]
public sealed class InteropGpuTests
{
    private static readonly RnnDescriptor s_rnn = new(RnnMode.Lstm, 8, 16, 2, RnnDirection.Bidirectional, dataType: RnnDataType.Float32);
    private static readonly RnnDataDescriptor s_x = new(RnnDataLayout.SeqMajorUnpacked, 6, 3, 8, [6, 4, 5]);

    // Test-only driver calls (outside the library): a second context on the same device, as ILGPU creates one.
    [DllImport("libcuda.so.1")] private static extern int cuCtxCreate_v2(out nint pctx, uint flags, int dev);
    [DllImport("libcuda.so.1")] private static extern int cuCtxDestroy_v2(nint ctx);

    private static nint CurrentContext()
    {
        CudaDriver.ThrowIfFailed(CudaDriver.cuCtxGetCurrent(out nint c));
        return c;
    }

    private static Dictionary<string, float[]> Run(CudaEngine engine, Func<float[], RnnBuffer<float>>? make = null)
    {
        var host = InteropStepData.Create(engine, s_rnn, s_x, seed: 7);
        using var b = InteropStepData.Buffers.From(host, make ?? (v => engine.Upload<float>(v)));
        using var plan = engine.CreatePlan<float>(s_rnn, s_x);
        InteropStepData.Step(plan, s_x, b);
        return b.ReadAll();
    }

    private static void AssertBitwise(Dictionary<string, float[]> expected, Dictionary<string, float[]> actual)
    {
        foreach (var (name, e) in expected)
            Assert.True(InteropStepData.BitwiseDifferences(e, actual[name]) == 0, $"{name}: wrapped/foreign run differs bitwise from the engine's own");
    }

    [Fact]
    public void Wrapped_cudaMalloc_memory_gives_bitwise_the_results_of_engine_memory()
    {
        using var engine = Gpu.RequireEngine();
        var expected = Run(engine);
        var raw = new List<SafeCudaDeviceMemory>();
        try
        {
            var actual = Run(engine, v =>
            {
                var m = SafeCudaDeviceMemory.Allocate((nuint)v.Length * sizeof(float));
                raw.Add(m);
                var view = engine.Wrap<float>(m.DangerousGetHandle(), v.Length);
                view.CopyFrom(v);
                return view;
            });
            AssertBitwise(expected, actual);
            // The views are disposed; the memory is still the caller's and still allocated (cudaFree succeeds once).
            foreach (var m in raw) Assert.False(m.IsClosed);
        }
        finally
        {
            foreach (var m in raw) m.Dispose();
        }
    }

    [Fact]
    public void Views_of_overlapping_ranges_share_memory_and_disjoint_ones_do_not()
    {
        using var engine = Gpu.RequireEngine();
        using var m = SafeCudaDeviceMemory.Allocate(1024);
        nint p = m.DangerousGetHandle();
        using var a = engine.Wrap<float>(p, 128);
        using var b = engine.Wrap<float>(p + 256, 64);
        using var c = engine.Wrap<float>(p + 512, 64);
        Assert.True(a.SharesMemoryWith(b));
        Assert.False(b.SharesMemoryWith(c));
        // An output overlapping an input is refused by the plan's aliasing check.
        using var plan = engine.CreatePlan<float>(new RnnDescriptor(RnnMode.RnnTanh, 4, 4, 1, RnnDirection.Unidirectional, dataType: RnnDataType.Float32),
            new RnnDataDescriptor(RnnDataLayout.SeqMajorPacked, 2, 1, 4, [2]));
        using var w = engine.Allocate<float>(plan.WeightLayout.TotalElements);
        using var x = engine.Wrap<float>(p, 8);
        using var y = engine.Wrap<float>(p + 16, 8);
        Assert.ThrowsAny<ArgumentException>(() => plan.Forward(RnnForwardMode.Inference, plan.XDesc, x, y, null, null, null, null, w, null));
    }

    [Fact]
    public void Wrap_refuses_host_and_unknown_memory_and_a_range_past_the_allocation()
    {
        using var engine = Gpu.RequireEngine();
        using var pinned = SafeCudaHostMemory.Allocate(64);
        Assert.Contains("HOST", Assert.Throws<ArgumentException>(() => engine.Wrap<float>(pinned.DangerousGetHandle(), 16)).Message, StringComparison.Ordinal);
        var managedArray = GCHandle.Alloc(new float[16], GCHandleType.Pinned);
        try
        {
            Assert.Contains("not memory CUDA knows", Assert.Throws<ArgumentException>(() => engine.Wrap<float>(managedArray.AddrOfPinnedObject(), 16)).Message,
                StringComparison.Ordinal);
        }
        finally
        {
            managedArray.Free();
        }
        using var m = SafeCudaDeviceMemory.Allocate(64);
        Assert.Contains("past the end", Assert.Throws<ArgumentException>(() => engine.Wrap<float>(m.DangerousGetHandle(), 17)).Message, StringComparison.Ordinal);
        var view = engine.Wrap<float>(m.DangerousGetHandle(), 16);
        view.Dispose();
        Assert.Throws<ObjectDisposedException>(() => view.ToArray());
    }

    [Fact]
    public void An_engine_on_the_callers_stream_queues_there_gives_the_same_bits_and_never_destroys_the_stream()
    {
        using var reference = Gpu.RequireEngine();
        var expected = Run(reference);
        CudaException.ThrowIfFailed(Cudart.cudaSetDevice(reference.Device));
        using var stream = SafeCudaStream.Create();
        using (var engine = CudaEngine.CreateInCurrentContext(stream.DangerousGetHandle()))
        {
            Assert.Equal(stream.DangerousGetHandle(), engine.StreamHandle);
            Assert.False(engine.OwnsStream);
            Assert.True(engine.UsesCallerContext);
            AssertBitwise(expected, Run(engine));
        }
        // The engine is gone; the caller's stream is not.
        CudaException.ThrowIfFailed(Cudart.cudaStreamSynchronize(stream));
    }

    [Fact]
    public void A_foreign_context_current_on_the_thread_is_current_again_after_every_engine_call()
    {
        using var reference = Gpu.RequireEngine();
        CudaException.ThrowIfFailed(Cudart.cudaSetDevice(reference.Device));
        using var engine = CudaEngine.CreateInCurrentContext(); // the primary context
        CudaDriver.ThrowIfFailed(cuCtxCreate_v2(out nint foreign, 0, reference.Device)); // made current by cuCtxCreate
        try
        {
            Assert.Equal(foreign, CurrentContext());
            var actual = Run(engine);
            Assert.Equal(foreign, CurrentContext());
            engine.Synchronize();
            Assert.Equal(foreign, CurrentContext());
            CudaException.ThrowIfFailed(Cudart.cudaSetDevice(reference.Device)); // back to the primary context for the reference
            AssertBitwise(Run(reference), actual);
        }
        finally
        {
            CudaDriver.ThrowIfFailed(cuCtxDestroy_v2(foreign));
            CudaException.ThrowIfFailed(Cudart.cudaSetDevice(reference.Device));
        }
    }

    [Fact]
    public void An_engine_made_in_a_foreign_context_works_from_a_thread_in_another_and_refuses_memory_of_the_primary_context()
    {
        using var reference = Gpu.RequireEngine();
        var expected = Run(reference);
        CudaDriver.ThrowIfFailed(cuCtxCreate_v2(out nint foreign, 0, reference.Device));
        try
        {
            using var engine = CudaEngine.CreateInCurrentContext(); // ILGPU-style: its own cuCtxCreate context
            Assert.Equal(foreign, engine.ContextHandle);
            CudaException.ThrowIfFailed(Cudart.cudaSetDevice(reference.Device)); // the thread is in the primary context now
            nint primary = CurrentContext();
            AssertBitwise(expected, Run(engine));
            Assert.Equal(primary, CurrentContext());
            // cudaMalloc memory of the primary context is refused by the foreign-context engine, naming both contexts.
            using var m = SafeCudaDeviceMemory.Allocate(64);
            var e = Assert.Throws<ArgumentException>(() => engine.Wrap<float>(m.DangerousGetHandle(), 16));
            Assert.Contains("another context", e.Message, StringComparison.Ordinal);
        }
        finally
        {
            CudaDriver.ThrowIfFailed(cuCtxDestroy_v2(foreign));
            CudaException.ThrowIfFailed(Cudart.cudaSetDevice(reference.Device));
        }
    }
}
