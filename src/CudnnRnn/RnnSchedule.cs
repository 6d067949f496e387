namespace CudnnRnn;

/// <summary>
/// The batch schedule of one network on one data shape, for engines that step through the batch themselves (the CPU and
/// OpenCL engines): which rows are active at each step in each direction, where their previous state is, and where every
/// saved value lives (<see cref="Reserve"/>, the training layout, and <see cref="Inference"/>, the compact one).
/// </summary>
/// <remarks>
/// The engines work on "packed rows": the sequences are ordered by length (descending, stable), and row
/// <c>RowOffset(t) + i</c> is step t of the i-th longest sequence, for i &lt; <c>BatchSize(t)</c>. So each step works on
/// a shrinking prefix of the batch (no padded work), the reverse direction of each sequence starts at its own last step,
/// and hy/cy are taken at each sequence's own last step. Built once per plan for its shape and re-set per call for the
/// call's lengths (<see cref="SetLengths"/>, no allocation); every member is a table read or a few
/// integer operations, so a step loop may call them freely.
/// </remarks>
public sealed class RnnSchedule
{
    private readonly int[] _order;      // sorted position i -> batch index b
    private readonly int[] _batchSize;  // [T + 1] active rows at step t (0 at T)
    private readonly int[] _rowOffset;  // [T + 1] first packed row of step t (Rows at T)
    private readonly int[] _slot;       // packed row -> vector index in x / y (room for T·B rows)
    private readonly int[] _lengths;    // the lengths the schedule is set for, in batch order
    private readonly int[] _count;      // [T + 2] counting-sort scratch
    private readonly RnnDataLayout _layout;
    private readonly int _vectorSize;
    private readonly double _paddingFill;

    /// <summary>
    /// Builds the schedule of <paramref name="rnn"/> on the data shape of <paramref name="xDesc"/> (layout, maximum length,
    /// batch, vector size, padding fill), set for its lengths. <see cref="SetLengths"/> re-sets it for other lengths of
    /// the same shape without allocating.
    /// </summary>
    public RnnSchedule(RnnDescriptor rnn, RnnDataDescriptor xDesc)
    {
        ArgumentNullException.ThrowIfNull(rnn);
        ArgumentNullException.ThrowIfNull(xDesc);
        Batch = xDesc.Batch;
        MaxSeqLength = xDesc.MaxSeqLength;
        MaxRows = checked(MaxSeqLength * Batch);
        Directions = rnn.NumDirections;
        _layout = xDesc.Layout;
        _vectorSize = xDesc.VectorSize;
        _paddingFill = xDesc.PaddingFill;
        _order = new int[Batch];
        _batchSize = new int[MaxSeqLength + 1];
        _rowOffset = new int[MaxSeqLength + 1];
        _slot = new int[MaxRows];
        _lengths = new int[Batch];
        _count = new int[MaxSeqLength + 2];
        Reserve = RnnStateLayout.Training(rnn, MaxRows);
        Inference = RnnStateLayout.Compact(rnn, MaxRows);
        ReserveCapacity = Reserve.Length;
        InferenceCapacity = Inference.Length;
        _lengths[0] = -1; // differs from any valid length: the first SetLengths always builds
        SetLengths(xDesc);
    }

    /// <summary>
    /// Re-sets the schedule (and the <see cref="Reserve"/> and <see cref="Inference"/> offsets) for the lengths of
    /// <paramref name="xDesc"/>, which must have the shape the schedule was built for. Allocates nothing; returns at once
    /// when the lengths are those it is set for.
    /// </summary>
    public void SetLengths(RnnDataDescriptor xDesc)
    {
        ArgumentNullException.ThrowIfNull(xDesc);
        if (xDesc.Layout != _layout || xDesc.MaxSeqLength != MaxSeqLength || xDesc.Batch != Batch || xDesc.VectorSize != _vectorSize)
            throw new ArgumentException($"The schedule is for {_layout} T={MaxSeqLength} B={Batch} V={_vectorSize}; xDesc is {xDesc.Layout} T={xDesc.MaxSeqLength} B={xDesc.Batch} V={xDesc.VectorSize}.", nameof(xDesc));
        ReadOnlySpan<int> lengths = xDesc.SeqLengths;
        if (lengths.SequenceEqual(_lengths)) return;
        lengths.CopyTo(_lengths);
        int T = MaxSeqLength;

        // Sorted order: by length descending, ties by batch index (a stable counting sort; the same order as a stable sort).
        Array.Clear(_count);
        foreach (int len in lengths) _count[T - len + 1]++;           // bucket T - len: longest first
        for (int k = 1; k < _count.Length; k++) _count[k] += _count[k - 1];
        for (int b = 0; b < Batch; b++) _order[_count[T - lengths[b]]++] = b;

        Array.Clear(_batchSize);
        foreach (int len in lengths) _batchSize[len - 1]++;
        for (int t = T - 2; t >= 0; t--) _batchSize[t] += _batchSize[t + 1];   // sequences with length > t
        _rowOffset[0] = 0;
        for (int t = 0; t < T; t++) _rowOffset[t + 1] = _rowOffset[t] + _batchSize[t];
        Rows = _rowOffset[T];
        for (int t = 0; t < T; t++)
            for (int i = 0; i < _batchSize[t]; i++)
                _slot[_rowOffset[t] + i] = checked((int)(xDesc.Offset(t, _order[i]) / _vectorSize));
        // Dense: packed row r is vector r of x / y and there is no padding (e.g. [T, B, I] with every length T).
        bool dense = xDesc.ElementCount == (long)Rows * _vectorSize;
        for (int r = 0; r < Rows && dense; r++) dense = _slot[r] == r;
        IsDense = dense;
        Reserve.SetRows(Rows);
        Inference.SetRows(Rows);
    }

    /// <summary>True when <paramref name="xDesc"/> has the lengths the schedule is set for.</summary>
    public bool HasLengths(RnnDataDescriptor xDesc) => xDesc.SeqLengths.SequenceEqual(_lengths);

    /// <summary>Packed rows of the longest call the shape allows (every length = MaxSeqLength).</summary>
    public int MaxRows { get; }
    /// <summary>Elements of the training layout for <see cref="MaxRows"/>: the reserve every call of the shape fits in.</summary>
    public long ReserveCapacity { get; }
    /// <summary>Elements of the inference layout for <see cref="MaxRows"/>.</summary>
    public long InferenceCapacity { get; }
    /// <summary>The padding fill of the shape.</summary>
    public double PaddingFill => _paddingFill;

    /// <summary>Sequences in the batch.</summary>
    public int Batch { get; }
    /// <summary>Steps (the longest sequence).</summary>
    public int MaxSeqLength { get; }
    /// <summary>Packed rows of the current lengths: the valid (step, sequence) pairs.</summary>
    public int Rows { get; private set; }
    /// <summary>1 or 2.</summary>
    public int Directions { get; }
    /// <summary>Packed row r is vector r of x and y, and they have no padding: an engine may use them in place.</summary>
    public bool IsDense { get; private set; }
    /// <summary>Where a training forward keeps what the backward calls need (the reserve space).</summary>
    public RnnStateLayout Reserve { get; }
    /// <summary>The compact layout an inference forward works in: no history across layers.</summary>
    public RnnStateLayout Inference { get; }

    /// <summary>The layout a forward pass writes: <see cref="Reserve"/> in training, <see cref="Inference"/> otherwise.</summary>
    public RnnStateLayout Layout(bool training) => training ? Reserve : Inference;

    /// <summary>Sorted position → batch index (sequences by length, descending, stable).</summary>
    public ReadOnlySpan<int> BatchOrder => _order;
    /// <summary>Packed row → vector index in x, y, dx and dy (the current lengths' rows).</summary>
    public ReadOnlySpan<int> RowSlots => _slot.AsSpan(0, Rows);

    /// <summary>Batch index of the sequence at sorted position <paramref name="i"/>.</summary>
    public int BatchIndex(int i) => _order[i];
    /// <summary>Vector index in x / y of packed row <paramref name="row"/>.</summary>
    public int RowSlot(int row) => _slot[row];
    /// <summary>Rows active at step t (t in [0, MaxSeqLength]; 0 at MaxSeqLength).</summary>
    public int BatchSize(int t) => _batchSize[t];
    /// <summary>First packed row of step t (t in [0, MaxSeqLength]; Rows at MaxSeqLength).</summary>
    public int RowOffset(int t) => _rowOffset[t];

    /// <summary>The k-th step processed by direction d in a forward pass (a backward pass walks k downwards).</summary>
    public int StepAt(int direction, int k) => direction == 0 ? k : MaxSeqLength - 1 - k;

    /// <summary>
    /// Rows of step t whose previous state is in the layer output (at <see cref="PreviousRowOffset"/> + i); the others
    /// (i ≥ this) start their sequence there, from hx/cx or zeros.
    /// </summary>
    public int ContinuingRows(int direction, int t) =>
        direction == 0 ? (t > 0 ? _batchSize[t] : 0) : (t + 1 < MaxSeqLength ? _batchSize[t + 1] : 0);

    /// <summary>First packed row of the step that holds the previous state of step t's continuing rows.</summary>
    public int PreviousRowOffset(int direction, int t) =>
        direction == 0 ? (t > 0 ? _rowOffset[t - 1] : 0) : (t + 1 < MaxSeqLength ? _rowOffset[t + 1] : 0);

    /// <summary>
    /// First sorted position whose sequence ends at step t in direction d: from there on, forward stores hy/cy, and
    /// backward starts from dhy/dcy (the others carry the gradient of the step processed before).
    /// </summary>
    public int FirstFinalRow(int direction, int t) =>
        direction == 0 ? _batchSize[t + 1] : (t == 0 ? 0 : _batchSize[t]);

    /// <summary>
    /// For every packed row of direction d: the packed row that holds its previous state, or <c>-1 - b</c> where it comes
    /// from hx/cx of batch index b (a sequence starts there). The table a device engine uploads once.
    /// </summary>
    public int[] PreviousRows(int direction)
    {
        var prev = new int[Rows];
        FillPreviousRows(direction, prev);
        return prev;
    }

    /// <summary>
    /// <see cref="PreviousRows"/> written into <paramref name="prev"/> (at least <see cref="Rows"/> long), allocating
    /// nothing: what a device engine re-uploads when a call's lengths change.
    /// </summary>
    public void FillPreviousRows(int direction, Span<int> prev)
    {
        if (prev.Length < Rows)
            throw new ArgumentException($"prev has {prev.Length} entries; expected at least Rows ({Rows}).", nameof(prev));
        for (int t = 0; t < MaxSeqLength; t++)
        {
            int n = _batchSize[t], nCont = ContinuingRows(direction, t), prevRow0 = PreviousRowOffset(direction, t);
            for (int i = 0; i < n; i++) prev[_rowOffset[t] + i] = i < nCont ? prevRow0 + i : -1 - _order[i];
        }
    }

    /// <summary>
    /// Throws unless each W (and each R) gate block of <paramref name="layout"/> directly follows the previous one (the
    /// canonical layout): the engines that step through the batch themselves treat a direction's W as one G·H × width
    /// matrix.
    /// </summary>
    public static void RequireContiguousGateBlocks(RnnWeightLayout layout, string engineName)
    {
        ArgumentNullException.ThrowIfNull(layout);
        var rnn = layout.Descriptor;
        int g = rnn.Gates;
        for (int pl = 0; pl < rnn.PseudoLayerCount; pl++)
            for (int id = 1; id < 2 * g; id++)
            {
                var prev = layout[pl, id - 1];
                var cur = layout[pl, id];
                if (id != g && prev.HasMatrix && cur.MatrixOffset != prev.MatrixOffset + (long)prev.Rows * prev.Cols)
                    throw new InvalidOperationException($"The {engineName} engine needs gate blocks stored contiguously (the canonical layout); pseudo-layer {pl}, id {id} is not.");
            }
    }
}
