using System.Numerics;

namespace CudnnRnn.Cpu;

/// <summary>A host buffer of the CPU engine: a managed array, exposed as a span.</summary>
public sealed class CpuBuffer<T> : RnnBuffer<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly T[] _array;

    internal CpuBuffer(IRnnEngine engine, T[] array) : base(engine, array.LongLength) => _array = array;

    /// <summary>The elements. Throws when disposed.</summary>
    public Span<T> Span
    {
        get
        {
            ThrowIfDisposed();
            return _array;
        }
    }

    /// <summary>The underlying array (the buffer wraps it without copying). Throws when disposed.</summary>
    public T[] Array
    {
        get
        {
            ThrowIfDisposed();
            return _array;
        }
    }

    /// <inheritdoc/>
    protected override void WriteCore(long offset, ReadOnlySpan<T> source) => source.CopyTo(_array.AsSpan(checked((int)offset)));
    /// <inheritdoc/>
    protected override void ReadCore(long offset, Span<T> destination) => _array.AsSpan(checked((int)offset), destination.Length).CopyTo(destination);
    /// <inheritdoc/>
    protected override void FillCore(T value) => _array.AsSpan().Fill(value);
    /// <inheritdoc/>
    protected override void DisposeCore() { }
}
