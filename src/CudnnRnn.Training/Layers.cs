using System.Numerics;
using System.Numerics.Tensors;
using CudnnRnn.Cpu;

namespace CudnnRnn.Training;

/// <summary>Embedding lookup: a table of <c>rows × dim</c> values indexed by id.</summary>
public static class Embedding
{
    /// <summary>
    /// Copies row <c>ids[i]</c> of <paramref name="table"/> into <paramref name="destination"/> at
    /// <c>i·destinationStride + destinationOffset</c>, for every i.
    /// </summary>
    public static void Forward<T>(ReadOnlySpan<T> table, int dim, ReadOnlySpan<int> ids, Span<T> destination, int destinationStride, int destinationOffset = 0)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        CheckShapes(table.Length, dim, ids.Length, destination.Length, destinationStride, destinationOffset);
        int rows = table.Length / dim;
        for (int i = 0; i < ids.Length; i++)
        {
            int id = ids[i];
            if ((uint)id >= (uint)rows) throw new ArgumentOutOfRangeException(nameof(ids), id, $"Embedding id must be in 0..{rows - 1}.");
            table.Slice(id * dim, dim).CopyTo(destination.Slice(i * destinationStride + destinationOffset, dim));
        }
    }

    /// <summary>Adds the gradient rows back into <paramref name="tableGrad"/> (scatter-add; repeated ids accumulate).</summary>
    public static void Backward<T>(Span<T> tableGrad, int dim, ReadOnlySpan<int> ids, ReadOnlySpan<T> gradient, int gradientStride, int gradientOffset = 0)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        CheckShapes(tableGrad.Length, dim, ids.Length, gradient.Length, gradientStride, gradientOffset);
        for (int i = 0; i < ids.Length; i++)
        {
            var dst = tableGrad.Slice(ids[i] * dim, dim);
            TensorPrimitives.Add(dst, gradient.Slice(i * gradientStride + gradientOffset, dim), dst);
        }
    }

    private static void CheckShapes(int tableLength, int dim, int count, int other, int stride, int offset)
    {
        if (dim < 1 || tableLength % dim != 0) throw new ArgumentException($"The table length {tableLength} is not a multiple of dim {dim}.");
        if (offset < 0 || offset + dim > stride) throw new ArgumentOutOfRangeException(nameof(offset), offset, $"Expected offset + dim ({dim}) ≤ stride ({stride}).");
        if (count > 0 && (long)(count - 1) * stride + offset + dim > other)
            throw new ArgumentException($"{count} rows of stride {stride} do not fit in {other} elements.");
    }
}

/// <summary>A fully connected layer <c>y = x·Wᵀ + b</c> with PyTorch's weight shape <c>[out, in]</c>.</summary>
public static class Linear
{
    /// <summary>y[n×out] = x[n×in]·Wᵀ + b.</summary>
    public static void Forward<T>(ReadOnlySpan<T> x, int n, int inSize, ReadOnlySpan<T> weight, ReadOnlySpan<T> bias, int outSize, Span<T> y)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (n == 0) return;
        Gemm.Multiply(false, true, n, outSize, inSize, x, inSize, weight, inSize, y, outSize, accumulate: false);
        if (!bias.IsEmpty)
            for (int r = 0; r < n; r++)
            {
                var row = y.Slice(r * outSize, outSize);
                TensorPrimitives.Add(row, bias, row);
            }
    }

    /// <summary>dx = dy·W (overwritten, skipped when empty), dW += dyᵀ·x, db += Σ rows of dy.</summary>
    public static void Backward<T>(ReadOnlySpan<T> x, int n, int inSize, ReadOnlySpan<T> weight, ReadOnlySpan<T> dy, int outSize,
        Span<T> dx, Span<T> dWeight, Span<T> dBias)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (n == 0) return;
        if (!dx.IsEmpty) Gemm.Multiply(false, false, n, inSize, outSize, dy, outSize, weight, inSize, dx, inSize, accumulate: false);
        Gemm.Multiply(true, false, outSize, inSize, n, dy, outSize, x, inSize, dWeight, inSize, accumulate: true);
        if (!dBias.IsEmpty)
            for (int r = 0; r < n; r++) TensorPrimitives.Add(dBias, dy.Slice(r * outSize, outSize), dBias);
    }
}

/// <summary>
/// Softmax cross-entropy over rows of logits, with a mask: rows whose target is negative (padding) contribute nothing.
/// The loss is the sum over valid rows times <c>scale</c> (pass 1/valid-rows for the mean).
/// </summary>
public static class SoftmaxCrossEntropy
{
    /// <summary>Index that marks a masked (ignored) row.</summary>
    public const int Ignore = -1;

    /// <summary>
    /// Returns <c>scale · Σ −log softmax(logits[r])[targets[r]]</c> over rows with a target ≥ 0 and, when
    /// <paramref name="dLogits"/> is not empty, writes its gradient (zero on masked rows).
    /// </summary>
    public static double Compute<T>(ReadOnlySpan<T> logits, int classes, ReadOnlySpan<int> targets, double scale, Span<T> dLogits)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int rows = targets.Length;
        if (logits.Length != rows * classes) throw new ArgumentException($"logits has {logits.Length} elements; expected {rows}×{classes}.", nameof(logits));
        bool grad = !dLogits.IsEmpty;
        if (grad && dLogits.Length != logits.Length) throw new ArgumentException("dLogits must have the logits' length.", nameof(dLogits));
        T s = T.CreateChecked(scale);
        double loss = 0;
        for (int r = 0; r < rows; r++)
        {
            int target = targets[r];
            var row = logits.Slice(r * classes, classes);
            if (target < 0)
            {
                if (grad) dLogits.Slice(r * classes, classes).Clear();
                continue;
            }
            if (target >= classes) throw new ArgumentOutOfRangeException(nameof(targets), target, $"Target must be in 0..{classes - 1} (or negative to mask the row).");
            T max = TensorPrimitives.Max(row);
            T sum = T.Zero;
            for (int c = 0; c < classes; c++) sum += T.Exp(row[c] - max);
            T logZ = max + T.Log(sum);
            loss += double.CreateChecked(logZ - row[target]);
            if (grad)
            {
                var d = dLogits.Slice(r * classes, classes);
                for (int c = 0; c < classes; c++) d[c] = T.Exp(row[c] - logZ) * s;
                d[target] -= s;
            }
        }
        return loss * scale;
    }

    /// <summary>Index of the largest logit of each row.</summary>
    public static void ArgMax<T>(ReadOnlySpan<T> logits, int classes, Span<int> destination) where T : unmanaged, IFloatingPointIeee754<T>
    {
        for (int r = 0; r < destination.Length; r++) destination[r] = TensorPrimitives.IndexOfMax(logits.Slice(r * classes, classes));
    }
}

/// <summary>Inverted dropout with a seeded mask: kept values are scaled by 1/(1−p), so evaluation needs no rescaling.</summary>
public static class Dropout
{
    /// <summary>Draws a mask (0 or 1/(1−p) per element) into <paramref name="mask"/> and applies it to <paramref name="values"/> in place.</summary>
    public static void Forward<T>(Span<T> values, Span<T> mask, double p, ref SeededRandom rng) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (p <= 0) { mask.Fill(T.One); return; }
        T keep = T.CreateChecked(1.0 / (1.0 - p));
        for (int i = 0; i < values.Length; i++) mask[i] = rng.NextDouble() >= p ? keep : T.Zero;
        TensorPrimitives.Multiply(values, mask[..values.Length], values);
    }

    /// <summary>Gradient: multiplies by the same mask in place.</summary>
    public static void Backward<T>(Span<T> gradient, ReadOnlySpan<T> mask) where T : unmanaged, IFloatingPointIeee754<T> =>
        TensorPrimitives.Multiply(gradient, mask[..gradient.Length], gradient);
}
