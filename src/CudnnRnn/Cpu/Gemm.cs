using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace CudnnRnn.Cpu;

/// <summary>
/// Row-major matrix multiply for the CPU engine: <c>C[m×n] = op(A)·op(B)</c> or <c>C += op(A)·op(B)</c>, where
/// op(A) is m×k (A stored k×m when <c>transA</c>) and op(B) is k×n (B stored n×k when <c>transB</c>).
/// </summary>
/// <remarks>
/// <para>Determinism contract (the engine relies on it): the value of every C element is computed with a summation order that
/// depends only on (m, n, k, transA, transB), never on the number of threads, so results are bitwise identical whatever
/// the thread count. Threads split C into tiles; k is never split. Each element is
/// <c>acc = 0; acc = fma(a_ip, b_pj, acc)</c> over one k-block (block bounds are a function of k alone), then
/// <c>C = acc</c> (first block, no accumulate) or <c>C = C + acc</c>.</para>
/// <para>Implementation: BLIS-style packed panels (A in MR-row panels, B in NR-column panels, zero-padded), a register-blocked
/// Vector512 (or Vector256) FMA micro-kernel, k-blocking for L1, and a small persistent thread pool over C tiles.
/// Packing buffers are per thread and reused, so a call allocates nothing once warm.</para>
/// </remarks>
public static class Gemm
{
    /// <summary>Computes <c>C (+)= op(A)·op(B)</c> using up to <see cref="Environment.ProcessorCount"/> threads.</summary>
    public static void Multiply<T>(bool transA, bool transB, int m, int n, int k,
        ReadOnlySpan<T> a, int lda, ReadOnlySpan<T> b, int ldb, Span<T> c, int ldc, bool accumulate)
        where T : unmanaged, IFloatingPointIeee754<T>
        => Multiply(transA, transB, m, n, k, a, lda, b, ldb, c, ldc, accumulate, maxThreads: 0);

    /// <summary>
    /// Computes <c>C (+)= op(A)·op(B)</c> using at most <paramref name="maxThreads"/> threads (0: all cores). The result is
    /// bitwise the same for every thread count.
    /// </summary>
    public static void Multiply<T>(bool transA, bool transB, int m, int n, int k,
        ReadOnlySpan<T> a, int lda, ReadOnlySpan<T> b, int ldb, Span<T> c, int ldc, bool accumulate, int maxThreads)
        where T : unmanaged, IFloatingPointIeee754<T>
        => MultiplyCore(transA, transB, m, n, k, a, lda, b, ldb, c, ldc, accumulate, maxThreads, tileRows: 0, tileCols: 0);

    /// <summary>
    /// <c>C (+)= op(A)·op(B) + 1·bias</c>: <paramref name="bias"/> (n values, or empty for none) is added to every row of C
    /// after the product, bitwise as a separate pass after the GEMM would add it, but inside the micro-kernel's store.
    /// </summary>
    internal static void Multiply<T>(bool transA, bool transB, int m, int n, int k,
        ReadOnlySpan<T> a, int lda, ReadOnlySpan<T> b, int ldb, Span<T> c, int ldc, bool accumulate, int maxThreads,
        ReadOnlySpan<T> bias)
        where T : unmanaged, IFloatingPointIeee754<T>
        => MultiplyCore(transA, transB, m, n, k, a, lda, b, ldb, c, ldc, accumulate, maxThreads, tileRows: 0, tileCols: 0, bias);

    /// <summary>
    /// Test hook: <see cref="Multiply{T}(bool, bool, int, int, int, ReadOnlySpan{T}, int, ReadOnlySpan{T}, int, Span{T}, int, bool, int)"/>
    /// with a forced C tiling (rounded up to the micro-tile), to prove that the tiling never changes a bit.
    /// </summary>
    internal static void MultiplyCore<T>(bool transA, bool transB, int m, int n, int k,
        ReadOnlySpan<T> a, int lda, ReadOnlySpan<T> b, int ldb, Span<T> c, int ldc, bool accumulate, int maxThreads,
        int tileRows, int tileCols, ReadOnlySpan<T> bias = default)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (!bias.IsEmpty && bias.Length < n) throw new ArgumentException($"bias has {bias.Length} elements; needs {n}.", nameof(bias));
        if (m < 0) throw new ArgumentOutOfRangeException(nameof(m), m, "Must not be negative.");
        if (n < 0) throw new ArgumentOutOfRangeException(nameof(n), n, "Must not be negative.");
        if (k < 0) throw new ArgumentOutOfRangeException(nameof(k), k, "Must not be negative.");
        if (maxThreads < 0) throw new ArgumentOutOfRangeException(nameof(maxThreads), maxThreads, "Must be 0 (all cores) or positive.");
        if (typeof(T) != typeof(float) && typeof(T) != typeof(double))
            throw new NotSupportedException($"Element type {typeof(T)} is not supported; expected float or double.");
        if (m == 0 || n == 0) return;
        CheckOperand(a, transA ? k : m, transA ? m : k, lda, nameof(a), nameof(lda));
        CheckOperand(b, transB ? n : k, transB ? k : n, ldb, nameof(b), nameof(ldb));
        CheckOperand(c, m, n, ldc, nameof(c), nameof(ldc));
        if (k == 0)
        {
            if (!accumulate)
                for (int i = 0; i < m; i++) c.Slice(i * ldc, n).Clear();
            if (!bias.IsEmpty)
                for (int i = 0; i < m; i++) System.Numerics.Tensors.TensorPrimitives.Add(c.Slice(i * ldc, n), bias[..n], c.Slice(i * ldc, n));
            return;
        }
        // The tiling follows the requested thread count even past the core count (the pool then runs the tiles on the
        // threads it has): results never depend on it, and tests can exercise 3-way splits on a 2-core machine.
        int threads = maxThreads == 0 ? Environment.ProcessorCount : Math.Min(maxThreads, 256);
        unsafe
        {
            fixed (T* pa = a)
            fixed (T* pb = b)
            fixed (T* pc = c)
            fixed (T* pbias = bias)
            {
                var args = new GemmArgs<T>(transA, transB, m, n, k, pa, lda, pb, ldb, pc, ldc, accumulate) { Bias = pbias };
                GemmDriver<T>.Run(ref args, threads, tileRows, tileCols);
            }
        }
    }

    /// <summary>
    /// Computes <c>C (+)= op(A)·B</c> with B packed beforehand (<see cref="GemmPackedB{T}"/>): m × k times k × n where
    /// n = <c>b.N</c>, k = <c>b.K</c>. Bitwise the same as the unpacked call, for any thread count.
    /// </summary>
    public static void Multiply<T>(bool transA, int m, ReadOnlySpan<T> a, int lda, GemmPackedB<T> b, Span<T> c, int ldc,
        bool accumulate, int maxThreads = 0)
        where T : unmanaged, IFloatingPointIeee754<T>
        => Multiply(transA, m, a, lda, b, c, ldc, accumulate, maxThreads, bias: default);

    /// <summary>The pre-packed multiply with a bias row added to every row of C (as in the unpacked overload with a bias).</summary>
    internal static void Multiply<T>(bool transA, int m, ReadOnlySpan<T> a, int lda, GemmPackedB<T> b, Span<T> c, int ldc,
        bool accumulate, int maxThreads, ReadOnlySpan<T> bias)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (!bias.IsEmpty && bias.Length < b.N) throw new ArgumentException($"bias has {bias.Length} elements; needs {b.N}.", nameof(bias));
        ArgumentNullException.ThrowIfNull(b);
        if (m < 0) throw new ArgumentOutOfRangeException(nameof(m), m, "Must not be negative.");
        if (maxThreads < 0) throw new ArgumentOutOfRangeException(nameof(maxThreads), maxThreads, "Must be 0 (all cores) or positive.");
        if (m == 0) return;
        int n = b.N, k = b.K;
        CheckOperand(a, transA ? k : m, transA ? m : k, lda, nameof(a), nameof(lda));
        CheckOperand(c, m, n, ldc, nameof(c), nameof(ldc));
        int threads = maxThreads == 0 ? Environment.ProcessorCount : Math.Min(maxThreads, 256);
        unsafe
        {
            fixed (T* pa = a)
            fixed (T* pc = c)
            fixed (T* pbias = bias)
            {
                var args = new GemmArgs<T>(transA, false, m, n, k, pa, lda, null, n, pc, ldc, accumulate)
                {
                    PackedB = b.Pointer,
                    NPad = b.NPad,
                    Bias = pbias,
                };
                GemmDriver<T>.Run(ref args, threads);
            }
        }
        GC.KeepAlive(b);
    }

    private static void CheckOperand<T>(ReadOnlySpan<T> s, int rows, int cols, int ld, string name, string ldName)
    {
        if (ld < Math.Max(1, cols))
            throw new ArgumentOutOfRangeException(ldName, ld, $"Leading dimension of {name} must be at least {Math.Max(1, cols)}.");
        long need = rows == 0 || cols == 0 ? 0 : (long)(rows - 1) * ld + cols;
        if (s.Length < need)
            throw new ArgumentException($"{name} has {s.Length} elements; a {rows}x{cols} matrix with leading dimension {ld} needs {need}.", name);
    }
}

/// <summary>The plain reference GEMM (vectorised inner loops, no blocking); kept as the baseline for benchmarks and tests.</summary>
public static class ReferenceGemm
{
    /// <summary>Same contract as <see cref="Gemm.Multiply{T}(bool, bool, int, int, int, ReadOnlySpan{T}, int, ReadOnlySpan{T}, int, Span{T}, int, bool)"/>, without argument checks.</summary>
    public static void Multiply<T>(bool transA, bool transB, int m, int n, int k,
        ReadOnlySpan<T> a, int lda, ReadOnlySpan<T> b, int ldb, Span<T> c, int ldc, bool accumulate)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        for (int i = 0; i < m; i++)
        {
            Span<T> crow = c.Slice(i * ldc, n);
            if (!accumulate) crow.Clear();
            if (!transB)
            {
                // C[i,:] += sum_p op(A)[i,p] * B[p,:]   (axpy over contiguous rows of B)
                for (int p = 0; p < k; p++)
                {
                    T av = transA ? a[p * lda + i] : a[i * lda + p];
                    if (av == T.Zero) continue;
                    Axpy(av, b.Slice(p * ldb, n), crow);
                }
            }
            else
            {
                // C[i,j] += dot(op(A)[i,:], B[j,:])   (B stored n×k)
                if (!transA)
                {
                    ReadOnlySpan<T> arow = a.Slice(i * lda, k);
                    for (int j = 0; j < n; j++) crow[j] += Dot(arow, b.Slice(j * ldb, k));
                }
                else
                {
                    for (int j = 0; j < n; j++)
                    {
                        T s = T.Zero;
                        for (int p = 0; p < k; p++) s += a[p * lda + i] * b[j * ldb + p];
                        crow[j] += s;
                    }
                }
            }
        }
    }

    /// <summary>y += alpha·x.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void Axpy<T>(T alpha, ReadOnlySpan<T> x, Span<T> y) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int i = 0;
        if (Vector.IsHardwareAccelerated && x.Length >= Vector<T>.Count)
        {
            var va = new Vector<T>(alpha);
            var xv = MemoryMarshal.Cast<T, Vector<T>>(x);
            var yv = MemoryMarshal.Cast<T, Vector<T>>(y);
            for (int v = 0; v < xv.Length; v++) yv[v] += va * xv[v];
            i = xv.Length * Vector<T>.Count;
        }
        for (; i < x.Length; i++) y[i] += alpha * x[i];
    }

    /// <summary>Dot product with a fixed summation order.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static T Dot<T>(ReadOnlySpan<T> x, ReadOnlySpan<T> y) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int i = 0;
        T s = T.Zero;
        if (Vector.IsHardwareAccelerated && x.Length >= Vector<T>.Count)
        {
            var acc = Vector<T>.Zero;
            var xv = MemoryMarshal.Cast<T, Vector<T>>(x);
            var yv = MemoryMarshal.Cast<T, Vector<T>>(y[..x.Length]);
            for (int v = 0; v < xv.Length; v++) acc += xv[v] * yv[v];
            s = Vector.Sum(acc);
            i = xv.Length * Vector<T>.Count;
        }
        for (; i < x.Length; i++) s += x[i] * y[i];
        return s;
    }
}
