using System.Diagnostics.CodeAnalysis;
using System.Numerics;
using System.Reflection;
using System.Runtime.CompilerServices;
using CudnnRnn.OpenCL.Interop;
using Silk.NET.OpenCL;

namespace CudnnRnn.OpenCL;

/// <summary>
/// The OpenCL engine: the same networks, layouts and weight naming as the CPU reference, computed by OpenCL C kernels
/// (native/opencl/rnn.cl) on any OpenCL 1.2+ device. Thread-safe for <see cref="Allocate{T}"/> and
/// <see cref="CreatePlan{T}"/>; each plan is single-threaded. The kernel programs are built once per engine and element
/// type, on first use.
/// </summary>
public sealed unsafe partial class OpenClEngine : IRnnEngine
{
    private const string EngineName = "opencl";
    private readonly CL _api;
    private readonly SafeClContext _context;
    private readonly SafeClCommandQueue _queue;
    private readonly bool _float64Disabled;
    private readonly Lock _programLock = new();
    private SafeClProgram? _program32, _program64;
    private int _disposed;

    private OpenClEngine(CL api, OpenClDeviceInfo device, bool disableFloat64)
        : this(api, device, disableFloat64, CreateContextAndQueue(api, device), borrowed: false)
    {
    }

    private OpenClEngine(CL api, OpenClDeviceInfo device, bool disableFloat64, (SafeClContext Context, SafeClCommandQueue Queue) objects, bool borrowed)
    {
        _api = api;
        _context = objects.Context;
        _queue = objects.Queue;
        IsBorrowed = borrowed;
        Device = device;
        _float64Disabled = disableFloat64;
        // GEMM tile edge. GPUs: the classic 16 x 16 work-group. CPU devices (PoCL, Intel CPU runtime) run a work-group as
        // loops over its work-items, so a larger tile amortises the loops and the tile loads: 32 is 2.5x faster than 16
        // on PoCL for an LSTM with H = 256. Results do not depend on the tile (each dot product runs k = 0..K-1 in order).
        TileSize = device.Type == "CPU" && device.MaxWorkGroupSize >= 1024 ? 32
            : device.MaxWorkGroupSize >= 256 ? 16 : device.MaxWorkGroupSize >= 64 ? 8 : 4;
        LinearGroup = device.MaxWorkGroupSize >= 128 ? 128 : (int)Math.Max(1, device.MaxWorkGroupSize);
        PlaneGroup = device.MaxWorkGroupSize >= 128 ? (32, 4) : (LinearGroup, 1);
    }

    private static (SafeClContext, SafeClCommandQueue) CreateContextAndQueue(CL api, OpenClDeviceInfo device)
    {
        int err;
        nint* props = stackalloc nint[3] { 0x1084 /* CL_CONTEXT_PLATFORM */, device.PlatformId, 0 };
        nint dev = device.DeviceId;
        nint ctx = api.CreateContext(props, 1, &dev, null, null, &err);
        OpenClException.ThrowIfFailed(err, "clCreateContext");
        var context = SafeClHandle.Own<SafeClContext>(ctx);
        try
        {
            nint q = api.CreateCommandQueue(ctx, dev, CommandQueueProperties.None, &err);
            OpenClException.ThrowIfFailed(err, "clCreateCommandQueue");
            return (context, SafeClHandle.Own<SafeClCommandQueue>(q));
        }
        catch
        {
            context.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Opens an OpenCL device: among those <paramref name="selector"/> matches (all when null), the first GPU, else the
    /// first device. Throws <see cref="RnnEngineUnavailableException"/> with the reason when OpenCL is missing (no ICD
    /// loader, no platform, no device) or nothing matches.
    /// </summary>
    public static OpenClEngine Create(OpenClDeviceSelector? selector = null) => Create(selector, disableFloat64: false);

    /// <summary>As <see cref="Create(OpenClDeviceSelector?)"/>; <paramref name="disableFloat64"/> makes the engine behave as
    /// on a device without cl_khr_fp64 (tests of that path on devices that have it).</summary>
    internal static OpenClEngine Create(OpenClDeviceSelector? selector, bool disableFloat64)
    {
        if (!OpenClRuntime.TryGetApi(out var api, out var why))
            throw new RnnEngineUnavailableException(EngineName, why);
        var listing = OpenClRuntime.List();
        if (!listing.Available)
            throw new RnnEngineUnavailableException(EngineName, listing.Reason ?? "no OpenCL device");
        var candidates = listing.Devices.Where(d => selector?.Matches(d) ?? true).ToList();
        if (candidates.Count == 0)
            throw new RnnEngineUnavailableException(EngineName,
                $"no OpenCL device matches {selector}. Devices here:{Environment.NewLine}{listing}");
        var chosen = candidates.FirstOrDefault(d => d.Type == "GPU") ?? candidates[0];
        if (!IsAtLeast12(chosen.Version, out string? versionProblem))
            throw new RnnEngineUnavailableException(EngineName,
                $"the OpenCL device '{chosen.Name}' reports CL_DEVICE_VERSION \"{chosen.Version}\": {versionProblem} The kernels are OpenCL C 1.2 " +
                "(built with -cl-std=CL1.2, and clEnqueueFillBuffer is 1.2 API).");
        return new OpenClEngine(api, chosen, disableFloat64);
    }

    /// <summary>
    /// Whether a CL_DEVICE_VERSION string ("OpenCL &lt;major&gt;.&lt;minor&gt; &lt;vendor-specific&gt;", as the OpenCL
    /// specification defines it) names version 1.2 or later; otherwise the reason.
    /// </summary>
    internal static bool IsAtLeast12(string deviceVersion, [NotNullWhen(false)] out string? problem)
    {
        const string prefix = "OpenCL ";
        problem = null;
        if (deviceVersion is null || !deviceVersion.StartsWith(prefix, StringComparison.Ordinal))
        {
            problem = "it does not have the form \"OpenCL <major>.<minor> ...\" the specification requires, so its version is unknown.";
            return false;
        }
        var rest = deviceVersion.AsSpan(prefix.Length);
        int space = rest.IndexOf(' ');
        var number = space < 0 ? rest : rest[..space];
        int dot = number.IndexOf('.');
        if (dot <= 0 || !int.TryParse(number[..dot], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int major)
            || !int.TryParse(number[(dot + 1)..], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int minor))
        {
            problem = "it does not have the form \"OpenCL <major>.<minor> ...\" the specification requires, so its version is unknown.";
            return false;
        }
        if (major > 1 || (major == 1 && minor >= 2)) return true;
        problem = $"this engine needs OpenCL 1.2 or later, and the device supports {major}.{minor}.";
        return false;
    }

    /// <summary>Like <see cref="Create(OpenClDeviceSelector?)"/>, but returns false with the reason instead of throwing when
    /// OpenCL or a matching device is unavailable (other failures still throw).</summary>
    public static bool TryCreate([NotNullWhen(true)] out OpenClEngine? engine, [NotNullWhen(false)] out string? reason,
        OpenClDeviceSelector? selector = null)
    {
        try
        {
            engine = Create(selector);
            reason = null;
            return true;
        }
        catch (RnnEngineUnavailableException e)
        {
            engine = null;
            reason = e.Reason;
            return false;
        }
    }

    /// <summary>Every OpenCL platform and device here, or why OpenCL is unavailable (for the CLI's <c>info</c>).</summary>
    public static OpenClDeviceListing ListDevices() => OpenClRuntime.List();

    /// <summary>The device this engine runs on.</summary>
    public OpenClDeviceInfo Device { get; }

    /// <summary>Tile edge of the GEMM kernel (work-group TileSize × TileSize), from the device's work-group limit.</summary>
    public int TileSize { get; }

    /// <summary>Work-group size of the one-dimensional element-wise kernels.</summary>
    internal int LinearGroup { get; }

    /// <summary>Work-group shape (columns, rows) of the two-dimensional element-wise kernels.</summary>
    internal (int X, int Y) PlaneGroup { get; }

    /// <inheritdoc/>
    public string Name => EngineName;

    /// <inheritdoc/>
    /// <remarks>False: device buffers; one command queue and one set of kernels, used by one thread at a time.</remarks>
    public bool IsHostMemory => false;

    /// <inheritdoc/>
    public string DeviceDescription => $"{Device.Name} ({Device.Type}, {Device.Version}, platform {Device.PlatformName}, fp64 {(SupportsFloat64 ? "yes" : "no")})";

    private bool SupportsFloat64 => Device.SupportsFloat64 && !_float64Disabled;

    /// <inheritdoc/>
    public bool Supports(RnnDataType dataType, out string? reason)
    {
        reason = dataType switch
        {
            RnnDataType.Float32 => null,
            RnnDataType.Float64 when SupportsFloat64 => null,
            RnnDataType.Float64 => $"the OpenCL device '{Device.Name}' does not support double precision (no cl_khr_fp64)" +
                                   (_float64Disabled && Device.SupportsFloat64 ? " [disabled for testing]" : ""),
            // 16-bit storage with float arithmetic (OpenClPlan16): the conversions use core OpenCL C 1.2 only.
            RnnDataType.Float16 or RnnDataType.BFloat16 => null,
            _ => $"unknown data type {dataType}",
        };
        return reason is null;
    }

    /// <inheritdoc/>
    public RnnBuffer<T> Allocate<T>(long length) where T : unmanaged, IFloatingPointIeee754<T> => AllocateBuffer<T>(length);

    /// <summary>Allocates a zero-filled device buffer.</summary>
    public OpenClBuffer<T> AllocateBuffer<T>(long length) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ThrowIfDisposed();
        RnnDescriptor.DataTypeOf<T>();
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        return new OpenClBuffer<T>(this, length);
    }

    /// <inheritdoc/>
    public RnnWeightLayout GetWeightLayout(RnnDescriptor rnn) => RnnWeightLayout.Canonical(rnn);

    /// <inheritdoc/>
    public RnnPlan<T> CreatePlan<T>(RnnDescriptor rnn, RnnDataDescriptor xDesc) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ThrowIfDisposed();
        ArgumentNullException.ThrowIfNull(rnn);
        ArgumentNullException.ThrowIfNull(xDesc);
        if (!Supports(RnnDescriptor.DataTypeOf<T>(), out var why))
            throw new NotSupportedException($"The OpenCL engine cannot run {typeof(T).Name} networks here: {why}. Use float32, or another device or engine.");
        // The kernels (native/opencl/rnn.cl) index buffers with 32-bit ints: refuse, before anything is built, a shape with
        // any buffer beyond 2^31 - 1 elements (64-bit indices would slow every kernel for shapes no PoCL device can hold).
        RnnPlanLimits.ThrowIfBeyond(rnn, xDesc, int.MaxValue, EngineName, "its kernels index buffers with 32-bit ints",
            includeReferenceReserve: true);
        return OpenClConversions.Is16Bit<T>() ? new OpenClPlan16<T>(this, rnn, xDesc, RnnWeightLayout.Canonical(rnn))
            : new OpenClPlan<T>(this, rnn, xDesc, RnnWeightLayout.Canonical(rnn));
    }

    // ---------------------------------------------------------------- internals used by buffers and plans

    internal CL Api => _api;

    internal nint Queue
    {
        get
        {
            ThrowIfDisposed();
            return _queue.DangerousGetHandle();
        }
    }

    internal SafeClMem CreateMemory(long bytes, void* initial = null)
    {
        ThrowIfDisposed();
        int err;
        var flags = MemFlags.ReadWrite | (initial is null ? MemFlags.None : MemFlags.CopyHostPtr);
        nint mem = _api.CreateBuffer(_context.DangerousGetHandle(), flags, (nuint)Math.Max(bytes, 1), initial, &err);
        if (err != 0)
            throw new OpenClException(err, "clCreateBuffer", $"Allocating {bytes} bytes on '{Device.Name}' (max single allocation {Device.MaxAllocationBytes} bytes).");
        return SafeClHandle.Own<SafeClMem>(mem);
    }

    /// <summary>
    /// Waits for the queue (clFinish). Plan calls only enqueue work and return; call this (or read a buffer, which waits
    /// for the queue) before using results outside the queue, and to see errors the device reported while running.
    /// </summary>
    public void Synchronize()
    {
        ThrowIfDisposed();
        Finish();
    }

    internal void Finish()
    {
        long covered = BeginSynchronizingCall();
        OpenClException.ThrowIfFailed(_api.Finish(Queue));
        EndSynchronizingCall(covered);
    }

    /// <summary>The RNN kernel program for an element type, built on first use and cached.</summary>
    internal SafeClProgram GetProgram<T>() where T : unmanaged, IFloatingPointIeee754<T>
    {
        bool f64 = typeof(T) == typeof(double);
        lock (_programLock)
        {
            ThrowIfDisposed();
            ref SafeClProgram? slot = ref f64 ? ref _program64 : ref _program32;
            return slot ??= BuildProgram(KernelSource.Value,
                $"-cl-std=CL1.2 -DTS={TileSize} " + (f64 ? "-DREAL=double -DUSE_FP64" : "-DREAL=float"));
        }
    }

    internal static readonly Lazy<string> KernelSource = new(() =>
    {
        const string name = "rnn.cl";
        using var s = typeof(OpenClEngine).Assembly.GetManifestResourceStream(name)
            ?? throw new InvalidOperationException($"The embedded kernel source '{name}' is missing from {typeof(OpenClEngine).Assembly.GetName().Name}.");
        using var r = new StreamReader(s);
        return r.ReadToEnd();
    });

    /// <summary>Compiles OpenCL C for this device; a failed build throws with the compiler's log.</summary>
    internal SafeClProgram BuildProgram(string source, string options)
    {
        ThrowIfDisposed();
        int err;
        byte[] src = System.Text.Encoding.UTF8.GetBytes(source);
        nint program;
        fixed (byte* p = src)
        {
            byte* strings = p;
            nuint length = (nuint)src.Length;
            program = _api.CreateProgramWithSource(_context.DangerousGetHandle(), 1, &strings, &length, &err);
        }
        OpenClException.ThrowIfFailed(err, "clCreateProgramWithSource");
        var owner = SafeClHandle.Own<SafeClProgram>(program);
        byte[] opts = System.Text.Encoding.ASCII.GetBytes(options + "\0");
        nint dev = Device.DeviceId;
        int status;
        fixed (byte* o = opts) status = _api.BuildProgram(program, 1, &dev, o, null, null);
        if (status != 0)
        {
            string log = BuildLog(program, dev);
            owner.Dispose();
            throw new OpenClException(status, "clBuildProgram",
                $"Building the kernels for '{Device.Name}' with options '{options}' failed. Build log:{Environment.NewLine}{log}");
        }
        return owner;
    }

    private string BuildLog(nint program, nint device)
    {
        nuint size;
        int s = _api.GetProgramBuildInfo(program, device, ProgramBuildInfo.BuildLog, 0, null, &size);
        if (s != 0) return $"(no build log: clGetProgramBuildInfo failed with {OpenClException.NameOf(s)})";
        var bytes = new byte[(int)size];
        fixed (byte* b = bytes) s = _api.GetProgramBuildInfo(program, device, ProgramBuildInfo.BuildLog, size, b, null);
        if (s != 0) return $"(no build log: clGetProgramBuildInfo failed with {OpenClException.NameOf(s)})";
        int n = Array.IndexOf(bytes, (byte)0);
        return System.Text.Encoding.UTF8.GetString(bytes, 0, n < 0 ? bytes.Length : n).Trim();
    }

    internal bool IsDisposed => Volatile.Read(ref _disposed) != 0;

    internal void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(IsDisposed, this);

    /// <summary>Waits for the queued work (clFinish), then releases the programs and the engine's references to the queue
    /// and context (the caller's own, with <see cref="CreateOver"/>, are untouched). Buffers and plans still alive keep their own memory objects
    /// (OpenCL keeps the context alive for them) but can no longer run anything. Disposing twice is harmless.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        // Calls do not wait for the queue, so work may still be queued, including plan uploads whose host source is
        // pinned memory of the plan: wait for it before the last reference to the queue goes (status ignored: nothing
        // can be done about a device error while disposing).
        _ = _api.Finish(_queue.DangerousGetHandle());
        lock (_programLock)
        {
            _program32?.Dispose();
            _program64?.Dispose();
            DisposeOptimizerKernels();
        }
        _queue.Dispose();
        _context.Dispose();
    }

    /// <inheritdoc/>
    public override string ToString() => $"opencl: {DeviceDescription}";
}
