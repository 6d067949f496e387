using System.Diagnostics.CodeAnalysis;
using System.Numerics;
using CudnnRnn.Interop;

namespace CudnnRnn.Cuda;

/// <summary>What the CUDA driver says about a pointer (<c>cuPointerGetAttribute</c>, <c>cuMemGetAddressRange</c>).</summary>
/// <param name="Known">False when the driver does not know the address (CUDA_ERROR_INVALID_VALUE): not CUDA memory.</param>
/// <param name="MemoryType">CU_POINTER_ATTRIBUTE_MEMORY_TYPE.</param>
/// <param name="IsManaged">CU_POINTER_ATTRIBUTE_IS_MANAGED.</param>
/// <param name="Device">CU_POINTER_ATTRIBUTE_DEVICE_ORDINAL.</param>
/// <param name="Context">CU_POINTER_ATTRIBUTE_CONTEXT (0 when the driver records none, e.g. for some pool allocations).</param>
/// <param name="RangeKnown">Whether cuMemGetAddressRange found the allocation holding the pointer.</param>
/// <param name="AllocationBase">Base address of that allocation.</param>
/// <param name="AllocationBytes">Its size in bytes.</param>
internal readonly record struct CudaPointerInfo(bool Known, CUmemorytype MemoryType, bool IsManaged, int Device, nint Context,
    bool RangeKnown, ulong AllocationBase, ulong AllocationBytes);

public sealed partial class CudaEngine
{
    /// <summary>
    /// The CUDA context this engine was created in by <see cref="CreateInCurrentContext"/> (a <c>CUcontext</c>), or 0 for
    /// an engine from <see cref="Create"/>, which works in its device's primary context through <c>cudaSetDevice</c>.
    /// </summary>
    public nint ContextHandle => _context;

    /// <summary>Whether the engine was created in the caller's current context (<see cref="CreateInCurrentContext"/>).</summary>
    public bool UsesCallerContext => _context != 0;

    /// <summary>
    /// The <c>cudaStream_t</c> all of this engine's work is queued on: its own stream, or the caller's stream given to
    /// <see cref="CreateInCurrentContext"/> (0 is the legacy default stream). Record an event on it, or queue your own
    /// kernels on it, to order your work after ours.
    /// </summary>
    public nint StreamHandle => _stream.DangerousGetHandle();

    /// <summary>False when the engine runs on a stream the caller owns (it never destroys that stream).</summary>
    public bool OwnsStream => _stream.OwnsStream;

    /// <summary>
    /// Creates an engine in the CUDA context current on the calling thread (the device's primary context for the CUDA
    /// runtime, PyTorch/TorchSharp and ManagedCuda's PrimaryContext; the context an ILGPU CUDA accelerator created with
    /// <c>cuCtxCreate</c>, once it is made current), on the caller's <paramref name="stream"/> or, when null, on a stream
    /// of its own created in that context. Throws <see cref="RnnEngineUnavailableException"/> with the reason.
    /// </summary>
    /// <remarks>
    /// The engine records the context (<c>cuCtxGetCurrent</c>) and, around each of its calls, saves the thread's current
    /// context, makes its own current and restores the saved one; it never calls <c>cudaSetDevice</c>. Stream rules: the
    /// stream is borrowed (never destroyed) and must outlive the engine and every buffer and plan made from it (stream-
    /// ordered frees are queued on it). Work is queued there with no implicit synchronisation: the caller orders the
    /// kernels that produce our inputs before our calls (same stream, or <c>cudaStreamWaitEvent</c>), keeps every buffer
    /// alive until the stream has passed our work, and synchronizes (or records an event) before reading our outputs
    /// from another stream or the host.
    /// </remarks>
    public static CudaEngine CreateInCurrentContext(nint? stream = null) =>
        TryCreateInCurrentContext(out var engine, out string reason, stream) ? engine : throw new RnnEngineUnavailableException(EngineName, reason);

    /// <summary><see cref="CreateInCurrentContext"/>, or false with the reason (no driver, no current context, a stream of another context, ...).</summary>
    public static bool TryCreateInCurrentContext([NotNullWhen(true)] out CudaEngine? engine, out string reason, nint? stream = null)
    {
        engine = null;
        if (!CudaLibraries.TryLoadCudart(out var cudartError))
        {
            reason = cudartError!.Message;
            return false;
        }
        if (!CudaLibraries.TryLoadDriver(out var driverError))
        {
            reason = $"an engine in the current context needs the CUDA driver library: {driverError!.Message}";
            return false;
        }
        SafeCudnnHandle? cudnn = null;
        SafeCudaStream? own = null;
        try
        {
            CudaDriver.ThrowIfFailed(CudaDriver.cuInit(0));
            CudaDriver.ThrowIfFailed(CudaDriver.cuCtxGetCurrent(out nint context));
            if (context == 0)
            {
                reason = "no CUDA context is current on this thread. Make one current first: cudaSetDevice(n) + cudaFree(0) (the runtime's " +
                         "primary context, as PyTorch/TorchSharp use), ManagedCuda's PrimaryContext.SetCurrent(), or ILGPU's accelerator.Bind().";
                return false;
            }
            CudaDriver.ThrowIfFailed(CudaDriver.cuCtxGetDevice(out int device));
            var probe = Probe(device);
            if (!probe.Available)
            {
                reason = probe.Reason;
                return false;
            }
            if (stream is { } s)
            {
                CudaDriver.ThrowIfFailed(CudaDriver.cuStreamGetCtx(s, out nint streamContext));
                if (StreamContextMismatch(s, streamContext, context) is { } mismatch)
                {
                    reason = mismatch;
                    return false;
                }
            }
            var engineStream = stream is { } borrowed ? SafeCudaStream.Borrow(borrowed) : own = SafeCudaStream.Create();
            cudnn = SafeCudnnHandle.Create();
            CudnnException.ThrowIfFailed(Cudnn.cudnnSetStream(cudnn, engineStream));
            engine = new CudaEngine(device, cudnn, engineStream, probe, context, CudaLibraries.CudnnVersion);
            engine.InitDeviceTraits();
            engine.InitMemoryPool();
            reason = "";
            return true;
        }
        catch (Exception e) when (e is CudaException or CudnnException or CudaDriverException or DllNotFoundException or EntryPointNotFoundException)
        {
            cudnn?.Dispose();
            own?.Dispose();
            reason = $"creating the cuDNN handle in the current CUDA context failed: {e.Message}";
            return false;
        }
    }

    /// <summary>Null when <paramref name="stream"/> belongs to <paramref name="context"/>, else the reason.</summary>
    internal static string? StreamContextMismatch(nint stream, nint streamContext, nint context) => streamContext == context ? null
        : $"stream 0x{stream:x} belongs to CUDA context 0x{streamContext:x}, but the context current on this thread is 0x{context:x}; " +
          "create the engine with that stream's context current.";

    /// <summary>
    /// A non-owning view of <paramref name="length"/> elements of device memory this engine did not allocate (from
    /// <c>cudaMalloc</c>, <c>cuMemAlloc</c>, PyTorch/TorchSharp's <c>data_ptr()</c>, an ILGPU buffer's <c>NativePtr</c>),
    /// usable wherever an engine buffer is (plans, layers, forward contexts), with no copy.
    /// </summary>
    /// <remarks>
    /// Checked before any cuDNN call: a null pointer, a negative length or one whose byte size overflows, an element type
    /// the engine cannot hold, memory CUDA does not know, host memory, memory of another device or of another context, and
    /// a range that runs past the end of its allocation are each an <see cref="ArgumentException"/> naming what was found
    /// and what was expected. Disposing the view never frees the memory; after dispose, every use of the view throws
    /// <see cref="ObjectDisposedException"/>. The caller keeps the memory alive (and does not free it) until the engine's
    /// stream has passed the last call that uses the view, and orders its own writes to it before our calls on the stream.
    /// Writes made through the pointer are invisible to <see cref="RnnBuffer{T}.Version"/>: call
    /// <see cref="RnnBuffer{T}.MarkModified"/> after changing wrapped weights or inputs outside this library.
    /// </remarks>
    public RnnBuffer<T> Wrap<T>(nint devicePointer, long length) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ThrowIfDisposed();
        nuint bytes = CheckWrapArguments<T>(devicePointer, length);
        using var scope = EnterDevice();
        CudaDriver.ThrowIfFailed(CudaDriver.cuCtxGetCurrent(out nint engineContext));
        var info = QueryPointer(devicePointer);
        if (DescribeForeignPointer(info, devicePointer, bytes, Device, engineContext) is { } problem)
            throw new ArgumentException(problem, nameof(devicePointer));
        return new CudaBuffer<T>(this, devicePointer, length, bytes);
    }

    /// <summary>The argument checks of <see cref="Wrap{T}"/> that need no native call; returns the byte size.</summary>
    internal static unsafe nuint CheckWrapArguments<T>(nint devicePointer, long length) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (devicePointer == 0)
            throw new ArgumentException("devicePointer is NULL; expected a device pointer from cudaMalloc, cuMemAlloc or another CUDA library.", nameof(devicePointer));
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        _ = RnnDescriptor.DataTypeOf<T>(); // an element type the engine holds, else NotSupportedException naming it
        if (length > long.MaxValue / sizeof(T))
            throw new ArgumentOutOfRangeException(nameof(length), length,
                $"{length} elements of {sizeof(T)} bytes overflow a 64-bit byte count; expected at most {long.MaxValue / sizeof(T)}.");
        ulong bytes = (ulong)length * (ulong)sizeof(T);
        if ((ulong)devicePointer > ulong.MaxValue - bytes)
            throw new ArgumentOutOfRangeException(nameof(length), length,
                $"0x{devicePointer:x} + {bytes} bytes wraps around the address space.");
        return (nuint)bytes;
    }

    /// <summary>The driver's view of <paramref name="pointer"/>; <see cref="CudaPointerInfo.Known"/> false for an address CUDA does not know.</summary>
    internal static unsafe CudaPointerInfo QueryPointer(nint pointer)
    {
        ulong p = (ulong)pointer;
        // Each attribute is read into a zeroed 8-byte slot: the driver writes an unsigned int, an int or a pointer there.
        ulong Attribute(CUpointer_attribute a, out int result)
        {
            ulong value = 0;
            result = CudaDriver.cuPointerGetAttribute(&value, a, p);
            return value;
        }
        ulong type = Attribute(CUpointer_attribute.CU_POINTER_ATTRIBUTE_MEMORY_TYPE, out int r);
        if (r == 1) return default; // CUDA_ERROR_INVALID_VALUE: "ptr" is not a pointer CUDA knows
        CudaDriver.ThrowIfFailed(r, "cuPointerGetAttribute(CU_POINTER_ATTRIBUTE_MEMORY_TYPE)");
        ulong managed = Attribute(CUpointer_attribute.CU_POINTER_ATTRIBUTE_IS_MANAGED, out r);
        CudaDriver.ThrowIfFailed(r, "cuPointerGetAttribute(CU_POINTER_ATTRIBUTE_IS_MANAGED)");
        ulong device = Attribute(CUpointer_attribute.CU_POINTER_ATTRIBUTE_DEVICE_ORDINAL, out r);
        CudaDriver.ThrowIfFailed(r, "cuPointerGetAttribute(CU_POINTER_ATTRIBUTE_DEVICE_ORDINAL)");
        ulong context = Attribute(CUpointer_attribute.CU_POINTER_ATTRIBUTE_CONTEXT, out r);
        if (r != 0) context = 0; // NOT VERIFIED which allocations record no context; the device check still applies
        bool range = CudaDriver.cuMemGetAddressRange_v2(out ulong allocBase, out nuint allocBytes, p) == 0;
        return new CudaPointerInfo(true, (CUmemorytype)(uint)type, (uint)managed != 0, (int)(uint)device, (nint)context, range, allocBase, allocBytes);
    }

    /// <summary>
    /// Null when the driver's view of a wrapped pointer fits this engine, else the message: unknown memory, host memory,
    /// another device, another context (managed memory is reachable from every context and is not refused for that), or
    /// a range past the end of the allocation. Pure, so every branch is tested without a GPU.
    /// </summary>
    internal static string? DescribeForeignPointer(CudaPointerInfo info, nint pointer, nuint bytes, int engineDevice, nint engineContext)
    {
        string at = $"devicePointer 0x{pointer:x}";
        if (!info.Known)
            return $"{at} is not memory CUDA knows (cuPointerGetAttribute: CUDA_ERROR_INVALID_VALUE); expected device memory from cudaMalloc, cuMemAlloc or another CUDA library.";
        if (!info.IsManaged && info.MemoryType != CUmemorytype.CU_MEMORYTYPE_DEVICE)
            return $"{at} is {info.MemoryType} memory; expected device (or managed) memory on CUDA device {engineDevice}.";
        if (info.Device != engineDevice)
            return $"{at} is memory of another device: CUDA device {info.Device}; this engine runs on CUDA device {engineDevice}.";
        if (!info.IsManaged && info.Context != 0 && info.Context != engineContext)
            return $"{at} is memory of another context: allocated in CUDA context 0x{info.Context:x}; this engine runs in context 0x{engineContext:x} " +
                   "(create the engine with CreateInCurrentContext while the memory's context is current).";
        if (!info.RangeKnown)
            return $"{at}: cuMemGetAddressRange does not find the allocation holding it, so its {bytes}-byte range cannot be checked.";
        ulong end = (ulong)pointer + bytes, allocEnd = info.AllocationBase + info.AllocationBytes;
        if (end > allocEnd)
            return $"{at} + {bytes} bytes runs {end - allocEnd} bytes past the end of its allocation [0x{info.AllocationBase:x}, 0x{allocEnd:x}).";
        return null;
    }

    /// <summary>
    /// An engine object with no native state (invalid handles, no pool), for tests of the checks that must run before any
    /// native call; every native call through it fails. Never returned to users.
    /// </summary>
    internal static CudaEngine CreateDetachedForTesting(nint context = 0, CudnnVersionInfo? cudnn = null, CudaDeviceTraits device = default) =>
        new(0, new SafeCudnnHandle(), new SafeCudaStream(), new CudaProbeResult(false, "detached test engine", null, 0, 0, 0, 0, 0, 0, 0, null, "", ""),
            context, cudnn ?? new CudnnVersionInfo(9, 0, 0, 90000)) { DeviceTraits = device };
}
