using System.Globalization;

namespace CudnnRnn;

/// <summary>
/// Element counts of the buffers a plan for (network, data shape) needs, as checked 64-bit numbers, and the check an
/// engine makes before it creates a plan: every count must be addressable by that engine. The CPU engine's limit is
/// <see cref="Array.MaxLength"/> (its buffers are managed arrays); the OpenCL kernels index with 32-bit ints
/// (<see cref="int.MaxValue"/>); every engine is bounded by <see cref="RnnDataDescriptor.MaxElementCount"/>.
/// </summary>
public static class RnnPlanLimits
{
    /// <summary>
    /// Elements of the reserve space in the reference layout the CPU and OpenCL engines use, for the worst case of the
    /// data shape (every sequence maxSeqLength long: a plan serves every set of lengths of its shape) (per layer: its output; per
    /// direction the post-activation gates, the LSTM/GRU auxiliary row and the projection input; the dropout-masked input
    /// of deeper layers), or <see cref="long.MaxValue"/> when the count does not fit in 64 bits. It bounds every
    /// workspace and the inference scratch of those engines too.
    /// </summary>
    public static long ReferenceReserveElements(RnnDescriptor rnn, RnnDataDescriptor xDesc)
    {
        ArgumentNullException.ThrowIfNull(rnn);
        ArgumentNullException.ThrowIfNull(xDesc);
        try
        {
            checked
            {
                // A plan serves every set of lengths of its shape, so its reserve is sized for the most rows the shape
                // allows: every sequence maxSeqLength long.
                long n = (long)xDesc.MaxSeqLength * xDesc.Batch;
                long perDirection = n * rnn.Gates * rnn.HiddenSize
                    + (rnn.Mode is RnnMode.Lstm or RnnMode.Gru ? n * rnn.HiddenSize : 0)
                    + (rnn.HasProjection ? n * rnn.StateSize : 0);
                long perLayer = n * rnn.OutputSize + rnn.NumDirections * perDirection;
                long dropped = rnn.Dropout > 0 ? n * rnn.OutputSize * (rnn.NumLayers - 1L) : 0;
                return perLayer * rnn.NumLayers + dropped;
            }
        }
        catch (OverflowException)
        {
            return long.MaxValue;
        }
    }

    /// <summary>
    /// Throws <see cref="ArgumentOutOfRangeException"/> (naming <c>xDesc</c>, or <c>rnn</c> for the weights) when a buffer
    /// of this plan would hold more than <paramref name="maxElements"/> elements. <paramref name="reach"/> says why the
    /// engine has that limit; <paramref name="includeReferenceReserve"/> adds the reference-layout reserve to the check.
    /// </summary>
    public static void ThrowIfBeyond(RnnDescriptor rnn, RnnDataDescriptor xDesc, long maxElements, string engine, string reach,
        bool includeReferenceReserve)
    {
        ArgumentNullException.ThrowIfNull(rnn);
        ArgumentNullException.ThrowIfNull(xDesc);
        long rows = xDesc.IsUnpacked ? (long)xDesc.MaxSeqLength * xDesc.Batch : xDesc.TotalSteps;
        long states = (long)rnn.PseudoLayerCount * xDesc.Batch; // < 2^62
        Check(nameof(xDesc), "x", xDesc.ElementCount);
        Check(nameof(xDesc), "y", RnnDataDescriptor.MultiplyOrLimit(rows, rnn.OutputSize));
        Check(nameof(xDesc), "hx/hy", RnnDataDescriptor.MultiplyOrLimit(states, rnn.StateSize));
        if (rnn.Mode == RnnMode.Lstm) Check(nameof(xDesc), "cx/cy", RnnDataDescriptor.MultiplyOrLimit(states, rnn.HiddenSize));
        Check(nameof(rnn), "the weight space", rnn.CanonicalWeightCount);
        if (includeReferenceReserve)
        {
            Check(nameof(xDesc), "the reserve space", ReferenceReserveElements(rnn, xDesc));
            long widest = Math.Max(Math.Max(rnn.InputSize, rnn.OutputSize), (long)rnn.Gates * rnn.HiddenSize);
            Check(nameof(xDesc), "the workspace", RnnDataDescriptor.MultiplyOrLimit((long)xDesc.MaxSeqLength * xDesc.Batch, widest));
        }

        void Check(string argument, string what, long elements)
        {
            if (elements <= maxElements) return;
            string count = elements == long.MaxValue ? "more than 2^63" : elements.ToString(CultureInfo.InvariantCulture);
            throw new ArgumentOutOfRangeException(argument,
                $"{what} of {rnn} on {Describe(xDesc)} would hold {count} elements; the {engine} engine addresses at most " +
                $"{maxElements.ToString(CultureInfo.InvariantCulture)} ({reach}). Use a smaller batch, sequence length or network.");
        }
    }

    /// <summary>The data shape without the list of lengths (which can be millions long).</summary>
    private static string Describe(RnnDataDescriptor d) =>
        $"{d.Layout} T={d.MaxSeqLength} B={d.Batch} V={d.VectorSize} (Σ lengths {d.TotalSteps.ToString(CultureInfo.InvariantCulture)})";
}
