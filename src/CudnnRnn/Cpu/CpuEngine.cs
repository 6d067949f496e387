using System.Diagnostics.CodeAnalysis;
using System.Numerics;
using System.Runtime.Intrinsics;

namespace CudnnRnn.Cpu;

/// <summary>
/// The managed CPU engine: the reference every other engine is verified against. float64 for gradient checks, float32
/// for training. Results are bitwise identical from run to run, whatever the thread count.
/// </summary>
public sealed class CpuEngine : IRnnEngine
{
    private int _disposed;

    private CpuEngine(int maxThreads) => MaxThreads = maxThreads == 0 ? Environment.ProcessorCount : maxThreads;

    /// <summary>
    /// Creates the engine. Every engine is created the same way: <c>CpuEngine.Create</c>, <c>OpenClEngine.Create</c> and
    /// <c>CudaEngine.Create</c> (each with a <c>TryCreate</c> that returns the reason instead of throwing).
    /// </summary>
    /// <param name="maxThreads">Upper bound on worker threads; 0 means all cores. Results do not depend on it.</param>
    public static CpuEngine Create(int maxThreads = 0)
    {
        if (maxThreads < 0) throw new ArgumentOutOfRangeException(nameof(maxThreads), maxThreads, "Expected 0 (all cores) or a positive thread count.");
        return new CpuEngine(maxThreads);
    }

    /// <summary>As <see cref="Create"/>; the CPU engine is always available, so this returns true (bad arguments still throw).</summary>
    public static bool TryCreate([NotNullWhen(true)] out CpuEngine? engine, [NotNullWhen(false)] out string? reason, int maxThreads = 0)
    {
        engine = Create(maxThreads);
        reason = null;
        return true;
    }

    /// <summary>Worker threads this engine may use.</summary>
    public int MaxThreads { get; }

    /// <inheritdoc/>
    public string Name => "cpu";

    /// <inheritdoc/>
    public bool IsHostMemory => true;

    /// <inheritdoc/>
    public string DeviceDescription =>
        $"managed CPU engine, {MaxThreads} thread(s) of {Environment.ProcessorCount} logical processors, " +
        $"{(Vector512.IsHardwareAccelerated ? "Vector512" : Vector256.IsHardwareAccelerated ? "Vector256" : "Vector128")} SIMD";

    /// <inheritdoc/>
    public bool Supports(RnnDataType dataType, out string? reason)
    {
        reason = dataType switch
        {
            RnnDataType.Float32 or RnnDataType.Float64 => null,
            RnnDataType.Float16 or RnnDataType.BFloat16 => $"16-bit storage ({dataType}) is not implemented on the CPU engine yet",
            _ => $"unknown data type {dataType}",
        };
        return reason is null;
    }

    /// <inheritdoc/>
    public RnnBuffer<T> Allocate<T>(long length) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ThrowIfDisposed();
        RnnDescriptor.DataTypeOf<T>();
        if (length < 0 || length > Array.MaxLength)
            throw new ArgumentOutOfRangeException(nameof(length), length, $"Expected 0..{Array.MaxLength} elements.");
        var array = Pool.Rent<T>(length);
        array.AsSpan(0, (int)length).Clear();
        return new CpuBuffer<T>(this, array, length, Pool);
    }

    /// <summary>Reused memory for buffers, reserves and plan workspaces.</summary>
    internal CpuArrayPool Pool { get; } = new();

    /// <summary>Wraps an existing array as a buffer of this engine, without copying.</summary>
    public CpuBuffer<T> Wrap<T>(T[] array) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ThrowIfDisposed();
        ArgumentNullException.ThrowIfNull(array);
        RnnDescriptor.DataTypeOf<T>();
        return new CpuBuffer<T>(this, array, array.LongLength, pool: null);
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
            throw new NotSupportedException($"The CPU engine cannot run {typeof(T).Name} networks: {why}.");
        // Before any layout or workspace is built: every buffer is a managed array.
        RnnPlanLimits.ThrowIfBeyond(rnn, xDesc, Array.MaxLength, Name, "one managed array", includeReferenceReserve: true);
        return new CpuPlan<T>(this, rnn, xDesc, RnnWeightLayout.Canonical(rnn));
    }

    private void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(_disposed != 0, this);

    /// <inheritdoc/>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0) Pool.Clear();
    }
}
