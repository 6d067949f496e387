namespace CudnnRnn.Cuda;

/// <summary>
/// One row of what <c>cudnnGetRNNWeightParams(pseudoLayer, linLayerID)</c> reported: the matrix and bias addresses as
/// byte offsets from the weight-space base (<c>null</c> for a NULL address, i.e. that matrix/bias does not exist) and
/// the dims of mDesc/bDesc as read back with <c>cudnnGetTensorNdDescriptor(…, 3, …)</c>.
/// </summary>
/// <param name="PseudoLayer">layer × dirs + dir.</param>
/// <param name="LinLayerId">cuDNN linear-layer id.</param>
/// <param name="MatrixOffsetBytes">mAddr − weightSpace in bytes, or null when mAddr was NULL.</param>
/// <param name="MatrixDims">mDesc dims, expected <c>{1, rows, cols}</c> (ignored when the address is null).</param>
/// <param name="BiasOffsetBytes">bAddr − weightSpace in bytes, or null when bAddr was NULL.</param>
/// <param name="BiasDims">bDesc dims, expected <c>{1, rows, 1}</c> (ignored when the address is null).</param>
public readonly record struct CudnnWeightParams(int PseudoLayer, int LinLayerId, long? MatrixOffsetBytes, int[]? MatrixDims,
    long? BiasOffsetBytes, int[]? BiasDims)
{
    /// <inheritdoc/>
    public override string ToString() =>
        $"pseudoLayer {PseudoLayer} id {LinLayerId}: matrix {(MatrixOffsetBytes is { } m ? $"@{m} [{string.Join(",", MatrixDims ?? [])}]" : "NULL")}, " +
        $"bias {(BiasOffsetBytes is { } b ? $"@{b} [{string.Join(",", BiasDims ?? [])}]" : "NULL")}";
}

/// <summary>Where cuDNN put the blocks, relative to the two candidate orders (per pseudo-layer, or all matrices first).</summary>
internal enum CudnnWeightBlockOrder
{
    /// <summary>Per pseudo-layer: that layer's matrices, then its biases (then the next layer).</summary>
    PerPseudoLayer,
    /// <summary>Every pseudo-layer's matrices first, then every pseudo-layer's biases ([VG]'s unverified claim).</summary>
    AllMatricesThenAllBiases,
    /// <summary>Neither of the two (or indistinguishable: a single pseudo-layer, or no biases).</summary>
    OtherOrAmbiguous,
}

/// <summary>
/// Builds the <see cref="RnnWeightLayout"/> of a cuDNN weight space from a <c>cudnnGetRNNWeightParams</c> table: never
/// hard-coded offsets. The weight-space block order is a disagreement between sources (per pseudo-layer
/// <c>[W R bW bR]</c>, or [VG]'s unverified "all matrices, then all biases"): this builder accepts any
/// order; <see cref="ClassifyBlockOrder"/> (internal, used by the GPU tests) says which one a table follows.
/// </summary>
public static class CudnnWeightLayoutBuilder
{
    /// <summary>
    /// Converts byte offsets and descriptor dims to element entries and validates them (element alignment, dims shape,
    /// expected shapes, bounds, overlaps, completeness) before building the layout.
    /// </summary>
    /// <param name="rnn">The network.</param>
    /// <param name="totalBytes">cudnnGetRNNWeightSpaceSize.</param>
    /// <param name="elemSize">Bytes per element (4 for Float32, 8 for Float64).</param>
    /// <param name="table">One row per (pseudoLayer, linLayerId).</param>
    public static RnnWeightLayout Build(RnnDescriptor rnn, long totalBytes, int elemSize, IEnumerable<CudnnWeightParams> table)
    {
        ArgumentNullException.ThrowIfNull(rnn);
        ArgumentNullException.ThrowIfNull(table);
        int expectedSize = CudnnMapping.ElementSize(rnn.DataType);
        if (elemSize != expectedSize)
            throw new ArgumentOutOfRangeException(nameof(elemSize), elemSize, $"Expected {expectedSize} bytes per element for {rnn.DataType}.");
        if (totalBytes < 0)
            throw new ArgumentOutOfRangeException(nameof(totalBytes), totalBytes, "The weight-space size must not be negative.");
        // PyTorch asserts the same divisibility (API.md §7.4). Whether the space may be larger than the parameters: NOT FOUND.
        if (totalBytes % elemSize != 0)
            throw new ArgumentException($"The weight space has {totalBytes} bytes, not a multiple of the element size {elemSize}.", nameof(totalBytes));

        var entries = new List<RnnWeightEntry>();
        foreach (var p in table)
        {
            long mOff = -1, bOff = -1;
            int rows = 0, cols = 0, bLen = 0;
            if (p.MatrixOffsetBytes is { } mb)
            {
                mOff = ToElements(p, mb, elemSize, "matrix");
                (rows, cols) = MatrixShape(p);
            }
            if (p.BiasOffsetBytes is { } bb)
            {
                bOff = ToElements(p, bb, elemSize, "bias");
                bLen = BiasLength(p);
            }
            entries.Add(new RnnWeightEntry(p.PseudoLayer, p.LinLayerId, mOff, rows, cols, bOff, bLen));
        }
        // FromEntries checks every shape against the descriptor, bounds, overlaps and that no (pseudoLayer, id) is missing.
        return RnnWeightLayout.FromEntries(rnn, entries, totalBytes / elemSize);
    }

    private static long ToElements(in CudnnWeightParams p, long bytes, int elemSize, string what)
    {
        if (bytes < 0)
            throw new ArgumentException($"pseudoLayer {p.PseudoLayer}, linLayerId {p.LinLayerId}: {what} address lies {-bytes} bytes before the weight-space base.", "table");
        // cuDNN's pointers are element-aligned inside the space (PyTorch asserts it); an RNN-specific alignment rule: NOT FOUND.
        if (bytes % elemSize != 0)
            throw new ArgumentException($"pseudoLayer {p.PseudoLayer}, linLayerId {p.LinLayerId}: {what} offset {bytes} bytes is not a multiple of the element size {elemSize}.", "table");
        return bytes / elemSize;
    }

    private static (int Rows, int Cols) MatrixShape(in CudnnWeightParams p)
    {
        var d = p.MatrixDims;
        if (d is not { Length: 3 } || d[0] != 1 || d[1] < 1 || d[2] < 1)
            throw new ArgumentException(
                $"pseudoLayer {p.PseudoLayer}, linLayerId {p.LinLayerId}: mDesc dims [{string.Join(",", d ?? [])}]; expected 3 dims {{1, rows, cols}} (API.md §7.4).", "table");
        return (d[1], d[2]);
    }

    private static int BiasLength(in CudnnWeightParams p)
    {
        var d = p.BiasDims;
        if (d is not { Length: 3 } || d[0] != 1 || d[1] < 1 || d[2] != 1)
            throw new ArgumentException(
                $"pseudoLayer {p.PseudoLayer}, linLayerId {p.LinLayerId}: bDesc dims [{string.Join(",", d ?? [])}]; expected 3 dims {{1, rows, 1}} (API.md §7.4).", "table");
        return d[1];
    }

    /// <summary>Which of the two candidate block orders a layout follows.</summary>
    internal static CudnnWeightBlockOrder ClassifyBlockOrder(RnnWeightLayout layout)
    {
        ArgumentNullException.ThrowIfNull(layout);
        var rnn = layout.Descriptor;
        int pls = rnn.PseudoLayerCount;
        var matStart = new long[pls];
        var matEnd = new long[pls];
        var biasStart = new long[pls];
        var biasEnd = new long[pls];
        Array.Fill(matStart, long.MaxValue);
        Array.Fill(biasStart, long.MaxValue);
        Array.Fill(matEnd, -1);
        Array.Fill(biasEnd, -1);
        foreach (var e in layout.Entries)
        {
            if (e.HasMatrix)
            {
                matStart[e.PseudoLayer] = Math.Min(matStart[e.PseudoLayer], e.MatrixOffset);
                matEnd[e.PseudoLayer] = Math.Max(matEnd[e.PseudoLayer], e.MatrixOffset + (long)e.Rows * e.Cols);
            }
            if (e.HasBias)
            {
                biasStart[e.PseudoLayer] = Math.Min(biasStart[e.PseudoLayer], e.BiasOffset);
                biasEnd[e.PseudoLayer] = Math.Max(biasEnd[e.PseudoLayer], e.BiasOffset + e.BiasLength);
            }
        }
        bool hasBias = biasEnd.Any(v => v >= 0);
        if (pls < 2 || !hasBias) return CudnnWeightBlockOrder.OtherOrAmbiguous;
        // Per layer: every block of pseudo-layer p (matrices and biases) lies before every block of p + 1.
        bool perLayer = true;
        for (int p = 0; p + 1 < pls; p++)
            perLayer &= Math.Max(matEnd[p], biasEnd[p]) <= Math.Min(matStart[p + 1], biasStart[p + 1]);
        // All matrices first: the last matrix ends before the first bias starts.
        bool matricesFirst = matEnd.Max() <= biasStart.Min();
        return perLayer ? CudnnWeightBlockOrder.PerPseudoLayer
            : matricesFirst ? CudnnWeightBlockOrder.AllMatricesThenAllBiases
            : CudnnWeightBlockOrder.OtherOrAmbiguous;
    }
}
