using System.Buffers;
using System.Numerics;
using System.Numerics.Tensors;

namespace CudnnRnn.Training;

/// <summary>
/// Gradient clipping. Gradients in host memory (host arrays, CPU-engine buffers) are read and scaled in place; a
/// gradient in device memory is downloaded once for the norm (so the norm is the host computation, bit for bit) and,
/// when clipping applies, scaled by the engine's kernel (<see cref="IParameterUpdateKernels.Scale"/>) or, on an engine
/// without one (CUDA), on the host and uploaded again.
/// </summary>
public static class GradientClipping
{
    /// <summary>
    /// The L2 norm of all gradients together, accumulated in double and rescaled where a parameter's sum of squares
    /// would overflow, so finite gradients always give a finite norm; NaN or ∞ when some gradient is NaN or infinite.
    /// </summary>
    public static double GlobalNorm<T>(IEnumerable<Parameter<T>> parameters) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(parameters);
        double scale = 0, sumSq = 1; // norm = scale · √sumSq, as LAPACK's dnrm2: no overflow for any finite input
        foreach (var p in parameters)
        {
            double n;
            if (p.Storage.TryGetHostSpans(out _, out var g)) n = Norm<T>(g);
            else
            {
                var rented = ArrayPool<T>.Shared.Rent(p.Count);
                try
                {
                    var staged = rented.AsSpan(0, p.Count);
                    p.Storage.ReadGradient(staged);
                    n = Norm<T>(staged);
                }
                finally { ArrayPool<T>.Shared.Return(rented); }
            }
            if (!double.IsFinite(n)) return n;
            if (n == 0) continue;
            if (n > scale) { sumSq = 1 + sumSq * (scale / n) * (scale / n); scale = n; }
            else sumSq += (n / scale) * (n / scale);
        }
        return scale * Math.Sqrt(sumSq);
    }

    private static double Norm<T>(ReadOnlySpan<T> grad) where T : unmanaged, IFloatingPointIeee754<T>
    {
        double n = double.CreateChecked(TensorPrimitives.Norm<T>(grad));
        if (double.IsInfinity(n) && SafeTensors.IndexOfNonFinite<T>(grad) < 0)
        {
            // Σ g² overflowed T though every g is finite: rescale by the largest magnitude first.
            double m = double.CreateChecked(TensorPrimitives.MaxMagnitude<T>(grad));
            double s = 0;
            foreach (T g in grad) { double r = double.CreateChecked(g) / m; s += r * r; }
            n = m * Math.Sqrt(s);
        }
        return n;
    }

    /// <summary>
    /// Scales every gradient by <c>maxNorm / norm</c> when the global norm exceeds <paramref name="maxNorm"/>
    /// (as <c>torch.nn.utils.clip_grad_norm_</c>). Returns the norm before clipping. When a gradient is NaN or infinite
    /// the norm is too: the gradients are then left as they are and <see cref="Optimizer{T}.Step"/> skips the step.
    /// </summary>
    public static double ClipByGlobalNorm<T>(IReadOnlyList<Parameter<T>> parameters, double maxNorm) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (!(maxNorm > 0)) throw new ArgumentOutOfRangeException(nameof(maxNorm), maxNorm, "maxNorm must be positive.");
        double norm = GlobalNorm(parameters);
        if (norm > maxNorm && double.IsFinite(norm))
        {
            T scale = T.CreateChecked(maxNorm / (norm + 1e-6));
            foreach (var p in parameters) Scale(p, scale);
        }
        return norm;
    }

    private static void Scale<T>(Parameter<T> p, T scale) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (p.Storage.TryGetHostSpans(out _, out var g)) TensorPrimitives.Multiply(g, scale, g);
        else if (p.GradientBuffer is { Engine: IParameterUpdateKernels k } gb) k.Scale(gb, scale);
        else
        {
            var rented = ArrayPool<T>.Shared.Rent(p.Count);
            try
            {
                var staged = rented.AsSpan(0, p.Count);
                p.Storage.ReadGradient(staged);
                TensorPrimitives.Multiply(staged, scale, staged);
                p.Storage.WriteGradient(staged);
            }
            finally { ArrayPool<T>.Shared.Return(rented); }
        }
    }
}
