using System.Numerics;
using System.Runtime.CompilerServices;

namespace CudnnRnn.Cpu;

/// <summary>
/// A B operand packed once for many GEMMs, for the RNN's recurrent product: R is the same for every time step, so packing
/// (and, for <c>R^T</c>, transposing) it per step would cost about as much as the small per-step multiply itself.
/// <see cref="Gemm.Multiply{T}(bool, int, ReadOnlySpan{T}, int, GemmPackedB{T}, Span{T}, int, bool, int)"/> with it
/// gives bitwise the same C as the unpacked call with the same B.
/// </summary>
/// <remarks>
/// Layout: for each k-block (bounds from k alone, as in the unpacked GEMM) starting at p0 with length kc, NR-column
/// panels of kc × NR values (k-major), panel j at offset <c>p0·NPad + j·kc</c>; columns past n are zero.
/// Pack again after the weights change (an optimizer step); packing allocates nothing.
/// </remarks>
public sealed unsafe class GemmPackedB<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly T[] _data;
    private readonly int _offset;

    /// <summary>Allocates room for op(B) of <paramref name="k"/> × <paramref name="n"/> (contents zero until packed).</summary>
    public GemmPackedB(int n, int k)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(n);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(k);
        if (typeof(T) != typeof(float) && typeof(T) != typeof(double))
            throw new NotSupportedException($"Element type {typeof(T)} is not supported; expected float or double.");
        N = n;
        K = k;
        int nr = GemmDriver<T>.NR;
        NPad = (n + nr - 1) / nr * nr;
        long length = (long)NPad * k + 64 / sizeof(T);
        if (length > Array.MaxLength) throw new ArgumentOutOfRangeException(nameof(n), n, $"A packed {k}x{n} operand is too large.");
        _data = GC.AllocateArray<T>((int)length, pinned: true);
        nint p = (nint)Unsafe.AsPointer(ref _data[0]);
        _offset = (int)((((p + 63) & ~(nint)63) - p) / sizeof(T));
    }

    /// <summary>Columns of op(B) (C's n).</summary>
    public int N { get; }
    /// <summary>Rows of op(B) (the GEMM's k).</summary>
    public int K { get; }
    internal int NPad { get; }
    internal T* Pointer => (T*)Unsafe.AsPointer(ref _data[_offset]);

    /// <summary>
    /// Packs op(B) (k × n; B stored n × k when <paramref name="transB"/>, as in
    /// <see cref="Gemm.Multiply{T}(bool, bool, int, int, int, ReadOnlySpan{T}, int, ReadOnlySpan{T}, int, Span{T}, int, bool)"/>).
    /// </summary>
    public void Pack(bool transB, ReadOnlySpan<T> b, int ldb)
    {
        int rows = transB ? N : K, cols = transB ? K : N;
        if (ldb < cols) throw new ArgumentOutOfRangeException(nameof(ldb), ldb, $"Leading dimension of b must be at least {cols}.");
        long need = (long)(rows - 1) * ldb + cols;
        if (b.Length < need)
            throw new ArgumentException($"b has {b.Length} elements; a {rows}x{cols} matrix with leading dimension {ldb} needs {need}.", nameof(b));
        int kb = GemmDriver<T>.KBlock(K);
        fixed (T* pb = b)
        {
            var g = new GemmArgs<T>(false, transB, 0, N, K, null, 1, pb, ldb, null, 1, false);
            T* dst = Pointer;
            for (int p0 = 0; p0 < K; p0 += kb)
            {
                int kc = Math.Min(kb, K - p0);
                GemmDriver<T>.PackB(in g, p0, kc, 0, N, dst + (long)p0 * NPad);
            }
        }
    }
}
