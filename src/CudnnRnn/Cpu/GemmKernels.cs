using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace CudnnRnn.Cpu;

/// <summary>
/// The GEMM micro-kernels and packing helpers. A micro-kernel computes one full MR × NR tile of C from an A panel
/// (kc × MR, k-major) and a B panel (kc × NR, k-major): every element is <c>acc = 0; acc = fma(a, b, acc)</c> for p = 0..kc-1
/// in order, then <c>C = acc</c> or <c>C = C + acc</c>, plus, when a bias row is given (the last k-block of a call with a
/// bias), <c>+ bias_j</c> after that. Each lane of each accumulator is one C element, so the
/// arithmetic of an element never depends on where its tile lies.
/// </summary>
internal static unsafe class GemmKernels
{
    /// <summary>Rows of the Vector512 micro-tile: 8 × 2 accumulators + 2 B vectors use 18 of the 32 zmm registers.</summary>
    internal const int MR512 = 8;
    /// <summary>Rows of the Vector256 micro-tile: 6 × 2 accumulators + 2 B vectors + 1 broadcast fit 16 ymm registers.</summary>
    internal const int MR256 = 6;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<T> Fma<T>(Vector512<T> x, Vector512<T> y, Vector512<T> z)
    {
        if (typeof(T) == typeof(float))
            return Vector512.FusedMultiplyAdd(x.AsSingle(), y.AsSingle(), z.AsSingle()).As<float, T>();
        return Vector512.FusedMultiplyAdd(x.AsDouble(), y.AsDouble(), z.AsDouble()).As<double, T>();
    }

    // MultiplyAddEstimate: fused where the hardware has FMA (one rounding), multiply-then-add elsewhere (the portable
    // fallback). Either way the same instruction sequence runs for every element on a given machine.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<T> Fma<T>(Vector256<T> x, Vector256<T> y, Vector256<T> z)
    {
        if (typeof(T) == typeof(float))
            return Vector256.MultiplyAddEstimate(x.AsSingle(), y.AsSingle(), z.AsSingle()).As<float, T>();
        return Vector256.MultiplyAddEstimate(x.AsDouble(), y.AsDouble(), z.AsDouble()).As<double, T>();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store<T>(T* c, Vector512<T> x0, Vector512<T> x1, bool add, T* bias) where T : unmanaged
    {
        if (add)
        {
            x0 = Vector512.Load(c) + x0;
            x1 = Vector512.Load(c + Vector512<T>.Count) + x1;
        }
        if (bias != null)
        {
            x0 += Vector512.Load(bias);
            x1 += Vector512.Load(bias + Vector512<T>.Count);
        }
        x0.Store(c);
        x1.Store(c + Vector512<T>.Count);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store<T>(T* c, Vector256<T> x0, Vector256<T> x1, bool add, T* bias) where T : unmanaged
    {
        if (add)
        {
            x0 = Vector256.Load(c) + x0;
            x1 = Vector256.Load(c + Vector256<T>.Count) + x1;
        }
        if (bias != null)
        {
            x0 += Vector256.Load(bias);
            x1 += Vector256.Load(bias + Vector256<T>.Count);
        }
        x0.Store(c);
        x1.Store(c + Vector256<T>.Count);
    }

    /// <summary>
    /// Asks for the C tile's cache lines before the k loop, so that the final load-add-store of C (accumulate) and the
    /// stores (which need the line too) find it in L1. The RNN's per-step GEMM accumulates onto gate rows that the hoisted
    /// input GEMM wrote many steps earlier and that have long left L2; without this each micro-tile stalls on main-memory
    /// latency once per k-block, which the out-of-order window cannot hide across a 256-long k loop.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void PrefetchTile<T>(T* c, int ldc, int rows, int rowBytes) where T : unmanaged
    {
        if (!Sse.IsSupported) return;
        for (int r = 0; r < rows; r++)
        {
            byte* row = (byte*)(c + (long)r * ldc);
            for (int off = 0; off < rowBytes; off += 64) Sse.Prefetch0(row + off);
            Sse.Prefetch0(row + rowBytes - 1); // a row not 64-byte aligned spans one more line
        }
    }

    /// <summary>8 × (2 · Vector512) micro-kernel.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Kernel512<T>(int kc, T* a, T* b, T* c, int ldc, bool add, T* bias) where T : unmanaged
    {
        int w = Vector512<T>.Count;
        Vector512<T> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default,
            c30 = default, c31 = default, c40 = default, c41 = default, c50 = default, c51 = default,
            c60 = default, c61 = default, c70 = default, c71 = default;
        PrefetchTile(c, ldc, MR512, 2 * w * sizeof(T));
        for (int p = 0; p < kc; p++)
        {
            Vector512<T> b0 = Vector512.Load(b), b1 = Vector512.Load(b + w), x;
            x = Vector512.Create(a[0]); c00 = Fma(x, b0, c00); c01 = Fma(x, b1, c01);
            x = Vector512.Create(a[1]); c10 = Fma(x, b0, c10); c11 = Fma(x, b1, c11);
            x = Vector512.Create(a[2]); c20 = Fma(x, b0, c20); c21 = Fma(x, b1, c21);
            x = Vector512.Create(a[3]); c30 = Fma(x, b0, c30); c31 = Fma(x, b1, c31);
            x = Vector512.Create(a[4]); c40 = Fma(x, b0, c40); c41 = Fma(x, b1, c41);
            x = Vector512.Create(a[5]); c50 = Fma(x, b0, c50); c51 = Fma(x, b1, c51);
            x = Vector512.Create(a[6]); c60 = Fma(x, b0, c60); c61 = Fma(x, b1, c61);
            x = Vector512.Create(a[7]); c70 = Fma(x, b0, c70); c71 = Fma(x, b1, c71);
            a += MR512;
            b += 2 * w;
        }
        Store(c, c00, c01, add, bias); c += ldc;
        Store(c, c10, c11, add, bias); c += ldc;
        Store(c, c20, c21, add, bias); c += ldc;
        Store(c, c30, c31, add, bias); c += ldc;
        Store(c, c40, c41, add, bias); c += ldc;
        Store(c, c50, c51, add, bias); c += ldc;
        Store(c, c60, c61, add, bias); c += ldc;
        Store(c, c70, c71, add, bias);
    }

    /// <summary>6 × (2 · Vector256) micro-kernel (AVX2 machines, and the portable path elsewhere).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Kernel256<T>(int kc, T* a, T* b, T* c, int ldc, bool add, T* bias) where T : unmanaged
    {
        int w = Vector256<T>.Count;
        Vector256<T> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default,
            c30 = default, c31 = default, c40 = default, c41 = default, c50 = default, c51 = default;
        PrefetchTile(c, ldc, MR256, 2 * w * sizeof(T));
        for (int p = 0; p < kc; p++)
        {
            Vector256<T> b0 = Vector256.Load(b), b1 = Vector256.Load(b + w), x;
            x = Vector256.Create(a[0]); c00 = Fma(x, b0, c00); c01 = Fma(x, b1, c01);
            x = Vector256.Create(a[1]); c10 = Fma(x, b0, c10); c11 = Fma(x, b1, c11);
            x = Vector256.Create(a[2]); c20 = Fma(x, b0, c20); c21 = Fma(x, b1, c21);
            x = Vector256.Create(a[3]); c30 = Fma(x, b0, c30); c31 = Fma(x, b1, c31);
            x = Vector256.Create(a[4]); c40 = Fma(x, b0, c40); c41 = Fma(x, b1, c41);
            x = Vector256.Create(a[5]); c50 = Fma(x, b0, c50); c51 = Fma(x, b1, c51);
            a += MR256;
            b += 2 * w;
        }
        Store(c, c00, c01, add, bias); c += ldc;
        Store(c, c10, c11, add, bias); c += ldc;
        Store(c, c20, c21, add, bias); c += ldc;
        Store(c, c30, c31, add, bias); c += ldc;
        Store(c, c40, c41, add, bias); c += ldc;
        Store(c, c50, c51, add, bias);
    }

    /// <summary>Copies one full panel row of <paramref name="count"/> elements (a multiple of the vector width).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void CopyPanelRow<T>(T* src, T* dst, int count) where T : unmanaged
    {
        if (Vector512.IsHardwareAccelerated)
            for (int j = 0; j < count; j += Vector512<T>.Count) Vector512.Store(Vector512.Load(src + j), dst + j);
        else
            for (int j = 0; j < count; j += Vector256<T>.Count) Vector256.Store(Vector256.Load(src + j), dst + j);
    }

    /// <summary>Copies <paramref name="count"/> (an MR: 6 or 8) elements with whole vectors where they fit.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void CopyShort<T>(T* src, T* dst, int count) where T : unmanaged
    {
        if (count * sizeof(T) == 64 && Vector512.IsHardwareAccelerated) Vector512.Store(Vector512.Load(src), dst);
        else if (count * sizeof(T) == 32 && Vector256.IsHardwareAccelerated) Vector256.Store(Vector256.Load(src), dst);
        else for (int r = 0; r < count; r++) dst[r] = src[r];
    }

    /// <summary>
    /// Transposes <paramref name="rows"/> source rows (each <paramref name="kc"/> long, <paramref name="ld"/> apart) into a
    /// k-major panel: <c>dst[p·rows + r] = src[r·ld + p]</c>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void PackTranspose<T>(T* src, int ld, int kc, int rows, T* dst) where T : unmanaged
    {
        int p = 0;
        if (typeof(T) == typeof(float) && Avx.IsSupported && (rows & 7) == 0)
        {
            for (; p + 8 <= kc; p += 8)
                for (int r = 0; r < rows; r += 8)
                    Transpose8x8((float*)src + (long)r * ld + p, ld, (float*)dst + (long)p * rows + r, rows);
        }
        else if (typeof(T) == typeof(double) && Avx.IsSupported && (rows & 3) == 0)
        {
            for (; p + 4 <= kc; p += 4)
                for (int r = 0; r < rows; r += 4)
                    Transpose4x4((double*)src + (long)r * ld + p, ld, (double*)dst + (long)p * rows + r, rows);
        }
        for (; p < kc; p++)
            for (int r = 0; r < rows; r++) dst[(long)p * rows + r] = src[(long)r * ld + p];
    }

    /// <summary>dst[q·lds + r] = src[r·ld + q] for an 8 × 8 block of floats.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Transpose8x8(float* src, int ld, float* dst, int lds)
    {
        Vector256<float> r0 = Avx.LoadVector256(src), r1 = Avx.LoadVector256(src + ld),
            r2 = Avx.LoadVector256(src + 2L * ld), r3 = Avx.LoadVector256(src + 3L * ld),
            r4 = Avx.LoadVector256(src + 4L * ld), r5 = Avx.LoadVector256(src + 5L * ld),
            r6 = Avx.LoadVector256(src + 6L * ld), r7 = Avx.LoadVector256(src + 7L * ld);
        var t0 = Avx.UnpackLow(r0, r1); var t1 = Avx.UnpackHigh(r0, r1);
        var t2 = Avx.UnpackLow(r2, r3); var t3 = Avx.UnpackHigh(r2, r3);
        var t4 = Avx.UnpackLow(r4, r5); var t5 = Avx.UnpackHigh(r4, r5);
        var t6 = Avx.UnpackLow(r6, r7); var t7 = Avx.UnpackHigh(r6, r7);
        var s0 = Avx.Shuffle(t0, t2, 0x44); var s1 = Avx.Shuffle(t0, t2, 0xEE);
        var s2 = Avx.Shuffle(t1, t3, 0x44); var s3 = Avx.Shuffle(t1, t3, 0xEE);
        var s4 = Avx.Shuffle(t4, t6, 0x44); var s5 = Avx.Shuffle(t4, t6, 0xEE);
        var s6 = Avx.Shuffle(t5, t7, 0x44); var s7 = Avx.Shuffle(t5, t7, 0xEE);
        Avx.Store(dst, Avx.Permute2x128(s0, s4, 0x20));
        Avx.Store(dst + lds, Avx.Permute2x128(s1, s5, 0x20));
        Avx.Store(dst + 2L * lds, Avx.Permute2x128(s2, s6, 0x20));
        Avx.Store(dst + 3L * lds, Avx.Permute2x128(s3, s7, 0x20));
        Avx.Store(dst + 4L * lds, Avx.Permute2x128(s0, s4, 0x31));
        Avx.Store(dst + 5L * lds, Avx.Permute2x128(s1, s5, 0x31));
        Avx.Store(dst + 6L * lds, Avx.Permute2x128(s2, s6, 0x31));
        Avx.Store(dst + 7L * lds, Avx.Permute2x128(s3, s7, 0x31));
    }

    /// <summary>dst[q·lds + r] = src[r·ld + q] for a 4 × 4 block of doubles.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Transpose4x4(double* src, int ld, double* dst, int lds)
    {
        Vector256<double> r0 = Avx.LoadVector256(src), r1 = Avx.LoadVector256(src + ld),
            r2 = Avx.LoadVector256(src + 2L * ld), r3 = Avx.LoadVector256(src + 3L * ld);
        var t0 = Avx.UnpackLow(r0, r1); var t1 = Avx.UnpackHigh(r0, r1);
        var t2 = Avx.UnpackLow(r2, r3); var t3 = Avx.UnpackHigh(r2, r3);
        Avx.Store(dst, Avx.Permute2x128(t0, t2, 0x20));
        Avx.Store(dst + lds, Avx.Permute2x128(t1, t3, 0x20));
        Avx.Store(dst + 2L * lds, Avx.Permute2x128(t0, t2, 0x31));
        Avx.Store(dst + 3L * lds, Avx.Permute2x128(t1, t3, 0x31));
    }
}
