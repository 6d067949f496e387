using CudnnRnn.OpenCL;
using CudnnRnn.Testing;
using Xunit;

namespace CudnnRnn.OpenCL.Tests;

/// <summary>
/// The layer on cl_mem the test made itself (clCreateBuffer through Silk.NET), with the engine created over the test's
/// own context and queue: bitwise equal to engine-allocated memory, and the shared context/refusal checks.
/// </summary>
public sealed class OpenClLayerInteropTests : LayerInterop, IDisposable
{
    private ForeignOpenCl? _foreign;

    protected override IRnnEngine? TryCreateEngine(out string reason)
    {
        if (SharedOpenCl.TryGet(out reason) is null)
        {
            reason = "OpenCL is unavailable here: " + reason;
            return null;
        }
        _foreign ??= new ForeignOpenCl();
        return OpenClEngine.CreateOver(_foreign.Context, _foreign.Queue);
    }

    protected override IReadOnlyList<string> WrapKinds => ["cl_mem"];

    protected override RnnBuffer<float> WrapOutside(IRnnEngine engine, string kind, float[] contents, List<IDisposable> owners)
    {
        var cl = (OpenClEngine)engine;
        Assert.Equal(_foreign!.Context, cl.ContextHandle);
        nint mem = _foreign.CreateBuffer(contents.Length * sizeof(float) + 64, [.. contents, .. new float[16]]);   // larger than the view
        return cl.Wrap<float>(mem, contents.Length);
    }

    public void Dispose() => _foreign?.Dispose();
}

/// <summary>The engine over the caller's OpenCL objects: retain/release, checks, ordering, and no host synchronisation.</summary>
public sealed class OpenClInteropTests
{
    [Fact]
    public void CreateOver_retains_the_callers_context_and_queue_and_releases_them_on_dispose()
    {
        using var f = new ForeignOpenCl();
        uint q0 = ForeignOpenCl.QueueReferenceCount(f.Queue), c0 = ForeignOpenCl.ContextReferenceCount(f.Context);
        var engine = OpenClEngine.CreateOver(f.Context, f.Queue);
        Assert.True(engine.IsBorrowed);
        Assert.Equal(q0 + 1, ForeignOpenCl.QueueReferenceCount(f.Queue));
        Assert.True(ForeignOpenCl.ContextReferenceCount(f.Context) > c0);
        Assert.Equal(f.Queue, engine.QueueHandle);
        Assert.Equal(SharedOpenCl.Require().Device.Name, engine.Device.Name);
        engine.Dispose();
        engine.Dispose();   // harmless
        Assert.Equal(q0, ForeignOpenCl.QueueReferenceCount(f.Queue));
        Assert.Equal(c0, ForeignOpenCl.ContextReferenceCount(f.Context));
    }

    [Fact]
    public void Wrap_retains_the_cl_mem_and_disposing_the_view_releases_only_its_reference()
    {
        using var f = new ForeignOpenCl();
        using var engine = OpenClEngine.CreateOver(f.Context, f.Queue);
        nint mem = f.CreateBuffer(4 * sizeof(float), [1f, 2f, 3f, 4f]);
        var view = engine.Wrap<float>(mem, 4);
        Assert.True(view.IsView);
        Assert.Equal(2u, ForeignOpenCl.MemReferenceCount(mem));
        Assert.Equal([1f, 2f, 3f, 4f], view.ToArray());            // zero copy: the test's data, read through the view
        view.Write(1, [20f]);
        view.Dispose();
        view.Dispose();
        Assert.Equal(1u, ForeignOpenCl.MemReferenceCount(mem));     // the test's reference is still there
        using var again = engine.Wrap<float>(mem, 4);
        Assert.Equal([1f, 20f, 3f, 4f], again.ToArray());           // the write went to the caller's memory
    }

    [Fact]
    public void Bad_input_is_refused_with_the_argument_named()
    {
        using var f = new ForeignOpenCl();
        using var other = new ForeignOpenCl();
        Assert.Equal("clContext", Assert.Throws<ArgumentNullException>(() => OpenClEngine.CreateOver(0, f.Queue)).ParamName);
        Assert.Equal("clCommandQueue", Assert.Throws<ArgumentNullException>(() => OpenClEngine.CreateOver(f.Context, 0)).ParamName);
        var e = Assert.Throws<ArgumentException>(() => OpenClEngine.CreateOver(f.Context, other.Queue));
        Assert.Equal("clCommandQueue", e.ParamName);
        Assert.Contains("another", e.Message.Replace("belongs to the context", "another"));
        using (var ooo = TryOutOfOrder())
            if (ooo is not null)
                Assert.Contains("out of order", Assert.Throws<ArgumentException>(() => OpenClEngine.CreateOver(ooo.Context, ooo.Queue)).Message);

        using var engine = OpenClEngine.CreateOver(f.Context, f.Queue);
        nint mem = f.CreateBuffer(16);
        nint foreignMem = other.CreateBuffer(16);
        Assert.Equal("clMem", Assert.Throws<ArgumentNullException>(() => engine.Wrap<float>(0, 4)).ParamName);
        Assert.Equal("length", Assert.Throws<ArgumentOutOfRangeException>(() => engine.Wrap<float>(mem, -1)).ParamName);
        Assert.Equal("length", Assert.Throws<ArgumentOutOfRangeException>(() => engine.Wrap<double>(mem, long.MaxValue / 4)).ParamName);
        var small = Assert.Throws<ArgumentException>(() => engine.Wrap<float>(mem, 5));
        Assert.Equal("clMem", small.ParamName);
        Assert.Contains("16 bytes", small.Message);
        var foreignCtx = Assert.Throws<ArgumentException>(() => engine.Wrap<float>(foreignMem, 4));
        Assert.Contains("memory of another context", foreignCtx.Message);
        Assert.Equal(1u, ForeignOpenCl.MemReferenceCount(foreignMem));   // refused before any retain

        var view = engine.Wrap<float>(mem, 4);
        view.Dispose();
        Assert.Throws<ObjectDisposedException>(() => view.ToArray());
        var rnn = new RnnDescriptor(RnnMode.RnnTanh, 2, 2, 1, RnnDirection.Unidirectional, dataType: RnnDataType.Float32);
        using var layer = new RnnLayer<float>(engine, rnn, seed: 1);
        Assert.Throws<ObjectDisposedException>(() => layer.Forward(RnnDataDescriptor.Uniform(RnnDataLayout.SeqMajorUnpacked, 2, 1, 2), view));

        var gone = OpenClEngine.CreateOver(f.Context, f.Queue);
        gone.Dispose();
        Assert.Throws<ObjectDisposedException>(() => gone.Wrap<float>(mem, 4));
    }

    private static ForeignOpenCl? TryOutOfOrder()
    {
        try { return new ForeignOpenCl(outOfOrder: true); }
        catch (Exception) { return null; }   // a device without out-of-order queues: nothing to refuse
    }

    [Fact]
    public void SharesMemoryWith_sees_two_views_of_one_cl_mem_and_a_plan_refuses_them_as_input_and_output()
    {
        using var f = new ForeignOpenCl();
        using var engine = OpenClEngine.CreateOver(f.Context, f.Queue);
        var rnn = new RnnDescriptor(RnnMode.RnnTanh, 4, 4, 1, RnnDirection.Unidirectional, dataType: RnnDataType.Float32);
        var xDesc = RnnDataDescriptor.Uniform(RnnDataLayout.SeqMajorUnpacked, 3, 2, 4);
        using var plan = engine.CreatePlan<float>(rnn, xDesc);
        using var w = engine.Allocate<float>(plan.WeightLayout.TotalElements);
        nint mem = f.CreateBuffer(24 * sizeof(float));
        using var x = engine.Wrap<float>(mem, 24);
        using var y = engine.Wrap<float>(mem, 24);
        Assert.True(x.SharesMemoryWith(y));
        Assert.Equal("y", Assert.Throws<ArgumentException>(() => plan.Forward(RnnForwardMode.Inference, x, y, null, null, null, null, w, null)).ParamName);
        using var separate = engine.Wrap<float>(f.CreateBuffer(24 * sizeof(float)), 24);
        Assert.False(x.SharesMemoryWith(separate));
        plan.Forward(RnnForwardMode.Inference, x, separate, null, null, null, null, w, null);
    }

    [Fact]
    public void A_warm_device_resident_training_step_makes_no_synchronising_call_and_no_host_copy()
    {
        using var f = new ForeignOpenCl();
        using var engine = OpenClEngine.CreateOver(f.Context, f.Queue);
        var rnn = new RnnDescriptor(RnnMode.Lstm, 8, 16, 2, RnnDirection.Bidirectional, dataType: RnnDataType.Float32);
        var xDesc = new RnnDataDescriptor(RnnDataLayout.SeqMajorUnpacked, 6, 3, 8, [6, 4, 5]);
        using var layer = new RnnLayer<float>(engine, rnn, seed: 1);
        using var x = engine.Wrap<float>(f.CreateBuffer(xDesc.ElementCount * sizeof(float), new float[xDesc.ElementCount]), xDesc.ElementCount);
        long yCount = xDesc.WithVectorSize(32).ElementCount;
        using var dy = engine.Allocate<float>(yCount);
        using var dx = engine.Allocate<float>(xDesc.ElementCount);

        void Step()
        {
            using var context = layer.Forward(xDesc, x);
            layer.Backward(context, dy, dx: dx);
        }

        Step(); // warm: plans (index tables uploaded once), context storage, reserve
        engine.Synchronize();
        long syncs = engine.SynchronizingCalls, copies = engine.HostTransfers;
        for (int i = 0; i < 3; i++) Step();
        long duringSyncs = engine.SynchronizingCalls - syncs, duringCopies = engine.HostTransfers - copies;
        engine.Synchronize();
        Assert.True(duringSyncs == 0, $"{duringSyncs} synchronising calls in 3 warm device-resident training steps; expected none");
        Assert.True(duringCopies == 0, $"{duringCopies} host copies in 3 warm device-resident training steps; expected none");
        // The counters count: one read is one synchronising call and one host copy.
        _ = dx.ToArray();
        Assert.Equal(syncs + 2, engine.SynchronizingCalls);   // the Synchronize above and this read
        Assert.Equal(copies + 1, engine.HostTransfers);
    }
}
