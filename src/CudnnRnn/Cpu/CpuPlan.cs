using System.Numerics;
using System.Runtime.CompilerServices;

namespace CudnnRnn.Cpu;

/// <summary>
/// The CPU engine's plan. It follows the engine-neutral <see cref="RnnSchedule"/>: packed rows (sequences by length,
/// descending), so each step works on a shrinking prefix of the batch, the reverse direction of each sequence starts at
/// its own last step, and hy/cy are taken at each sequence's own last step. The saved forward state follows
/// <see cref="RnnSchedule.Reserve"/> in training and the compact <see cref="RnnSchedule.Inference"/> layout otherwise.
/// </summary>
/// <remarks>
/// The plan is split by what each part holds: this file (fields, construction, the type dispatch and the row helpers),
/// CpuPlan.Memory.cs (workspace, reserve and inference memory; the per-direction scratch), CpuPlan.Forward.cs,
/// CpuPlan.BackwardData.cs, CpuPlan.BackwardWeights.cs, CpuPlan.FusedLstm.cs (the float LSTM path on AVX-512) and
/// CpuPlan.Dropout.cs.
/// </remarks>
internal sealed partial class CpuPlan<T> : RnnPlan<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    // Shape: batch, sequence length, packed rows, directions, layers, gates, hidden, state (h / projection), output
    // (D·S), input, gates × hidden.
    private readonly int _batch, _seqLength, _dirs, _layers, _gates, _hidden, _state, _output, _input, _gh;
    private int _rows;                            // packed rows of the current call's lengths (see UseLengths)
    private readonly RnnMode _mode;
    private readonly RnnSchedule _sched;
    private readonly RnnStateLayout _reserveLayout, _inferenceLayout;
    private bool _dense;                          // x / y / dx / dy are used in place (see RnnSchedule.IsDense), per call
    private readonly CellKernelChoice _kernels;   // which cell kernels run (the type dispatch, decided once)
    private readonly CellClip<T> _cellClip;
    private readonly T _dropScale;                // 1 / (1 − p)
    private readonly int _threads;
    private bool _parallelDirections;
    private readonly CpuArrayPool _pool;

    // Workspace (rented once from the engine's pool, poisoned with NaN).
    private readonly T[] _xPacked;        // N × I
    private readonly Scratch[] _scratch;  // one per direction, so the directions can run on separate threads
    private readonly T[] _dOut;           // N × O
    private readonly T[] _dIn;            // N × max(I, O)
    private readonly T[] _gr;             // N × GH  recurrent-side gate gradients (GRU) for dR
    private readonly T[] _hPrevAll;       // N × S
    private readonly T[] _dwT;            // GH × width: a weight gradient computed transposed (see AddWeightGradient)
    private T[]? _inferenceScratch;       // the inference forward's compact layout, rented on first use

    // Jobs whose fields carry a call's arguments, so a call allocates nothing.
    private readonly DirectionJob _directionJob;
    private readonly FusedStepJob[] _stepJobs;

    public CpuPlan(CpuEngine engine, RnnDescriptor rnn, RnnDataDescriptor xDesc, RnnWeightLayout layout)
        : base(engine, rnn, xDesc, layout)
    {
        _mode = rnn.Mode;
        _sched = new RnnSchedule(rnn, xDesc);
        _batch = xDesc.Batch; _seqLength = xDesc.MaxSeqLength;
        _dirs = rnn.NumDirections; _layers = rnn.NumLayers; _gates = rnn.Gates; _hidden = rnn.HiddenSize; _state = rnn.StateSize;
        _output = rnn.OutputSize; _input = rnn.InputSize; _gh = _gates * _hidden;
        _reserveLayout = _sched.Reserve;
        _inferenceLayout = _sched.Inference;
        // Every region offset and length below is an int once the whole buffer fits in one array. The plan serves every
        // set of lengths of its shape, so memory is sized for the most rows the shape allows (every length = T).
        // A shape beyond one managed array fails here with the argument named, not at the first call (issue 16).
        ThrowIfBeyondArray(_sched.ReserveCapacity, "reserve space");
        ThrowIfBeyondArray(_sched.InferenceCapacity, "inference scratch");
        RnnSchedule.RequireContiguousGateBlocks(layout, "CPU");

        _kernels = CellKernelChoice.For<T>(rnn);
        _cellClip = new CellClip<T>(rnn.CellClip);
        _dropScale = T.One / (T.One - T.CreateChecked(rnn.Dropout));
        _threads = engine.MaxThreads;
        UseLengths(xDesc);
        int maxRows = _sched.MaxRows;

        // Workspace comes from the engine's pool (a plan per batch shape is then cheap) and starts as NaN, so a read of
        // anything the engine did not write first poisons the results and shows up in the tests.
        _pool = engine.Pool;
        _xPacked = RentPoisoned((long)maxRows * _input);
        _scratch = new Scratch[_dirs];
        for (int d = 0; d < _dirs; d++) _scratch[d] = new Scratch(_batch, _hidden, _state, _gh, _input, _output, _layers);
        _dOut = RentPoisoned((long)maxRows * _output);
        _dIn = RentPoisoned((long)maxRows * Math.Max(_input, _output));
        _gr = _mode == RnnMode.Gru ? RentPoisoned((long)maxRows * _gh) : [];
        _hPrevAll = RentPoisoned((long)maxRows * _state);
        int nr = GemmDriver<T>.NR, widest = Math.Max(_input, Math.Max(_output, _state));
        _dwT = _gh % nr == 0 && (_input % nr != 0 || _output % nr != 0 || _state % nr != 0) ? RentPoisoned((long)_gh * widest) : [];
        _directionJob = new DirectionJob(this);
        _stepJobs = new FusedStepJob[_dirs];
        for (int d = 0; d < _dirs; d++) _stepJobs[d] = new FusedStepJob(this, d);
    }

    private static void ThrowIfBeyondArray(long elements, string what)
    {
        if (elements > Array.MaxLength)
            throw new ArgumentOutOfRangeException("xDesc",
                $"The CPU engine's {what} for this shape would hold {elements} elements; one managed array holds at most {Array.MaxLength}.");
    }

    /// <summary>
    /// Sets the schedule, the reserve and inference offsets, the row count and the in-place choice for a call's lengths
    /// (RnnPlan checked the shape). Allocates nothing, and does nothing when the lengths are those of the previous call.
    /// </summary>
    private void UseLengths(RnnDataDescriptor xDesc)
    {
        _sched.SetLengths(xDesc);
        _rows = _sched.Rows;
        _dense = _sched.IsDense;
        _parallelDirections = _dirs == 2 && _threads > 1 && (long)_rows * _gh * (_state + _input) >= 100_000;
    }

    // ---------------------------------------------------------------- type dispatch

    /// <summary>
    /// Which cell kernels a plan runs, decided once from the element type, the network and the machine. The fused LSTM
    /// kernels exist for float on AVX-512 only; <see cref="AsFloat"/> is the one place a <c>T*</c> becomes a
    /// <c>float*</c>, and it refuses any other T. float and double (and the 16-bit types to come) are dispatched here.
    /// </summary>
    private readonly record struct CellKernelChoice(bool FusedLstmForward, bool FusedLstmBackward)
    {
        public static CellKernelChoice For<TElement>(RnnDescriptor rnn) where TElement : unmanaged
        {
            bool fused = rnn.Mode == RnnMode.Lstm && rnn.CellClip is null && LstmFused.IsSupported<TElement>();
            return new CellKernelChoice(fused, fused && !rnn.HasProjection);
        }
    }

    /// <summary>A pinned <c>T*</c> as <c>float*</c>: only the float instantiation reaches the fused kernels.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe float* AsFloat(T* p) =>
        typeof(T) == typeof(float) ? (float*)p : throw new InvalidOperationException($"The fused float kernels cannot run on {typeof(T).Name}.");

    // ---------------------------------------------------------------- row helpers

    private static Span<T> S(RnnBuffer<T> b) => ((CpuBuffer<T>)b).Span;
    private static Span<T> SOpt(RnnBuffer<T>? b) => b is null ? default : ((CpuBuffer<T>)b).Span;
    private static Memory<T> Mem(RnnBuffer<T>? b) => b is null ? default : ((CpuBuffer<T>)b).Memory;

    /// <summary>A region of the reserve or inference buffer (offsets fit in int: the constructor checked the length).</summary>
    private static Span<T> Region(Span<T> buffer, long offset, long length) => buffer.Slice(checked((int)offset), checked((int)length));

    /// <summary>A region of the weights (a layout entry's offset).</summary>
    private static ReadOnlySpan<T> Weights(ReadOnlySpan<T> w, long offset, int length) => w.Slice(checked((int)offset), length);

    private int InW(int l) => l == 0 ? _input : _output;

    private RnnWeightEntry W(int l, int d, int id) => WeightLayout[l * _dirs + d, id];

    /// <summary>Layer 0's input rows: x itself when dense, else x gathered into packed row order.</summary>
    private Memory<T> LayerZeroInput(RnnBuffer<T> x)
    {
        if (_dense) return ((CpuBuffer<T>)x).Memory;
        GatherRows(S(x), _input, _xPacked);
        return _xPacked;
    }

    /// <summary>Input of layer l: packed x, or the previous layer's output (dropout-masked in training).</summary>
    private ReadOnlySpan<T> LayerInput(int l, ReadOnlySpan<T> x, Span<T> res, bool training)
    {
        if (l == 0) return x[..(_rows * _input)];
        var layout = _sched.Layout(training);
        return Region(res, layout.Input(l), layout.OutputLength);
    }

    /// <summary>
    /// Copies the previous state of the active rows of step t, in processing order of direction d: h_{prev} from the
    /// layer output (or hx, or zeros where a sequence starts) into <paramref name="hp"/>, and, when <paramref name="aux"/>
    /// is given, the raw c_{prev} from the saved cell states (or cx, or zeros) into <paramref name="cp"/>. An empty
    /// destination is skipped.
    /// </summary>
    private void GatherPrevious(int l, int d, int t, ReadOnlySpan<T> outp, ReadOnlySpan<T> hx, Span<T> hp,
        ReadOnlySpan<T> aux, ReadOnlySpan<T> cx, Span<T> cp)
    {
        int n = _sched.BatchSize(t), S = _state, H = _hidden, O = _output, pl = l * _dirs + d;
        int nCont = _sched.ContinuingRows(d, t), prevRow0 = _sched.PreviousRowOffset(d, t);
        for (int i = 0; i < n; i++)
        {
            if (!hp.IsEmpty)
            {
                Span<T> dst = hp.Slice(i * S, S);
                if (i < nCont) outp.Slice((prevRow0 + i) * O + d * S, S).CopyTo(dst);
                else if (!hx.IsEmpty) hx.Slice((pl * _batch + _sched.BatchIndex(i)) * S, S).CopyTo(dst);
                else dst.Clear();
            }
            if (!aux.IsEmpty)
            {
                Span<T> dst = cp.Slice(i * H, H);
                if (i < nCont) aux.Slice((prevRow0 + i) * H, H).CopyTo(dst);
                else if (!cx.IsEmpty) cx.Slice((pl * _batch + _sched.BatchIndex(i)) * H, H).CopyTo(dst);
                else dst.Clear();
            }
        }
    }

    private void GatherRows(ReadOnlySpan<T> src, int width, Span<T> packed)
    {
        for (int r = 0; r < _rows; r++) src.Slice(_sched.RowSlot(r) * width, width).CopyTo(packed.Slice(r * width, width));
    }

    private void ScatterRows(ReadOnlySpan<T> packed, int width, Span<T> dst)
    {
        for (int r = 0; r < _rows; r++) packed.Slice(r * width, width).CopyTo(dst.Slice(_sched.RowSlot(r) * width, width));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Add(Span<T> dst, ReadOnlySpan<T> src) => System.Numerics.Tensors.TensorPrimitives.Add(dst, src, dst);
}
