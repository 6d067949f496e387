using System.Numerics;
using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace CudnnRnn.Cpu;

/// <summary>
/// Fused pointwise kernels for one row (one sequence at one step) of each cell, forward and backward. Transcendentals go
/// through <see cref="TensorPrimitives"/> (SIMD); the rest through <see cref="Vector{T}"/> loops with a scalar tail.
/// Every row of a given width takes the same code path, so a row's result never depends on which other rows share its
/// step (batch composition) or on threads.
/// </summary>
internal static class CellKernels
{

    /// <summary>RNN tanh/relu forward: pre already holds a (input and recurrent parts added); h = act(a); pre ← h.</summary>
    public static void RnnForward<T>(bool relu, Span<T> pre, Span<T> h) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (relu) TensorPrimitives.Max(pre, T.Zero, pre);
        else TensorPrimitives.Tanh(pre, pre);
        pre.CopyTo(h);
    }

    /// <summary>RNN backward: g ← dh ⊙ act'(h), where g holds h on entry.</summary>
    public static void RnnBackward<T>(bool relu, Span<T> g, ReadOnlySpan<T> dh) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int j = 0;
        if (Vector.IsHardwareAccelerated)
        {
            var gv = MemoryMarshal.Cast<T, Vector<T>>(g);
            var dv = MemoryMarshal.Cast<T, Vector<T>>(dh[..g.Length]);
            for (int v = 0; v < gv.Length; v++)
            {
                var h = gv[v];
                gv[v] = relu ? Vector.ConditionalSelect(Vector.GreaterThan(h, Vector<T>.Zero), dv[v], Vector<T>.Zero) : dv[v] * (Vector<T>.One - h * h);
            }
            j = gv.Length * Vector<T>.Count;
        }
        for (; j < g.Length; j++)
        {
            T h = g[j];
            g[j] = relu ? (h > T.Zero ? dh[j] : T.Zero) : dh[j] * (T.One - h * h);
        }
    }

    /// <summary>
    /// LSTM forward for one row: pre (4H, i f g o pre-activations, input and recurrent parts already added);
    /// activations saved into pre; c = f ⊙ cPrev + i ⊙ g (cPrev already clipped); m = o ⊙ tanh(clip(c)).
    /// <paramref name="scratch"/> holds H values.
    /// </summary>
    public static void LstmForward<T>(Span<T> pre, ReadOnlySpan<T> cPrev, Span<T> c, Span<T> m, Span<T> scratch,
        CellClip<T> clip) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int H = c.Length;
        scratch = scratch[..H];
        Span<T> i = pre[..H], f = pre.Slice(H, H), g = pre.Slice(2 * H, H), o = pre.Slice(3 * H, H);
        TensorPrimitives.Sigmoid(pre[..(2 * H)], pre[..(2 * H)]);
        TensorPrimitives.Tanh(g, g);
        TensorPrimitives.Sigmoid(o, o);
        TensorPrimitives.Multiply(f, cPrev, c);
        TensorPrimitives.FusedMultiplyAdd(i, g, c, c);
        if (clip.Enabled) { clip.Apply(c, scratch); TensorPrimitives.Tanh(scratch, scratch); }
        else TensorPrimitives.Tanh(c, scratch);
        TensorPrimitives.Multiply(o, scratch, m);
    }

    /// <summary>
    /// LSTM backward for one row. On entry <paramref name="gates"/> holds the activations i f g o, <paramref name="c"/> the
    /// unclipped c_t, <paramref name="cPrevRaw"/> the unclipped previous cell state, <paramref name="dm"/> dL/dm,
    /// <paramref name="dcCarry"/> dL/d clip(c_t) from the next step, <paramref name="dcy"/> dL/dc_t from cy (or empty).
    /// On exit gates holds the pre-activation gradients, dcCarry dL/d clip(c_{t-1}), and, when <paramref name="keepM"/>,
    /// c holds m_t = o ⊙ tanh(clip c_t) for the projection's weight gradient. Scratch needs 2H values.
    /// </summary>
    public static void LstmBackward<T>(Span<T> gates, Span<T> c, ReadOnlySpan<T> cPrevRaw, ReadOnlySpan<T> dm, Span<T> dcCarry,
        ReadOnlySpan<T> dcy, bool keepM, Span<T> scratch, CellClip<T> clip) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int H = c.Length;
        Span<T> tc = scratch[..H], cp = scratch.Slice(H, H);
        if (clip.Enabled)
        {
            clip.Apply(c, tc);
            clip.Apply(cPrevRaw, cp);
        }
        else
        {
            c.CopyTo(tc);
            cPrevRaw.CopyTo(cp);
        }
        TensorPrimitives.Tanh(tc, tc);
        int j = 0;
        if (Vector.IsHardwareAccelerated && !clip.Enabled)
        {
            var gi = MemoryMarshal.Cast<T, Vector<T>>(gates[..H]);
            var gf = MemoryMarshal.Cast<T, Vector<T>>(gates.Slice(H, H));
            var gg = MemoryMarshal.Cast<T, Vector<T>>(gates.Slice(2 * H, H));
            var go = MemoryMarshal.Cast<T, Vector<T>>(gates.Slice(3 * H, H));
            var vtc = MemoryMarshal.Cast<T, Vector<T>>(tc);
            var vcp = MemoryMarshal.Cast<T, Vector<T>>(cp);
            var vdm = MemoryMarshal.Cast<T, Vector<T>>(dm[..H]);
            var vcarry = MemoryMarshal.Cast<T, Vector<T>>(dcCarry);
            var vdcy = dcy.IsEmpty ? default : MemoryMarshal.Cast<T, Vector<T>>(dcy[..H]);
            var vc = MemoryMarshal.Cast<T, Vector<T>>(c);
            var one = Vector<T>.One;
            for (int v = 0; v < gi.Length; v++)
            {
                Vector<T> i = gi[v], f = gf[v], g = gg[v], o = go[v], t = vtc[v], d = vdm[v];
                Vector<T> dc = vcarry[v] + d * o * (one - t * t);
                if (!dcy.IsEmpty) dc += vdcy[v];
                gi[v] = dc * g * i * (one - i);
                gf[v] = dc * vcp[v] * f * (one - f);
                gg[v] = dc * i * (one - g * g);
                go[v] = d * t * o * (one - o);
                vcarry[v] = dc * f;
                if (keepM) vc[v] = o * t;
            }
            j = gi.Length * Vector<T>.Count;
        }
        for (; j < H; j++)
        {
            T i = gates[j], f = gates[H + j], g = gates[2 * H + j], o = gates[3 * H + j], t = tc[j], d = dm[j];
            T dClipped = dcCarry[j] + d * o * (T.One - t * t);
            T dc = clip.Grad(c[j]) * dClipped + (dcy.IsEmpty ? T.Zero : dcy[j]);
            gates[j] = dc * g * i * (T.One - i);
            gates[H + j] = dc * cp[j] * f * (T.One - f);
            gates[2 * H + j] = dc * i * (T.One - g * g);
            gates[3 * H + j] = d * t * o * (T.One - o);
            dcCarry[j] = dc * f;
            if (keepM) c[j] = o * t;
        }
    }

    /// <summary>
    /// GRU forward for one row: pre (3H, r z n input-side incl. biases) and rec (3H, R·h); hn = rec_n + bRn is saved;
    /// activations saved into pre; h = (1 − z) ⊙ n + z ⊙ hPrev.
    /// </summary>
    public static void GruForward<T>(Span<T> pre, ReadOnlySpan<T> rec, ReadOnlySpan<T> bRn, ReadOnlySpan<T> hPrev, Span<T> hn, Span<T> h)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int H = h.Length;
        Span<T> rz = pre[..(2 * H)], r = pre[..H], z = pre.Slice(H, H), n = pre.Slice(2 * H, H);
        TensorPrimitives.Add(rz, rec[..(2 * H)], rz);
        TensorPrimitives.Sigmoid(rz, rz);
        if (bRn.IsEmpty) rec.Slice(2 * H, H).CopyTo(hn);
        else TensorPrimitives.Add(rec.Slice(2 * H, H), bRn, hn);
        TensorPrimitives.FusedMultiplyAdd(r, hn, n, n);
        TensorPrimitives.Tanh(n, n);
        // h = n + z ⊙ (hPrev − n)
        TensorPrimitives.Subtract(hPrev, n, h);
        TensorPrimitives.FusedMultiplyAdd(z, h, n, h);
    }

    /// <summary>
    /// GRU backward for one row. On entry gates holds r z n, hn holds R_n·h + bR_n. On exit gates holds the input-side
    /// pre-activation gradients, hn holds d(R_n h + bR_n), dhPrev the direct part dh ⊙ z.
    /// </summary>
    public static void GruBackward<T>(Span<T> gates, Span<T> hn, ReadOnlySpan<T> hPrev, ReadOnlySpan<T> dh, Span<T> dhPrev)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int H = hn.Length, j = 0;
        if (Vector.IsHardwareAccelerated)
        {
            var gr = MemoryMarshal.Cast<T, Vector<T>>(gates[..H]);
            var gz = MemoryMarshal.Cast<T, Vector<T>>(gates.Slice(H, H));
            var gn = MemoryMarshal.Cast<T, Vector<T>>(gates.Slice(2 * H, H));
            var vhn = MemoryMarshal.Cast<T, Vector<T>>(hn);
            var vhp = MemoryMarshal.Cast<T, Vector<T>>(hPrev[..H]);
            var vdh = MemoryMarshal.Cast<T, Vector<T>>(dh[..H]);
            var vdp = MemoryMarshal.Cast<T, Vector<T>>(dhPrev[..H]);
            var one = Vector<T>.One;
            for (int v = 0; v < gr.Length; v++)
            {
                Vector<T> r = gr[v], z = gz[v], n = gn[v], d = vdh[v];
                Vector<T> dan = d * (one - z) * (one - n * n);
                gr[v] = dan * vhn[v] * r * (one - r);
                gz[v] = d * (vhp[v] - n) * z * (one - z);
                gn[v] = dan;
                vhn[v] = dan * r;
                vdp[v] = d * z;
            }
            j = gr.Length * Vector<T>.Count;
        }
        for (; j < H; j++)
        {
            T r = gates[j], z = gates[H + j], n = gates[2 * H + j], d = dh[j];
            T dan = d * (T.One - z) * (T.One - n * n);
            gates[j] = dan * hn[j] * r * (T.One - r);
            gates[H + j] = d * (hPrev[j] - n) * z * (T.One - z);
            gates[2 * H + j] = dan;
            hn[j] = dan * r;
            dhPrev[j] = d * z;
        }
    }
}

/// <summary>LSTM cell clipping as used by the kernels (see <see cref="RnnCellClip"/> for the semantics).</summary>
internal readonly struct CellClip<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly T _min, _max;
    private readonly bool _propagateNan;

    public CellClip(RnnCellClip? clip)
    {
        Enabled = clip.HasValue;
        if (clip is { } c)
        {
            _min = T.CreateChecked(c.EffectiveMin);
            _max = T.CreateChecked(c.EffectiveMax);
            _propagateNan = c.Nan == ClipNanMode.Propagate;
        }
    }

    public bool Enabled { get; }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public T Clip(T v)
    {
        if (!Enabled) return v;
        if (T.IsNaN(v)) return _propagateNan ? v : _min;
        return v < _min ? _min : v > _max ? _max : v;
    }

    /// <summary>d clip(v)/dv: 1 inside [min, max] (bounds included) and for NaN, 0 outside.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public T Grad(T v) => !Enabled || T.IsNaN(v) || (v >= _min && v <= _max) ? T.One : T.Zero;

    public void Apply(ReadOnlySpan<T> src, Span<T> dst)
    {
        for (int j = 0; j < src.Length; j++) dst[j] = Clip(src[j]);
    }
}
