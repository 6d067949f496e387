using System.Collections.Immutable;

namespace CudnnRnn;

/// <summary>
/// Describes a batch of sequences in memory: the role <c>cudnnRNNDataDescriptor_t</c> plays in cuDNN.
/// Immutable and validated on construction.
/// </summary>
public sealed class RnnDataDescriptor : IEquatable<RnnDataDescriptor>
{
    private readonly int[] _lengths;
    private readonly int[] _batchSizes;   // [maxSeqLength]: sequences with length > t
    private readonly long[] _stepOffsets; // [maxSeqLength + 1]: packed rows before step t (long: Σ lengths can pass 2^31)

    /// <summary>
    /// The most elements a data buffer (or any other buffer of a plan) may have: every engine addresses memory with
    /// signed 64-bit byte offsets, so elements × 8 bytes (float64) must fit in a <see cref="long"/>. Engines with a smaller
    /// reach (the CPU engine's arrays, the OpenCL kernels' 32-bit indices) refuse larger shapes when a plan is created.
    /// </summary>
    public const long MaxElementCount = long.MaxValue / sizeof(double);

    /// <summary>Creates and validates a data descriptor.</summary>
    /// <param name="layout">Memory layout.</param>
    /// <param name="maxSeqLength">Number of time steps the buffer holds (≥ 1).</param>
    /// <param name="batch">Number of sequences (≥ 1).</param>
    /// <param name="vectorSize">Width of each step's vector (≥ 1).</param>
    /// <param name="seqLengths">One length per sequence, each in 1..maxSeqLength; non-increasing for the packed layout.</param>
    /// <param name="paddingFill">Value written at padded output positions of unpacked layouts (cuDNN's paddingFill).</param>
    public RnnDataDescriptor(RnnDataLayout layout, int maxSeqLength, int batch, int vectorSize, ReadOnlySpan<int> seqLengths,
        double paddingFill = 0.0)
    {
        if (!Enum.IsDefined(layout))
            throw new ArgumentOutOfRangeException(nameof(layout), layout, "Expected SeqMajorUnpacked, SeqMajorPacked or BatchMajorUnpacked.");
        if (maxSeqLength < 1)
            throw new ArgumentOutOfRangeException(nameof(maxSeqLength), maxSeqLength, "maxSeqLength must be at least 1.");
        if (batch < 1)
            throw new ArgumentOutOfRangeException(nameof(batch), batch, "batch must be at least 1.");
        if (vectorSize < 1)
            throw new ArgumentOutOfRangeException(nameof(vectorSize), vectorSize, "vectorSize must be at least 1.");
        if (seqLengths.Length != batch)
            throw new ArgumentException($"seqLengths has {seqLengths.Length} entries; expected one per sequence ({batch}).", nameof(seqLengths));
        for (int b = 0; b < batch; b++)
        {
            int len = seqLengths[b];
            // cuDNN's descriptor accepts 0, but its compute paths do not support empty sequences (API.md §7.10).
            if (len < 1 || len > maxSeqLength)
                throw new ArgumentOutOfRangeException(nameof(seqLengths), len,
                    $"seqLengths[{b}] = {len}; expected 1..maxSeqLength ({maxSeqLength}). Empty sequences are not supported.");
            if (layout == RnnDataLayout.SeqMajorPacked && b > 0 && len > seqLengths[b - 1])
                throw new ArgumentException(
                    $"The packed layout needs lengths sorted in descending order, but seqLengths[{b}] = {len} > seqLengths[{b - 1}] = {seqLengths[b - 1]}.",
                    nameof(seqLengths));
        }
        if (!double.IsFinite(paddingFill))
            throw new ArgumentOutOfRangeException(nameof(paddingFill), paddingFill, "paddingFill must be a finite number.");

        // Every count is a checked 64-bit product: T·B·V can pass 2^31 (65536 × 65537 × 1) and even 2^63.
        long padded = (long)maxSeqLength * batch;           // < 2^62: both factors are ints
        long elements = MultiplyOrLimit(layout == RnnDataLayout.SeqMajorPacked ? SumOf(seqLengths) : padded, vectorSize);
        if (elements > MaxElementCount)
            throw new ArgumentOutOfRangeException(nameof(vectorSize), vectorSize,
                $"The buffer of this shape (maxSeqLength {maxSeqLength} × batch {batch} × vectorSize {vectorSize}, layout {layout}) would hold " +
                $"{(elements == long.MaxValue ? "more than 2^63" : elements.ToString(System.Globalization.CultureInfo.InvariantCulture))} elements; " +
                $"the limit is MaxElementCount = {MaxElementCount} (elements × 8 bytes must fit a signed 64-bit byte offset).");

        Layout = layout;
        MaxSeqLength = maxSeqLength;
        Batch = batch;
        VectorSize = vectorSize;
        PaddingFill = paddingFill;
        ElementCount = elements;
        _lengths = seqLengths.ToArray();
        // Counting, not a loop over every (t, b): O(T + B) even when Σ lengths is in the billions.
        _batchSizes = new int[maxSeqLength];
        var endingAt = new int[maxSeqLength + 1];
        foreach (int len in _lengths) endingAt[len]++;
        int running = 0;
        for (int t = maxSeqLength - 1; t >= 0; t--) { running += endingAt[t + 1]; _batchSizes[t] = running; }
        _stepOffsets = new long[maxSeqLength + 1];
        for (int t = 0; t < maxSeqLength; t++) _stepOffsets[t + 1] = _stepOffsets[t] + _batchSizes[t];
    }

    private static long SumOf(ReadOnlySpan<int> lengths)
    {
        long sum = 0;
        foreach (int len in lengths) sum += len; // ≤ 2^31 terms below 2^31: no overflow
        return sum;
    }

    /// <summary>a × b, or long.MaxValue when the product does not fit (callers compare it with a smaller limit).</summary>
    internal static long MultiplyOrLimit(long a, long b) => a != 0 && b > long.MaxValue / a ? long.MaxValue : a * b;

    /// <summary>A descriptor where every sequence has length <paramref name="maxSeqLength"/>.</summary>
    public static RnnDataDescriptor Uniform(RnnDataLayout layout, int maxSeqLength, int batch, int vectorSize) =>
        new(layout, maxSeqLength, batch, vectorSize, Enumerable.Repeat(Math.Max(maxSeqLength, 1), Math.Max(batch, 0)).ToArray());

    /// <summary>Memory layout.</summary>
    public RnnDataLayout Layout { get; }
    /// <summary>Time steps in the buffer.</summary>
    public int MaxSeqLength { get; }
    /// <summary>Sequences.</summary>
    public int Batch { get; }
    /// <summary>Width of each step's vector.</summary>
    public int VectorSize { get; }
    /// <summary>Fill for padded output positions.</summary>
    public double PaddingFill { get; }
    /// <summary>Sequence lengths in batch order.</summary>
    public ReadOnlySpan<int> SeqLengths => _lengths;
    /// <summary>Sequence lengths as an immutable array.</summary>
    public ImmutableArray<int> SeqLengthArray => ImmutableArray.Create(_lengths);
    /// <summary>Sum of the lengths: the number of valid (t, b) vectors.</summary>
    public long TotalSteps => _stepOffsets[MaxSeqLength];
    /// <summary>Longest sequence.</summary>
    public int LongestSequence => _lengths.Max();
    /// <summary>True when the layout is padded (unpacked).</summary>
    public bool IsUnpacked => Layout != RnnDataLayout.SeqMajorPacked;

    /// <summary>Number of elements a buffer in this layout must hold.</summary>
    /// <remarks>A 64-bit count computed once at construction (at most <see cref="MaxElementCount"/>).</remarks>
    public long ElementCount { get; }

    /// <summary>Sequences still running at step t (length &gt; t).</summary>
    public int BatchSizeAt(int t) => _batchSizes[t];

    /// <summary>Element offset of the vector (t, b), or -1 when t is past sequence b's length.</summary>
    /// <remarks>For the packed layout, b is the position in the (descending-sorted) batch.</remarks>
    public long Offset(int t, int b)
    {
        if ((uint)t >= (uint)MaxSeqLength || (uint)b >= (uint)Batch)
            throw new ArgumentOutOfRangeException(t < 0 || t >= MaxSeqLength ? nameof(t) : nameof(b));
        if (t >= _lengths[b]) return -1;
        return Layout switch
        {
            RnnDataLayout.SeqMajorUnpacked => ((long)t * Batch + b) * VectorSize,
            RnnDataLayout.BatchMajorUnpacked => ((long)b * MaxSeqLength + t) * VectorSize,
            _ => ((long)_stepOffsets[t] + b) * VectorSize,
        };
    }

    /// <summary>Element offset of vector (t, b) in an unpacked layout, whether or not it is padding.</summary>
    public long PaddedOffset(int t, int b) => Layout switch
    {
        RnnDataLayout.SeqMajorUnpacked => ((long)t * Batch + b) * VectorSize,
        RnnDataLayout.BatchMajorUnpacked => ((long)b * MaxSeqLength + t) * VectorSize,
        _ => throw new InvalidOperationException("The packed layout has no padded positions."),
    };

    /// <summary>The same layout, lengths and fill with another vector size (x → y).</summary>
    public RnnDataDescriptor WithVectorSize(int vectorSize) => new(Layout, MaxSeqLength, Batch, vectorSize, _lengths, PaddingFill);

    /// <summary>The same shape in another layout. Packed needs descending lengths.</summary>
    public RnnDataDescriptor WithLayout(RnnDataLayout layout) => new(layout, MaxSeqLength, Batch, VectorSize, _lengths, PaddingFill);

    /// <summary>True when shapes and lengths agree, ignoring the vector size and the fill (x and y must share these).</summary>
    public bool SameSequences(RnnDataDescriptor other) =>
        Layout == other.Layout && MaxSeqLength == other.MaxSeqLength && Batch == other.Batch && _lengths.AsSpan().SequenceEqual(other._lengths);

    /// <inheritdoc/>
    public bool Equals(RnnDataDescriptor? other) =>
        other is not null && SameSequences(other) && VectorSize == other.VectorSize && PaddingFill.Equals(other.PaddingFill);
    /// <inheritdoc/>
    public override bool Equals(object? obj) => Equals(obj as RnnDataDescriptor);
    /// <inheritdoc/>
    public override int GetHashCode()
    {
        var h = new HashCode();
        h.Add(Layout); h.Add(MaxSeqLength); h.Add(Batch); h.Add(VectorSize); h.Add(PaddingFill);
        foreach (int l in _lengths) h.Add(l);
        return h.ToHashCode();
    }
    /// <inheritdoc/>
    public override string ToString() => $"{Layout} T={MaxSeqLength} B={Batch} V={VectorSize} lengths=[{string.Join(",", _lengths)}]";
}
