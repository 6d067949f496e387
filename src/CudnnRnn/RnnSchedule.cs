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
/// and hy/cy are taken at each sequence's own last step. Built once per plan; every member is a table read or a few
/// integer operations, so a step loop may call them freely.
/// </remarks>
public sealed class RnnSchedule
{
    private readonly int[] _order;      // sorted position i -> batch index b
    private readonly int[] _batchSize;  // [T + 1] active rows at step t (0 at T)
    private readonly int[] _rowOffset;  // [T + 1] first packed row of step t (Rows at T)
    private readonly int[] _slot;       // packed row -> vector index in x / y

    /// <summary>Builds the schedule of <paramref name="rnn"/> on the data shape <paramref name="xDesc"/>.</summary>
    public RnnSchedule(RnnDescriptor rnn, RnnDataDescriptor xDesc)
    {
        ArgumentNullException.ThrowIfNull(rnn);
        ArgumentNullException.ThrowIfNull(xDesc);
        Batch = xDesc.Batch;
        MaxSeqLength = xDesc.MaxSeqLength;
        Rows = checked((int)xDesc.TotalSteps); // engines that use the schedule have checked the shape against their limits (RnnPlanLimits)
        Directions = rnn.NumDirections;
        var lengths = xDesc.SeqLengths.ToArray();
        _order = Enumerable.Range(0, Batch).OrderByDescending(b => lengths[b]).ThenBy(b => b).ToArray();
        _batchSize = new int[MaxSeqLength + 1];
        _rowOffset = new int[MaxSeqLength + 1];
        for (int t = 0; t < MaxSeqLength; t++)
        {
            _batchSize[t] = xDesc.BatchSizeAt(t);
            _rowOffset[t + 1] = checked(_rowOffset[t] + _batchSize[t]);
        }
        _slot = new int[Rows];
        for (int t = 0; t < MaxSeqLength; t++)
            for (int i = 0; i < _batchSize[t]; i++)
                _slot[_rowOffset[t] + i] = checked((int)(xDesc.Offset(t, _order[i]) / xDesc.VectorSize));
        // Dense: packed row r is vector r of x / y and there is no padding (e.g. [T, B, I] with every length T).
        bool dense = xDesc.ElementCount == (long)Rows * xDesc.VectorSize;
        for (int r = 0; r < Rows && dense; r++) dense = _slot[r] == r;
        IsDense = dense;
        Reserve = RnnStateLayout.Training(rnn, Rows);
        Inference = RnnStateLayout.Compact(rnn, Rows);
    }

    /// <summary>Sequences in the batch.</summary>
    public int Batch { get; }
    /// <summary>Steps (the longest sequence).</summary>
    public int MaxSeqLength { get; }
    /// <summary>Packed rows: the valid (step, sequence) pairs.</summary>
    public int Rows { get; }
    /// <summary>1 or 2.</summary>
    public int Directions { get; }
    /// <summary>Packed row r is vector r of x and y, and they have no padding: an engine may use them in place.</summary>
    public bool IsDense { get; }
    /// <summary>Where a training forward keeps what the backward calls need (the reserve space).</summary>
    public RnnStateLayout Reserve { get; }
    /// <summary>The compact layout an inference forward works in: no history across layers.</summary>
    public RnnStateLayout Inference { get; }

    /// <summary>The layout a forward pass writes: <see cref="Reserve"/> in training, <see cref="Inference"/> otherwise.</summary>
    public RnnStateLayout Layout(bool training) => training ? Reserve : Inference;

    /// <summary>Sorted position → batch index (sequences by length, descending, stable).</summary>
    public ReadOnlySpan<int> BatchOrder => _order;
    /// <summary>Packed row → vector index in x, y, dx and dy.</summary>
    public ReadOnlySpan<int> RowSlots => _slot;

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
        for (int t = 0; t < MaxSeqLength; t++)
        {
            int n = _batchSize[t], nCont = ContinuingRows(direction, t), prevRow0 = PreviousRowOffset(direction, t);
            for (int i = 0; i < n; i++) prev[_rowOffset[t] + i] = i < nCont ? prevRow0 + i : -1 - _order[i];
        }
        return prev;
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
