using System.Numerics;

namespace CudnnRnn.Training;

/// <summary>
/// A float32 master parameter and the 16-bit weight space an RNN computes with — PyTorch's autocast pattern for the
/// flat weights of <c>nn.LSTM</c>: before each forward, <see cref="CastToEngine"/> rounds the master values into the
/// engine buffer (to nearest, ties to even; a master value the 16-bit type cannot hold is an
/// <see cref="OverflowException"/> naming the parameter, never a silent ±Infinity); after backward,
/// <see cref="AddGradients"/> widens the engine's 16-bit weight gradients exactly and adds them to the master's float32
/// gradient, which the optimizer (after <see cref="GradScaler.Unscale{T}"/>) uses. Scratch is allocated once.
/// </summary>
/// <typeparam name="TLow">The engine's element type: <see cref="Half"/> or <see cref="BFloat16"/> (float: a plain copy).</typeparam>
public sealed class MasterWeights<TLow> where TLow : unmanaged, IFloatingPointIeee754<TLow>
{
    private readonly TLow[] _scratch;
    private float[]? _stage;
    private long _castVersion = long.MinValue;

    /// <summary>Binds <paramref name="master"/> to <paramref name="weights"/> (same element count).</summary>
    public MasterWeights(Parameter<float> master, RnnBuffer<TLow> weights)
    {
        ArgumentNullException.ThrowIfNull(master);
        ArgumentNullException.ThrowIfNull(weights);
        if (!PrecisionCast.IsSupported<TLow>())
            throw new NotSupportedException($"{typeof(TLow).Name} is not a mixed-precision storage type; expected Half or BFloat16.");
        if (weights.Length != master.Count)
            throw new ArgumentException($"weights has {weights.Length} elements; master '{master.Name}' has {master.Count}.", nameof(weights));
        Master = master;
        Weights = weights;
        _scratch = new TLow[master.Count];
    }

    /// <summary>The float32 master parameter (the optimizer updates it).</summary>
    public Parameter<float> Master { get; }
    /// <summary>The 16-bit weight space in engine memory.</summary>
    public RnnBuffer<TLow> Weights { get; }

    /// <summary>
    /// Rounds the master values into <see cref="Weights"/>, unless <paramref name="version"/> equals the version of the
    /// last cast (pass a counter that moves whenever the master values change; <see cref="long.MinValue"/> always casts).
    /// Returns true when it cast.
    /// </summary>
    /// <exception cref="OverflowException">A master value is NaN, infinite or beyond the 16-bit range (the name and element are in the message).</exception>
    public bool CastToEngine(long version = long.MinValue)
    {
        if (version != long.MinValue && version == _castVersion) return false;
        ReadOnlySpan<float> values;
        if (Master.HasHostArrays) values = Master.Value;
        else
        {
            _stage ??= new float[Master.Count];
            Master.CopyValueTo(_stage);   // a master in engine memory: one download per cast
            values = _stage;
        }
        PrecisionCast.NarrowChecked<TLow>(values, _scratch, Master.Name);
        Weights.Write(0, _scratch);
        _castVersion = version;
        return true;
    }

    /// <summary>
    /// Adds the engine's 16-bit weight gradients, widened to float32, to <paramref name="target"/> (the master's
    /// gradient, or a worker's copy of it). Returns the index of the first NaN or infinite gradient, or −1 (the loss
    /// scaler's check finds it too; the index makes a message).
    /// </summary>
    public int AddGradients(RnnBuffer<TLow> gradients, float[] target)
    {
        ArgumentNullException.ThrowIfNull(gradients);
        ArgumentNullException.ThrowIfNull(target);
        if (target.Length != _scratch.Length) throw new ArgumentException($"target has {target.Length} elements; expected {_scratch.Length}.", nameof(target));
        if (gradients.Length != _scratch.Length) throw new ArgumentException($"gradients has {gradients.Length} elements; expected {_scratch.Length}.", nameof(gradients));
        gradients.Read(0, _scratch);
        return PrecisionCast.AddWidened<TLow>(_scratch, target);
    }

    /// <summary>
    /// Adds the engine's 16-bit weight gradients, widened, to <see cref="Master"/>'s gradient wherever it lives (host
    /// arrays in place; engine memory through one download and upload). Returns the first non-finite index, or −1.
    /// </summary>
    public int AddGradientsToMaster(RnnBuffer<TLow> gradients)
    {
        if (Master.HasHostArrays) return AddGradients(gradients, Master.Grad);
        _stage ??= new float[Master.Count];
        Master.CopyGradientTo(_stage);
        int bad = AddGradients(gradients, _stage);
        Master.CopyGradientFrom(_stage);
        return bad;
    }
}
