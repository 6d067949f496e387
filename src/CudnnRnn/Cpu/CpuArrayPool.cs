using System.Numerics;

namespace CudnnRnn.Cpu;

/// <summary>
/// The CPU engine's pool of large arrays (buffers, reserve spaces, plan workspaces). Sizes are rounded up to one of
/// eight steps per power of two (at most 12.5 % slack), so a plan for a new batch shape — variable-length training
/// builds one per distinct set of lengths — reuses the memory of plans disposed before it instead of allocating.
/// Thread-safe; retains at most <see cref="MaxRetainedBytes"/>.
/// </summary>
internal sealed class CpuArrayPool
{
    private const long MinPooledElements = 1024;
    private readonly object _gate = new();
    private readonly Dictionary<(Type, long), Stack<Array>> _free = new();
    private long _retainedBytes;

    /// <summary>Upper bound on the bytes kept for reuse.</summary>
    public long MaxRetainedBytes { get; init; } = 512L << 20;

    /// <summary>An array of at least <paramref name="length"/> elements; contents are unspecified.</summary>
    public T[] Rent<T>(long length) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (length < MinPooledElements) return new T[length];
        long bucket = Bucket(length);
        lock (_gate)
        {
            if (_free.TryGetValue((typeof(T), bucket), out var stack) && stack.Count > 0)
            {
                var a = (T[])stack.Pop();
                _retainedBytes -= Bytes<T>(a.LongLength);
                return a;
            }
        }
        return GC.AllocateUninitializedArray<T>(checked((int)bucket));
    }

    /// <summary>Gives an array from <see cref="Rent{T}"/> back (small or foreign-sized arrays are simply dropped).</summary>
    public void Return<T>(T[] array) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (array.LongLength < MinPooledElements || Bucket(array.LongLength) != array.LongLength) return;
        lock (_gate)
        {
            long bytes = Bytes<T>(array.LongLength);
            if (_retainedBytes + bytes > MaxRetainedBytes) return;
            if (!_free.TryGetValue((typeof(T), array.LongLength), out var stack))
                _free[(typeof(T), array.LongLength)] = stack = new Stack<Array>();
            stack.Push(array);
            _retainedBytes += bytes;
        }
    }

    /// <summary>Drops every retained array.</summary>
    public void Clear()
    {
        lock (_gate)
        {
            _free.Clear();
            _retainedBytes = 0;
        }
    }

    /// <summary>length rounded up to a multiple of 2^(⌊log2 length⌋ − 3), capped at Array.MaxLength.</summary>
    internal static long Bucket(long length)
    {
        if (length < MinPooledElements) return length;
        int shift = 63 - BitOperations.LeadingZeroCount((ulong)length) - 3;
        long step = 1L << shift;
        long rounded = (length + step - 1) / step * step;
        return Math.Min(rounded, Math.Max(length, Array.MaxLength));
    }

    private static long Bytes<T>(long n) where T : unmanaged => n * System.Runtime.CompilerServices.Unsafe.SizeOf<T>();
}
