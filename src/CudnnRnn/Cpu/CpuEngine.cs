using System.Diagnostics.CodeAnalysis;
using System.Numerics;
using System.Runtime.Intrinsics;

namespace CudnnRnn.Cpu;

/// <summary>
/// The managed CPU engine: the reference every other engine is verified against. float64 for gradient checks, float32
/// for training, and Half / BFloat16 storage with float arithmetic (each call widens the 16-bit inputs once, computes in
/// float and rounds each output once). Results are bitwise identical from run to run, whatever the thread count.
/// </summary>
public sealed unsafe class CpuEngine : IRnnEngine
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
            // 16-bit storage with float arithmetic (CpuPlan16), cuDNN's contract for half data with math precision FLOAT.
            RnnDataType.Float32 or RnnDataType.Float64 or RnnDataType.Float16 or RnnDataType.BFloat16 => null,
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
        return new CpuBuffer<T>(this, array, length, array, Pool);
    }

    /// <summary>Reused memory for buffers, reserves and plan workspaces.</summary>
    internal CpuArrayPool Pool { get; } = new();

    /// <summary>
    /// Wraps an existing array as a buffer of this engine, without copying (a non-owning view: disposing it leaves the
    /// array alone). Changes made to the array directly are invisible to <see cref="RnnBuffer{T}.Version"/>: call
    /// <see cref="RnnBuffer{T}.MarkModified"/> after them.
    /// </summary>
    public CpuBuffer<T> Wrap<T>(T[] array) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ThrowIfDisposed();
        ArgumentNullException.ThrowIfNull(array);
        RnnDescriptor.DataTypeOf<T>();
        return new CpuBuffer<T>(this, array, array.LongLength, pooled: null, pool: null);
    }

    /// <summary>
    /// Wraps <paramref name="memory"/> (a slice of an array, a <see cref="System.Buffers.MemoryManager{T}"/>'s memory, ...)
    /// as a buffer of this engine, without copying. A non-owning view: the caller keeps the memory alive while the view
    /// (or a forward context holding it) is used, and disposing the view never frees it. Views of one memory are seen as
    /// aliases by <see cref="RnnBuffer{T}.SharesMemoryWith"/>, so a plan refuses an output overlapping an input.
    /// </summary>
    public CpuBuffer<T> Wrap<T>(Memory<T> memory) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ThrowIfDisposed();
        RnnDescriptor.DataTypeOf<T>();
        return new CpuBuffer<T>(this, memory, memory.Length, pooled: null, pool: null);
    }

    /// <summary>
    /// Wraps <paramref name="length"/> elements of native or pinned memory at <paramref name="pointer"/> (memory from
    /// <c>NativeMemory.Alloc</c>, a pinned array, another library's host buffer) as a buffer of this engine, without
    /// copying. A non-owning view: the caller keeps the memory allocated, mapped and (for managed memory) pinned while
    /// the view, or a forward context holding it, is used; disposing the view never frees it.
    /// </summary>
    /// <exception cref="ArgumentNullException"><paramref name="pointer"/> is null.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="length"/> is negative, beyond what the CPU engine
    /// addresses (<see cref="Array.MaxLength"/> elements), or the range would wrap past the end of the address space.</exception>
    public CpuBuffer<T> Wrap<T>(T* pointer, long length) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ThrowIfDisposed();
        RnnDescriptor.DataTypeOf<T>();
        if (pointer is null) throw new ArgumentNullException(nameof(pointer), "Expected the address of the caller's memory, not null.");
        if (length < 0 || length > Array.MaxLength)
            throw new ArgumentOutOfRangeException(nameof(length), length,
                $"Expected 0..{Array.MaxLength} elements (the CPU engine addresses a buffer with int offsets).");
        ulong bytes = (ulong)length * (ulong)sizeof(T);   // ≤ 2^31 · 8: no overflow in 64 bits
        if (bytes > (ulong)(nuint.MaxValue - (nuint)pointer))
            throw new ArgumentOutOfRangeException(nameof(length), length,
                $"{length} elements of {sizeof(T)} bytes from 0x{(nuint)pointer:X} wrap past the end of the address space.");
        var memory = new Cpu.PointerMemory<T>(pointer, (int)length).Memory;
        return new CpuBuffer<T>(this, memory, length, pooled: null, pool: null);
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
        return Storage16.Is16Bit<T>()
            ? new CpuPlan16<T>(this, rnn, xDesc, RnnWeightLayout.Canonical(rnn))
            : new CpuPlan<T>(this, rnn, xDesc, RnnWeightLayout.Canonical(rnn));
    }

    private void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(_disposed != 0, this);

    /// <inheritdoc/>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0) Pool.Clear();
    }
}
