using System.Diagnostics.CodeAnalysis;
using System.Numerics;
using CudnnRnn.Interop;

namespace CudnnRnn.Cuda;

/// <summary>
/// The cuDNN engine: device memory buffers and plans that call <c>cudnnRNNForward</c>,
/// <c>cudnnRNNBackwardData_v8</c> and <c>cudnnRNNBackwardWeights_v8</c>. Nothing native is loaded until
/// <see cref="TryCreate(out CudaEngine?, out string, int)"/>, <see cref="Create"/> or <see cref="Probe"/> is called, so the
/// type can be referenced and reflected on a machine without CUDA.
/// </summary>
/// <remarks>
/// One engine owns one cuDNN handle and one CUDA stream on one device; every buffer and plan it creates keeps those two
/// alive (a <see cref="SafeHandleLease"/>) until it is disposed or, when abandoned, finalized, so disposing the engine
/// first is safe and an abandoned buffer or plan does not keep them forever. Not thread-safe for concurrent
/// use of the same plan; buffers and plans of one engine share its stream, so their work is ordered.
/// Determinism: whether CUBLAS_WORKSPACE_CONFIG still governs RNN determinism on cuDNN 9 (which uses cuBLASLt, not
/// cuBLAS) is NOT VERIFIED; dropout masks come from cuDNN's RNG and cannot match the CPU engine.
/// </remarks>
public sealed partial class CudaEngine : IRnnEngine
{
    /// <summary>The engine's short name.</summary>
    public const string EngineName = "cuda";

    private readonly SafeCudnnHandle _cudnn;
    private readonly SafeCudaStream _stream;
    private readonly Dictionary<RnnDescriptor, RnnWeightLayout> _layouts = [];
    private readonly Lock _layoutLock = new();
    private int _disposed;

    private readonly nint _context;

    private CudaEngine(int device, SafeCudnnHandle cudnn, SafeCudaStream stream, CudaProbeResult probe, nint context, CudnnVersionInfo version)
    {
        Device = device;
        _cudnn = cudnn;
        _stream = stream;
        _context = context;
        ProbeInfo = probe;
        CudnnVersion = version;
    }

    /// <inheritdoc/>
    public string Name => EngineName;

    /// <inheritdoc/>
    /// <remarks>False: device memory; one cuDNN handle, used by one thread at a time.</remarks>
    public bool IsHostMemory => false;

    /// <inheritdoc/>
    public string DeviceDescription =>
        $"{ProbeInfo.DeviceName} (CUDA device {Device}), cuDNN {CudnnVersion}, CUDA runtime {CudaProbeResult.FormatCudaVersion(ProbeInfo.RuntimeVersion)}, " +
        $"driver CUDA {CudaProbeResult.FormatCudaVersion(ProbeInfo.DriverVersion)}";

    /// <summary>CUDA device ordinal.</summary>
    public int Device { get; }

    /// <summary>The loaded cuDNN's version.</summary>
    public CudnnVersionInfo CudnnVersion { get; }

    /// <summary>What the probe found when the engine was created.</summary>
    public CudaProbeResult ProbeInfo { get; }

    /// <summary>
    /// When true, plans created from now on run CUDNN_RNN_ALGO_STANDARD even where <see cref="CudnnMapping.Algorithm"/>
    /// would pick PERSIST_STATIC_SMALL_H (default false). The cuDNN recorder uses it to record both algorithms for the
    /// same configuration; plans already created keep their algorithm (<see cref="CudaPlan{T}.Algorithm"/>).
    /// </summary>
    public bool ForceStandardAlgorithm { get; set; }

    internal SafeCudnnHandle CudnnHandle => _cudnn;
    internal SafeCudaStream Stream => _stream;

    /// <summary>True after <see cref="Dispose"/>.</summary>
    public bool IsDisposed => Volatile.Read(ref _disposed) != 0;

    /// <summary>
    /// Creates an engine on CUDA device <paramref name="device"/>, or returns false with the exact reason: the library that could not be loaded (with
    /// every name tried), no driver, driver too old, no device, or a cuDNN sub-library that does not load.
    /// </summary>
    public static bool TryCreate([NotNullWhen(true)] out CudaEngine? engine, out string reason, int device = 0)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(device);
        engine = null;
        var probe = Probe(device);
        if (!probe.Available)
        {
            reason = probe.Reason;
            return false;
        }
        SafeCudnnHandle? cudnn = null;
        SafeCudaStream? stream = null;
        try
        {
            CudaException.ThrowIfFailed(Cudart.cudaSetDevice(device));
            stream = SafeCudaStream.Create();
            cudnn = SafeCudnnHandle.Create();
            CudnnException.ThrowIfFailed(Cudnn.cudnnSetStream(cudnn, stream));
            engine = new CudaEngine(device, cudnn, stream, probe, context: 0, CudaLibraries.CudnnVersion);
            engine.InitDeviceTraits();
            engine.InitMemoryPool();
            reason = "";
            return true;
        }
        catch (Exception e) when (e is CudaException or CudnnException or DllNotFoundException or EntryPointNotFoundException)
        {
            cudnn?.Dispose();
            stream?.Dispose();
            reason = $"creating the cuDNN handle on CUDA device {device} failed: {e.Message}";
            return false;
        }
    }

    /// <summary>Creates an engine or throws <see cref="RnnEngineUnavailableException"/> with the reason.</summary>
    public static CudaEngine Create(int device = 0) =>
        TryCreate(out var engine, out string reason, device) ? engine : throw new RnnEngineUnavailableException(EngineName, reason);

    /// <inheritdoc/>
    /// <remarks>
    /// Float32, Float64 and Float16 always (Float16 with FLOAT math precision and tensor-op math,
    /// <see cref="CudnnMapping.Math"/>); BFloat16 where the loaded cuDNN is 9.13 or newer and the device's compute
    /// capability is 8.0 or newer (<see cref="CudnnMapping.BFloat16Unsupported"/> names what was found otherwise).
    /// </remarks>
    public bool Supports(RnnDataType dataType, out string? reason)
    {
        reason = dataType switch
        {
            RnnDataType.Float32 or RnnDataType.Float64 or RnnDataType.Float16 => null,
            RnnDataType.BFloat16 => CudnnMapping.BFloat16Unsupported(CudnnVersion, DeviceTraits),
            _ => $"{dataType} is not a data type this engine knows.",
        };
        return reason is null;
    }

    /// <summary>Compute capability and multiprocessor count of the engine's device (zeros when they could not be read).</summary>
    public CudaDeviceTraits DeviceTraits { get; private set; }

    private void InitDeviceTraits()
    {
        int Attribute(cudaDeviceAttr a) => Cudart.cudaDeviceGetAttribute(out int v, a, Device) == cudaError_t.cudaSuccess ? v : 0;
        DeviceTraits = new CudaDeviceTraits(Attribute(cudaDeviceAttr.cudaDevAttrComputeCapabilityMajor),
            Attribute(cudaDeviceAttr.cudaDevAttrComputeCapabilityMinor), Attribute(cudaDeviceAttr.cudaDevAttrMultiProcessorCount));
    }

    /// <inheritdoc/>
    public RnnBuffer<T> Allocate<T>(long length) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ThrowIfDisposed();
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        _ = RnnDescriptor.DataTypeOf<T>(); // float, double, Half or BFloat16, else NotSupportedException naming the type
        return new CudaBuffer<T>(this, length);
    }

    /// <summary>
    /// The layout cuDNN uses for <paramref name="rnn"/>, built once per descriptor from <c>cudnnGetRNNWeightParams</c>
    /// (one query per pseudo-layer and linear-layer id), never from hard-coded offsets.
    /// </summary>
    public RnnWeightLayout GetWeightLayout(RnnDescriptor rnn)
    {
        ThrowIfDisposed();
        ArgumentNullException.ThrowIfNull(rnn);
        // A data type this cuDNN or GPU cannot run is the same clear refusal as CreatePlan's, before any native call.
        if (!Supports(rnn.DataType, out string? unsupported))
            throw new NotSupportedException($"The cuda engine cannot run {rnn.DataType} on this machine: {unsupported}");
        lock (_layoutLock)
        {
            if (_layouts.TryGetValue(rnn, out var cached)) return cached;
        }
        var (bytes, table) = QueryWeightParams(rnn);
        var layout = CudnnWeightLayoutBuilder.Build(rnn, bytes, CudnnMapping.ElementSize(rnn.DataType), table);
        lock (_layoutLock)
        {
            return _layouts.TryAdd(rnn, layout) ? layout : _layouts[rnn];
        }
    }

    /// <summary>
    /// The raw <c>cudnnGetRNNWeightParams</c> table for every pseudoLayer × linLayerID, as byte offsets from the weight-space
    /// base. Internal: <see cref="GetWeightLayout"/> is the public view; the GPU tests read the raw table.
    /// </summary>
    internal unsafe (long WeightSpaceBytes, IReadOnlyList<CudnnWeightParams> Table) QueryWeightParams(RnnDescriptor rnn)
    {
        ThrowIfDisposed();
        ArgumentNullException.ThrowIfNull(rnn);
        using var scope = EnterDevice();
        using var dropout = CreateDropoutDescriptor(0, 0, out _);
        using var desc = CreateRnnDescriptor(rnn, CudnnConstants.CUDNN_RNN_PADDED_IO_ENABLED, dropout);
        CudnnException.ThrowIfFailed(Cudnn.cudnnGetRNNWeightSpaceSize(_cudnn, desc, out nuint bytes));
        // A real buffer as the base: cuDNN only computes addresses from it, but nothing says it may be invalid.
        using var space = SafeCudaDeviceMemory.Allocate(bytes);
        // Dummy descriptors for both pairs on every call (API.md §5.3: NULL for an unused pair before 9.1 is NOT VERIFIED).
        using var mDesc = SafeCudnnTensorDescriptor.Create();
        using var bDesc = SafeCudnnTensorDescriptor.Create();
        var table = new List<CudnnWeightParams>(rnn.PseudoLayerCount * rnn.LinLayerIdCount);
        bool added = false;
        space.DangerousAddRef(ref added);
        try
        {
            nint baseAddr = space.DangerousGetHandle();
            for (int pl = 0; pl < rnn.PseudoLayerCount; pl++)
            {
                for (int id = 0; id < rnn.LinLayerIdCount; id++)
                {
                    if (rnn.Mode == RnnMode.Lstm && id == 8 && !rnn.HasProjection)
                    {
                        // Without a projection, id 8 is not queried (PyTorch queries it only with proj_size; [VG], unverified,
                        // says ids past 2·gates are BAD_PARAM). It exists in our layout as an absent matrix.
                        table.Add(new CudnnWeightParams(pl, id, null, null, null, null));
                        continue;
                    }
                    // PyTorch wraps this call in an unexplained `for (stateless < 100)` loop (no explanation found,
                    // API.md §9, §12.10); one call is made here. Under SKIP_INPUT, whether layer-0 input biases still exist
                    // is NOT FOUND (§7.6, §12.6): the table says, and the builder rejects a disagreement with our layout.
                    CudnnException.ThrowIfFailed(Cudnn.cudnnGetRNNWeightParams(_cudnn, desc, pl, bytes, (void*)baseAddr, id,
                        mDesc, out nint mAddr, bDesc, out nint bAddr));
                    // A NULL address means "does not exist" (CUDA.jl; NVIDIA wording NOT FOUND, API.md §7.4); its
                    // descriptor may still hold the previous call's dims, so dims are read only for non-NULL addresses.
                    table.Add(new CudnnWeightParams(pl, id,
                        mAddr == 0 ? null : (long)mAddr - baseAddr, mAddr == 0 ? null : Dims(mDesc),
                        bAddr == 0 ? null : (long)bAddr - baseAddr, bAddr == 0 ? null : Dims(bDesc)));
                }
            }
        }
        finally
        {
            if (added) space.DangerousRelease();
        }
        return ((long)bytes, table);
    }

    private static unsafe int[] Dims(SafeCudnnTensorDescriptor desc)
    {
        int* dims = stackalloc int[CudnnConstants.CUDNN_DIM_MAX];
        int* strides = stackalloc int[CudnnConstants.CUDNN_DIM_MAX];
        CudnnException.ThrowIfFailed(Cudnn.cudnnGetTensorNdDescriptor(desc, 3, out _, out int nb, dims, strides));
        return new ReadOnlySpan<int>(dims, Math.Clamp(nb, 0, 3)).ToArray();
    }

    /// <inheritdoc/>
    public RnnPlan<T> CreatePlan<T>(RnnDescriptor rnn, RnnDataDescriptor xDesc) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ThrowIfDisposed();
        ArgumentNullException.ThrowIfNull(rnn);
        ArgumentNullException.ThrowIfNull(xDesc);
        // The base class checks these too; checking first keeps every native call behind the argument checks.
        var dt = RnnDescriptor.DataTypeOf<T>();
        if (dt != rnn.DataType)
            throw new ArgumentException($"The plan's element type is {typeof(T).Name} ({dt}), but the descriptor says {rnn.DataType}.", nameof(rnn));
        if (xDesc.VectorSize != rnn.InputSize)
            throw new ArgumentException($"xDesc.VectorSize is {xDesc.VectorSize}; expected the network's inputSize {rnn.InputSize}.", nameof(xDesc));
        if (!Supports(dt, out string? unsupported))
            throw new NotSupportedException($"The cuda engine cannot run {dt} on this machine: {unsupported}");
        RnnPlanLimits.ThrowIfBeyond(rnn, xDesc, RnnDataDescriptor.MaxElementCount, EngineName,
            "element counts × 8 bytes must fit a signed 64-bit byte offset", includeReferenceReserve: false);
        var layout = GetWeightLayout(rnn);
        return new CudaPlan<T>(this, rnn, xDesc, layout);
    }

    /// <summary>
    /// A dropout descriptor: p = 0 without states (PyTorch's cheap "no dropout" form), else a state buffer of
    /// cudnnDropoutGetStatesSize bytes that the descriptor keeps alive. Always created: a NULL dropoutDesc in
    /// cudnnSetRNNDescriptor_v8 documented as legal is NOT FOUND.
    /// </summary>
    internal SafeCudnnDropoutDescriptor CreateDropoutDescriptor(double p, ulong seed, out long stateBytes)
    {
        var d = SafeCudnnDropoutDescriptor.Create();
        try
        {
            stateBytes = 0;
            if (p > 0)
            {
                CudnnException.ThrowIfFailed(Cudnn.cudnnDropoutGetStatesSize(_cudnn, out nuint size));
                using var states = AllocateDevice(size); // the descriptor takes its own reference
                d.Set(_cudnn, (float)p, states, seed);
                stateBytes = (long)size;
            }
            else
            {
                d.Set(_cudnn, 0f, null, 0);
            }
            return d;
        }
        catch
        {
            d.Dispose();
            throw;
        }
    }

    /// <summary>cudnnSetRNNDescriptor_v8 (+ clip) for a descriptor: ALGO_STANDARD, the mapped modes, math per data type.</summary>
    internal SafeCudnnRNNDescriptor CreateRnnDescriptor(RnnDescriptor rnn, uint auxFlags, SafeCudnnDropoutDescriptor dropout,
        cudnnRNNAlgo_t algo = cudnnRNNAlgo_t.CUDNN_RNN_ALGO_STANDARD)
    {
        var (dataType, mathPrec, mathType) = CudnnMapping.Math(rnn.DataType);
        var desc = SafeCudnnRNNDescriptor.Create();
        try
        {
            // The algorithm comes from CudnnMapping.Algorithm (STANDARD unless the plan qualifies for a persistent one).
            // projSize = hiddenSize means "no projection" (cuDNN's own convention; [VG], unverified: projSize 0 is BAD_PARAM).
            desc.Set(algo, CudnnMapping.Mode(rnn.Mode), CudnnMapping.BiasMode(rnn.BiasMode),
                CudnnMapping.Direction(rnn.Direction), CudnnMapping.InputMode(rnn.InputMode), dataType, mathPrec, mathType,
                rnn.InputSize, rnn.HiddenSize, rnn.ProjSize, rnn.NumLayers, dropout, auxFlags);
            if (rnn.CellClip is { } clip)
            {
                // Where cuDNN clips (stored c_t or only where c is read) is NOT FOUND; [VG]'s description is unverified
                // (API.md §7.8, §12.3). cudnnRNNSetClip_v9 has no NaN option and its NaN policy is NOT FOUND, so
                // clip.Nan is honoured only on 8.x (_v8); on 9.x it cannot be expressed.
                if (CudnnVersion.Major >= 9)
                    CudnnException.ThrowIfFailed(Cudnn.cudnnRNNSetClip_v9(desc, cudnnRNNClipMode_t.CUDNN_RNN_CLIP_MINMAX, clip.Min, clip.Max));
                else
                    CudnnException.ThrowIfFailed(Cudnn.cudnnRNNSetClip_v8(desc, cudnnRNNClipMode_t.CUDNN_RNN_CLIP_MINMAX,
                        clip.Nan == ClipNanMode.Propagate ? cudnnNanPropagation_t.CUDNN_PROPAGATE_NAN : cudnnNanPropagation_t.CUDNN_NOT_PROPAGATE_NAN,
                        clip.Min, clip.Max));
            }
            return desc;
        }
        catch
        {
            desc.Dispose();
            throw;
        }
    }

    /// <summary>Waits for everything queued on this engine's stream (cuDNN calls return once the kernels are queued).</summary>
    public void Synchronize()
    {
        ObjectDisposedException.ThrowIf(IsDisposed, this);
        using var scope = EnterDevice();
        CudaHandleDiagnostics.RecordSynchronizingCall();
        CudaException.ThrowIfFailed(Cudart.cudaStreamSynchronize(_stream));
    }

    /// <summary>
    /// Makes the engine's device or context current on this thread for one engine call; dispose the result when the call
    /// is done. An engine from <see cref="Create"/> sets its device (<c>cudaSetDevice</c>; the CUDA runtime's current
    /// device is per thread) and restores nothing, as before. An engine from <see cref="CreateInCurrentContext"/> never
    /// calls <c>cudaSetDevice</c>: it saves the thread's current context, makes its own current and restores the saved one
    /// (<see cref="CudaContextScope"/>).
    /// </summary>
    internal CudaContextScope EnterDevice()
    {
        if (_context != 0) return CudaContextScope.Enter(DriverContextApi.Instance, _context);
        CudaException.ThrowIfFailed(Cudart.cudaSetDevice(Device));
        return default;
    }

    /// <summary>
    /// A buffer or plan keeps the cuDNN handle and the stream alive with this lease until it is disposed or, if it is
    /// abandoned, finalized (the lease is a SafeHandle). The handle (which uses the stream) is given back first.
    /// </summary>
    internal SafeHandleLease Lease() => new(_cudnn, _stream);

    private void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(IsDisposed, this);

    /// <summary>Releases the engine's handle and stream once every buffer and plan created from it is disposed too.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        // The engine's context current while its handle, stream and pool are destroyed (a caller's context may not be).
        using var scope = TryEnterForRelease();
        _cudnn.Dispose();
        _stream.Dispose(); // a borrowed stream (CreateInCurrentContext) is never destroyed
        _pool?.Dispose(); // allocations still outstanding keep the pool until they are freed
    }

    /// <summary>
    /// <see cref="EnterDevice"/> for a Dispose path: when the context cannot be made current (the caller destroyed it),
    /// the handles are released anyway rather than leaked or turned into an exception from Dispose.
    /// </summary>
    internal CudaContextScope TryEnterForRelease()
    {
        if (_context == 0) return default;
        try
        {
            return EnterDevice();
        }
        catch (Exception e) when (e is CudaDriverException or DllNotFoundException or EntryPointNotFoundException)
        {
            return default;
        }
    }

    /// <inheritdoc/>
    public override string ToString() => $"{Name}: {DeviceDescription}";
}
