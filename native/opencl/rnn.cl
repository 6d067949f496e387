// CudnnRnn OpenCL kernels: the OpenCL engine's mirror of src/CudnnRnn/Cpu/CpuPlan.cs.
//
// Built once per device and element type with -DREAL=float or -DREAL=double (plus -DUSE_FP64), and -DTS=<tile>.
// Every buffer argument comes with an element offset, because the reserve space is one cl_mem holding many tensors.
// Deterministic by construction: every output element is written by exactly one work-item, every sum runs in a fixed
// order inside that work-item, and nothing uses atomics.
//
// "Packed rows": row off[t] + i is step t of the i-th longest sequence (i < batchSize(t)); see CpuPlan.

#ifdef USE_FP64
#pragma OPENCL EXTENSION cl_khr_fp64 : enable
#endif

// The CPU reference never fuses a*b+c; keep the compiler from doing it either, so the two engines round alike.
#pragma OPENCL FP_CONTRACT OFF

typedef REAL real;

#ifndef TS
#define TS 16
#endif

// ------------------------------------------------------------------------------------------------ GEMM
// C[m, n] = op(A)[m, :] . op(B)[:, n]   (accumulate: C[m, n] += ...), all row-major.
// op(A) is M x K (A stored K x M when transA), op(B) is K x N (B stored N x K when transB).
// Work-item (local row lm, local column ln) owns C[m, n]; tiles of op(A) and op(B) are staged in local memory, and the
// dot product runs k = 0..K-1 in order in one register, so the result never depends on the launch shape.
__kernel __attribute__((reqd_work_group_size(TS, TS, 1)))
void gemm(int transA, int transB, int M, int N, int K,
          __global const real* A, int offA, int lda,
          __global const real* B, int offB, int ldb,
          __global real* C, int offC, int ldc, int accumulate)
{
    __local real As[TS][TS + 1]; // As[k][m]
    __local real Bs[TS][TS + 1]; // Bs[k][n]
    const int lm = get_local_id(1), ln = get_local_id(0);
    const int m0 = get_group_id(1) * TS, n0 = get_group_id(0) * TS;
    const int m = m0 + lm, n = n0 + ln;
    real acc = (real)0;
    for (int k0 = 0; k0 < K; k0 += TS)
    {
        // Load so that consecutive work-items read consecutive addresses whatever the transposition.
        if (!transA)
        {
            int r = m0 + lm, c = k0 + ln;
            As[ln][lm] = (r < M && c < K) ? A[offA + r * lda + c] : (real)0;
        }
        else
        {
            int r = k0 + lm, c = m0 + ln; // A stored K x M
            As[lm][ln] = (r < K && c < M) ? A[offA + r * lda + c] : (real)0;
        }
        if (!transB)
        {
            int r = k0 + lm, c = n0 + ln;
            Bs[lm][ln] = (r < K && c < N) ? B[offB + r * ldb + c] : (real)0;
        }
        else
        {
            int r = n0 + lm, c = k0 + ln; // B stored N x K
            Bs[ln][lm] = (r < N && c < K) ? B[offB + r * ldb + c] : (real)0;
        }
        barrier(CLK_LOCAL_MEM_FENCE);
        const int kn = min(TS, K - k0);
        for (int kk = 0; kk < kn; kk++)
            acc += As[kk][lm] * Bs[kk][ln];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (m < M && n < N)
    {
        int idx = offC + m * ldc + n;
        C[idx] = accumulate ? C[idx] + acc : acc;
    }
}

// ------------------------------------------------------------------------------------------------ helpers

inline real sigmoid_r(real x) { return (real)1 / ((real)1 + exp(-x)); }

// Cell clipping as in CpuPlan.Clip / ClipGrad (semantics documented in src/CudnnRnn/RnnCellClip.cs).
inline real clip_r(real c, int clip, real lo, real hi, int nanPropagate)
{
    if (!clip) return c;
    if (isnan(c)) return nanPropagate ? c : lo;
    return c < lo ? lo : (c > hi ? hi : c);
}

inline real clip_grad_r(real c, int clip, real lo, real hi)
{
    return (!clip || (c >= lo && c <= hi) || isnan(c)) ? (real)1 : (real)0;
}

// ------------------------------------------------------------------------------------------------ data movement

// dst[off + r*width + j] = src[slot[r]*width + j]: user layout -> packed rows.
__kernel void gather_rows(int rows, int width, __global const int* slot,
                          __global const real* src, __global real* dst, int dstOff)
{
    int j = get_global_id(0), r = get_global_id(1);
    if (j >= width || r >= rows) return;
    dst[dstOff + r * width + j] = src[slot[r] * width + j];
}

// dst[slot[r]*width + j] = src[off + r*width + j]: packed rows -> user layout.
__kernel void scatter_rows(int rows, int width, __global const int* slot,
                           __global const real* src, int srcOff, __global real* dst)
{
    int j = get_global_id(0), r = get_global_id(1);
    if (j >= width || r >= rows) return;
    dst[slot[r] * width + j] = src[srcOff + r * width + j];
}

__kernel void fill(int count, __global real* dst, int off, real value)
{
    int k = get_global_id(0);
    if (k < count) dst[off + k] = value;
}

__kernel void copy(int count, __global const real* src, int srcOff, __global real* dst, int dstOff)
{
    int k = get_global_id(0);
    if (k < count) dst[dstOff + k] = src[srcOff + k];
}

// Previous state of rows r0..r0+n-1: prevSrc[row] >= 0 is the packed row whose state continues into this one (read from
// src at srcOff + prevRow*srcLd + srcCol); prevSrc[row] = -1-b means sequence b starts here (init = hx/cx, or 0).
// Optionally clipped (the LSTM reads clip(c_{t-1})).
__kernel void gather_state(int n, int r0, int width, __global const int* prevSrc,
                           __global const real* src, int srcOff, int srcLd, int srcCol,
                           __global const real* init, int hasInit, int initOff,
                           __global real* dst, int dstOff,
                           int clip, real lo, real hi, int nanPropagate)
{
    int j = get_global_id(0), i = get_global_id(1);
    if (j >= width || i >= n) return;
    int p = prevSrc[r0 + i];
    real v;
    if (p >= 0) v = src[srcOff + p * srcLd + srcCol + j];
    else v = hasInit ? init[initOff + (-1 - p) * width + j] : (real)0;
    dst[dstOff + i * width + j] = clip_r(v, clip, lo, hi, nanPropagate);
}

// Final states of rows lo..n-1 of a step (their sequences end here): hy from the layer output, cy from the cell state.
__kernel void store_final(int lo, int count, int r0, __global const int* perm,
                          __global const real* res, int outOff, int O, int colOff, int S,
                          __global real* hy, int hasHy, int stateBase,
                          int auxOff, int H, __global real* cy, int hasCy, int cellBase)
{
    int j = get_global_id(0), i = lo + get_global_id(1);
    if (i >= lo + count) return;
    int b = perm[i];
    if (hasHy && j < S) hy[(stateBase + b) * S + j] = res[outOff + (r0 + i) * O + colOff + j];
    if (hasCy && j < H) cy[(cellBase + b) * H + j] = res[auxOff + (r0 + i) * H + j];
}

// Dropout between layers: SplitMix64 of (seed, forward counter, layer, element index over the packed rows), exactly
// CpuPlan.Keep. keep  <=>  (z >> 11) * 2^-53 >= p  <=>  (z >> 11) >= ceil(p * 2^53) = threshold (exact integer form, so
// no double arithmetic is needed on devices without fp64).
__kernel void dropout(int count, __global const real* src, int srcOff, __global real* dst, int dstOff,
                      ulong seed, ulong counter, int layer, ulong threshold, real scale)
{
    int k = get_global_id(0);
    if (k >= count) return;
    ulong z = seed ^ (counter * 0x9E3779B97F4A7C15UL) ^ ((ulong)layer << 48) ^ (ulong)(uint)k;
    z += 0x9E3779B97F4A7C15UL;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
    z ^= z >> 31;
    dst[dstOff + k] = ((z >> 11) >= threshold) ? src[srcOff + k] * scale : (real)0;
}

// ------------------------------------------------------------------------------------------------ forward

// Skip input: the layer input feeds every gate as-is (inW == H).
__kernel void skip_input(int N, int G, int H, __global const real* in, int inOff, int inW,
                         __global real* gates, int gOff)
{
    int c = get_global_id(0), r = get_global_id(1);
    int GH = G * H;
    if (c >= GH || r >= N) return;
    gates[gOff + r * GH + c] = in[inOff + r * inW + (c % H)];
}

// gates += bW (all gates), then += bR on the first bRCount columns (all but GRU's new gate).
__kernel void add_bias(int N, int GH, __global real* gates, int gOff, __global const real* w,
                       int hasBW, int bWOff, int hasBR, int bROff, int bRCount)
{
    int c = get_global_id(0), r = get_global_id(1);
    if (c >= GH || r >= N) return;
    int idx = gOff + r * GH + c;
    real v = gates[idx];
    if (hasBW) v = v + w[bWOff + c];
    if (hasBR && c < bRCount) v = v + w[bROff + c];
    gates[idx] = v;
}

// RNN cell: a = f(gates + rec); saves a in gates (backward needs it) and writes h to the layer output.
__kernel void fwd_rnn(int n, int H, int relu, __global real* res, int gOff, __global const real* rec,
                      int outOff, int O)
{
    int j = get_global_id(0), i = get_global_id(1);
    if (j >= H || i >= n) return;
    int gi = gOff + i * H + j;
    real a = res[gi] + rec[i * H + j];
    // T.Max(0, a) in .NET propagates NaN; fmax would not.
    a = relu ? ((a > (real)0 || isnan(a)) ? a : (real)0) : tanh(a);
    res[gi] = a;
    res[outOff + i * O + j] = a;
}

// LSTM cell (gate order i, f, g, o): saves the activated gates and c_t; m = o * tanh(clip(c_t)) goes to the layer output
// directly, or to m for the projection GEMM.
__kernel void fwd_lstm(int n, int H, __global real* res, int gOff, __global const real* rec, int auxOff,
                       __global const real* cp, __global real* m, int writeOut, int outOff, int O,
                       int clip, real lo, real hi, int nanPropagate)
{
    int j = get_global_id(0), i = get_global_id(1);
    if (j >= H || i >= n) return;
    int GH = 4 * H;
    int g = gOff + i * GH;
    int q = i * GH;
    real gi = sigmoid_r(res[g + j] + rec[q + j]);
    real gf = sigmoid_r(res[g + H + j] + rec[q + H + j]);
    real gg = tanh(res[g + 2 * H + j] + rec[q + 2 * H + j]);
    real go = sigmoid_r(res[g + 3 * H + j] + rec[q + 3 * H + j]);
    res[g + j] = gi; res[g + H + j] = gf; res[g + 2 * H + j] = gg; res[g + 3 * H + j] = go;
    real c = gf * cp[i * H + j] + gi * gg;
    res[auxOff + i * H + j] = c;
    real mv = go * tanh(clip_r(c, clip, lo, hi, nanPropagate));
    if (writeOut) res[outOff + i * O + j] = mv;
    else m[i * H + j] = mv;
}

// GRU cell (gate order r, z, n): n = tanh(W_n x + bW_n + r * (R_n h + bR_n)); saves gates and R_n h + bR_n.
__kernel void fwd_gru(int n, int H, __global real* res, int gOff, __global const real* rec, int auxOff,
                      __global const real* w, int hasBRn, int bRnOff, __global const real* hp,
                      int outOff, int O)
{
    int j = get_global_id(0), i = get_global_id(1);
    if (j >= H || i >= n) return;
    int GH = 3 * H;
    int g = gOff + i * GH;
    int q = i * GH;
    real gr = sigmoid_r(res[g + j] + rec[q + j]);
    real gz = sigmoid_r(res[g + H + j] + rec[q + H + j]);
    real hn = rec[q + 2 * H + j] + (hasBRn ? w[bRnOff + j] : (real)0);
    real gn = tanh(res[g + 2 * H + j] + gr * hn);
    res[g + j] = gr; res[g + H + j] = gz; res[g + 2 * H + j] = gn;
    res[auxOff + i * H + j] = hn;
    res[outOff + i * O + j] = ((real)1 - gz) * gn + gz * hp[i * H + j];
}

// ------------------------------------------------------------------------------------------------ backward data

// Start of one step backward: rows whose backward pass starts here (i >= firstStart) take dhy (or 0) and reset the cell
// carry; every row's total gradient is carry + dy. With a projection, dhTot is also saved in the reserve for dW_r.
__kernel void bwd_prep(int n, int r0, int firstStart, int S, int H, int lstm, __global const int* perm,
                       __global real* dh, __global real* dc, __global real* dhTot,
                       __global const real* dhy, int hasDhy, int stateBase,
                       __global const real* dOut, int O, int colOff,
                       __global real* res, int hasProj, int projOff)
{
    int j = get_global_id(0), i = get_global_id(1);
    if (i >= n) return;
    int start = i >= firstStart;
    if (j < S)
    {
        if (start) dh[i * S + j] = hasDhy ? dhy[(stateBase + perm[i]) * S + j] : (real)0;
        real v = dh[i * S + j] + dOut[(r0 + i) * O + colOff + j];
        dhTot[i * S + j] = v;
        if (hasProj) res[projOff + (r0 + i) * S + j] = v;
    }
    if (lstm && start && j < H) dc[i * H + j] = (real)0;
}

// RNN: gates (activations) -> pre-activation gradients.
__kernel void bwd_rnn(int n, int H, int relu, __global real* res, int gOff, __global const real* dhTot)
{
    int j = get_global_id(0), i = get_global_id(1);
    if (j >= H || i >= n) return;
    int gi = gOff + i * H + j;
    real h = res[gi], d = dhTot[i * H + j];
    res[gi] = relu ? (h > (real)0 ? d : (real)0) : d * ((real)1 - h * h);
}

// LSTM: dm is the gradient w.r.t. o * tanh(clip c) (dhTot without projection, dhTot . W_r with one). The gate
// gradients overwrite the saved gates; dc carries the gradient w.r.t. clip(c_{t-1}); with a projection the saved c_t is
// replaced by m_t for dW_r.
__kernel void bwd_lstm(int n, int r0, int firstStart, int H, __global const int* perm,
                       __global real* res, int gOff, int auxOff,
                       __global const real* cp, __global real* dcCarry, __global const real* dm,
                       __global const real* dcy, int hasDcy, int cellBase, int hasProj,
                       int clip, real lo, real hi, int nanPropagate)
{
    int j = get_global_id(0), i = get_global_id(1);
    if (j >= H || i >= n) return;
    int GH = 4 * H;
    int g = gOff + i * GH;
    real gi = res[g + j], gf = res[g + H + j], gg = res[g + 2 * H + j], go = res[g + 3 * H + j];
    int ci = auxOff + i * H + j;
    real c = res[ci];
    real cc = clip_r(c, clip, lo, hi, nanPropagate);
    real tc = tanh(cc);
    real dmj = dm[i * H + j];
    real dgo = dmj * tc;
    real dClipped = dcCarry[i * H + j] + dmj * go * ((real)1 - tc * tc);
    real dcyv = (i >= firstStart && hasDcy) ? dcy[(cellBase + perm[i]) * H + j] : (real)0;
    real dc = clip_grad_r(c, clip, lo, hi) * dClipped + dcyv;
    real cPrev = clip_r(cp[i * H + j], clip, lo, hi, nanPropagate);
    res[g + j] = dc * gg * gi * ((real)1 - gi);
    res[g + H + j] = dc * cPrev * gf * ((real)1 - gf);
    res[g + 2 * H + j] = dc * gi * ((real)1 - gg * gg);
    res[g + 3 * H + j] = dgo * go * ((real)1 - go);
    dcCarry[i * H + j] = dc * gf;
    if (hasProj) res[ci] = go * tc;
}

// GRU: gate gradients overwrite the gates, d(R_n h + bR_n) overwrites the saved R_n h + bR_n, the direct part of
// dh_{prev} (dh * z) goes to dhPrev, and the recurrent-side gradients [dr, dz, d(R_n h)] go to gRec for dh_{prev} += gRec . R.
__kernel void bwd_gru(int n, int H, __global real* res, int gOff, int auxOff, __global const real* hp,
                      __global const real* dhTot, __global real* dhPrev, __global real* gRec)
{
    int j = get_global_id(0), i = get_global_id(1);
    if (j >= H || i >= n) return;
    int GH = 3 * H;
    int g = gOff + i * GH;
    int a = auxOff + i * H + j;
    real gr = res[g + j], gz = res[g + H + j], gn = res[g + 2 * H + j], hn = res[a], dh = dhTot[i * H + j];
    real dn = dh * ((real)1 - gz);
    real dz = dh * (hp[i * H + j] - gn);
    real dan = dn * ((real)1 - gn * gn);
    real dr = dan * hn;
    real vr = dr * gr * ((real)1 - gr);
    real vz = dz * gz * ((real)1 - gz);
    real dhn = dan * gr;
    res[g + j] = vr;
    res[g + H + j] = vz;
    res[g + 2 * H + j] = dan;
    res[a] = dhn;
    dhPrev[i * H + j] = dh * gz;
    gRec[i * GH + j] = vr;
    gRec[i * GH + H + j] = vz;
    gRec[i * GH + 2 * H + j] = dhn;
}

// Route dh_{prev}: rows that continue carry it to the next step processed; rows whose previous state was hx/cx write
// dhx/dcx (dcx through the clip of cx).
__kernel void bwd_route(int n, int nCont, int S, int H, int lstm, __global const int* perm,
                        __global const real* dhPrev, __global real* dh,
                        __global real* dhx, int hasDhx, int stateBase,
                        __global const real* dcCarry, __global const real* cp,
                        __global real* dcx, int hasDcx, int cellBase,
                        int clip, real lo, real hi)
{
    int j = get_global_id(0), i = get_global_id(1);
    if (i >= n) return;
    if (i < nCont)
    {
        if (j < S) dh[i * S + j] = dhPrev[i * S + j];
        return;
    }
    int b = perm[i];
    if (hasDhx && j < S) dhx[(stateBase + b) * S + j] = dhPrev[i * S + j];
    if (lstm && hasDcx && j < H)
        dcx[(cellBase + b) * H + j] = dcCarry[i * H + j] * clip_grad_r(cp[i * H + j], clip, lo, hi);
}

// Skip input backward: dIn (+)= sum over gates of the gate gradients, in gate order.
__kernel void skip_input_bwd(int N, int G, int H, __global const real* gates, int gOff,
                             __global real* dIn, int inW, int accumulate)
{
    int j = get_global_id(0), r = get_global_id(1);
    if (j >= H || r >= N) return;
    int GH = G * H;
    int idx = r * inW + j;
    real v = accumulate ? dIn[idx] : (real)0;
    for (int g = 0; g < G; g++) v = v + gates[gOff + r * GH + g * H + j];
    dIn[idx] = v;
}

// ------------------------------------------------------------------------------------------------ backward weights

// acc[c] += sum over rows of m[r, c], rows in order (bias gradients).
__kernel void col_sums(int rows, int cols, __global const real* m, int mOff, __global real* acc, int accOff)
{
    int c = get_global_id(0);
    if (c >= cols) return;
    real v = acc[accOff + c];
    for (int r = 0; r < rows; r++) v = v + m[mOff + r * cols + c];
    acc[accOff + c] = v;
}

// GRU recurrent-side gate gradients of every row: [dr, dz] from the gates, d(R_n h + bR_n) from aux.
__kernel void gru_rec_grads(int N, int H, __global const real* res, int gOff, int auxOff, __global real* gr)
{
    int c = get_global_id(0), r = get_global_id(1);
    int GH = 3 * H;
    if (c >= GH || r >= N) return;
    gr[r * GH + c] = c < 2 * H ? res[gOff + r * GH + c] : res[auxOff + r * H + (c - 2 * H)];
}

// ------------------------------------------------------------------------------------------------ 16-bit storage
// The 16-bit plans (OpenClPlan16) keep float workspaces and convert at the call's boundaries: inputs and weights to float
// once per call, outputs to 16 bits once, round-to-nearest-even. Every kernel here is float-only OpenCL C 1.2 (no
// cl_khr_fp16: vload_half / vstore_half_rte are core functions that only read and write half as storage; bfloat16 is
// plain bit arithmetic on ushort), so they are built into every program whatever REAL is.

// binary16 -> float: exact (every half is a float; the specification forbids flushing half subnormals here).
__kernel void half_to_float(int n, __global const half* src, __global float* dst)
{
    int i = get_global_id(0);
    if (i < n) dst[i] = vload_half(i, src);
}

// float -> binary16, round to nearest even (overflow to infinity, as IEEE 754 and System.Half do). A NaN keeps its sign
// and the upper 10 bits of its payload, quieted (what System.Half does; vstore_half leaves NaN payloads to the
// implementation, and PoCL returns one canonical NaN).
__kernel void float_to_half(int n, __global const float* src, __global ushort* dst)
{
    int i = get_global_id(0);
    if (i >= n) return;
    float f = src[i];
    uint u = as_uint(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) dst[i] = (ushort)(((u >> 16) & 0x8000u) | 0x7e00u | ((u >> 13) & 0x03ffu));
    else vstore_half_rte(f, i, (__global half*)dst);
}

// bfloat16 -> float: the upper half of a float's bits (exact).
__kernel void bf16_to_float(int n, __global const ushort* src, __global float* dst)
{
    int i = get_global_id(0);
    if (i < n) dst[i] = as_float((uint)src[i] << 16);
}

// float -> bfloat16, round to nearest even on the bits (a carry into the exponent rounds up to the next binade or to
// infinity, as it should). NaN stays NaN: its sign and upper payload are kept and the quiet bit is set, so a NaN whose
// payload sits only in the low 16 bits does not become infinity.
__kernel void float_to_bf16(int n, __global const float* src, __global ushort* dst)
{
    int i = get_global_id(0);
    if (i >= n) return;
    uint u = as_uint(src[i]);
    if ((u & 0x7fffffffu) > 0x7f800000u) dst[i] = (ushort)((u >> 16) | 0x0040u);
    else dst[i] = (ushort)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}
