using System.Buffers;
using System.Numerics;

namespace CudnnRnn.Cpu;

/// <summary>
/// A host buffer of the CPU engine, exposed as a span: either memory the engine allocated (a pooled managed array) or a
/// non-owning view of memory the caller owns (<see cref="CpuEngine.Wrap{T}(T[])"/>,
/// <see cref="CpuEngine.Wrap{T}(Memory{T})"/>, <see cref="CpuEngine.Wrap{T}(T*, long)"/>). A view never frees or
/// returns its memory: disposing it only ends the view. The caller keeps the memory alive (and, for a pointer, pinned
/// and mapped) for as long as the view is used, including by a forward context that holds it until its backward.
/// </summary>
public sealed class CpuBuffer<T> : RnnBuffer<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly Memory<T> _memory;   // exactly Length elements
    private readonly T[]? _pooled;        // the array to give back to the pool, when the engine allocated it
    private readonly CpuArrayPool? _pool;

    /// <summary>A buffer over <paramref name="memory"/> (exactly <paramref name="length"/> elements); when
    /// <paramref name="pool"/> is given, <paramref name="pooled"/> came from it and goes back on dispose.</summary>
    internal CpuBuffer(IRnnEngine engine, Memory<T> memory, long length, T[]? pooled, CpuArrayPool? pool) : base(engine, length)
    {
        _memory = memory[..checked((int)length)];
        _pooled = pooled;
        _pool = pool;
    }

    /// <summary>True when this buffer is a view of memory the caller owns (disposing it frees nothing).</summary>
    public bool IsView => _pool is null;

    /// <summary>The elements (exactly <see cref="RnnBuffer{T}.Length"/>). Throws when disposed.</summary>
    public Span<T> Span
    {
        get
        {
            ThrowIfDisposed();
            return _memory.Span;
        }
    }

    /// <summary>The elements as <see cref="Memory{T}"/> (exactly Length); the engine keeps it in call jobs.</summary>
    internal Memory<T> Memory
    {
        get
        {
            ThrowIfDisposed();
            return _memory;
        }
    }

    /// <inheritdoc/>
    protected override void WriteCore(long offset, ReadOnlySpan<T> source) => source.CopyTo(_memory.Span[checked((int)offset)..]);
    /// <inheritdoc/>
    protected override void ReadCore(long offset, Span<T> destination) => _memory.Span.Slice(checked((int)offset), destination.Length).CopyTo(destination);
    /// <inheritdoc/>
    protected override void FillCore(T value) => _memory.Span.Fill(value);

    /// <inheritdoc/>
    /// <remarks>Element ranges are compared by address (<see cref="MemoryExtensions.Overlaps{T}(ReadOnlySpan{T}, ReadOnlySpan{T})"/>):
    /// an array and a <see cref="Memory{T}"/> or pointer view into it, or two overlapping pointer views, share memory.</remarks>
    protected override bool SharesMemoryCore(RnnBuffer<T> other) =>
        other is CpuBuffer<T> o && !o.IsDisposed && !IsDisposed && ((ReadOnlySpan<T>)_memory.Span).Overlaps(o._memory.Span);

    /// <inheritdoc/>
    protected override void DisposeCore()
    {
        if (_pooled is not null) _pool?.Return(_pooled);
    }
}

/// <summary>A <see cref="MemoryManager{T}"/> over native memory the caller owns (pinned or unmanaged): no copy, no free.</summary>
internal sealed unsafe class PointerMemory<T>(T* pointer, int length) : MemoryManager<T> where T : unmanaged
{
    public override Span<T> GetSpan() => new(pointer, length);
    public override MemoryHandle Pin(int elementIndex = 0)
    {
        if ((uint)elementIndex > (uint)length) throw new ArgumentOutOfRangeException(nameof(elementIndex));
        return new MemoryHandle(pointer + elementIndex);
    }
    public override void Unpin() { }
    protected override void Dispose(bool disposing) { }
}
