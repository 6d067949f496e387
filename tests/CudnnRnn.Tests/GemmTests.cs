using System.Numerics;
using CudnnRnn.Cpu;
using Xunit;

namespace CudnnRnn.Tests;

/// <summary>
/// The blocked GEMM against a float64 triple loop: every transpose combination, float and double, every tail length
/// around the vector width, the micro-tile and the k-block, padded leading dimensions, accumulate on and off; bitwise
/// equality across thread counts and tilings; argument errors.
/// </summary>
public class GemmTests
{
    public static readonly TheoryData<bool, bool> TransposeCases = new() { { false, false }, { false, true }, { true, false }, { true, true } };

    /// <summary>
    /// Operands of one GEMM, stored with padded leading dimensions. Padding of A and B holds NaN (a read of it would
    /// poison C); padding of C holds NaN too and must come back untouched.
    /// </summary>
    private sealed class Case<T> where T : unmanaged, IFloatingPointIeee754<T>
    {
        public readonly bool TransA, TransB, Accumulate;
        public readonly int M, N, K, Lda, Ldb, Ldc;
        public readonly T[] A, B, C0;

        public Case(bool transA, bool transB, int m, int n, int k, bool accumulate, int seed, int ldPad = 0)
        {
            TransA = transA; TransB = transB; M = m; N = n; K = k; Accumulate = accumulate;
            var rng = new Random(seed);
            (int ar, int ac) = transA ? (k, m) : (m, k);
            (int br, int bc) = transB ? (n, k) : (k, n);
            Lda = Math.Max(1, ac + ldPad);
            Ldb = Math.Max(1, bc + ldPad);
            Ldc = Math.Max(1, n + ldPad);
            A = Fill(rng, ar, ac, Lda);
            B = Fill(rng, br, bc, Ldb);
            C0 = Fill(rng, m, n, Ldc);
        }

        private static T[] Fill(Random rng, int rows, int cols, int ld)
        {
            var x = new T[rows == 0 ? 0 : (rows - 1) * ld + cols];
            for (int i = 0; i < x.Length; i++)
                x[i] = i % ld < cols ? T.CreateChecked(rng.NextDouble() * 2 - 1) : T.NaN;
            return x;
        }

        public T[] Run(int threads, int tileRows = 0, int tileCols = 0)
        {
            var c = (T[])C0.Clone();
            Gemm.MultiplyCore<T>(TransA, TransB, M, N, K, A, Lda, B, Ldb, c, Ldc, Accumulate, threads, tileRows, tileCols);
            return c;
        }

        private double Av(int i, int p) => double.CreateChecked(TransA ? A[p * Lda + i] : A[i * Lda + p]);
        private double Bv(int p, int j) => double.CreateChecked(TransB ? B[j * Ldb + p] : B[p * Ldb + j]);

        /// <summary>Checks <paramref name="c"/> against the float64 triple loop; C's padding must still be NaN.</summary>
        public void Verify(T[] c, string what)
        {
            double eps = double.CreateChecked(T.BitIncrement(T.One) - T.One);
            // Error bound of a sum of k products with one rounding per step (FMA) plus one rounding per k-block merge
            // and one for "C + acc": |computed − exact| ≤ (k + blocks + 1)·u·(Σ|a·b| + |c0|) with u = ε/2. We allow
            // (k + 2)·ε (≥ twice that for blocks ≤ k) so the bound also covers the float64 reference's own error
            // (≤ k·u64·Σ|a·b|, which matters only when T is double).
            double gamma = (K + 2) * eps;
            for (int i = 0; i < M; i++)
            {
                for (int j = 0; j < N; j++)
                {
                    double e = 0, mag = 0;
                    for (int p = 0; p < K; p++)
                    {
                        double prod = Av(i, p) * Bv(p, j);
                        e += prod;
                        mag += Math.Abs(prod);
                    }
                    if (Accumulate)
                    {
                        double c0 = double.CreateChecked(C0[i * Ldc + j]);
                        e += c0;
                        mag += Math.Abs(c0);
                    }
                    double got = double.CreateChecked(c[i * Ldc + j]);
                    double tol = gamma * mag;
                    if (!(Math.Abs(got - e) <= tol))
                        Assert.Fail($"{what}: C[{i},{j}] = {got:R}, expected {e:R} (|diff| {Math.Abs(got - e):E3} > tol {tol:E3}); " +
                                    $"transA={TransA} transB={TransB} m={M} n={N} k={K} lda={Lda} ldb={Ldb} ldc={Ldc} accumulate={Accumulate}");
                }
                for (int j = N; j < Ldc && (i + 1) * Ldc <= c.Length; j++)
                    Assert.True(T.IsNaN(c[i * Ldc + j]), $"{what}: C padding [{i},{j}] was written");
            }
        }
    }

    private static void CheckSizes<T>(bool transA, bool transB, IEnumerable<(int m, int n, int k)> sizes, int seed)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        foreach (var (m, n, k) in sizes)
        {
            foreach (bool acc in new[] { false, true })
            {
                var cs = new Case<T>(transA, transB, m, n, k, acc, seed++, ldPad: (m + n + k) % 3 == 0 ? 0 : 3);
                cs.Verify(cs.Run(threads: 1), $"{typeof(T).Name} gemm");
            }
        }
    }

    /// <summary>Every length 0..70 in one dimension (vector widths 4/8/16, micro-tiles 6/8 × 16/32 all have tails there).</summary>
    private static IEnumerable<(int, int, int)> TailSizes()
    {
        for (int s = 0; s <= 70; s++)
        {
            yield return (s, 37, 19);
            yield return (13, s, 29);
            yield return (9, 35, s);
        }
    }

    /// <summary>Sizes around the tile and k-block limits (Mc 72/144, Nc 256/512, Kc 256).</summary>
    private static IEnumerable<(int, int, int)> BlockSizes()
    {
        yield return (143, 33, 255);
        yield return (145, 65, 257);
        yield return (73, 257, 256);
        yield return (71, 513, 7);
        yield return (150, 520, 530);
        yield return (1, 600, 513);
        yield return (300, 1, 300);
    }

    [Theory]
    [MemberData(nameof(TransposeCases))]
    public void Float_MatchesTripleLoop_EveryTailLength(bool transA, bool transB) =>
        CheckSizes<float>(transA, transB, TailSizes(), seed: 100);

    [Theory]
    [MemberData(nameof(TransposeCases))]
    public void Double_MatchesTripleLoop_EveryTailLength(bool transA, bool transB) =>
        CheckSizes<double>(transA, transB, TailSizes(), seed: 200);

    [Theory]
    [MemberData(nameof(TransposeCases))]
    public void Float_MatchesTripleLoop_AroundBlockSizes(bool transA, bool transB) =>
        CheckSizes<float>(transA, transB, BlockSizes(), seed: 300);

    [Theory]
    [MemberData(nameof(TransposeCases))]
    public void Double_MatchesTripleLoop_AroundBlockSizes(bool transA, bool transB) =>
        CheckSizes<double>(transA, transB, BlockSizes(), seed: 400);

    [Theory]
    [MemberData(nameof(TransposeCases))]
    public void ReferenceGemm_MatchesTripleLoop(bool transA, bool transB)
    {
        foreach (bool acc in new[] { false, true })
        {
            var cs = new Case<float>(transA, transB, 23, 45, 67, acc, seed: 500, ldPad: 5);
            var c = (float[])cs.C0.Clone();
            ReferenceGemm.Multiply<float>(transA, transB, cs.M, cs.N, cs.K, cs.A, cs.Lda, cs.B, cs.Ldb, c, cs.Ldc, acc);
            cs.Verify(c, "reference gemm");
        }
    }

    /// <summary>The RNN's own shapes (hoisted input, per-step recurrent, backward data, weight gradient), scaled down a little.</summary>
    [Theory]
    [InlineData(false, true, 640, 512, 128)]
    [InlineData(false, true, 64, 1024, 256)]
    [InlineData(false, false, 320, 100, 512)]
    [InlineData(true, false, 512, 100, 640)]
    public void RnnShapes_MatchTripleLoop(bool transA, bool transB, int m, int n, int k)
    {
        var f = new Case<float>(transA, transB, m, n, k, accumulate: true, seed: 600);
        f.Verify(f.Run(threads: 2), "float rnn-shape gemm");
        var d = new Case<double>(transA, transB, m, n, k, accumulate: false, seed: 601);
        d.Verify(d.Run(threads: 2), "double rnn-shape gemm");
    }

    private static void AssertBitwiseEqual<T>(T[] expected, T[] actual, string what) where T : unmanaged, IFloatingPointIeee754<T>
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
        {
            // NaN padding compares equal to itself here; everything else must match bit for bit.
            bool same = T.IsNaN(expected[i]) ? T.IsNaN(actual[i]) : expected[i].Equals(actual[i]);
            if (!same) Assert.Fail($"{what}: element {i} differs: {expected[i]} vs {actual[i]}");
        }
    }

    private static void CheckThreadInvariance<T>(bool transA, bool transB) where T : unmanaged, IFloatingPointIeee754<T>
    {
        // Large enough to be split across threads (2mnk ≥ 2^20), with tails in every dimension and several k-blocks.
        foreach (var (m, n, k) in new[] { (67, 531, 600), (301, 45, 290), (33, 2049, 129) })
        {
            foreach (bool acc in new[] { false, true })
            {
                var cs = new Case<T>(transA, transB, m, n, k, acc, seed: m + n + k, ldPad: 2);
                T[] one = cs.Run(threads: 1);
                foreach (int threads in new[] { 2, 3 })
                    AssertBitwiseEqual(one, cs.Run(threads), $"{typeof(T).Name} {m}x{n}x{k} threads={threads}");
                // Any tiling gives the same bits: single micro-panels, odd tile sizes, one tile for everything.
                foreach (var (tr, tc) in new[] { (1, 1), (24, 96), (m, n), (40, 2000) })
                    AssertBitwiseEqual(one, cs.Run(threads: 2, tr, tc), $"{typeof(T).Name} {m}x{n}x{k} tiles {tr}x{tc}");
            }
        }
    }

    [Theory]
    [MemberData(nameof(TransposeCases))]
    public void Float_BitwiseIdenticalForAnyThreadCountAndTiling(bool transA, bool transB) => CheckThreadInvariance<float>(transA, transB);

    [Theory]
    [MemberData(nameof(TransposeCases))]
    public void Double_BitwiseIdenticalForAnyThreadCountAndTiling(bool transA, bool transB) => CheckThreadInvariance<double>(transA, transB);

    private static void CheckPackedB<T>(bool transA, bool transB) where T : unmanaged, IFloatingPointIeee754<T>
    {
        // Pre-packed B (the recurrent weights, packed once per forward) gives the unpacked call's bits, for any threads.
        // (300, 1100, 300): several row and column tiles, so threads reuse a row tile's cached packed A across column tiles
        // and must re-pack when the tiles they claim change row tile.
        foreach (var (m, n, k) in new[] { (16, 1024, 256), (37, 45, 19), (64, 515, 530), (1, 33, 1), (300, 1100, 300) })
        {
            foreach (bool acc in new[] { false, true })
            {
                var cs = new Case<T>(transA, transB, m, n, k, acc, seed: 31 * m + n + k, ldPad: 1);
                T[] expected = cs.Run(threads: 1);
                foreach (int packThreads in new[] { 1, 2, 3 }) // large B packs in column chunks on several threads
                {
                    var packed = new GemmPackedB<T>(n, k);
                    packed.Pack(transB, cs.B, cs.Ldb, packThreads);
                    foreach (int threads in new[] { 1, 2, 3 })
                    {
                        var c = (T[])cs.C0.Clone();
                        Gemm.Multiply<T>(transA, m, cs.A, cs.Lda, packed, c, cs.Ldc, acc, threads);
                        AssertBitwiseEqual(expected, c, $"{typeof(T).Name} packed-B {m}x{n}x{k} pack threads={packThreads} threads={threads}");
                    }
                }
            }
        }
    }

    [Theory]
    [MemberData(nameof(TransposeCases))]
    public void Float_PackedB_BitwiseEqualsUnpacked(bool transA, bool transB) => CheckPackedB<float>(transA, transB);

    [Theory]
    [MemberData(nameof(TransposeCases))]
    public void Double_PackedB_BitwiseEqualsUnpacked(bool transA, bool transB) => CheckPackedB<double>(transA, transB);

    [Fact]
    public void PackedB_ArgumentErrors_NameTheArgument()
    {
        var packed = new GemmPackedB<float>(n: 4, k: 3);
        Assert.Equal("ldb", Assert.ThrowsAny<ArgumentException>(() => packed.Pack(false, new float[12], 3)).ParamName);
        Assert.Equal("b", Assert.ThrowsAny<ArgumentException>(() => packed.Pack(true, new float[11], 3)).ParamName);
        Assert.Equal("n", Assert.ThrowsAny<ArgumentException>(() => new GemmPackedB<float>(0, 3)).ParamName);
        Assert.Equal("lda", Assert.ThrowsAny<ArgumentException>(() =>
            Gemm.Multiply<float>(false, 2, new float[6], 2, packed, new float[8], 4, false)).ParamName);
        Assert.Equal("c", Assert.ThrowsAny<ArgumentException>(() =>
            Gemm.Multiply<float>(false, 2, new float[6], 3, packed, new float[7], 4, false)).ParamName);
    }

    [Fact]
    public void ConcurrentCallers_GetTheSameBits()
    {
        // Callers that find the pool busy run on their own thread; results must not change.
        var cs = new Case<float>(false, true, 64, 512, 256, accumulate: false, seed: 700);
        float[] expected = cs.Run(threads: 1);
        var results = new float[4][];
        Parallel.For(0, results.Length, i =>
        {
            for (int r = 0; r < 20; r++) results[i] = cs.Run(threads: 2);
        });
        foreach (var r in results) AssertBitwiseEqual(expected, r, "concurrent caller");
    }

    [Fact]
    public void ZeroK_ClearsOrKeepsC()
    {
        var c = new float[] { 1, 2, 3, 4 };
        Gemm.Multiply<float>(false, false, 2, 2, 0, [], 1, [], 2, c, 2, accumulate: true);
        Assert.Equal(new float[] { 1, 2, 3, 4 }, c);
        Gemm.Multiply<float>(false, false, 2, 2, 0, [], 1, [], 2, c, 2, accumulate: false);
        Assert.Equal(new float[] { 0, 0, 0, 0 }, c);
    }

    [Fact]
    public void ArgumentErrors_NameTheArgument()
    {
        float[] a = new float[6], b = new float[6], c = new float[4];
        void Call(int m, int n, int k, float[] aa, int lda, float[] bb, int ldb, float[] cc, int ldc, int threads = 0) =>
            Gemm.Multiply<float>(false, false, m, n, k, aa, lda, bb, ldb, cc, ldc, accumulate: false, threads);

        Assert.Equal("m", Assert.ThrowsAny<ArgumentException>(() => Call(-1, 2, 3, a, 3, b, 2, c, 2)).ParamName);
        Assert.Equal("n", Assert.ThrowsAny<ArgumentException>(() => Call(2, -1, 3, a, 3, b, 2, c, 2)).ParamName);
        Assert.Equal("k", Assert.ThrowsAny<ArgumentException>(() => Call(2, 2, -1, a, 3, b, 2, c, 2)).ParamName);
        Assert.Equal("maxThreads", Assert.ThrowsAny<ArgumentException>(() => Call(2, 2, 3, a, 3, b, 2, c, 2, threads: -1)).ParamName);
        Assert.Equal("lda", Assert.ThrowsAny<ArgumentException>(() => Call(2, 2, 3, a, 2, b, 2, c, 2)).ParamName);
        Assert.Equal("ldb", Assert.ThrowsAny<ArgumentException>(() => Call(2, 2, 3, a, 3, b, 1, c, 2)).ParamName);
        Assert.Equal("ldc", Assert.ThrowsAny<ArgumentException>(() => Call(2, 2, 3, a, 3, b, 2, c, 1)).ParamName);
        Assert.Equal("a", Assert.ThrowsAny<ArgumentException>(() => Call(2, 2, 3, new float[5], 3, b, 2, c, 2)).ParamName);
        Assert.Equal("b", Assert.ThrowsAny<ArgumentException>(() => Call(2, 2, 3, a, 3, new float[5], 2, c, 2)).ParamName);
        Assert.Equal("c", Assert.ThrowsAny<ArgumentException>(() => Call(2, 2, 3, a, 3, b, 2, new float[3], 2)).ParamName);
        // Transposed storage: A is k×m (lda ≥ m), B is n×k (ldb ≥ k).
        Assert.Equal("lda", Assert.ThrowsAny<ArgumentException>(() =>
            Gemm.Multiply<float>(true, false, 4, 2, 1, new float[4], 3, b, 2, new float[8], 2, false)).ParamName);
        Assert.Equal("ldb", Assert.ThrowsAny<ArgumentException>(() =>
            Gemm.Multiply<float>(false, true, 2, 2, 3, a, 3, b, 2, c, 2, false)).ParamName);
    }
}
