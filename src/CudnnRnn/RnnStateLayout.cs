namespace CudnnRnn;

/// <summary>
/// Where a forward pass keeps each layer's values, as element offsets into one buffer (see <see cref="RnnSchedule"/>).
/// Every region holds one value row per packed row (N rows).
/// </summary>
/// <remarks>
/// <para>
/// Training (<see cref="RnnSchedule.Reserve"/>), per layer l: <see cref="Output"/> (N × D·S, the layer's output before
/// dropout); per direction: <see cref="Gates"/> (N × G·H, post-activation values; backward-data overwrites them with the
/// pre-activation gradients), <see cref="Aux"/> (N × H, LSTM and GRU only: LSTM c_t, overwritten by backward-data with
/// o⊙tanh(clip c_t) when projecting; GRU R_n·h + bR_n, overwritten with its gradient), <see cref="Projection"/> (N × P,
/// LSTM projection only: backward-data stores dL/dh there for dW_r); then <see cref="Dropped"/> (N × D·S, l ≥ 1, only with
/// dropout), the dropout-masked input of layer l.
/// </para>
/// <para>
/// Inference (<see cref="RnnSchedule.Inference"/>) needs no history across layers: two output regions used in turn and
/// one gates / aux region per direction shared by every layer. Less memory, and a deep stack's gates stay at the same
/// (cache-warm) addresses. It has no projection or dropout regions.
/// </para>
/// </remarks>
public sealed class RnnStateLayout
{
    private readonly long[] _output, _dropped;
    private readonly long[,] _gates, _aux, _proj;

    private readonly RnnDescriptor _rnn;

    private RnnStateLayout(RnnDescriptor rnn, bool compact)
    {
        _rnn = rnn;
        int layers = rnn.NumLayers, directions = rnn.NumDirections;
        _output = new long[layers];
        _dropped = new long[layers];
        _gates = new long[layers, directions];
        _aux = new long[layers, directions];
        _proj = new long[layers, directions];
        IsCompact = compact;
    }

    /// <summary>The reserve-space layout of a training forward for <paramref name="rows"/> packed rows.</summary>
    public static RnnStateLayout Training(RnnDescriptor rnn, int rows)
    {
        ArgumentNullException.ThrowIfNull(rnn);
        var s = new RnnStateLayout(rnn, compact: false);
        s.SetRows(rows);
        return s;
    }

    /// <summary>The compact layout of an inference forward for <paramref name="rows"/> packed rows.</summary>
    public static RnnStateLayout Compact(RnnDescriptor rnn, int rows)
    {
        ArgumentNullException.ThrowIfNull(rnn);
        var s = new RnnStateLayout(rnn, compact: true);
        s.SetRows(rows);
        return s;
    }

    /// <summary>
    /// Re-sets every offset for <paramref name="rows"/> packed rows (a call's lengths on a plan of a fixed shape). Allocates
    /// nothing. Every length is proportional to the rows, so the layout for the most rows a shape allows bounds them all.
    /// </summary>
    public void SetRows(int rows)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(rows);
        var rnn = _rnn;
        int L = rnn.NumLayers, D = rnn.NumDirections;
        Rows = rows;
        SetSizes(rnn, rows);
        if (!IsCompact)
        {
            long pos = 0;
            for (int l = 0; l < L; l++)
            {
                _output[l] = pos; pos += OutputLength;
                for (int d = 0; d < D; d++)
                {
                    _gates[l, d] = pos; pos += GatesLength;
                    _aux[l, d] = pos; pos += AuxLength;
                    _proj[l, d] = pos; pos += ProjectionLength;
                }
                _dropped[l] = -1;
                if (l > 0 && rnn.Dropout > 0) { _dropped[l] = pos; pos += OutputLength; }
            }
            Length = pos;
            return;
        }
        long out1 = L > 1 ? OutputLength : 0;
        long p = OutputLength + out1;
        for (int d = 0; d < D; d++)
        {
            // Shared by every layer: the offsets of direction d are those of layer 0.
            _gates[0, d] = p; p += GatesLength;
            _aux[0, d] = p; p += AuxLength;
        }
        for (int l = 0; l < L; l++)
        {
            _output[l] = l % 2 == 0 ? 0 : out1;
            _dropped[l] = -1;
            for (int d = 0; d < D; d++) { _gates[l, d] = _gates[0, d]; _aux[l, d] = _aux[0, d]; _proj[l, d] = -1; }
        }
        Length = p;
    }

    private void SetSizes(RnnDescriptor rnn, int rows)
    {
        OutputLength = (long)rows * rnn.OutputSize;
        GatesLength = (long)rows * rnn.Gates * rnn.HiddenSize;
        AuxLength = rnn.Mode is RnnMode.Lstm or RnnMode.Gru ? (long)rows * rnn.HiddenSize : 0;
        ProjectionLength = rnn.HasProjection && !IsCompact ? (long)rows * rnn.StateSize : 0;
    }

    /// <summary>Packed rows the offsets are set for.</summary>
    public int Rows { get; private set; }
    /// <summary>True for the inference layout (regions shared across layers).</summary>
    public bool IsCompact { get; }
    /// <summary>Elements of the whole buffer.</summary>
    public long Length { get; private set; }
    /// <summary>Elements of one <see cref="Output"/> (or <see cref="Dropped"/>) region: N × D·S.</summary>
    public long OutputLength { get; private set; }
    /// <summary>Elements of one <see cref="Gates"/> region: N × G·H.</summary>
    public long GatesLength { get; private set; }
    /// <summary>Elements of one <see cref="Aux"/> region: N × H for LSTM and GRU, else 0.</summary>
    public long AuxLength { get; private set; }
    /// <summary>Elements of one <see cref="Projection"/> region: N × P with an LSTM projection in training, else 0.</summary>
    public long ProjectionLength { get; private set; }

    /// <summary>Offset of layer l's output (both directions, D·S per row).</summary>
    public long Output(int layer) => _output[layer];
    /// <summary>Offset of the gate values (or gradients) of layer l, direction d.</summary>
    public long Gates(int layer, int direction) => _gates[layer, direction];
    /// <summary>Offset of the per-row auxiliary values of layer l, direction d (see the remarks).</summary>
    public long Aux(int layer, int direction) => _aux[layer, direction];
    /// <summary>Offset of the projection gradients of layer l, direction d; -1 in the compact layout.</summary>
    public long Projection(int layer, int direction) => _proj[layer, direction];
    /// <summary>Offset of the dropout-masked input of layer l, or -1 when there is none (layer 0, no dropout, inference).</summary>
    public long Dropped(int layer) => _dropped[layer];

    /// <summary>Offset of layer l's input in this buffer (l ≥ 1): the dropout-masked copy where there is one, else the previous output.</summary>
    public long Input(int layer) => _dropped[layer] >= 0 ? _dropped[layer] : _output[layer - 1];
}
