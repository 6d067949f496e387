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
    public void Pack(bool transB, ReadOnlySpan<T> b, int ldb) => Pack(transB, b, ldb, maxThreads: 1);

    /// <summary>
    /// <see cref="Pack(bool, ReadOnlySpan{T}, int)"/> on up to <paramref name="maxThreads"/> threads of the GEMM pool
    /// (0: all cores): the column panels are independent, so large operands pack in parallel. Same packed values.
    /// </summary>
    public void Pack(bool transB, ReadOnlySpan<T> b, int ldb, int maxThreads)
    {
        int rows = transB ? N : K, cols = transB ? K : N;
        if (ldb < cols) throw new ArgumentOutOfRangeException(nameof(ldb), ldb, $"Leading dimension of b must be at least {cols}.");
        long need = (long)(rows - 1) * ldb + cols;
        if (b.Length < need)
            throw new ArgumentException($"b has {b.Length} elements; a {rows}x{cols} matrix with leading dimension {ldb} needs {need}.", nameof(b));
        if (maxThreads < 0) throw new ArgumentOutOfRangeException(nameof(maxThreads), maxThreads, "Must be 0 (all cores) or positive.");
        int threads = maxThreads == 0 ? Environment.ProcessorCount : Math.Min(maxThreads, 256);
        int nr = GemmDriver<T>.NR;
        // One chunk of column panels per thread; below ~64K values a second thread costs more than it saves.
        int chunks = (long)N * K >= 1 << 16 ? Math.Min(threads, NPad / nr) : 1;
        fixed (T* pb = b)
        {
            var job = _job ??= new PackJob(this);
            job.Set(transB, pb, ldb, (NPad / nr + chunks - 1) / chunks * nr);
            if (chunks <= 1 || !GemmPool.TryRun(job, chunks, threads))
                for (int c = 0; c < chunks; c++) job.Chunk(c);
            job.Set(false, null, 0, 0);
        }
    }

    private PackJob? _job;

    /// <summary>Packs column panels [c·Cols, (c+1)·Cols) of every k-block; a pool job so chunks can run on several threads.</summary>
    private sealed class PackJob(GemmPackedB<T> owner) : TileJob
    {
        private bool _transB;
        private T* _b;
        private int _ldb, _cols;

        public void Set(bool transB, T* b, int ldb, int cols) { _transB = transB; _b = b; _ldb = ldb; _cols = cols; }

        protected override void RunTile(int tile) => Chunk(tile);

        public void Chunk(int c)
        {
            int j0 = c * _cols, nc = Math.Min(_cols, owner.N - j0);
            if (nc <= 0) return;
            int k = owner.K, kb = GemmDriver<T>.KBlock(k);
            var g = new GemmArgs<T>(false, _transB, 0, owner.N, k, null, 1, _b, _ldb, null, 1, false);
            T* dst = owner.Pointer;
            for (int p0 = 0; p0 < k; p0 += kb)
            {
                int kc = Math.Min(kb, k - p0);
                GemmDriver<T>.PackB(in g, p0, kc, j0, nc, dst + (long)p0 * owner.NPad + (long)j0 * kc);
            }
        }
    }
}
