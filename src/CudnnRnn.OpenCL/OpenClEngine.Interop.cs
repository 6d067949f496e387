using System.Numerics;
using CudnnRnn.OpenCL.Interop;
using Silk.NET.OpenCL;

namespace CudnnRnn.OpenCL;

// The engine over OpenCL objects the caller owns (a cl_context, a cl_command_queue, cl_mem buffers), and the counters of
// host-synchronising and host-copying calls.
public sealed unsafe partial class OpenClEngine
{
    private const int ClQueueContext = 0x1090, ClQueueDevice = 0x1091, ClQueueProperties = 0x1093;
    private const int ClMemSize = 0x1102, ClMemContext = 0x1106, ClMemAssociatedMemObject = 0x1107, ClMemOffset = 0x1108;
    private const int ClContextDevices = 0x1081, ClDevicePlatform = 0x1031;
    private const ulong ClQueueOutOfOrderExecModeEnable = 1;

    private long _synchronizingCalls, _hostTransfers, _tickets, _completedTicket;

    /// <summary>
    /// Creates the engine over a <c>cl_context</c> and an in-order <c>cl_command_queue</c> the caller owns (from their
    /// own OpenCL code, Silk.NET, ILGPU, ...). Both are retained (<c>clRetainContext</c>, <c>clRetainCommandQueue</c>)
    /// and released when the engine is disposed; the caller's own references are untouched. The device is the queue's
    /// (<c>CL_QUEUE_DEVICE</c>) and must belong to the context. Every kernel, fill and copy of the engine is enqueued on
    /// that queue, in the order of the calls, and no call waits for it, so work the caller enqueues on the same queue is
    /// ordered with ours; with another queue the caller orders the two with events or <c>clFinish</c>.
    /// </summary>
    /// <param name="clContext">A valid <c>cl_context</c>.</param>
    /// <param name="clCommandQueue">A valid in-order <c>cl_command_queue</c> of <paramref name="clContext"/>.</param>
    /// <exception cref="ArgumentNullException">A handle is 0.</exception>
    /// <exception cref="ArgumentException">The queue belongs to another context, its device is not in the context, or
    /// it executes out of order (the engine's kernels depend on one another in queue order).</exception>
    /// <exception cref="RnnEngineUnavailableException">No OpenCL loader, or the device is older than OpenCL 1.2.</exception>
    public static OpenClEngine CreateOver(nint clContext, nint clCommandQueue)
    {
        if (clContext == 0) throw new ArgumentNullException(nameof(clContext), "Expected a cl_context handle, not 0.");
        if (clCommandQueue == 0) throw new ArgumentNullException(nameof(clCommandQueue), "Expected a cl_command_queue handle, not 0.");
        if (!OpenClRuntime.TryGetApi(out var api, out var why))
            throw new RnnEngineUnavailableException(EngineName, why);

        nint queueContext = QueueValue<nint>(api, clCommandQueue, ClQueueContext);
        if (queueContext != clContext)
            throw new ArgumentException($"The command queue 0x{clCommandQueue:X} belongs to the context 0x{queueContext:X}, not to clContext 0x{clContext:X}.", nameof(clCommandQueue));
        if ((QueueValue<ulong>(api, clCommandQueue, ClQueueProperties) & ClQueueOutOfOrderExecModeEnable) != 0)
            throw new ArgumentException("The command queue executes out of order (CL_QUEUE_OUT_OF_ORDER_EXEC_MODE_ENABLE); the engine's " +
                "kernels depend on one another in queue order. Pass an in-order queue.", nameof(clCommandQueue));
        nint device = QueueValue<nint>(api, clCommandQueue, ClQueueDevice);
        if (!ContextDevices(api, clContext).Contains(device))
            throw new ArgumentException($"The queue's device 0x{device:X} is not a device of the context 0x{clContext:X}.", nameof(clCommandQueue));

        nint platform = OpenClRuntime.DeviceValue<nint>(api, device, (DeviceInfo)ClDevicePlatform);
        var info = Describe(api, platform, device);
        if (!IsAtLeast12(info.Version, out string? versionProblem))
            throw new RnnEngineUnavailableException(EngineName, $"the OpenCL device '{info.Name}' reports CL_DEVICE_VERSION \"{info.Version}\": {versionProblem}");

        OpenClException.ThrowIfFailed(api.RetainContext(clContext), "clRetainContext");
        var context = SafeClHandle.Own<SafeClContext>(clContext);
        try
        {
            OpenClException.ThrowIfFailed(api.RetainCommandQueue(clCommandQueue), "clRetainCommandQueue");
            var queue = SafeClHandle.Own<SafeClCommandQueue>(clCommandQueue);
            return new OpenClEngine(api, info, disableFloat64: false, (context, queue), borrowed: true);
        }
        catch
        {
            context.Dispose();
            throw;
        }
    }

    /// <summary>True when the engine runs on a context and queue the caller passed to <see cref="CreateOver"/>.</summary>
    public bool IsBorrowed { get; }

    /// <summary>The engine's <c>cl_context</c> (for creating memory to <see cref="Wrap{T}"/>; valid until disposed).</summary>
    public nint ContextHandle
    {
        get
        {
            ThrowIfDisposed();
            return _context.DangerousGetHandle();
        }
    }

    /// <summary>The engine's <c>cl_command_queue</c>, on which all its work is enqueued (valid until disposed).</summary>
    public nint QueueHandle => Queue;

    /// <summary>
    /// A non-owning view of the caller's <c>cl_mem</c> as a buffer of this engine, without copying: the first
    /// <paramref name="length"/> elements of <typeparamref name="T"/>. The <c>cl_mem</c> is retained
    /// (<c>clRetainMemObject</c>) and the view releases that reference when disposed, so the caller may release theirs
    /// at any time; the memory itself goes when the last reference does. Contents are read and written on the engine's
    /// queue (see <see cref="CreateOver"/> for the ordering rule).
    /// </summary>
    /// <exception cref="ArgumentNullException"><paramref name="clMem"/> is 0.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="length"/> is negative or its size in bytes overflows.</exception>
    /// <exception cref="ArgumentException">The memory belongs to another context, or is smaller than length × sizeof(T).</exception>
    public OpenClBuffer<T> Wrap<T>(nint clMem, long length) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ThrowIfDisposed();
        RnnDescriptor.DataTypeOf<T>();
        if (clMem == 0) throw new ArgumentNullException(nameof(clMem), "Expected a cl_mem handle, not 0.");
        if (length < 0 || length > long.MaxValue / sizeof(T))
            throw new ArgumentOutOfRangeException(nameof(length), length, $"Expected 0..{long.MaxValue / sizeof(T)} elements (length × {sizeof(T)} bytes must fit in 64 bits).");
        long bytes = length * sizeof(T);
        nint memContext = MemValue<nint>(clMem, ClMemContext);
        if (memContext != _context.DangerousGetHandle())
            throw new ArgumentException($"clMem is memory of another context (0x{memContext:X}); this engine's context is 0x{_context.DangerousGetHandle():X}.", nameof(clMem));
        ulong size = MemValue<nuint>(clMem, ClMemSize);
        if (size < (ulong)bytes)
            throw new ArgumentException($"clMem holds {size} bytes; {length} elements of {typeof(T).Name} need {bytes}.", nameof(clMem));
        nint parent = MemValue<nint>(clMem, ClMemAssociatedMemObject);
        ulong offset = parent == 0 ? 0 : MemValue<nuint>(clMem, ClMemOffset);
        OpenClException.ThrowIfFailed(_api.RetainMemObject(clMem), "clRetainMemObject");
        var owner = SafeClHandle.Own<SafeClMem>(clMem);
        return new OpenClBuffer<T>(this, owner, length, parent == 0 ? clMem : parent, (long)offset);
    }

    /// <summary>
    /// How many calls of this engine made the host wait for the device: <c>clFinish</c>, blocking
    /// <c>clEnqueueReadBuffer</c>/<c>clEnqueueWriteBuffer</c> (<see cref="RnnBuffer{T}.Read"/>, <see cref="RnnBuffer{T}.Write"/>
    /// and the copies built on them) and <c>clWaitForEvents</c>. Plan calls make none; a training step on buffers already on
    /// the device makes none (a test checks it). An optimizer step on parameters in this engine's memory makes two per
    /// parameter (the blocking write and read of its non-finite flags; a test checks that too).
    /// </summary>
    public long SynchronizingCalls => Volatile.Read(ref _synchronizingCalls);

    /// <summary>How many host ↔ device copies this engine enqueued (<c>clEnqueueReadBuffer</c>/<c>clEnqueueWriteBuffer</c>,
    /// including the index tables a plan uploads when a call's sequence lengths change).</summary>
    public long HostTransfers => Volatile.Read(ref _hostTransfers);

    /// <summary>Before a host-synchronising call: the ticket of the last work it will cover (see <see cref="TakeTicket"/>).</summary>
    internal long BeginSynchronizingCall() => Volatile.Read(ref _tickets);

    /// <summary>After a host-synchronising call that succeeded: counts it and marks work up to <paramref name="covered"/> complete.</summary>
    internal void EndSynchronizingCall(long covered)
    {
        Interlocked.Increment(ref _synchronizingCalls);
        long seen = Volatile.Read(ref _completedTicket);
        while (seen < covered)
        {
            long was = Interlocked.CompareExchange(ref _completedTicket, covered, seen);
            if (was == seen) break;
            seen = was;
        }
    }

    /// <summary>Called right after enqueuing work whose completion matters to the host (a non-blocking upload from host
    /// memory): it is complete once <see cref="IsComplete"/> says so for the returned ticket.</summary>
    internal long TakeTicket() => Interlocked.Increment(ref _tickets);

    /// <summary>Whether a synchronising call started after the work of <paramref name="ticket"/> was enqueued has returned.</summary>
    internal bool IsComplete(long ticket) => Volatile.Read(ref _completedTicket) >= ticket;

    /// <summary>Records a host ↔ device copy.</summary>
    internal void CountHostTransfer() => Interlocked.Increment(ref _hostTransfers);

    private TValue MemValue<TValue>(nint mem, int param) where TValue : unmanaged
    {
        TValue v = default;
        OpenClException.ThrowIfFailed(_api.GetMemObjectInfo(mem, (MemInfo)param, (nuint)sizeof(TValue), &v, null), "clGetMemObjectInfo");
        return v;
    }

    private static TValue QueueValue<TValue>(CL api, nint queue, int param) where TValue : unmanaged
    {
        TValue v = default;
        OpenClException.ThrowIfFailed(api.GetCommandQueueInfo(queue, (CommandQueueInfo)param, (nuint)sizeof(TValue), &v, null), "clGetCommandQueueInfo");
        return v;
    }

    private static nint[] ContextDevices(CL api, nint context)
    {
        nuint size;
        OpenClException.ThrowIfFailed(api.GetContextInfo(context, (ContextInfo)ClContextDevices, 0, null, &size), "clGetContextInfo");
        var devices = new nint[(int)size / sizeof(nint)];
        fixed (nint* p = devices)
            OpenClException.ThrowIfFailed(api.GetContextInfo(context, (ContextInfo)ClContextDevices, size, p, null), "clGetContextInfo");
        return devices;
    }

    private static OpenClDeviceInfo Describe(CL api, nint platform, nint device)
    {
        // The platform and device indices of the listing, when the device is in it (the listing is what selectors match).
        foreach (var d in OpenClRuntime.List().Devices)
            if (d.DeviceId == device) return d;
        return OpenClRuntime.Describe(api, platform, OpenClRuntime.PlatformString(api, platform, PlatformInfo.Name),
            OpenClRuntime.PlatformString(api, platform, PlatformInfo.Version), -1, device, -1);
    }
}
