using System.Numerics;

namespace CudnnRnn.Cpu;

/// <summary>A host buffer of the CPU engine: a managed array, exposed as a span.</summary>
public sealed class CpuBuffer<T> : RnnBuffer<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly T[] _array;
    private readonly CpuArrayPool? _pool;

    /// <summary>Wraps <paramref name="array"/>; when <paramref name="pool"/> is given the array came from it (it may be
    /// longer than <paramref name="length"/>) and goes back to it on dispose.</summary>
    internal CpuBuffer(IRnnEngine engine, T[] array, long length, CpuArrayPool? pool) : base(engine, length)
    {
        _array = array;
        _pool = pool;
    }

    /// <summary>The elements (exactly <see cref="RnnBuffer{T}.Length"/>). Throws when disposed.</summary>
    public Span<T> Span
    {
        get
        {
            ThrowIfDisposed();
            return _array.AsSpan(0, (int)Length);
        }
    }

    /// <summary>The backing array, which may be longer than Length (pooled); the engine addresses it by offsets.</summary>
    internal T[] Array
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
    protected override void FillCore(T value) => _array.AsSpan(0, (int)Length).Fill(value);
    /// <inheritdoc/>
    protected override bool SharesMemoryCore(RnnBuffer<T> other) => other is CpuBuffer<T> o && ReferenceEquals(o._array, _array);

    /// <inheritdoc/>
    protected override void DisposeCore() => _pool?.Return(_array);
}
