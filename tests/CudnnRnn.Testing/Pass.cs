using System.Numerics;
using CudnnRnn.Verification;

namespace CudnnRnn.Testing;

/// <summary>What a <see cref="Pass{T}"/> runs besides one training forward, backward data and backward weights (Set).</summary>
public sealed record PassOptions<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>Run an inference forward only (no backward; the gradient arrays come back empty).</summary>
    public bool InferenceOnly { get; init; }
    /// <summary>Run an inference forward first and keep its y and hy (<see cref="Pass{T}.YInference"/>).</summary>
    public bool InferenceFirst { get; init; }
    /// <summary>Training forwards before the backward calls (the second one uses the next dropout masks).</summary>
    public int TrainingForwards { get; init; } = 1;
    /// <summary>When set, backward weights adds onto these values (WeightGradMode.Add) instead of writing dW (Set).</summary>
    public T[]? InitialDw { get; init; }
}

/// <summary>
/// One pass of a plan on any engine, every output back on the host: the pass runner shared by the CPU, OpenCL and cuDNN
/// tests (the invariant tests, the conformance parity). Every output buffer starts as NaN, so an element an engine
/// forgets to write shows up.
/// </summary>
public sealed record Pass<T>(T[] Y, T[] Hy, T[] Cy, T[] Dx, T[] Dhx, T[] Dcx, T[] Dw) where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>y of the inference forward (with <see cref="PassOptions{T}.InferenceFirst"/>).</summary>
    public T[] YInference { get; init; } = [];
    /// <summary>hy of the inference forward (with <see cref="PassOptions{T}.InferenceFirst"/>).</summary>
    public T[] HyInference { get; init; } = [];

    /// <summary>Forward (training), backward data, backward weights (Set) — or only an inference forward.</summary>
    /// <param name="weights">In the engine's weight layout (<c>engine.GetWeightLayout(rnn)</c>).</param>
    public static Pass<T> Run(IRnnEngine engine, RnnDescriptor rnn, RnnDataDescriptor xDesc, T[] weights, T[] x, T[]? hx, T[]? cx,
        T[] dy, T[]? dhy, T[]? dcy, bool inferenceOnly = false) =>
        Run(engine, rnn, xDesc, weights, x, hx, cx, dy, dhy, dcy, new PassOptions<T> { InferenceOnly = inferenceOnly });

    /// <summary>The pass <paramref name="options"/> describe.</summary>
    public static Pass<T> Run(IRnnEngine engine, RnnDescriptor rnn, RnnDataDescriptor xDesc, T[] weights, T[] x, T[]? hx, T[]? cx,
        T[] dy, T[]? dhy, T[]? dcy, PassOptions<T> options)
    {
        using var plan = engine.CreatePlan<T>(rnn, xDesc);
        using var p = new PassBuffers<T>(plan, x, weights, hx, cx, dy, dhy, dcy);
        foreach (var b in new[] { p.Y, p.Hy, p.Cy, p.Dx, p.Dhx, p.Dcx }) b?.Fill(T.NaN);
        T[] yInference = [], hyInference = [];
        if (options.InferenceOnly || options.InferenceFirst)
        {
            p.RunInference();
            yInference = p.Y.ToArray();
            hyInference = p.Hy.ToArray();
            if (options.InferenceOnly)
                return new Pass<T>(yInference, hyInference, p.Cy?.ToArray() ?? [], [], [], [], []);
        }
        for (int i = 0; i < options.TrainingForwards; i++)
            plan.Forward(RnnForwardMode.Training, p.X, p.Y, p.Hx, p.Hy, p.Cx, p.Cy, p.W, p.Reserve);
        plan.BackwardData(p.Y, p.Dy, p.Dx, p.Hx, p.Dhy, p.Dhx, p.Cx, p.Dcy, p.Dcx, p.W, p.Reserve);
        if (options.InitialDw is { } dw0) p.Dw.CopyFrom(dw0);
        plan.BackwardWeights(options.InitialDw is null ? WeightGradMode.Set : WeightGradMode.Add, p.X, p.Hx, p.Y, p.Dw, p.Reserve);
        return new Pass<T>(p.Y.ToArray(), p.Hy.ToArray(), p.Cy?.ToArray() ?? [], p.Dx.ToArray(), p.Dhx.ToArray(), p.Dcx?.ToArray() ?? [], p.Dw.ToArray())
        {
            YInference = yInference,
            HyInference = hyInference,
        };
    }
}
