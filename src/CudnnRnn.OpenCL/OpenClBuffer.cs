using System.Numerics;
using System.Runtime.CompilerServices;
using CudnnRnn.OpenCL.Interop;

namespace CudnnRnn.OpenCL;

/// <summary>A buffer in OpenCL device memory (one <c>cl_mem</c>). Reads, writes and fills are synchronous.</summary>
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
        fixed (T* p = source)
            OpenClException.ThrowIfFailed(_engine.Api.EnqueueWriteBuffer(_engine.Queue, _mem.DangerousGetHandle(), true,
                (nuint)(offset * sizeof(T)), (nuint)(source.Length * sizeof(T)), p, 0, null, null));
    }

    /// <inheritdoc/>
    protected override void ReadCore(long offset, Span<T> destination)
    {
        if (destination.IsEmpty) return;
        fixed (T* p = destination)
            OpenClException.ThrowIfFailed(_engine.Api.EnqueueReadBuffer(_engine.Queue, _mem.DangerousGetHandle(), true,
                (nuint)(offset * sizeof(T)), (nuint)(destination.Length * sizeof(T)), p, 0, null, null));
    }

    /// <inheritdoc/>
    protected override void FillCore(T value)
    {
        if (Length == 0) return;
        EnqueueFill(value);
        _engine.Finish();
    }

    /// <summary>Enqueues a fill of the whole buffer without waiting (plans order it on the queue).</summary>
    internal void EnqueueFill(T value)
    {
        if (Length == 0) return;
        OpenClException.ThrowIfFailed(_engine.Api.EnqueueFillBuffer(_engine.Queue, _mem.DangerousGetHandle(), &value, (nuint)sizeof(T), 0,
            (nuint)(Length * sizeof(T)), 0, null, null));
    }

    /// <inheritdoc/>
    protected override void DisposeCore() => _mem.Dispose();
}
