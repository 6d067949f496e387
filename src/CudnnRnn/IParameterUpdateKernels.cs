using System.Numerics;

namespace CudnnRnn;

/// <summary>
/// Element-wise optimizer updates that an engine runs on its own buffers, so a training toolkit can update weights that
/// live in engine memory in place (the OpenCL engine implements it with kernels). Every method orders its work on the
/// engine's queue after earlier work on the same buffers; methods that return a value wait for it. The arithmetic is the
/// CPU reference's, operation by operation, with no fused multiply-add (see each method); only square roots and
/// divisions may round differently where the device does not round them correctly.
/// </summary>
public interface IParameterUpdateKernels
{
    /// <summary>Index of the first NaN or infinite element of <paramref name="buffer"/>, or −1 (waits for the result).</summary>
    long IndexOfNonFinite<T>(RnnBuffer<T> buffer) where T : unmanaged, IFloatingPointIeee754<T>;

    /// <summary><c>buffer[i] = buffer[i] · scale</c>.</summary>
    void Scale<T>(RnnBuffer<T> buffer, T scale) where T : unmanaged, IFloatingPointIeee754<T>;

    /// <summary>
    /// SGD: when <paramref name="weightDecay"/> ≠ 0, <c>g = w·wd + g</c> (written back to <paramref name="gradient"/>);
    /// with <paramref name="velocity"/>, <c>v = v·μ + g; g = v</c>; then <c>w = g·(−lr) + w</c>. Waits for the result.
    /// </summary>
    ParameterUpdateCheck SgdStep<T>(RnnBuffer<T> weights, RnnBuffer<T> gradient, RnnBuffer<T>? velocity, T learningRate, T momentum, T weightDecay)
        where T : unmanaged, IFloatingPointIeee754<T>;

    /// <summary>
    /// Adam: <c>g' = g + wd·w</c> (when decaying); <c>m = β1·m + (1−β1)·g'</c>; <c>v = β2·v + (1−β2)·g'·g'</c>;
    /// <c>w = w − stepSize·m / (√v · invSqrtC2 + ε)</c>. Waits for the result.
    /// </summary>
    ParameterUpdateCheck AdamStep<T>(RnnBuffer<T> weights, RnnBuffer<T> gradient, RnnBuffer<T> m, RnnBuffer<T> v, AdamCoefficients<T> c)
        where T : unmanaged, IFloatingPointIeee754<T>;
}

/// <summary>The scalars of one Adam step (<see cref="IParameterUpdateKernels.AdamStep"/>), computed once on the host.</summary>
/// <param name="Beta1">β1.</param>
/// <param name="Beta2">β2.</param>
/// <param name="OneMinusBeta1">1 − β1, rounded to T.</param>
/// <param name="OneMinusBeta2">1 − β2, rounded to T.</param>
/// <param name="StepSize">lr / (1 − β1^t).</param>
/// <param name="InvSqrtC2">1 / √(1 − β2^t).</param>
/// <param name="Epsilon">ε.</param>
/// <param name="WeightDecay">L2 decay added to the gradient; 0 for none.</param>
public readonly record struct AdamCoefficients<T>(T Beta1, T Beta2, T OneMinusBeta1, T OneMinusBeta2, T StepSize, T InvSqrtC2, T Epsilon, T WeightDecay)
    where T : unmanaged, IFloatingPointIeee754<T>;

/// <summary>What an in-place update found about the weights' finiteness.</summary>
/// <param name="HadNonFinite">Some weight was already NaN or infinite before the update.</param>
/// <param name="FirstNewNonFinite">The first index whose weight was finite before and is not after, or −1.</param>
public readonly record struct ParameterUpdateCheck(bool HadNonFinite, long FirstNewNonFinite);
