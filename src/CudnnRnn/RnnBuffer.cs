using System.Numerics;

namespace CudnnRnn;

/// <summary>
/// A buffer of <typeparamref name="T"/> in an engine's memory (host arrays for the CPU engine, device memory for cuDNN,
/// <c>cl_mem</c> for OpenCL). Created by <see cref="IRnnEngine.Allocate{T}"/>; dispose it to free the memory
/// (disposing twice is harmless).
/// </summary>
public abstract class RnnBuffer<T> : IDisposable where T : unmanaged, IFloatingPointIeee754<T>
{
    private int _disposed;
    private long _version;

    /// <summary>Creates the managed part of a buffer.</summary>
    protected RnnBuffer(IRnnEngine engine, long length)
    {
        ArgumentNullException.ThrowIfNull(engine);
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        Engine = engine;
        Length = length;
    }

    /// <summary>The engine whose memory holds this buffer.</summary>
    public IRnnEngine Engine { get; }
    /// <summary>Number of elements.</summary>
    public long Length { get; }
    /// <summary>True after <see cref="Dispose()"/>.</summary>
    public bool IsDisposed => Volatile.Read(ref _disposed) != 0;

    /// <summary>
    /// A counter that every change made through this object's methods (<see cref="Write"/>, <see cref="Fill"/>, the
    /// copies built on them, and the outputs an <see cref="RnnLayer{T}"/> writes) increases. A forward context records
    /// the versions of its inputs and of the weights, so a backward after a change is refused instead of computing a
    /// wrong gradient. Writes through a raw span or device pointer are invisible to it: call <see cref="MarkModified"/>.
    /// </summary>
    public long Version => Volatile.Read(ref _version);

    /// <summary>Records that the contents changed outside this object's methods (see <see cref="Version"/>).</summary>
    public void MarkModified() => Interlocked.Increment(ref _version);

    /// <summary>Copies <paramref name="source"/> into the buffer starting at element <paramref name="offset"/>.</summary>
    public void Write(long offset, ReadOnlySpan<T> source)
    {
        ThrowIfDisposed();
        CheckRange(offset, source.Length, nameof(source));
        WriteCore(offset, source);
        MarkModified();
    }

    /// <summary>Copies elements starting at <paramref name="offset"/> into <paramref name="destination"/>.</summary>
    public void Read(long offset, Span<T> destination)
    {
        ThrowIfDisposed();
        CheckRange(offset, destination.Length, nameof(destination));
        ReadCore(offset, destination);
    }

    /// <summary>Copies the whole buffer from <paramref name="source"/>, which must have exactly <see cref="Length"/> elements.</summary>
    public void CopyFrom(ReadOnlySpan<T> source)
    {
        if (source.Length != Length)
            throw new ArgumentException($"source has {source.Length} elements; the buffer has {Length}.", nameof(source));
        Write(0, source);
    }

    /// <summary>Copies the whole buffer to <paramref name="destination"/>, which must have exactly <see cref="Length"/> elements.</summary>
    public void CopyTo(Span<T> destination)
    {
        if (destination.Length != Length)
            throw new ArgumentException($"destination has {destination.Length} elements; the buffer has {Length}.", nameof(destination));
        Read(0, destination);
    }

    /// <summary>The whole buffer as a new host array.</summary>
    public T[] ToArray()
    {
        var a = new T[Length];
        CopyTo(a);
        return a;
    }

    /// <summary>Sets every element to <paramref name="value"/>.</summary>
    public void Fill(T value)
    {
        ThrowIfDisposed();
        FillCore(value);
        MarkModified();
    }

    /// <summary>Sets every element to zero.</summary>
    public void Clear() => Fill(T.Zero);

    /// <summary>
    /// True when this buffer and <paramref name="other"/> use the same memory (the same object, or two wrappers of one
    /// host array). Buffers have no sub-views, so memory is either shared whole or not at all. Plans refuse an output that
    /// shares memory with another argument of the call.
    /// </summary>
    public bool SharesMemoryWith(RnnBuffer<T> other)
    {
        ArgumentNullException.ThrowIfNull(other);
        return ReferenceEquals(this, other) || (ReferenceEquals(Engine, other.Engine) && SharesMemoryCore(other));
    }

    /// <summary>
    /// Called by a plan before it hands this buffer's memory to the engine for one call: an engine whose memory is a native
    /// object takes a reference on it here (a <see cref="System.Runtime.InteropServices.SafeHandle"/> AddRef), so a buffer
    /// disposed on another thread during the call is only freed after <see cref="ReleaseAfterCall"/>. Default: nothing.
    /// Throws <see cref="ObjectDisposedException"/> when the memory is already gone.
    /// </summary>
    protected internal virtual void AcquireForCall() { }

    /// <summary>Gives back what <see cref="AcquireForCall"/> took; called exactly once per successful acquire.</summary>
    protected internal virtual void ReleaseAfterCall() { }

    /// <summary>Engine part of <see cref="SharesMemoryWith"/> for two distinct buffer objects of one engine; default: no.</summary>
    protected virtual bool SharesMemoryCore(RnnBuffer<T> other) => false;

    /// <summary>Throws <see cref="ObjectDisposedException"/> when disposed.</summary>
    public void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(IsDisposed, this);

    /// <inheritdoc cref="Write"/>
    protected abstract void WriteCore(long offset, ReadOnlySpan<T> source);
    /// <inheritdoc cref="Read"/>
    protected abstract void ReadCore(long offset, Span<T> destination);
    /// <inheritdoc cref="Fill"/>
    protected abstract void FillCore(T value);
    /// <summary>Frees the memory; called once.</summary>
    protected abstract void DisposeCore();

    /// <inheritdoc/>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        DisposeCore();
        GC.SuppressFinalize(this);
    }

    private void CheckRange(long offset, int count, string argument)
    {
        if (offset < 0 || offset > Length)
            throw new ArgumentOutOfRangeException(nameof(offset), offset, $"Expected 0..{Length}.");
        if (count > Length - offset)
            throw new ArgumentException($"{argument} has {count} elements, but only {Length - offset} fit after offset {offset}.", argument);
    }

    /// <inheritdoc/>
    public override string ToString() => $"{GetType().Name}<{typeof(T).Name}>[{Length}] on {Engine.Name}";
}

/// <summary>Conveniences on engines.</summary>
public static class RnnEngineExtensions
{
    /// <summary>Allocates a buffer in the engine's memory holding a copy of <paramref name="data"/>.</summary>
    public static RnnBuffer<T> Upload<T>(this IRnnEngine engine, ReadOnlySpan<T> data) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(engine);
        var buffer = engine.Allocate<T>(data.Length);
        try { buffer.CopyFrom(data); }
        catch { buffer.Dispose(); throw; }
        return buffer;
    }
}
