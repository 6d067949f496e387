namespace CudnnRnn;

// Plans per shape, lengths per call: a plan serves every set of sequence lengths of its data shape (layout, maximum
// length, batch, vector size, padding fill). Each call may pass its own data descriptor; the signatures without one use
// the plan's XDesc.
public abstract partial class RnnPlan<T>
{
    /// <summary>Forward pass on the plan's own <see cref="XDesc"/> (its lengths).</summary>
    /// <param name="mode">Inference or training.</param><param name="x">Input.</param><param name="y">Output.</param>
    /// <param name="hx">Initial hidden state, or null.</param><param name="hy">Final hidden state, or null.</param>
    /// <param name="cx">Initial cell state, or null.</param><param name="cy">Final cell state, or null.</param>
    /// <param name="weights">Weights.</param><param name="reserve">Training: the reserve to fill; inference: null.</param>
    public void Forward(RnnForwardMode mode, RnnBuffer<T> x, RnnBuffer<T> y, RnnBuffer<T>? hx, RnnBuffer<T>? hy,
        RnnBuffer<T>? cx, RnnBuffer<T>? cy, RnnBuffer<T> weights, RnnReserve<T>? reserve) =>
        Forward(mode, XDesc, x, y, hx, hy, cx, cy, weights, reserve);

    /// <summary>Backward data with the lengths of the forward that filled <paramref name="reserve"/>.</summary>
    /// <param name="y">Forward output.</param><param name="dy">Output gradient.</param><param name="dx">Input gradient (written).</param>
    /// <param name="hx">Initial hidden state of the forward, or null.</param><param name="dhy">Gradient of hy, or null.</param>
    /// <param name="dhx">Gradient of hx (written), or null.</param><param name="cx">Initial cell state, or null.</param>
    /// <param name="dcy">Gradient of cy, or null.</param><param name="dcx">Gradient of cx (written), or null.</param>
    /// <param name="weights">Weights.</param><param name="reserve">The reserve of the training forward.</param>
    public void BackwardData(RnnBuffer<T> y, RnnBuffer<T> dy, RnnBuffer<T> dx, RnnBuffer<T>? hx, RnnBuffer<T>? dhy,
        RnnBuffer<T>? dhx, RnnBuffer<T>? cx, RnnBuffer<T>? dcy, RnnBuffer<T>? dcx, RnnBuffer<T> weights, RnnReserve<T> reserve) =>
        BackwardData(ReserveLengths(reserve), y, dy, dx, hx, dhy, dhx, cx, dcy, dcx, weights, reserve);

    /// <summary>Backward weights with the lengths of the forward that filled <paramref name="reserve"/>.</summary>
    /// <param name="mode">Add or Set.</param><param name="x">Forward input.</param>
    /// <param name="hx">Initial hidden state of the forward, or null.</param><param name="y">Forward output.</param>
    /// <param name="dweights">Weight gradients (added to or written).</param><param name="reserve">The reserve, after BackwardData.</param>
    public void BackwardWeights(WeightGradMode mode, RnnBuffer<T> x, RnnBuffer<T>? hx, RnnBuffer<T> y, RnnBuffer<T> dweights,
        RnnReserve<T> reserve) =>
        BackwardWeights(mode, ReserveLengths(reserve), x, hx, y, dweights, reserve);

    /// <summary>
    /// Throws an <see cref="ArgumentException"/> naming what differs unless <paramref name="xDesc"/> has this plan's data
    /// shape: layout, MaxSeqLength, Batch, VectorSize and PaddingFill. The lengths may differ.
    /// </summary>
    public void CheckShape(RnnDataDescriptor xDesc)
    {
        ArgumentNullException.ThrowIfNull(xDesc);
        if (ReferenceEquals(xDesc, XDesc)) return;
        if (ShapeDifference(xDesc) is { } diff)
            throw new ArgumentException($"xDesc does not have this plan's data shape: {diff}. A plan serves every set of lengths of one shape (layout, maxSeqLength, batch, vectorSize, paddingFill); create a plan for the other shape.", nameof(xDesc));
    }

    /// <summary>True when <paramref name="xDesc"/> has this plan's data shape (its lengths may differ).</summary>
    public bool HasShape(RnnDataDescriptor xDesc) => xDesc is not null && ShapeDifference(xDesc) is null;

    /// <summary>What differs between <paramref name="d"/>'s shape and the plan's, or null (formats only on a difference).</summary>
    private string? ShapeDifference(RnnDataDescriptor d)
    {
        var p = XDesc;
        if (d.Layout != p.Layout) return $"layout is {d.Layout}, expected {p.Layout}";
        if (d.MaxSeqLength != p.MaxSeqLength) return $"maxSeqLength is {d.MaxSeqLength}, expected {p.MaxSeqLength}";
        if (d.Batch != p.Batch) return $"batch is {d.Batch}, expected {p.Batch}";
        if (d.VectorSize != p.VectorSize) return $"vectorSize is {d.VectorSize}, expected {p.VectorSize}";
        if (!d.PaddingFill.Equals(p.PaddingFill)) return $"paddingFill is {d.PaddingFill}, expected {p.PaddingFill}";
        return null;
    }

    /// <summary>Vectors a buffer of this call holds: T·B unpacked, the sum of the lengths packed.</summary>
    private static long CallVectors(RnnDataDescriptor d) => d.IsUnpacked ? (long)d.MaxSeqLength * d.Batch : d.TotalSteps;

    /// <summary>The descriptor of the forward that filled the reserve (the plan's own before any).</summary>
    private RnnDataDescriptor ReserveLengths(RnnReserve<T> reserve)
    {
        ArgumentNullException.ThrowIfNull(reserve);
        return reserve.XDesc ?? XDesc;
    }

    /// <summary>A backward call must use the lengths of the training forward that filled the reserve.</summary>
    private static void CheckReserveLengths(RnnDataDescriptor xDesc, RnnReserve<T> reserve)
    {
        var filled = reserve.XDesc;
        if (filled is null || ReferenceEquals(filled, xDesc) || filled.SeqLengths.SequenceEqual(xDesc.SeqLengths)) return;
        throw new ArgumentException($"xDesc has lengths [{string.Join(",", xDesc.SeqLengthArray)}], but the training forward that filled the reserve had [{string.Join(",", filled.SeqLengthArray)}]; a backward call uses the lengths of its forward.", nameof(xDesc));
    }
}
