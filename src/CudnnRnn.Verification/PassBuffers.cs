using System.Numerics;

namespace CudnnRnn.Verification;

/// <summary>
/// Everything one training pass of a plan needs in engine memory: the inputs (uploaded from host arrays), the outputs
/// (y, hy, cy, dx, dhx, dcx, dW) and a reserve. <see cref="RunTraining"/> runs forward-training, backward-data and
/// backward-weights. Used by the verifiers and by tests on every engine.
/// </summary>
public sealed class PassBuffers<T> : IDisposable where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly RnnPlan<T> _plan;

    /// <summary>Uploads the inputs and allocates the outputs. Optional inputs may be null (the calls then get null).</summary>
    public PassBuffers(RnnPlan<T> plan, ReadOnlySpan<T> x, ReadOnlySpan<T> weights, T[]? hx, T[]? cx, ReadOnlySpan<T> dy, T[]? dhy, T[]? dcy)
    {
        ArgumentNullException.ThrowIfNull(plan);
        _plan = plan;
        var e = plan.Engine;
        bool lstm = plan.Rnn.Mode == RnnMode.Lstm;
        X = e.Upload(x);
        W = e.Upload(weights);
        Hx = hx is null ? null : e.Upload<T>(hx);
        Cx = cx is null ? null : e.Upload<T>(cx);
        Dy = e.Upload(dy);
        Dhy = dhy is null ? null : e.Upload<T>(dhy);
        Dcy = dcy is null ? null : e.Upload<T>(dcy);
        Y = e.Allocate<T>(plan.YDesc.ElementCount);
        Hy = e.Allocate<T>(plan.HiddenStateElements);
        Cy = lstm ? e.Allocate<T>(plan.CellStateElements) : null;
        Dx = e.Allocate<T>(plan.XDesc.ElementCount);
        Dhx = e.Allocate<T>(plan.HiddenStateElements);
        Dcx = lstm ? e.Allocate<T>(plan.CellStateElements) : null;
        Dw = e.Allocate<T>(plan.WeightLayout.TotalElements);
        Reserve = plan.CreateReserve();
    }

#pragma warning disable CS1591 // the buffers are named after the plan's arguments
    public RnnBuffer<T> X { get; }
    public RnnBuffer<T> W { get; }
    public RnnBuffer<T>? Hx { get; }
    public RnnBuffer<T>? Cx { get; }
    public RnnBuffer<T> Dy { get; }
    public RnnBuffer<T>? Dhy { get; }
    public RnnBuffer<T>? Dcy { get; }
    public RnnBuffer<T> Y { get; }
    public RnnBuffer<T> Hy { get; }
    public RnnBuffer<T>? Cy { get; }
    public RnnBuffer<T> Dx { get; }
    public RnnBuffer<T> Dhx { get; }
    public RnnBuffer<T>? Dcx { get; }
    public RnnBuffer<T> Dw { get; }
    public RnnReserve<T> Reserve { get; }
#pragma warning restore CS1591

    /// <summary>Forward (training), backward data, then backward weights into <see cref="Dw"/> (Set: dW is exactly this pass's gradient).</summary>
    public void RunTraining(WeightGradMode mode = WeightGradMode.Set)
    {
        _plan.Forward(RnnForwardMode.Training, X, Y, Hx, Hy, Cx, Cy, W, Reserve);
        _plan.BackwardData(Y, Dy, Dx, Hx, Dhy, Dhx, Cx, Dcy, Dcx, W, Reserve);
        _plan.BackwardWeights(mode, X, Hx, Y, Dw, Reserve);
    }

    /// <summary>Forward (inference) only.</summary>
    public void RunInference() => _plan.Forward(RnnForwardMode.Inference, X, Y, Hx, Hy, Cx, Cy, W, null);

    /// <inheritdoc/>
    public void Dispose()
    {
        Reserve.Dispose();
        foreach (var b in new[] { X, W, Hx, Cx, Dy, Dhy, Dcy, Y, Hy, Cy, Dx, Dhx, Dcx, Dw }) b?.Dispose();
    }
}
