using System.Numerics;
using System.Runtime.CompilerServices;
using CudnnRnn.Interop;

namespace CudnnRnn.Cuda;

/// <summary>
/// A buffer in device memory (from the engine's stream-ordered pool, or <c>cudaMalloc</c> where the device has none),
/// owned by a <see cref="SafeCudaDeviceMemory"/>. Host copies go through
/// the engine's stream and wait for it (a read must; a write waits so the caller's span can be reused at once).
/// </summary>
public sealed unsafe class CudaBuffer<T> : RnnBuffer<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly CudaEngine _engine;
    private readonly SafeHandleLease _engineLease;

    internal CudaBuffer(CudaEngine engine, long length) : base(engine, length)
    {
        _engine = engine;
        nuint bytes = checked((nuint)length * (nuint)sizeof(T));
        _engineLease = engine.Lease();
        using var scope = EnterOrRelease(engine, _engineLease);
        try
        {
            Memory = engine.AllocateDevice(bytes);
        }
        catch
        {
            _engineLease.Dispose();
            throw;
        }
        try
        {
            if (bytes != 0)
                CudaException.ThrowIfFailed(Cudart.cudaMemsetAsync((void*)Memory.DangerousGetHandle(), 0, bytes, engine.Stream));
        }
        catch
        {
            Memory.Dispose();
            _engineLease.Dispose();
            throw;
        }
    }

    /// <summary>A non-owning view of device memory the caller allocated (<see cref="CudaEngine.Wrap{T}"/> checked it).</summary>
    internal CudaBuffer(CudaEngine engine, nint devicePointer, long length, nuint bytes) : base(engine, length)
    {
        _engine = engine;
        _engineLease = engine.Lease();
        Memory = SafeCudaDeviceMemory.Borrow(devicePointer, bytes);
        IsView = true;
    }

    private static CudaContextScope EnterOrRelease(CudaEngine engine, SafeHandleLease lease)
    {
        try
        {
            return engine.EnterDevice();
        }
        catch
        {
            lease.Dispose();
            throw;
        }
    }

    /// <summary>The device memory (NULL for a zero-length buffer); borrowed, never freed, for a view.</summary>
    public SafeCudaDeviceMemory Memory { get; }

    /// <summary>True for a view of memory the engine did not allocate (<see cref="CudaEngine.Wrap{T}"/>): disposing it frees nothing.</summary>
    public bool IsView { get; }

    /// <summary>
    /// The device address of the first element, for handing this buffer to another CUDA library (valid while the buffer is
    /// not disposed; order that library's work on the engine's stream, see <see cref="CudaEngine.StreamHandle"/>).
    /// </summary>
    public nint DevicePointer
    {
        get
        {
            ThrowIfDisposed();
            return Memory.DangerousGetHandle();
        }
    }

    /// <summary>Size in bytes.</summary>
    public long ByteLength => Length * sizeof(T);

    /// <inheritdoc/>
    protected override void WriteCore(long offset, ReadOnlySpan<T> source)
    {
        fixed (T* src = source) CopyHost(src, offset, source.Length, cudaMemcpyKind.cudaMemcpyHostToDevice);
    }

    /// <inheritdoc/>
    protected override void ReadCore(long offset, Span<T> destination)
    {
        fixed (T* dst = destination) CopyHost(dst, offset, destination.Length, cudaMemcpyKind.cudaMemcpyDeviceToHost);
    }

    /// <summary>
    /// Copies <paramref name="count"/> elements between host memory and this buffer at element <paramref name="offset"/>
    /// on the engine's stream, then waits for it (the host span is only pinned for the duration of the call).
    /// </summary>
    private void CopyHost(T* host, long offset, int count, cudaMemcpyKind kind)
    {
        if (count == 0) return;
        bool added = false;
        Memory.DangerousAddRef(ref added);
        try
        {
            using var scope = _engine.EnterDevice();
            byte* device = (byte*)Memory.DangerousGetHandle() + offset * sizeof(T);
            nuint bytes = (nuint)count * (nuint)sizeof(T);
            // One call per direction, so the error message names the exact call that failed.
            if (kind == cudaMemcpyKind.cudaMemcpyHostToDevice)
                CudaException.ThrowIfFailed(Cudart.cudaMemcpyAsync(device, host, bytes, kind, _engine.Stream));
            else
                CudaException.ThrowIfFailed(Cudart.cudaMemcpyAsync(host, device, bytes, kind, _engine.Stream));
            CudaHandleDiagnostics.RecordSynchronizingCall();
            CudaException.ThrowIfFailed(Cudart.cudaStreamSynchronize(_engine.Stream));
        }
        finally
        {
            if (added) Memory.DangerousRelease();
        }
    }

    /// <inheritdoc/>
    protected override void FillCore(T value)
    {
        if (Length == 0) return;
        bool added = false;
        Memory.DangerousAddRef(ref added);
        try
        {
            using var scope = _engine.EnterDevice();
            if (IsAllZeroBits(value))
            {
                CudaException.ThrowIfFailed(Cudart.cudaMemsetAsync((void*)Memory.DangerousGetHandle(), 0, (nuint)ByteLength, _engine.Stream));
                return;
            }
            // No kernels of our own: a non-zero fill is copied from a host chunk (rare; not on any compute path).
            int chunk = (int)Math.Min(Length, 1 << 16);
            var host = new T[chunk];
            host.AsSpan().Fill(value);
            for (long done = 0; done < Length; done += chunk)
                WriteCore(done, host.AsSpan(0, (int)Math.Min(chunk, Length - done)));
        }
        finally
        {
            if (added) Memory.DangerousRelease();
        }
    }

    private static bool IsAllZeroBits(T value) => sizeof(T) switch
    {
        8 => Unsafe.As<T, ulong>(ref value) == 0,
        4 => Unsafe.As<T, uint>(ref value) == 0,
        2 => Unsafe.As<T, ushort>(ref value) == 0,
        _ => false,
    };

    /// <inheritdoc/>
    /// <remarks>Two buffers share memory when their byte ranges overlap (a view may cover part of another buffer or view).</remarks>
    protected override bool SharesMemoryCore(RnnBuffer<T> other) =>
        other is CudaBuffer<T> o && RangesOverlap(Memory.DangerousGetHandle(), (ulong)ByteLength, o.Memory.DangerousGetHandle(), (ulong)o.ByteLength);

    /// <summary>Whether [a, a+aBytes) and [b, b+bBytes) overlap (empty ranges overlap nothing).</summary>
    internal static bool RangesOverlap(nint a, ulong aBytes, nint b, ulong bBytes) =>
        aBytes != 0 && bBytes != 0 && (ulong)a < (ulong)b + bBytes && (ulong)b < (ulong)a + aBytes;

    /// <inheritdoc/>
    protected override void AcquireForCall()
    {
        bool added = false;
        Memory.DangerousAddRef(ref added);
    }

    /// <inheritdoc/>
    protected override void ReleaseAfterCall() => Memory.DangerousRelease();

    /// <inheritdoc/>
    /// <remarks>
    /// A buffer that is never disposed needs no finalizer of its own: its device memory (cudaFree) and its engine lease
    /// are SafeHandles, which the runtime finalizes.
    /// </remarks>
    protected override void DisposeCore()
    {
        using (_engine.TryEnterForRelease())
            Memory.Dispose(); // a view's handle does not own the memory: nothing is freed
        _engineLease.Dispose();
    }
}
