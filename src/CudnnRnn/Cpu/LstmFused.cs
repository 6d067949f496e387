using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace CudnnRnn.Cpu;

/// <summary>
/// The LSTM cell, forward and backward, for float rows on Vector512 hardware, in one pass over the row: the three
/// sigmoids, the two tanh, the c and h updates (and in backward the gate gradients) per 16 lanes while they sit in
/// registers. The generic per-row kernels in <see cref="CellKernels"/> make about ten <c>TensorPrimitives</c> calls and
/// as many passes over H values per row, which for the small hidden sizes an RNN step has costs more in call overhead and
/// memory traffic than the arithmetic; this kernel is what keeps small (latency-bound) LSTM shapes fast.
/// </summary>
/// <remarks>
/// Every lane takes the same instruction sequence (a row's tail goes through the same vector code from a zero-padded
/// copy), so a value never depends on its position, its row's batch neighbours or the thread count. The activations are
/// the Cephes single-precision algorithms (exp: Cody–Waite reduction + degree-6 polynomial; tanh: odd polynomial below
/// 0.625, <c>1 − 2/(e^{2|x|} + 1)</c> above), accurate to a few ulp, with NaN passed through.
/// </remarks>
internal static unsafe class LstmFused
{
    private const int W = 16; // floats per Vector512

    /// <summary>Whether the fused kernels run for this element type on this machine (else the generic kernels do).</summary>
    public static bool IsSupported<T>() => typeof(T) == typeof(float) && Vector512.IsHardwareAccelerated && Avx512F.IsSupported;

    // ------------------------------------------------------------------ activations

    /// <summary>
    /// e^x for x clamped to [-87, 88] (so 2^n stays a normal float). NaN passes through: the clamps are x86 max/min with
    /// x as the second operand, which they return when either operand is NaN (a test pins this down), and every later
    /// step keeps a NaN a NaN. That spares the activations a NaN check of their own.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Exp(Vector512<float> x)
    {
        x = Avx512F.Min(Vector512.Create(88f), Avx512F.Max(Vector512.Create(-87f), x));
        Vector512<float> n = Vector512.Round(x * Vector512.Create(1.44269504088896341f));
        // r = x − n·ln2 in two steps (ln2 = C1 + C2, C1 exact in few bits) so r keeps its low bits.
        Vector512<float> r = Vector512.FusedMultiplyAdd(n, Vector512.Create(-0.693359375f), x);
        r = Vector512.FusedMultiplyAdd(n, Vector512.Create(2.12194440e-4f), r);
        Vector512<float> p = Vector512.Create(1.9875691500E-4f);
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(1.3981999507E-3f));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(8.3334519073E-3f));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(4.1665795894E-2f));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(1.6666665459E-1f));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(5.0000001201E-1f));
        p = Vector512.FusedMultiplyAdd(p, r * r, r) + Vector512<float>.One;
        return Avx512F.Scale(p, n); // p · 2^n in one instruction (n is integral and in range)
    }

    /// <summary>1 / (1 + e^−x); NaN stays NaN.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector512<float> Sigmoid(Vector512<float> x) => Vector512<float>.One / (Vector512<float>.One + Exp(-x));

    /// <summary>tanh x; NaN stays NaN.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector512<float> Tanh(Vector512<float> x)
    {
        Vector512<float> z = Vector512.Abs(x);
        return TanhFinish(x, z, Exp(z + z));
    }

    /// <summary>tanh x from z = |x| and e^{2z}.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> TanhFinish(Vector512<float> x, Vector512<float> z, Vector512<float> e2z)
    {
        // |x| ≥ 0.625: 1 − 2/(e^{2|x|} + 1) (no cancellation there); below, the odd polynomial keeps the relative accuracy.
        Vector512<float> big = Vector512<float>.One - Vector512.Create(2f) / (e2z + Vector512<float>.One);
        Vector512<float> s = z * z;
        Vector512<float> p = Vector512.Create(-5.70498872745E-3f);
        p = Vector512.FusedMultiplyAdd(p, s, Vector512.Create(2.06390887954E-2f));
        p = Vector512.FusedMultiplyAdd(p, s, Vector512.Create(-5.37397155531E-2f));
        p = Vector512.FusedMultiplyAdd(p, s, Vector512.Create(1.33314422036E-1f));
        p = Vector512.FusedMultiplyAdd(p, s, Vector512.Create(-3.33332819422E-1f));
        Vector512<float> small = Vector512.FusedMultiplyAdd(p * s, z, z);
        // NaN fails the comparison and takes big, which is NaN.
        Vector512<float> t = Vector512.ConditionalSelect(Vector512.LessThan(z, Vector512.Create(0.625f)), small, big);
        return (t.AsUInt32() | (x.AsUInt32() & Vector512.Create(0x8000_0000u))).AsSingle(); // tanh is odd: sign of x
    }

    // ------------------------------------------------------------------ forward

    /// <summary>
    /// One row: <paramref name="g"/> (4H: i f g o pre-activations, input and recurrent parts and biases added) ← the
    /// activations; c = f ⊙ cPrev + i ⊙ g (<paramref name="cPrev"/> null: zeros); h = o ⊙ tanh(c). Same arithmetic as
    /// <see cref="CellKernels.LstmForward{T}"/> without clipping.
    /// </summary>
    public static void Forward(float* g, float* cPrev, float* c, float* h, int hidden)
    {
        // Two passes over the row (it stays in L1): the activations, then c and h. In one pass each vector is one long
        // dependency chain (activations → c → tanh c → h) that the out-of-order window cannot overlap with the next
        // vector's; split, the four activations are independent chains and the second pass is short. Measured on shape
        // a: the cell takes ~15% less time.
        int j = 0;
        for (; j + W <= hidden; j += W)
            ActivateVector(g + j, g + hidden + j, g + 2 * hidden + j, g + 3 * hidden + j);
        for (j = 0; j + 2 * W <= hidden; j += 2 * W)
            UpdatePair(g + j, g + hidden + j, g + 2 * hidden + j, g + 3 * hidden + j, cPrev == null ? null : cPrev + j, c + j, h + j);
        for (; j + W <= hidden; j += W)
            UpdateVector(g + j, g + hidden + j, g + 2 * hidden + j, g + 3 * hidden + j, cPrev == null ? null : cPrev + j, c + j, h + j);
        if (j < hidden)
        {
            // Tail: the same vector code on a zero-padded copy of the remaining lanes.
            int rem = hidden - j;
            float* t = stackalloc float[7 * W];
            new Span<float>(t, 7 * W).Clear();
            for (int q = 0; q < 4; q++) new ReadOnlySpan<float>(g + q * hidden + j, rem).CopyTo(new Span<float>(t + q * W, rem));
            if (cPrev != null) new ReadOnlySpan<float>(cPrev + j, rem).CopyTo(new Span<float>(t + 4 * W, rem));
            ForwardVector(t, t + W, t + 2 * W, t + 3 * W, cPrev == null ? null : t + 4 * W, t + 5 * W, t + 6 * W);
            for (int q = 0; q < 4; q++) new ReadOnlySpan<float>(t + q * W, rem).CopyTo(new Span<float>(g + q * hidden + j, rem));
            new ReadOnlySpan<float>(t + 5 * W, rem).CopyTo(new Span<float>(c + j, rem));
            new ReadOnlySpan<float>(t + 6 * W, rem).CopyTo(new Span<float>(h + j, rem));
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void ForwardVector(float* pi, float* pf, float* pg, float* po, float* pcPrev, float* pc, float* ph)
    {
        ActivateVector(pi, pf, pg, po);
        UpdateVector(pi, pf, pg, po, pcPrev, pc, ph);
    }

    /// <summary>
    /// i f o ← σ, g ← tanh, in place. The four exponentials are computed step by step side by side (<see cref="Exp4"/>):
    /// written one after the other, each is a ~20-instruction dependency chain and the scheduler holds too few of them
    /// to keep the FMA pipes busy; interleaved, every step has four independent instructions.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void ActivateVector(float* pi, float* pf, float* pg, float* po)
    {
        Vector512<float> one = Vector512<float>.One;
        Vector512<float> g = Vector512.Load(pg), z = Vector512.Abs(g);
        Vector512<float> ei = -Vector512.Load(pi), ef = -Vector512.Load(pf), eo = -Vector512.Load(po), eg = z + z;
        Exp4(ref ei, ref ef, ref eo, ref eg);
        (one / (one + ei)).Store(pi);
        (one / (one + ef)).Store(pf);
        (one / (one + eo)).Store(po);
        TanhFinish(g, z, eg).Store(pg);
    }

    /// <summary><see cref="UpdateVector"/> for two adjacent vectors, their tanh(c) side by side (as in <see cref="ActivateVector"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void UpdatePair(float* pi, float* pf, float* pg, float* po, float* pcPrev, float* pc, float* ph)
    {
        Vector512<float> cp0 = pcPrev == null ? Vector512<float>.Zero : Vector512.Load(pcPrev);
        Vector512<float> cp1 = pcPrev == null ? Vector512<float>.Zero : Vector512.Load(pcPrev + W);
        Vector512<float> c0 = Vector512.FusedMultiplyAdd(Vector512.Load(pi), Vector512.Load(pg), Vector512.Load(pf) * cp0);
        Vector512<float> c1 = Vector512.FusedMultiplyAdd(Vector512.Load(pi + W), Vector512.Load(pg + W), Vector512.Load(pf + W) * cp1);
        c0.Store(pc);
        c1.Store(pc + W);
        Vector512<float> z0 = Vector512.Abs(c0), z1 = Vector512.Abs(c1), e0 = z0 + z0, e1 = z1 + z1;
        Exp2(ref e0, ref e1);
        (Vector512.Load(po) * TanhFinish(c0, z0, e0)).Store(ph);
        (Vector512.Load(po + W) * TanhFinish(c1, z1, e1)).Store(ph + W);
    }

    /// <summary><see cref="Exp"/> of two vectors, interleaved instruction by instruction (same arithmetic per lane).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Exp2(ref Vector512<float> x0, ref Vector512<float> x1)
    {
        Vector512<float> lo = Vector512.Create(-87f), hi = Vector512.Create(88f), l2e = Vector512.Create(1.44269504088896341f);
        Vector512<float> a0 = Avx512F.Min(hi, Avx512F.Max(lo, x0)), a1 = Avx512F.Min(hi, Avx512F.Max(lo, x1));
        Vector512<float> n0 = Vector512.Round(a0 * l2e), n1 = Vector512.Round(a1 * l2e);
        Vector512<float> r0 = Vector512.FusedMultiplyAdd(n0, Vector512.Create(-0.693359375f), a0);
        Vector512<float> r1 = Vector512.FusedMultiplyAdd(n1, Vector512.Create(-0.693359375f), a1);
        r0 = Vector512.FusedMultiplyAdd(n0, Vector512.Create(2.12194440e-4f), r0);
        r1 = Vector512.FusedMultiplyAdd(n1, Vector512.Create(2.12194440e-4f), r1);
        Vector512<float> p0 = Vector512.Create(1.9875691500E-4f), p1 = p0;
        p0 = Vector512.FusedMultiplyAdd(p0, r0, Vector512.Create(1.3981999507E-3f)); p1 = Vector512.FusedMultiplyAdd(p1, r1, Vector512.Create(1.3981999507E-3f));
        p0 = Vector512.FusedMultiplyAdd(p0, r0, Vector512.Create(8.3334519073E-3f)); p1 = Vector512.FusedMultiplyAdd(p1, r1, Vector512.Create(8.3334519073E-3f));
        p0 = Vector512.FusedMultiplyAdd(p0, r0, Vector512.Create(4.1665795894E-2f)); p1 = Vector512.FusedMultiplyAdd(p1, r1, Vector512.Create(4.1665795894E-2f));
        p0 = Vector512.FusedMultiplyAdd(p0, r0, Vector512.Create(1.6666665459E-1f)); p1 = Vector512.FusedMultiplyAdd(p1, r1, Vector512.Create(1.6666665459E-1f));
        p0 = Vector512.FusedMultiplyAdd(p0, r0, Vector512.Create(5.0000001201E-1f)); p1 = Vector512.FusedMultiplyAdd(p1, r1, Vector512.Create(5.0000001201E-1f));
        p0 = Vector512.FusedMultiplyAdd(p0, r0 * r0, r0) + Vector512<float>.One;
        p1 = Vector512.FusedMultiplyAdd(p1, r1 * r1, r1) + Vector512<float>.One;
        x0 = Avx512F.Scale(p0, n0); x1 = Avx512F.Scale(p1, n1);
    }

    /// <summary><see cref="Exp"/> of four vectors, interleaved instruction by instruction (same arithmetic per lane).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Exp4(ref Vector512<float> x0, ref Vector512<float> x1, ref Vector512<float> x2, ref Vector512<float> x3)
    {
        Vector512<float> lo = Vector512.Create(-87f), hi = Vector512.Create(88f), l2e = Vector512.Create(1.44269504088896341f);
        Vector512<float> c1 = Vector512.Create(-0.693359375f), c2 = Vector512.Create(2.12194440e-4f);
        Vector512<float> a0 = Avx512F.Min(hi, Avx512F.Max(lo, x0)), a1 = Avx512F.Min(hi, Avx512F.Max(lo, x1));
        Vector512<float> a2 = Avx512F.Min(hi, Avx512F.Max(lo, x2)), a3 = Avx512F.Min(hi, Avx512F.Max(lo, x3));
        Vector512<float> n0 = Vector512.Round(a0 * l2e), n1 = Vector512.Round(a1 * l2e), n2 = Vector512.Round(a2 * l2e), n3 = Vector512.Round(a3 * l2e);
        Vector512<float> r0 = Vector512.FusedMultiplyAdd(n0, c1, a0), r1 = Vector512.FusedMultiplyAdd(n1, c1, a1);
        Vector512<float> r2 = Vector512.FusedMultiplyAdd(n2, c1, a2), r3 = Vector512.FusedMultiplyAdd(n3, c1, a3);
        r0 = Vector512.FusedMultiplyAdd(n0, c2, r0); r1 = Vector512.FusedMultiplyAdd(n1, c2, r1);
        r2 = Vector512.FusedMultiplyAdd(n2, c2, r2); r3 = Vector512.FusedMultiplyAdd(n3, c2, r3);
        Vector512<float> p0 = Vector512.Create(1.9875691500E-4f), p1 = p0, p2 = p0, p3 = p0, k;
        k = Vector512.Create(1.3981999507E-3f);
        p0 = Vector512.FusedMultiplyAdd(p0, r0, k); p1 = Vector512.FusedMultiplyAdd(p1, r1, k); p2 = Vector512.FusedMultiplyAdd(p2, r2, k); p3 = Vector512.FusedMultiplyAdd(p3, r3, k);
        k = Vector512.Create(8.3334519073E-3f);
        p0 = Vector512.FusedMultiplyAdd(p0, r0, k); p1 = Vector512.FusedMultiplyAdd(p1, r1, k); p2 = Vector512.FusedMultiplyAdd(p2, r2, k); p3 = Vector512.FusedMultiplyAdd(p3, r3, k);
        k = Vector512.Create(4.1665795894E-2f);
        p0 = Vector512.FusedMultiplyAdd(p0, r0, k); p1 = Vector512.FusedMultiplyAdd(p1, r1, k); p2 = Vector512.FusedMultiplyAdd(p2, r2, k); p3 = Vector512.FusedMultiplyAdd(p3, r3, k);
        k = Vector512.Create(1.6666665459E-1f);
        p0 = Vector512.FusedMultiplyAdd(p0, r0, k); p1 = Vector512.FusedMultiplyAdd(p1, r1, k); p2 = Vector512.FusedMultiplyAdd(p2, r2, k); p3 = Vector512.FusedMultiplyAdd(p3, r3, k);
        k = Vector512.Create(5.0000001201E-1f);
        p0 = Vector512.FusedMultiplyAdd(p0, r0, k); p1 = Vector512.FusedMultiplyAdd(p1, r1, k); p2 = Vector512.FusedMultiplyAdd(p2, r2, k); p3 = Vector512.FusedMultiplyAdd(p3, r3, k);
        p0 = Vector512.FusedMultiplyAdd(p0, r0 * r0, r0) + Vector512<float>.One;
        p1 = Vector512.FusedMultiplyAdd(p1, r1 * r1, r1) + Vector512<float>.One;
        p2 = Vector512.FusedMultiplyAdd(p2, r2 * r2, r2) + Vector512<float>.One;
        p3 = Vector512.FusedMultiplyAdd(p3, r3 * r3, r3) + Vector512<float>.One;
        x0 = Avx512F.Scale(p0, n0); x1 = Avx512F.Scale(p1, n1); x2 = Avx512F.Scale(p2, n2); x3 = Avx512F.Scale(p3, n3);
    }

    /// <summary>c = f ⊙ cPrev + i ⊙ g; h = o ⊙ tanh(c), from the activations.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void UpdateVector(float* pi, float* pf, float* pg, float* po, float* pcPrev, float* pc, float* ph)
    {
        Vector512<float> cPrev = pcPrev == null ? Vector512<float>.Zero : Vector512.Load(pcPrev);
        Vector512<float> c = Vector512.FusedMultiplyAdd(Vector512.Load(pi), Vector512.Load(pg), Vector512.Load(pf) * cPrev);
        c.Store(pc);
        (Vector512.Load(po) * Tanh(c)).Store(ph);
    }

    // ------------------------------------------------------------------ backward

    /// <summary>
    /// One row, as <see cref="CellKernels.LstmBackward{T}"/> without clipping or projection: on entry <paramref name="g"/>
    /// holds the activations i f g o, <paramref name="c"/> c_t, <paramref name="cPrev"/> c_{t−1} (null: zeros), dL/dh_t is
    /// <paramref name="dh"/> (carried from the next step) + <paramref name="dy"/> (from the output),
    /// <paramref name="dc"/> dL/dc_t from the next step, <paramref name="dcy"/> dL/dc_t from cy (null: none). On exit g
    /// holds the pre-activation gradients and dc dL/dc_{t−1}.
    /// </summary>
    public static void Backward(float* g, float* c, float* cPrev, float* dh, float* dy, float* dc, float* dcy, int hidden)
    {
        int j = 0;
        for (; j + W <= hidden; j += W)
            BackwardVector(g + j, g + hidden + j, g + 2 * hidden + j, g + 3 * hidden + j, c + j,
                cPrev == null ? null : cPrev + j, dh + j, dy + j, dc + j, dcy == null ? null : dcy + j);
        if (j < hidden)
        {
            int rem = hidden - j;
            float* t = stackalloc float[10 * W];
            new Span<float>(t, 10 * W).Clear();
            for (int q = 0; q < 4; q++) new ReadOnlySpan<float>(g + q * hidden + j, rem).CopyTo(new Span<float>(t + q * W, rem));
            new ReadOnlySpan<float>(c + j, rem).CopyTo(new Span<float>(t + 4 * W, rem));
            if (cPrev != null) new ReadOnlySpan<float>(cPrev + j, rem).CopyTo(new Span<float>(t + 5 * W, rem));
            new ReadOnlySpan<float>(dh + j, rem).CopyTo(new Span<float>(t + 6 * W, rem));
            new ReadOnlySpan<float>(dy + j, rem).CopyTo(new Span<float>(t + 7 * W, rem));
            new ReadOnlySpan<float>(dc + j, rem).CopyTo(new Span<float>(t + 8 * W, rem));
            if (dcy != null) new ReadOnlySpan<float>(dcy + j, rem).CopyTo(new Span<float>(t + 9 * W, rem));
            BackwardVector(t, t + W, t + 2 * W, t + 3 * W, t + 4 * W, cPrev == null ? null : t + 5 * W, t + 6 * W, t + 7 * W,
                t + 8 * W, dcy == null ? null : t + 9 * W);
            for (int q = 0; q < 4; q++) new ReadOnlySpan<float>(t + q * W, rem).CopyTo(new Span<float>(g + q * hidden + j, rem));
            new ReadOnlySpan<float>(t + 8 * W, rem).CopyTo(new Span<float>(dc + j, rem));
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void BackwardVector(float* pi, float* pf, float* pg, float* po, float* pc, float* pcPrev, float* pdh,
        float* pdy, float* pdc, float* pdcy)
    {
        Vector512<float> one = Vector512<float>.One;
        Vector512<float> i = Vector512.Load(pi), f = Vector512.Load(pf), g = Vector512.Load(pg), o = Vector512.Load(po);
        Vector512<float> t = Tanh(Vector512.Load(pc)), d = Vector512.Load(pdh) + Vector512.Load(pdy);
        Vector512<float> cPrev = pcPrev == null ? Vector512<float>.Zero : Vector512.Load(pcPrev);
        Vector512<float> dc = Vector512.Load(pdc) + d * o * (one - t * t);
        if (pdcy != null) dc += Vector512.Load(pdcy);
        (dc * g * i * (one - i)).Store(pi);
        (dc * cPrev * f * (one - f)).Store(pf);
        (dc * i * (one - g * g)).Store(pg);
        (d * t * o * (one - o)).Store(po);
        (dc * f).Store(pdc);
    }
}
