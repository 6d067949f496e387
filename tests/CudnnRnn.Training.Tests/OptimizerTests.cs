using CudnnRnn.Training;
using Xunit;

namespace CudnnRnn.Training.Tests;

public class OptimizerTests
{
    /// <summary>f(w) = ½ Σ a_i (w_i − c_i)²; gradient a ⊙ (w − c).</summary>
    private static void QuadraticGrad(Parameter<double> p, double[] a, double[] c)
    {
        for (int i = 0; i < p.Count; i++) p.Grad[i] = a[i] * (p.Value[i] - c[i]);
    }

    [Fact]
    public void Sgd_takes_exact_steps()
    {
        var p = new Parameter<double>("w", 3);
        p.Value[0] = 1; p.Value[1] = -2; p.Value[2] = 0.5;
        var g = new[] { 0.5, 1.0, -4.0 };
        g.CopyTo(p.Grad, 0);
        var sgd = new Sgd<double>([p], 0.1);
        sgd.Step();
        Assert.Equal([1 - 0.05, -2 - 0.1, 0.5 + 0.4], p.Value);
    }

    [Fact]
    public void Sgd_momentum_accumulates_velocity()
    {
        var p = new Parameter<double>("w", 1);
        var sgd = new Sgd<double>([p], 0.1, momentum: 0.9);
        p.Grad[0] = 1; sgd.Step();   // v = 1, w = -0.1
        p.Grad[0] = 1; sgd.Step();   // v = 1.9, w = -0.29
        Assert.Equal(-0.29, p.Value[0], 12);
    }

    [Fact]
    public void Adam_first_step_moves_each_weight_by_the_learning_rate()
    {
        // With bias correction, the first Adam step is lr · g/|g| (up to ε).
        var p = new Parameter<double>("w", 2);
        p.Grad[0] = 3; p.Grad[1] = -0.01;
        new Adam<double>([p], 0.01).Step();
        Assert.Equal(-0.01, p.Value[0], 9);
        Assert.Equal(0.01, p.Value[1], 6);
    }

    [Theory]
    [InlineData("adam")]
    [InlineData("sgd")]
    public void Optimizers_minimise_a_quadratic(string kind)
    {
        var a = new[] { 1.0, 10.0, 0.5 };
        var c = new[] { 3.0, -1.0, 2.0 };
        var p = new Parameter<double>("w", 3);
        Optimizer<double> opt = kind == "adam" ? new Adam<double>([p], 0.05) : new Sgd<double>([p], 0.05, momentum: 0.9);
        for (int step = 0; step < 2000; step++)
        {
            QuadraticGrad(p, a, c);
            opt.Step();
        }
        for (int i = 0; i < 3; i++) Assert.Equal(c[i], p.Value[i], 3);
    }

    [Fact]
    public void Clipping_scales_the_global_norm_down_and_leaves_small_gradients_alone()
    {
        var p1 = new Parameter<double>("a", 2);
        var p2 = new Parameter<double>("b", 1);
        p1.Grad[0] = 3; p1.Grad[1] = 0; p2.Grad[0] = 4;   // norm 5
        double norm = GradientClipping.ClipByGlobalNorm([p1, p2], 1.0);
        Assert.Equal(5, norm, 12);
        Assert.Equal(1.0, GradientClipping.GlobalNorm([p1, p2]), 6);
        Assert.Equal(0.6, p1.Grad[0], 6);
        Assert.Equal(0.8, p2.Grad[0], 6);
        double again = GradientClipping.ClipByGlobalNorm([p1, p2], 10.0);
        Assert.Equal(1.0, again, 6);
        Assert.Equal(0.6, p1.Grad[0], 6);
    }

    [Fact]
    public void Cosine_schedule_starts_at_base_and_ends_at_the_floor()
    {
        var s = new LearningRateSchedule.Cosine(0.1);
        Assert.Equal(1.0, s.RateAt(1.0, 0, 0), 12);
        Assert.Equal(0.55, s.RateAt(1.0, 0.5, 0), 12);
        Assert.Equal(0.1, s.RateAt(1.0, 1, 0), 12);
        Assert.Equal(0.25, new LearningRateSchedule.Exponential(0.5).RateAt(1.0, 0, 2), 12);
    }
}
