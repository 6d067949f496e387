using System.Numerics;
using System.Runtime.CompilerServices;
using CudnnRnn.OpenCL.Interop;

namespace CudnnRnn.OpenCL;

/// <summary>
/// A buffer in OpenCL device memory (one <c>cl_mem</c>, owned by a SafeHandle whose release is <c>clReleaseMemObject</c>):
/// memory the engine allocated, or a view of the caller's <c>cl_mem</c> (<see cref="OpenClEngine.Wrap{T}"/>, which holds
/// a reference of its own). Reads and writes wait for the queue (they copy to or from host memory); fills are enqueued
/// and ordered with the engine's other work on its in-order queue. Each use of the <c>cl_mem</c> holds a reference on the SafeHandle (as CUDA
/// buffers lease their device memory), so disposing the buffer on another thread meanwhile defers the release until the
/// use ends; a plan call holds every buffer it was given for the whole call (<see cref="AcquireForCall"/>).
/// </summary>
public sealed unsafe class OpenClBuffer<T> : RnnBuffer<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly OpenClEngine _engine;
    private readonly SafeClMem _mem;
    private readonly nint _root;     // the cl_mem whose storage this is (the parent of a sub-buffer), for SharesMemoryWith
    private readonly long _offset;   // byte offset in _root

    /// <summary>A view of the caller's <c>cl_mem</c>: <paramref name="mem"/> holds a reference taken for this view.</summary>
    internal OpenClBuffer(OpenClEngine engine, SafeClMem mem, long length, nint root, long offset) : base(engine, length)
    {
        _engine = engine;
        _mem = mem;
        _root = root;
        _offset = offset;
        IsView = true;
    }

    internal OpenClBuffer(OpenClEngine engine, long length) : base(engine, length)
    {
        _engine = engine;
        _mem = engine.CreateMemory(length * sizeof(T));
        _root = _mem.DangerousGetHandle();
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

    /// <summary>True when this buffer is a view of a <c>cl_mem</c> the caller owns (<see cref="OpenClEngine.Wrap{T}"/>).</summary>
    public bool IsView { get; }

    /// <summary>The <c>cl_mem</c> handle (valid while the buffer is not disposed).</summary>
    public nint Handle
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
            long covered = _engine.BeginSynchronizingCall();
            fixed (T* p = source)
                OpenClException.ThrowIfFailed(_engine.Api.EnqueueWriteBuffer(_engine.Queue, _mem.DangerousGetHandle(), true,
                    (nuint)(offset * sizeof(T)), (nuint)(source.Length * sizeof(T)), p, 0, null, null));
            _engine.CountHostTransfer();
            _engine.EndSynchronizingCall(covered);
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
            long covered = _engine.BeginSynchronizingCall();
            fixed (T* p = destination)
                OpenClException.ThrowIfFailed(_engine.Api.EnqueueReadBuffer(_engine.Queue, _mem.DangerousGetHandle(), true,
                    (nuint)(offset * sizeof(T)), (nuint)(destination.Length * sizeof(T)), p, 0, null, null));
            _engine.CountHostTransfer();
            _engine.EndSynchronizingCall(covered);
        }
        finally { ReleaseRetained(); }
    }

    /// <inheritdoc/>
    protected override void FillCore(T value)
    {
        if (Length == 0) return;
        Retain();
        // The pattern is copied when the fill is enqueued (clEnqueueFillBuffer), so nothing waits: reads, kernels and
        // copies enqueued later on the in-order queue see the filled values.
        try { EnqueueFill(value); }
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
    /// <remarks>Two buffers share memory when they are the same <c>cl_mem</c>, or overlapping ranges of one parent buffer
    /// (sub-buffers made with <c>clCreateSubBuffer</c>). Buffers created with <c>CL_MEM_USE_HOST_PTR</c> over one host
    /// range are distinct objects to OpenCL and are not detected.</remarks>
    protected override bool SharesMemoryCore(RnnBuffer<T> other) =>
        other is OpenClBuffer<T> o && o._root == _root && !IsDisposed && !o.IsDisposed
        && _offset < o._offset + Math.Max(o.Length * sizeof(T), 1) && o._offset < _offset + Math.Max(Length * sizeof(T), 1);

    /// <inheritdoc/>
    protected override void AcquireForCall() => Retain();

    /// <inheritdoc/>
    protected override void ReleaseAfterCall() => ReleaseRetained();

    /// <summary>True once clReleaseMemObject has run for this buffer's <c>cl_mem</c> (tests).</summary>
    internal bool IsMemoryReleased => _mem.IsReleased;

    /// <inheritdoc/>
    protected override void DisposeCore() => _mem.Dispose();
}
