using System.Globalization;
using System.Numerics;

namespace CudnnRnn.Training;

/// <summary>
/// Updates parameters from their gradients, in place wherever they live (see <see cref="IParameterStorage{T}"/>): host
/// memory (host arrays, CPU-engine buffers) with the same span code; engine buffers whose engine implements
/// <see cref="IParameterUpdateKernels"/> (OpenCL) with the engine's kernels, the optimizer state then living in that
/// engine's memory too; any other memory (CUDA) by downloading the gradient, stepping on the host and uploading the
/// values (the host copy of the values is kept and re-read only when the value buffer's version moved). Every update
/// bumps the value buffer's <see cref="RnnBuffer{T}.Version"/>, so a forward context from before the step refuses its
/// backward.
/// </summary>
public abstract class Optimizer<T> : IDisposable where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly T[]?[] _stagedValue, _stagedGradient; // staged (download/upload) parameters only
    private readonly long[] _stagedVersion;
    private RnnBuffer<T>?[][]? _engineState;                 // [state slot][parameter], kernel-updated parameters only
    private bool _hostStateCurrent = true;                   // the host state arrays hold the latest state

    /// <summary>Creates the optimizer over <paramref name="parameters"/>.</summary>
    protected Optimizer(IReadOnlyList<Parameter<T>> parameters, double learningRate)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        if (!(learningRate > 0)) throw new ArgumentOutOfRangeException(nameof(learningRate), learningRate, "The learning rate must be positive.");
        Parameters = parameters;
        LearningRate = learningRate;
        _stagedValue = new T[]?[parameters.Count];
        _stagedGradient = new T[]?[parameters.Count];
        _stagedVersion = new long[parameters.Count];
    }

    /// <summary>The parameters it updates.</summary>
    public IReadOnlyList<Parameter<T>> Parameters { get; }
    /// <summary>Current learning rate (a schedule sets it before each step).</summary>
    public double LearningRate { get; set; }
    /// <summary>Steps applied (skipped steps are not counted: Adam's bias correction follows the applied ones).</summary>
    public long StepCount { get; internal set; }

    /// <summary>
    /// The optimizer's per-parameter state by name (Adam: "adam.m", "adam.v"; SGD with momentum: "sgd.velocity"), as host
    /// arrays aligned with <see cref="Parameters"/>; checkpoints save and restore them in place. For parameters updated
    /// by engine kernels (OpenCL) the state lives in engine memory: reading this property then downloads it into these
    /// arrays (once, until the next <see cref="Step"/>), and the next step uploads the arrays back, so writes into them
    /// take effect.
    /// </summary>
    public IReadOnlyList<KeyValuePair<string, T[][]>> StateBuffers
    {
        get
        {
            var state = HostState;
            if (_engineState is not null && !_hostStateCurrent)
            {
                for (int s = 0; s < _engineState.Length; s++)
                    for (int i = 0; i < Parameters.Count; i++)
                        _engineState[s][i]?.CopyTo(state[s].Value[i]);
                _hostStateCurrent = true;
            }
            return state;
        }
    }

    /// <summary>The state arrays (see <see cref="StateBuffers"/>), each <c>[parameter][element]</c>; empty when stateless.</summary>
    protected virtual IReadOnlyList<KeyValuePair<string, T[][]>> HostState => [];

    /// <summary>Steps skipped because the loss or a gradient was NaN or infinite.</summary>
    public long SkippedSteps { get; private set; }
    /// <summary>Steps skipped since the last applied one.</summary>
    public int ConsecutiveSkippedSteps { get; private set; }
    /// <summary>
    /// After this many skipped steps in a row, <see cref="Step"/> throws <see cref="TrainingDivergedException"/>
    /// instead of skipping again: the model is not going to recover by itself.
    /// </summary>
    public int MaxConsecutiveSkippedSteps
    {
        get => _maxConsecutiveSkipped;
        set => _maxConsecutiveSkipped = value >= 0 ? value : throw new ArgumentOutOfRangeException(nameof(value), value, "Expected a count ≥ 0.");
    }
    private int _maxConsecutiveSkipped = 10;

    /// <summary>
    /// Applies one update from the current gradients, unless <paramref name="loss"/> or any trainable gradient is NaN
    /// or infinite: then the weights and the optimizer state are left as they are, the step is counted in
    /// <see cref="SkippedSteps"/> and false is returned. Throws <see cref="TrainingDivergedException"/> when more than
    /// <see cref="MaxConsecutiveSkippedSteps"/> steps in a row are skipped, or when an update with finite inputs makes a
    /// finite weight overflow to infinity (the learning rate is far too large).
    /// </summary>
    /// <param name="loss">The batch's loss, when the caller has one; only its finiteness is used.</param>
    public bool Step(double loss = 0)
    {
        string? why = !double.IsFinite(loss) ? $"the loss is {loss.ToString(CultureInfo.InvariantCulture)}" : null;
        for (int i = 0; why is null && i < Parameters.Count; i++)
            if (Parameters[i].Trainable) why = CheckGradient(i, Parameters[i]);
        if (why is not null)
        {
            if (ConsecutiveSkippedSteps >= MaxConsecutiveSkippedSteps)
                throw new TrainingDivergedException(
                    $"Training diverged: {ConsecutiveSkippedSteps + 1} consecutive steps had a non-finite loss or gradient (last: {why}). " +
                    "Lower the learning rate, use gradient clipping, or check the data.");
            SkippedSteps++;
            ConsecutiveSkippedSteps++;
            return false;
        }
        ConsecutiveSkippedSteps = 0;
        StepCount++;
        UploadHostState();
        for (int i = 0; i < Parameters.Count; i++)
        {
            var p = Parameters[i];
            if (!p.Trainable) continue;
            long bad;
            T badValue = T.Zero;
            if (p.Storage.TryGetHostSpans(out var w, out var g))
            {
                bool wasFinite = SafeTensors.IndexOfNonFinite<T>(w) < 0; // a weight already non-finite is the caller's doing
                Update(i, w, g);
                p.MarkValueModified();
                bad = wasFinite ? SafeTensors.IndexOfNonFinite<T>(w) : -1;
                if (bad >= 0) badValue = w[(int)bad];
            }
            else if (KernelsFor(p) is { } k)
            {
                var wb = p.ValueBuffer!;
                if (!TryUpdateOnEngine(i, k, wb, p.GradientBuffer!, out var check))
                    throw new InvalidOperationException($"{GetType().Name} says it supports engine updates but did not update '{p.Name}'.");
                bad = check.HadNonFinite ? -1 : check.FirstNewNonFinite;
                if (bad >= 0) { var one = new T[1]; wb.Read(bad, one); badValue = one[0]; } // the error path only
            }
            else
            {
                var sw = StagedValue(i, p);
                var sg = _stagedGradient[i]!; // downloaded by CheckGradient in this step
                bool wasFinite = SafeTensors.IndexOfNonFinite<T>(sw) < 0;
                Update(i, sw, sg);
                p.Storage.WriteValue(sw);
                _stagedVersion[i] = p.ValueBuffer?.Version ?? 0;
                bad = wasFinite ? SafeTensors.IndexOfNonFinite<T>(sw) : -1;
                if (bad >= 0) badValue = sw[bad];
            }
            if (bad >= 0)
                throw new TrainingDivergedException(
                    $"Training diverged: the update made '{p.Name}' element {bad} {badValue} from finite gradients " +
                    $"(learning rate {LearningRate.ToString(CultureInfo.InvariantCulture)} is too large for them).");
        }
        return true;
    }

    /// <summary>Why parameter <paramref name="index"/>'s gradient stops the step (a NaN or ∞ in it), or null.</summary>
    private string? CheckGradient(int index, Parameter<T> p)
    {
        long bad;
        T value;
        if (p.Storage.TryGetHostSpans(out _, out var g))
        {
            bad = SafeTensors.IndexOfNonFinite<T>(g);
            value = bad >= 0 ? g[(int)bad] : T.Zero;
        }
        else if (KernelsFor(p) is { } k)
        {
            var gb = p.GradientBuffer!;
            bad = k.IndexOfNonFinite(gb);
            value = T.Zero;
            if (bad >= 0) { var one = new T[1]; gb.Read(bad, one); value = one[0]; } // a skipped step only
        }
        else
        {
            var sg = _stagedGradient[index] ??= new T[p.Count];
            p.Storage.ReadGradient(sg);
            bad = SafeTensors.IndexOfNonFinite<T>(sg);
            value = bad >= 0 ? sg[bad] : T.Zero;
        }
        return bad >= 0 ? $"the gradient of '{p.Name}' holds {value} at element {bad}" : null;
    }

    /// <summary>The kernels that update <paramref name="p"/> in its engine's memory, or null (host memory, or staged).</summary>
    private IParameterUpdateKernels? KernelsFor(Parameter<T> p) =>
        SupportsEngineUpdate && p.ValueBuffer is { Engine: IParameterUpdateKernels k } && p.GradientBuffer is not null ? k : null;

    /// <summary>The host copy of a staged parameter's values, re-read only when the buffer's version moved.</summary>
    private T[] StagedValue(int index, Parameter<T> p)
    {
        var sw = _stagedValue[index];
        if (sw is null || p.ValueBuffer is not { } vb || vb.Version != _stagedVersion[index])
        {
            sw ??= _stagedValue[index] = new T[p.Count];
            p.Storage.ReadValue(sw);
        }
        return sw;
    }

    /// <summary>Sets every gradient to zero.</summary>
    public void ZeroGrad()
    {
        foreach (var p in Parameters) p.ZeroGrad();
    }

    /// <summary>Updates parameter number <paramref name="index"/> from its values <paramref name="w"/> and gradient <paramref name="g"/> in host memory.</summary>
    protected abstract void Update(int index, Span<T> w, Span<T> g);

    /// <summary>Whether <see cref="TryUpdateOnEngine"/> runs engine kernels (an optimizer that says no is staged through the host).</summary>
    protected virtual bool SupportsEngineUpdate => false;

    /// <summary>
    /// Updates parameter number <paramref name="index"/> with <paramref name="kernels"/> in its engine's memory; false
    /// when this optimizer has no engine update (the parameter is then staged through the host).
    /// </summary>
    protected virtual bool TryUpdateOnEngine(int index, IParameterUpdateKernels kernels, RnnBuffer<T> w, RnnBuffer<T> g, out ParameterUpdateCheck check)
    {
        check = default;
        return false;
    }

    /// <summary>
    /// State slot <paramref name="slot"/> (an index into <see cref="HostState"/>) of parameter <paramref name="index"/> in
    /// the memory of <paramref name="like"/>'s engine, allocated on first use from the host state.
    /// </summary>
    protected RnnBuffer<T> EngineState(int slot, int index, RnnBuffer<T> like)
    {
        ArgumentNullException.ThrowIfNull(like);
        var state = HostState;
        _engineState ??= state.Select(_ => new RnnBuffer<T>?[Parameters.Count]).ToArray();
        ref var b = ref _engineState[slot][index];
        if (b is null || b.IsDisposed)
        {
            b = like.Engine.Allocate<T>(like.Length);
            b.CopyFrom(state[slot].Value[index]);
        }
        _hostStateCurrent = false;
        return b;
    }

    // The host state arrays may have been written (checkpoint restore) since StateBuffers downloaded them: upload them.
    private void UploadHostState()
    {
        if (_engineState is null || !_hostStateCurrent) return;
        var state = HostState;
        for (int s = 0; s < _engineState.Length; s++)
            for (int i = 0; i < Parameters.Count; i++)
                _engineState[s][i]?.CopyFrom(state[s].Value[i]);
    }

    /// <summary>Frees optimizer state held in engine memory. Disposing twice is harmless.</summary>
    public void Dispose()
    {
        if (_engineState is null) return;
        foreach (var slot in _engineState)
            foreach (var b in slot) b?.Dispose();
        _engineState = null;
        GC.SuppressFinalize(this);
    }
}
