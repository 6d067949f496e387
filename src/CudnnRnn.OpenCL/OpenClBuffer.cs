using System.Numerics;
using System.Runtime.CompilerServices;
using CudnnRnn.OpenCL.Interop;

namespace CudnnRnn.OpenCL;

/// <summary>
/// A buffer in OpenCL device memory (one <c>cl_mem</c>, owned by a SafeHandle whose release is <c>clReleaseMemObject</c>).
/// Reads, writes and fills are synchronous. Each use of the <c>cl_mem</c> holds a reference on the SafeHandle (as CUDA
/// buffers lease their device memory), so disposing the buffer on another thread meanwhile defers the release until the
/// use ends; a plan call holds every buffer it was given for the whole call (<see cref="AcquireForCall"/>).
/// </summary>
public sealed unsafe class OpenClBuffer<T> : RnnBuffer<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly OpenClEngine _engine;
    private readonly SafeClMem _mem;

    internal OpenClBuffer(OpenClEngine engine, long length) : base(engine, length)
    {
        _engine = engine;
        _mem = engine.CreateMemory(length * sizeof(T));
        try
        {
            if (length > 0) FillCore(T.Zero);
        }
        catch
        {
            _mem.Dispose();
            throw;
        }
    }

    /// <summary>The <c>cl_mem</c> handle (valid while the buffer is not disposed).</summary>
    internal nint Handle
    {
        get
        {
            ThrowIfDisposed();
            return _mem.DangerousGetHandle();
        }
    }

    /// <inheritdoc/>
    protected override void WriteCore(long offset, ReadOnlySpan<T> source)
    {
        if (source.IsEmpty) return;
        Retain();
        try
        {
            fixed (T* p = source)
                OpenClException.ThrowIfFailed(_engine.Api.EnqueueWriteBuffer(_engine.Queue, _mem.DangerousGetHandle(), true,
                    (nuint)(offset * sizeof(T)), (nuint)(source.Length * sizeof(T)), p, 0, null, null));
        }
        finally { ReleaseRetained(); }
    }

    /// <inheritdoc/>
    protected override void ReadCore(long offset, Span<T> destination)
    {
        if (destination.IsEmpty) return;
        Retain();
        try
        {
            fixed (T* p = destination)
                OpenClException.ThrowIfFailed(_engine.Api.EnqueueReadBuffer(_engine.Queue, _mem.DangerousGetHandle(), true,
                    (nuint)(offset * sizeof(T)), (nuint)(destination.Length * sizeof(T)), p, 0, null, null));
        }
        finally { ReleaseRetained(); }
    }

    /// <inheritdoc/>
    protected override void FillCore(T value)
    {
        if (Length == 0) return;
        Retain();
        try
        {
            EnqueueFill(value);
            _engine.Finish();
        }
        finally { ReleaseRetained(); }
    }

    /// <summary>Enqueues a fill of the whole buffer without waiting (plans order it on the queue; the caller holds the buffer).</summary>
    internal void EnqueueFill(T value)
    {
        if (Length == 0) return;
        OpenClException.ThrowIfFailed(_engine.Api.EnqueueFillBuffer(_engine.Queue, _mem.DangerousGetHandle(), &value, (nuint)sizeof(T), 0,
            (nuint)(Length * sizeof(T)), 0, null, null));
    }

    /// <summary>Takes a reference on the <c>cl_mem</c>'s owner (ObjectDisposedException when it is already released).</summary>
    internal void Retain()
    {
        bool added = false;
        _mem.DangerousAddRef(ref added);
        if (!added) throw new ObjectDisposedException(ToString());
    }

    /// <summary>Gives back one <see cref="Retain"/>; the last one after a dispose runs clReleaseMemObject.</summary>
    internal void ReleaseRetained() => _mem.DangerousRelease();

    /// <inheritdoc/>
    protected override void AcquireForCall() => Retain();

    /// <inheritdoc/>
    protected override void ReleaseAfterCall() => ReleaseRetained();

    /// <summary>True once clReleaseMemObject has run for this buffer's <c>cl_mem</c> (tests).</summary>
    internal bool IsMemoryReleased => _mem.IsReleased;

    /// <inheritdoc/>
    protected override void DisposeCore() => _mem.Dispose();
}
