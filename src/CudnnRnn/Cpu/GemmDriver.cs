using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace CudnnRnn.Cpu;

/// <summary>Validated arguments of one GEMM call plus its C tiling (pointers are pinned by the caller for the call).</summary>
internal unsafe struct GemmArgs<T> where T : unmanaged
{
    public readonly bool TransA, TransB, Accumulate;
    public readonly int M, N, K, Lda, Ldb, Ldc;
    public readonly T* A, B, C;
    /// <summary>When not null, op(B) already packed for the whole of k and n (<see cref="GemmPackedB{T}"/>), NPad columns wide.</summary>
    public T* PackedB;
    public int NPad;
    /// <summary>
    /// When not null, a row of N values added to every row of C after its last k-block: C = (C + acc) + bias, the
    /// same bits as a separate pass adding the bias after the GEMM, without that pass over C.
    /// </summary>
    public T* Bias;
    /// <summary>Tiling of C: tile (it, jt) covers rows it·Mc .. and columns jt·Nc ..; any tiling gives the same bits.</summary>
    public int Mc, Nc, MTiles, NTiles;
    /// <summary>Unique per call: keys a thread's cache of packed B (<see cref="GemmDriver{T}.Tile"/>).</summary>
    public long CallId;

    public GemmArgs(bool transA, bool transB, int m, int n, int k, T* a, int lda, T* b, int ldb, T* c, int ldc, bool accumulate)
    {
        TransA = transA; TransB = transB; M = m; N = n; K = k;
        A = a; Lda = lda; B = b; Ldb = ldb; C = c; Ldc = ldc; Accumulate = accumulate;
        Mc = Nc = MTiles = NTiles = NPad = 0;
        CallId = 0;
        PackedB = null;
        Bias = null;
    }
}

/// <summary>The blocked GEMM: k-blocking, packing and the loops around the micro-kernel, for one element type.</summary>
internal static unsafe class GemmDriver<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>Longest k-block. A B micro-panel (KcMax × NR) is 32 KiB, which stays in a 48 KiB L1 across the row panels.</summary>
    internal const int KcMax = 256;

    /// <summary>Micro-tile rows (register blocking); depends on the vector width only.</summary>
    internal static int MR
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => Vector512.IsHardwareAccelerated ? GemmKernels.MR512 : GemmKernels.MR256;
    }

    /// <summary>Micro-tile columns: two vectors.</summary>
    internal static int NR
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => Vector512.IsHardwareAccelerated ? 2 * Vector512<T>.Count : 2 * Vector256<T>.Count;
    }

    /// <summary>Rows of a C tile (the packed A block, Mc × KcMax, stays in L2: ~144 KiB).</summary>
    private static int McMax => sizeof(T) == 4 ? 144 : 72;

    /// <summary>Columns of a C tile (the packed B block is Nc × KcMax).</summary>
    private static int NcMax => sizeof(T) == 4 ? 512 : 256;

    /// <summary>Below this many flops (2mnk) one thread is faster than waking another.</summary>
    private const double ParallelFlops = 1 << 20;

    /// <summary>
    /// Number of k-blocks and the size of all but the last: a function of k only, so every C element sums its products in
    /// the same blocks whatever the tiling and the thread count.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static int KBlock(int k)
    {
        int blocks = (k + KcMax - 1) / KcMax;
        return (k + blocks - 1) / blocks;
    }

    /// <summary>Most elements a thread caches of one column tile's packed B, all k-blocks (8 MiB of floats).</summary>
    private const int BCacheMax = 1 << 21;

    /// <summary>Most elements a thread caches of one row tile's packed A, all k-blocks (1 MiB of floats).</summary>
    private const int ACacheMax = 1 << 18;

    private static long s_callId;
    [ThreadStatic] private static long t_cachedACall;
    [ThreadStatic] private static int t_cachedAIt;
    [ThreadStatic] private static nint t_cachedABuffer;
    [ThreadStatic] private static long t_cachedCall;
    [ThreadStatic] private static int t_cachedJt;
    [ThreadStatic] private static nint t_cachedBuffer;

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Run(ref GemmArgs<T> g, int threads, int forceMc = 0, int forceNc = 0)
    {
        g.CallId = Interlocked.Increment(ref s_callId);
        int mr = MR, nr = NR;
        if (2.0 * g.M * g.N * g.K < ParallelFlops) threads = 1;

        // Tiling: as few tiles as the cache sizes allow; with threads, enough tiles to keep them all busy and balanced.
        int mTiles = (g.M + McMax - 1) / McMax;
        int nTiles = (g.N + NcMax - 1) / NcMax;
        int nPanels = (g.N + nr - 1) / nr, mPanels = (g.M + mr - 1) / mr;
        if (threads > 1)
        {
            // Split n first (a tile then re-packs only its share of B), then m; stop at one micro-panel per tile.
            while ((mTiles * nTiles < 2 * threads || (mTiles * nTiles) % threads != 0 && mTiles * nTiles < 8 * threads)
                   && (nTiles < nPanels || mTiles < mPanels))
            {
                if (nTiles < nPanels && (nTiles <= 2 * mTiles || mTiles >= mPanels)) nTiles++;
                else mTiles++;
            }
        }
        g.Mc = forceMc > 0 ? RoundUp(forceMc, mr) : RoundUp((g.M + mTiles - 1) / mTiles, mr);
        g.Nc = forceNc > 0 ? RoundUp(forceNc, nr) : RoundUp((g.N + nTiles - 1) / nTiles, nr);
        g.MTiles = (g.M + g.Mc - 1) / g.Mc;
        g.NTiles = (g.N + g.Nc - 1) / g.Nc;
        int tiles = g.MTiles * g.NTiles;

        if (threads <= 1 || tiles <= 1)
        {
            for (int t = 0; t < tiles; t++) Tile(in g, t);
            return;
        }
        var job = GemmJob<T>.Shared;
        if (!GemmPool.TryRun(job, ref g, tiles, threads))
            for (int t = 0; t < tiles; t++) Tile(in g, t);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int RoundUp(int x, int to) => (x + to - 1) / to * to;

    /// <summary>
    /// Distance between packed A panels (kc × MR values each): one cache line more than the panel. Unpadded, panels lie
    /// kc·MR values apart (8 KiB for float at kc = 256), so the same offset of every panel falls in the same L1 set, and
    /// packing A transposed (one row of A dealt out to every panel, 18 of them for 144 rows) wrote more lines into one
    /// set than it has ways.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static long APanelStride(int kc) => (long)kc * MR + 64 / sizeof(T);

    /// <summary>Values of one packed A block (all panels of an mcPad-row tile, one k-block of at most kb).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int ABlockLength(int mcPad, int kb) => (int)(mcPad / MR * APanelStride(kb));

    /// <summary>Computes one C tile completely (all k-blocks, in order).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Tile(in GemmArgs<T> g, int tile)
    {
        int mr = MR, nr = NR;
        // Tile order: the tiles a thread claims one after another mostly share an operand, so they can share its packing
        // (below). B not pre-packed: column-major, so they share a column tile's packed B. B pre-packed: row-major, so they
        // share a row tile's packed A (the per-step h·R^T re-packed the same h_{t-1} once per column tile before).
        bool rowMajor = g.PackedB != null;
        int jt = rowMajor ? tile % g.NTiles : tile / g.MTiles, it = rowMajor ? tile / g.NTiles : tile % g.MTiles;
        int i0 = it * g.Mc, j0 = jt * g.Nc;
        int mc = Math.Min(g.Mc, g.M - i0), nc = Math.Min(g.Nc, g.N - j0);
        int mcPad = RoundUp(mc, mr), ncPad = RoundUp(nc, nr);
        int kb = KBlock(g.K);
        // B pre-packed and several column tiles: pack the row tile's A for all k-blocks once (k-block b at b·ABlockLength)
        // and keep it for this thread's next tiles of the same row tile in this call. The packed values are the same.
        int aBlockLen = ABlockLength(mcPad, kb), kBlocks = (g.K + kb - 1) / kb;
        bool cacheA = rowMajor && g.NTiles > 1 && (long)aBlockLen * kBlocks <= ACacheMax;
        T* ap = cacheA ? PackBuffers<T>.AAll(aBlockLen * kBlocks) : PackBuffers<T>.A(aBlockLen);
        if (cacheA && (t_cachedACall != g.CallId || t_cachedAIt != it || t_cachedABuffer != (nint)ap))
        {
            t_cachedACall = g.CallId;
            t_cachedAIt = it;
            t_cachedABuffer = (nint)ap;
            for (int p0 = 0; p0 < g.K; p0 += kb) PackA(in g, i0, mc, p0, Math.Min(kb, g.K - p0), ap + (long)(p0 / kb) * aBlockLen);
        }
        // B not pre-packed: when the whole column tile's B (all k-blocks) fits the per-thread cache, pack it once and keep it
        // for the next tiles of the same column this thread runs in this call (row tiles would otherwise pack the same B
        // again each; the dW GEMMs have a dozen or more). Else pack each k-block as it comes. The packed values are the
        // same either way.
        bool cacheB = g.PackedB == null && g.MTiles > 1 && (long)ncPad * g.K <= BCacheMax;
        T* bp = g.PackedB != null ? null : cacheB ? PackBuffers<T>.BAll(ncPad * g.K) : PackBuffers<T>.B(ncPad * kb);
        if (cacheB && (t_cachedCall != g.CallId || t_cachedJt != jt || t_cachedBuffer != (nint)bp))
        {
            t_cachedCall = g.CallId;
            t_cachedJt = jt;
            t_cachedBuffer = (nint)bp;
            for (int p0 = 0; p0 < g.K; p0 += kb) PackB(in g, p0, Math.Min(kb, g.K - p0), j0, nc, bp + (long)p0 * ncPad);
        }
        T* edge = stackalloc T[GemmKernels.MR512 * 2 * 64 / sizeof(T)];

        for (int p0 = 0; p0 < g.K; p0 += kb)
        {
            int kc = Math.Min(kb, g.K - p0);
            bool add = g.Accumulate || p0 > 0;
            T* bias = g.Bias != null && p0 + kc == g.K ? g.Bias + j0 : null;
            // Pre-packed B: block p0 starts at p0·NPad, and its panel for column j at j·kc (see GemmPackedB).
            T* bBlock = g.PackedB != null ? g.PackedB + (long)p0 * g.NPad + (long)j0 * kc : cacheB ? bp + (long)p0 * ncPad : bp;
            if (g.PackedB == null && !cacheB) PackB(in g, p0, kc, j0, nc, bp);
            T* aBlock = cacheA ? ap + (long)(p0 / kb) * aBlockLen : ap;
            long aStride = APanelStride(kc);
            if (!cacheA) PackA(in g, i0, mc, p0, kc, ap);
            for (int jr = 0; jr < nc; jr += nr)
            {
                int nrEff = Math.Min(nr, nc - jr);
                T* bpanel = bBlock + (long)jr * kc;
                for (int ir = 0; ir < mc; ir += mr)
                {
                    int mrEff = Math.Min(mr, mc - ir);
                    T* apanel = aBlock + ir / mr * aStride;
                    T* cij = g.C + (long)(i0 + ir) * g.Ldc + j0 + jr;
                    T* biasPanel = bias == null ? null : bias + jr;
                    if (mrEff == mr && nrEff == nr)
                    {
                        Kernel(kc, apanel, bpanel, cij, g.Ldc, add, biasPanel);
                    }
                    else
                    {
                        // Edge tile: the same kernel (same arithmetic per element) into a scratch tile, then the same
                        // C = acc or C = C + acc per element (then + bias).
                        Kernel(kc, apanel, bpanel, edge, nr, add: false, bias: null);
                        for (int r = 0; r < mrEff; r++)
                        {
                            T* crow = cij + (long)r * g.Ldc;
                            T* erow = edge + r * nr;
                            if (add) for (int j = 0; j < nrEff; j++) crow[j] += erow[j];
                            else for (int j = 0; j < nrEff; j++) crow[j] = erow[j];
                            if (biasPanel != null) for (int j = 0; j < nrEff; j++) crow[j] += biasPanel[j];
                        }
                    }
                }
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Kernel(int kc, T* a, T* b, T* c, int ldc, bool add, T* bias)
    {
        if (Vector512.IsHardwareAccelerated) GemmKernels.Kernel512(kc, a, b, c, ldc, add, bias);
        else GemmKernels.Kernel256(kc, a, b, c, ldc, add, bias);
    }

    /// <summary>
    /// Packs op(A)[i0 .. i0+mc, p0 .. p0+kc] into MR-row panels: panel q, at q·<see cref="APanelStride"/>(kc), holds
    /// for each p the MR values op(A)[i0+q·MR+r, p0+p] contiguously; rows past mc are zero.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void PackA(in GemmArgs<T> g, int i0, int mc, int p0, int kc, T* ap)
    {
        int mr = MR;
        long aStride = APanelStride(kc);
        if (g.TransA)
        {
            // op(A)[i, p] = A[p·lda + i]: row p of A is contiguous in i. Walk A row by row (one pass over contiguous
            // memory) and deal each row out to the panels; walking panel by panel instead would touch kc rows lda apart
            // per panel, which with power-of-two lda keeps evicting itself from L1 and L2.
            for (int p = 0; p < kc; p++)
            {
                T* src = g.A + (long)(p0 + p) * g.Lda + i0;
                for (int ir = 0; ir < mc; ir += mr)
                {
                    int rows = Math.Min(mr, mc - ir);
                    T* d = ap + ir / mr * aStride + p * mr;
                    if (rows == mr) GemmKernels.CopyShort(src + ir, d, mr);
                    else
                    {
                        int r = 0;
                        for (; r < rows; r++) d[r] = src[ir + r];
                        for (; r < mr; r++) d[r] = T.Zero;
                    }
                }
            }
            return;
        }
        for (int ir = 0; ir < mc; ir += mr)
        {
            int rows = Math.Min(mr, mc - ir);
            T* dst = ap + ir / mr * aStride;
            // op(A)[i, p] = A[i·lda + p]: rows are contiguous in p; write them strided into the panel.
            if (rows == mr) GemmKernels.PackTranspose(g.A + (long)(i0 + ir) * g.Lda + p0, g.Lda, kc, mr, dst);
            else
            {
                for (int r = 0; r < rows; r++)
                {
                    T* src = g.A + (long)(i0 + ir + r) * g.Lda + p0;
                    for (int p = 0; p < kc; p++) dst[p * mr + r] = src[p];
                }
                for (int r = rows; r < mr; r++)
                    for (int p = 0; p < kc; p++) dst[p * mr + r] = T.Zero;
            }
        }
    }

    /// <summary>
    /// Packs op(B)[p0 .. p0+kc, j0 .. j0+nc] into NR-column panels: panel q holds, for each p, the NR values
    /// op(B)[p0+p, j0+q·NR+j] contiguously; columns past nc are zero.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void PackB(in GemmArgs<T> g, int p0, int kc, int j0, int nc, T* bp)
    {
        int nr = NR;
        for (int jr = 0; jr < nc; jr += nr)
        {
            int cols = Math.Min(nr, nc - jr);
            T* dst = bp + (long)jr * kc;
            if (!g.TransB)
            {
                // op(B)[p, j] = B[p·ldb + j]: contiguous in j.
                for (int p = 0; p < kc; p++)
                {
                    T* src = g.B + (long)(p0 + p) * g.Ldb + j0 + jr;
                    T* d = dst + p * nr;
                    if (cols == nr) GemmKernels.CopyPanelRow(src, d, nr);
                    else
                    {
                        int j = 0;
                        for (; j < cols; j++) d[j] = src[j];
                        for (; j < nr; j++) d[j] = T.Zero;
                    }
                }
            }
            else
            {
                // op(B)[p, j] = B[j·ldb + p]: rows of B are contiguous in p; transpose them into the panel.
                if (cols == nr) GemmKernels.PackTranspose(g.B + (long)(j0 + jr) * g.Ldb + p0, g.Ldb, kc, nr, dst);
                else
                {
                    for (int j = 0; j < cols; j++)
                    {
                        T* src = g.B + (long)(j0 + jr + j) * g.Ldb + p0;
                        for (int p = 0; p < kc; p++) dst[p * nr + j] = src[p];
                    }
                    for (int j = cols; j < nr; j++)
                        for (int p = 0; p < kc; p++) dst[p * nr + j] = T.Zero;
                }
            }
        }
    }
}

/// <summary>Per-thread, 64-byte aligned packing buffers on the pinned object heap: grown on demand, never per call.</summary>
internal static unsafe class PackBuffers<T> where T : unmanaged
{
    [ThreadStatic] private static T[]? s_a;
    [ThreadStatic] private static T[]? s_b;
    [ThreadStatic] private static T[]? s_bAll;
    [ThreadStatic] private static T[]? s_aAll;

    public static T* A(int length) => Get(ref s_a, length);
    public static T* B(int length) => Get(ref s_b, length);
    /// <summary>The A cache (a whole row tile, all k-blocks); growing it invalidates nothing (its owner re-packs on a key miss).</summary>
    public static T* AAll(int length) => Get(ref s_aAll, length);
    /// <summary>The B cache (a whole column tile, all k-blocks); growing it invalidates nothing (its owner re-packs on a key miss).</summary>
    public static T* BAll(int length) => Get(ref s_bAll, length);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static T* Get(ref T[]? buffer, int length)
    {
        int pad = 64 / sizeof(T);
        if (buffer is null || buffer.Length < length + pad) buffer = Grow(length + pad);
        nint p = (nint)Unsafe.AsPointer(ref buffer[0]);
        return (T*)((p + 63) & ~(nint)63);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static T[] Grow(int length) => GC.AllocateUninitializedArray<T>(Math.Max(length, 4096), pinned: true);
}
