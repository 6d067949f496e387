using CudnnRnn.OpenCL;
using Silk.NET.OpenCL;
using Xunit;

namespace CudnnRnn.OpenCL.Tests;

/// <summary>
/// OpenCL objects the test owns, made through Silk.NET without the engine (as another library would): a context and
/// an in-order queue on the shared engine's device, and cl_mem buffers in that context. Disposing releases the test's own
/// references; the engine's retained references keep the objects alive for as long as it uses them.
/// </summary>
internal sealed unsafe class ForeignOpenCl : IDisposable
{
    public static readonly CL Api = CL.GetApi();
    private readonly List<nint> _mems = [];

    public ForeignOpenCl(bool outOfOrder = false)
    {
        var device = SharedOpenCl.Require().Device;
        Device = device.DeviceId;
        int err;
        nint* props = stackalloc nint[3] { 0x1084 /* CL_CONTEXT_PLATFORM */, device.PlatformId, 0 };
        nint dev = Device;
        Context = Api.CreateContext(props, 1, &dev, null, null, &err);
        Assert.Equal(0, err);
        Queue = Api.CreateCommandQueue(Context, dev, outOfOrder ? CommandQueueProperties.OutOfOrderExecModeEnable : CommandQueueProperties.None, &err);
        Assert.Equal(0, err);
    }

    public nint Device { get; }
    public nint Context { get; }
    public nint Queue { get; }

    /// <summary>A cl_mem of <paramref name="bytes"/> bytes, initialised from <paramref name="contents"/> when given.</summary>
    public nint CreateBuffer(long bytes, float[]? contents = null)
    {
        int err;
        nint mem;
        fixed (float* p = contents)
            mem = Api.CreateBuffer(Context, MemFlags.ReadWrite | (contents is null ? MemFlags.None : MemFlags.CopyHostPtr), (nuint)bytes, p, &err);
        Assert.Equal(0, err);
        _mems.Add(mem);
        return mem;
    }

    /// <summary>The reference count of an OpenCL object (CL_MEM_REFERENCE_COUNT etc.), to see retains and releases.</summary>
    public static uint MemReferenceCount(nint mem)
    {
        uint n;
        Assert.Equal(0, Api.GetMemObjectInfo(mem, (MemInfo)0x1105 /* CL_MEM_REFERENCE_COUNT */, sizeof(uint), &n, null));
        return n;
    }

    public static uint QueueReferenceCount(nint queue)
    {
        uint n;
        Assert.Equal(0, Api.GetCommandQueueInfo(queue, (CommandQueueInfo)0x1092 /* CL_QUEUE_REFERENCE_COUNT */, sizeof(uint), &n, null));
        return n;
    }

    public static uint ContextReferenceCount(nint context)
    {
        uint n;
        Assert.Equal(0, Api.GetContextInfo(context, (ContextInfo)0x1080 /* CL_CONTEXT_REFERENCE_COUNT */, sizeof(uint), &n, null));
        return n;
    }

    public void Dispose()
    {
        foreach (var m in _mems) Api.ReleaseMemObject(m);
        _mems.Clear();
        Api.ReleaseCommandQueue(Queue);
        Api.ReleaseContext(Context);
    }
}
