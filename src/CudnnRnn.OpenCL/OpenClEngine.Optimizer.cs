using System.Numerics;

namespace CudnnRnn.OpenCL;

// The optimizer kernels (native/opencl/optimizer.cl) behind IParameterUpdateKernels: the training toolkit's Adam and
// Sgd update weights held in this engine's buffers in place, without a host round trip.
public sealed partial class OpenClEngine : IParameterUpdateKernels
{
    private OpenClOptimizerKernels<float>? _optimizer32;
    private OpenClOptimizerKernels<double>? _optimizer64;

    private OpenClOptimizerKernels<T> OptimizerKernels<T>() where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (!Supports(RnnDescriptor.DataTypeOf<T>(), out var why))
            throw new NotSupportedException($"The OpenCL engine cannot update {typeof(T).Name} weights here: {why}.");
        lock (_programLock)
        {
            ThrowIfDisposed();
            if (typeof(T) == typeof(double)) return (OpenClOptimizerKernels<T>)(object)(_optimizer64 ??= new OpenClOptimizerKernels<double>(this));
            return (OpenClOptimizerKernels<T>)(object)(_optimizer32 ??= new OpenClOptimizerKernels<float>(this));
        }
    }

    private void DisposeOptimizerKernels()
    {
        _optimizer32?.Dispose();
        _optimizer64?.Dispose();
    }

    private OpenClBuffer<T> Mine<T>(RnnBuffer<T>? buffer, string name, long length = -1) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(buffer, name);
        if (buffer is not OpenClBuffer<T> b || !ReferenceEquals(b.Engine, this))
            throw new ArgumentException($"{name} is a buffer of the {buffer.Engine.Name} engine ({buffer.GetType().Name}), not of this OpenCL engine.", name);
        b.ThrowIfDisposed();
        if (length >= 0 && b.Length != length)
            throw new ArgumentException($"{name} has {b.Length} elements; expected {length} (the weights' length).", name);
        if (b.Length > int.MaxValue)
            throw new ArgumentException($"{name} has {b.Length} elements; the optimizer kernels index with 32-bit ints (at most {int.MaxValue}).", name);
        return b;
    }

    // Holds a reference on every buffer's cl_mem for the call, so a dispose on another thread cannot free it meanwhile.
    private static TResult Holding<T, TResult>(ReadOnlySpan<OpenClBuffer<T>?> buffers, Func<TResult> call) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int held = 0;
        try
        {
            for (; held < buffers.Length; held++) buffers[held]?.Retain();
            return call();
        }
        finally
        {
            for (int i = 0; i < held; i++) buffers[i]?.ReleaseRetained();
        }
    }

    /// <inheritdoc/>
    public long IndexOfNonFinite<T>(RnnBuffer<T> buffer) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var x = Mine(buffer, nameof(buffer));
        var k = OptimizerKernels<T>();
        return Holding<T, long>([x], () => k.IndexOfNonFinite(x));
    }

    /// <inheritdoc/>
    public void Scale<T>(RnnBuffer<T> buffer, T scale) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var x = Mine(buffer, nameof(buffer));
        var k = OptimizerKernels<T>();
        Holding<T, int>([x], () => { k.Scale(x, scale); return 0; });
        x.MarkModified();
    }

    /// <inheritdoc/>
    public ParameterUpdateCheck SgdStep<T>(RnnBuffer<T> weights, RnnBuffer<T> gradient, RnnBuffer<T>? velocity, T learningRate, T momentum, T weightDecay)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var w = Mine(weights, nameof(weights));
        var g = Mine(gradient, nameof(gradient), w.Length);
        var v = velocity is null ? null : Mine(velocity, nameof(velocity), w.Length);
        var k = OptimizerKernels<T>();
        var r = Holding<T, ParameterUpdateCheck>([w, g, v], () => k.Sgd(w, g, v, learningRate, momentum, weightDecay));
        w.MarkModified();
        if (weightDecay != T.Zero) g.MarkModified();
        v?.MarkModified();
        return r;
    }

    /// <inheritdoc/>
    public ParameterUpdateCheck AdamStep<T>(RnnBuffer<T> weights, RnnBuffer<T> gradient, RnnBuffer<T> m, RnnBuffer<T> v, AdamCoefficients<T> c)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var w = Mine(weights, nameof(weights));
        var g = Mine(gradient, nameof(gradient), w.Length);
        var mb = Mine(m, nameof(m), w.Length);
        var vb = Mine(v, nameof(v), w.Length);
        var k = OptimizerKernels<T>();
        var r = Holding<T, ParameterUpdateCheck>([w, g, mb, vb], () => k.Adam(w, g, mb, vb, c));
        w.MarkModified();
        mb.MarkModified();
        vb.MarkModified();
        return r;
    }
}
