// CudnnRnn OpenCL optimizer kernels: in-place SGD and Adam updates of weights held in OpenCL buffers, the device mirror
// of src/CudnnRnn.Training/Optimizers.cs (same operations in the same order, no fused multiply-add).
//
// Built once per device and element type with -DREAL=float or -DREAL=double (plus -DUSE_FP64). One work-item per
// element. The finiteness checks use two ints: flags[0] becomes 1 when some weight was NaN/inf before the update,
// flags[1] is the smallest index whose weight was finite before and is not after (INT_MAX when none); atomics only
// touch these flags, never the values, so the updated values do not depend on the launch.

#ifdef USE_FP64
#pragma OPENCL EXTENSION cl_khr_fp64 : enable
#endif

#pragma OPENCL FP_CONTRACT OFF

typedef REAL real;

__kernel void first_nonfinite(int n, __global const real* x, volatile __global int* first)
{
    int i = get_global_id(0);
    if (i < n && !isfinite(x[i])) atomic_min(first, i);
}

__kernel void scale_values(int n, __global real* x, real s)
{
    int i = get_global_id(0);
    if (i < n) x[i] = x[i] * s;
}

inline void check_update(volatile __global int* flags, int i, real before, real after)
{
    if (!isfinite(before)) atomic_or(flags, 1);
    else if (!isfinite(after)) atomic_min(flags + 1, i);
}

// w = g·(−lr) + w, after g = w·wd + g (decay, written back) and v = v·μ + g; g = v (momentum): TensorPrimitives.MultiplyAdd's order.
__kernel void sgd_step(int n, __global real* w, __global real* g, __global real* vel, int momentum, int decay,
                       real negLr, real mu, real wd, volatile __global int* flags)
{
    int i = get_global_id(0);
    if (i >= n) return;
    real wi = w[i], gi = g[i];
    if (decay) { gi = wi * wd + gi; g[i] = gi; }
    if (momentum) { real vi = vel[i] * mu + gi; vel[i] = vi; gi = vi; }
    real out = gi * negLr + wi;
    w[i] = out;
    check_update(flags, i, wi, out);
}

// Adam<T>.Update, element i.
__kernel void adam_step(int n, __global real* w, __global const real* g, __global real* m, __global real* v, int decay,
                        real b1, real b2, real ob1, real ob2, real stepSize, real invSqrtC2, real eps, real wd,
                        volatile __global int* flags)
{
    int i = get_global_id(0);
    if (i >= n) return;
    real wi = w[i], gi = g[i];
    if (decay) gi = gi + wd * wi;
    real mi = b1 * m[i] + ob1 * gi;
    real vi = b2 * v[i] + ob2 * gi * gi;
    m[i] = mi;
    v[i] = vi;
    real out = wi - stepSize * mi / (sqrt(vi) * invSqrtC2 + eps);
    w[i] = out;
    check_update(flags, i, wi, out);
}
