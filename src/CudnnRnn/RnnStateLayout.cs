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

    private RnnStateLayout(int layers, int directions, bool compact)
    {
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
        ArgumentOutOfRangeException.ThrowIfNegative(rows);
        int L = rnn.NumLayers, D = rnn.NumDirections;
        var s = new RnnStateLayout(L, D, compact: false);
        s.SetSizes(rnn, rows);
        long pos = 0;
        for (int l = 0; l < L; l++)
        {
            s._output[l] = pos; pos += s.OutputLength;
            for (int d = 0; d < D; d++)
            {
                s._gates[l, d] = pos; pos += s.GatesLength;
                s._aux[l, d] = pos; pos += s.AuxLength;
                s._proj[l, d] = pos; pos += s.ProjectionLength;
            }
            s._dropped[l] = -1;
            if (l > 0 && rnn.Dropout > 0) { s._dropped[l] = pos; pos += s.OutputLength; }
        }
        s.Length = pos;
        return s;
    }

    /// <summary>The compact layout of an inference forward for <paramref name="rows"/> packed rows.</summary>
    public static RnnStateLayout Compact(RnnDescriptor rnn, int rows)
    {
        ArgumentNullException.ThrowIfNull(rnn);
        ArgumentOutOfRangeException.ThrowIfNegative(rows);
        int L = rnn.NumLayers, D = rnn.NumDirections;
        var s = new RnnStateLayout(L, D, compact: true);
        s.SetSizes(rnn, rows);
        long out1 = L > 1 ? s.OutputLength : 0;
        long pos = s.OutputLength + out1;
        long[] gates = new long[D], aux = new long[D];
        for (int d = 0; d < D; d++)
        {
            gates[d] = pos; pos += s.GatesLength;
            aux[d] = pos; pos += s.AuxLength;
        }
        for (int l = 0; l < L; l++)
        {
            s._output[l] = l % 2 == 0 ? 0 : out1;
            s._dropped[l] = -1;
            for (int d = 0; d < D; d++) { s._gates[l, d] = gates[d]; s._aux[l, d] = aux[d]; s._proj[l, d] = -1; }
        }
        s.Length = pos;
        return s;
    }

    private void SetSizes(RnnDescriptor rnn, int rows)
    {
        OutputLength = (long)rows * rnn.OutputSize;
        GatesLength = (long)rows * rnn.Gates * rnn.HiddenSize;
        AuxLength = rnn.Mode is RnnMode.Lstm or RnnMode.Gru ? (long)rows * rnn.HiddenSize : 0;
        ProjectionLength = rnn.HasProjection && !IsCompact ? (long)rows * rnn.StateSize : 0;
    }

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
