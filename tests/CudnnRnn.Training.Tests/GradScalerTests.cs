using CudnnRnn.Training;
using Xunit;

namespace CudnnRnn.Training.Tests;

/// <summary>
/// <see cref="GradScaler"/> against the documented behaviour of PyTorch's <c>torch.amp.GradScaler</c> and its
/// <c>_amp_update_scale_</c> kernel: every expected value below is worked out by hand from those rules, not read off
/// the implementation.
/// </summary>
public class GradScalerTests
{
    private static Parameter<float> Param(string name, params float[] grad)
    {
        var p = new Parameter<float>(name, grad.Length);
        grad.CopyTo(p.Grad, 0);
        return p;
    }

    /// <summary>One iteration: gradients <paramref name="g"/> × scale (as backward of the scaled loss gives), step, update.</summary>
    private static bool Iterate(GradScaler s, Optimizer<float> opt, Parameter<float> p, float g)
    {
        Array.Fill(p.Grad, g * s.Scale);
        bool applied = s.Step(opt);
        s.Update();
        return applied;
    }

    [Fact]
    public void Defaults_are_pytorchs()
    {
        var o = new GradScalerOptions();
        Assert.Equal(65536f, o.InitScale);          // init_scale = 2.**16
        Assert.Equal(2.0, o.GrowthFactor);
        Assert.Equal(0.5, o.BackoffFactor);
        Assert.Equal(2000, o.GrowthInterval);
        var s = new GradScaler();
        Assert.Equal(65536f, s.Scale);
        Assert.Equal(0, s.GrowthTracker);
        Assert.True(s.IsEnabled);
    }

    [Fact]
    public void Scale_doubles_on_the_2000th_consecutive_finite_step_and_the_tracker_restarts()
    {
        var p = Param("w", 0f);
        var s = new GradScaler();
        var opt = new Sgd<float>([p], 1e-3);
        for (int i = 1; i <= 1999; i++) Assert.True(Iterate(s, opt, p, 1f));
        Assert.Equal(65536f, s.Scale);
        Assert.Equal(1999, s.GrowthTracker);
        Assert.True(Iterate(s, opt, p, 1f));        // successful = 2000 == growth_interval: grow, tracker 0
        Assert.Equal(131072f, s.Scale);
        Assert.Equal(0, s.GrowthTracker);
        for (int i = 1; i <= 2000; i++) Iterate(s, opt, p, 1f);
        Assert.Equal(262144f, s.Scale);
        Assert.Equal(4000, opt.StepCount);
        Assert.Equal(0, s.SkippedSteps);
    }

    [Fact]
    public void An_inf_skips_the_step_halves_the_scale_and_resets_the_growth_tracker()
    {
        var p = Param("w", 0f);
        p.Value[0] = 1f;
        var s = new GradScaler();
        var opt = new Adam<float>([p], 0.1);
        for (int i = 0; i < 1500; i++) Iterate(s, opt, p, 0.5f);
        Assert.Equal(1500, s.GrowthTracker);
        float w = p.Value[0];
        float m = opt.StateBuffers[0].Value[0][0], v = opt.StateBuffers[1].Value[0][0];
        Assert.False(Iterate(s, opt, p, float.PositiveInfinity));
        Assert.Equal(32768f, s.Scale);               // × backoff 0.5
        Assert.Equal(0, s.GrowthTracker);            // reset: the 1500 finite steps no longer count
        Assert.Equal(w, p.Value[0]);                 // skipped: weight, Adam moments and step count untouched
        Assert.Equal(m, opt.StateBuffers[0].Value[0][0]);
        Assert.Equal(v, opt.StateBuffers[1].Value[0][0]);
        Assert.Equal(1500, opt.StepCount);
        Assert.Equal(1, s.SkippedSteps);
        Assert.Equal(1, s.ConsecutiveSkippedSteps);
        for (int i = 0; i < 1999; i++) Iterate(s, opt, p, 0.5f);
        Assert.Equal(32768f, s.Scale);
        Assert.Equal(0, s.ConsecutiveSkippedSteps);
        Iterate(s, opt, p, 0.5f);
        Assert.Equal(65536f, s.Scale);
    }

    [Fact]
    public void Hand_computed_sequence_with_interval_3()
    {
        // F F I F F F F N F: tracker 1, 2, reset, 1, 2, grow (reset), 1, reset, 1.
        var p = Param("w", 0f);
        var s = new GradScaler(new GradScalerOptions { InitScale = 1024f, GrowthInterval = 3 });
        var opt = new Sgd<float>([p], 1e-3);
        float[] g = [1, 1, float.PositiveInfinity, 1, 1, 1, 1, float.NaN, 1];
        float[] scale = [1024, 1024, 512, 512, 512, 1024, 1024, 512, 512];
        int[] tracker = [1, 2, 0, 1, 2, 0, 1, 0, 1];
        bool[] applied = [true, true, false, true, true, true, true, false, true];
        for (int i = 0; i < g.Length; i++)
        {
            Assert.Equal(applied[i], Iterate(s, opt, p, g[i]));
            Assert.Equal(scale[i], s.Scale);
            Assert.Equal(tracker[i], s.GrowthTracker);
        }
        Assert.Equal(2, s.SkippedSteps);
        Assert.Equal(7, opt.StepCount);
    }

    [Fact]
    public void Growth_that_would_overflow_float32_is_not_applied_but_the_tracker_resets()
    {
        float big = MathF.ScaleB(1f, 127);
        var p = Param("w", 0f);
        var s = new GradScaler(new GradScalerOptions { InitScale = big, GrowthInterval = 1 });
        var opt = new Sgd<float>([p], 1e-3);
        Array.Clear(p.Grad);
        s.Step(opt);
        s.Update();
        Assert.Equal(big, s.Scale);                  // 2^128 is +∞ in float32: kept at 2^127
        Assert.Equal(0, s.GrowthTracker);
    }

    [Fact]
    public void Unscale_multiplies_by_the_float32_reciprocal_of_the_scale()
    {
        var a = Param("a", 65536f, -3 * 65536f, 0.5f * 65536f);
        var b = Param("b", MathF.ScaleB(1f, -14));
        var s = new GradScaler();
        Assert.False(s.Unscale([a, b]));
        Assert.Equal([1f, -3f, 0.5f], a.Grad);       // power-of-two scale: exact
        Assert.Equal(MathF.ScaleB(1f, -30), b.Grad[0]);   // 2^-14 / 2^16: below float16's range, fine in float32

        // A scale that is not a power of two: PyTorch's inv_scale is (float)(1 / (double)scale), then one float product.
        var c = Param("c", 10f);
        var s3 = new GradScaler();
        s3.Update(3f);
        s3.Unscale([c]);
        float inv = (float)(1.0 / 3.0);
        Assert.Equal(10f * inv, c.Grad[0]);
        Assert.NotEqual(10f / 3f, 10f * inv);        // the two roundings differ here, so the test sees which one ran
    }

    [Fact]
    public void Every_nonfinite_gradient_is_found_whatever_its_position()
    {
        // Lengths 1..40 put the bad value in every lane and in the scalar tail of the vectorised check.
        foreach (float bad in new[] { float.PositiveInfinity, float.NegativeInfinity, float.NaN })
            for (int n = 1; n <= 40; n++)
                for (int at = 0; at < n; at++)
                {
                    var first = Param("first", 1f, 2f);
                    var second = Param("second", new float[n]);
                    second.Grad[at] = bad;
                    Assert.True(new GradScaler().Unscale([first, second]), $"{bad} at {at} of {n}");
                }
        var clean = Param("clean", new float[40]);
        Assert.False(new GradScaler().Unscale([clean]));
    }

    [Fact]
    public void Frozen_parameters_are_neither_unscaled_nor_checked()
    {
        var frozen = Param("frozen", float.NaN, 65536f);
        frozen.Trainable = false;
        var live = Param("live", 65536f);
        Assert.False(new GradScaler().Unscale([frozen, live]));
        Assert.Equal(65536f, frozen.Grad[1]);
        Assert.Equal(1f, live.Grad[0]);
    }

    [Fact]
    public void Unscaling_that_overflows_is_caught()
    {
        // Scale 2^-4 (inverse 16): a finite float32 gradient of 2^125 becomes 2^129 = ∞ after unscaling. PyTorch checks
        // before multiplying and would pass the ∞ on; this scaler checks after.
        var p = Param("w", MathF.ScaleB(1f, 125));
        var s = new GradScaler();
        s.Update(1f / 16);
        Assert.True(s.Unscale([p]));
    }

    [Fact]
    public void A_nonfinite_loss_skips_the_step()
    {
        var p = Param("w", 65536f);
        var s = new GradScaler();
        var opt = new Sgd<float>([p], 0.1);
        Assert.False(s.Step(opt, double.NaN));
        s.Update();
        Assert.Equal(0f, p.Value[0]);
        Assert.Equal(32768f, s.Scale);
    }

    [Fact]
    public void Calls_out_of_order_are_refused()
    {
        var p = Param("w", 1f);
        var s = new GradScaler();
        var opt = new Sgd<float>([p], 0.1);
        Assert.Throws<InvalidOperationException>(s.Update);           // nothing checked yet
        s.Unscale([p]);
        Assert.Throws<InvalidOperationException>(() => s.Unscale([p]));
        s.Step(opt);                                                    // uses the earlier unscale, does not unscale again
        Assert.Equal(1f / 65536, p.Grad[0]);
        Assert.Throws<InvalidOperationException>(() => s.Step(opt));
        Assert.Throws<InvalidOperationException>(() => s.Unscale([p]));
        s.Update();
        Assert.Equal(GradScalerStage.Ready, s.Stage);
    }

    [Fact]
    public void Too_many_consecutive_skips_throw()
    {
        var p = Param("w", float.NaN);
        var s = new GradScaler(new GradScalerOptions { MaxConsecutiveSkippedSteps = 3 });
        var opt = new Sgd<float>([p], 0.1);
        for (int i = 0; i < 3; i++)
        {
            p.Grad[0] = float.NaN;
            Assert.False(s.Step(opt));
            s.Update();
        }
        Assert.Equal(8192f, s.Scale);
        p.Grad[0] = float.NaN;
        var e = Assert.Throws<TrainingDivergedException>(() => s.Step(opt));
        Assert.Contains("4 consecutive", e.Message);
    }

    [Fact]
    public void A_disabled_scaler_is_a_plain_optimizer_step()
    {
        var p = Param("w", 2f);
        var s = new GradScaler(enabled: false);
        var opt = new Sgd<float>([p], 0.5);
        Assert.Equal(1f, s.Scale);
        Assert.True(s.Step(opt));
        s.Update();
        Assert.Equal(-1f, p.Value[0]);                 // 0 − 0.5 · 2: the gradient was not divided by anything
        Assert.Equal(1f, s.Scale);
        p.Grad[0] = float.NaN;
        Assert.False(s.Step(opt));                     // the optimizer's own check skips it
        Assert.Equal(1, opt.SkippedSteps);
        Assert.Equal(0, s.SkippedSteps);
    }

    [Fact]
    public void State_round_trips_through_metadata_bit_for_bit()
    {
        var p = Param("w", 0f);
        var s = new GradScaler(new GradScalerOptions { InitScale = 1000.3f, GrowthInterval = 7, BackoffFactor = 0.3 });
        var opt = new Sgd<float>([p], 0.1);
        Iterate(s, opt, p, float.NaN);
        Iterate(s, opt, p, 1);
        Iterate(s, opt, p, 1);
        var state = s.GetState();
        Assert.Equal((float)(1000.3f * 0.3), state.Scale);   // a scale with a full significand
        var meta = state.ToMetadata().ToDictionary(kv => kv.Key, kv => kv.Value);
        Assert.True(GradScalerState.IsIn(meta));
        var back = GradScalerState.FromMetadata(meta, "ckpt");
        Assert.Equal(BitConverter.SingleToUInt32Bits(state.Scale), BitConverter.SingleToUInt32Bits(back.Scale));
        Assert.Equal(state, back);

        var t = new GradScaler();
        t.LoadState(back);
        Assert.Equal(s.Scale, t.Scale);
        Assert.Equal(2, t.GrowthTracker);
        Assert.Equal(7, t.Options.GrowthInterval);
        Assert.Equal(1, t.SkippedSteps);
    }

    [Fact]
    public void A_checkpoint_stores_and_restores_the_scaler_state()
    {
        string path = Path.Combine(Path.GetTempPath(), $"cudnnrnn-scaler-{Guid.NewGuid():N}.safetensors");
        try
        {
            var p = Param("w", 0f);
            var opt = new Adam<float>([p], 0.1);
            var s = new GradScaler(new GradScalerOptions { InitScale = 777.7f });
            Iterate(s, opt, p, float.PositiveInfinity);
            Iterate(s, opt, p, 0.25f);
            new TrainingCheckpoint { Step = 2, Scaler = s.GetState() }.Save(path, [p], opt, null);
            var fresh = new Adam<float>([p], 0.1);
            var loaded = TrainingCheckpoint.Load(path, [p], fresh, new Dictionary<string, string>(), out _);
            Assert.NotNull(loaded.Scaler);
            Assert.Equal(BitConverter.SingleToUInt32Bits(s.Scale), BitConverter.SingleToUInt32Bits(loaded.Scaler!.Scale));
            Assert.Equal(s.GetState(), loaded.Scaler);

            new TrainingCheckpoint { Step = 2 }.Save(path, [p], opt, null);   // an fp32/bf16 run has none
            Assert.Null(TrainingCheckpoint.Load(path, [p], fresh, new Dictionary<string, string>(), out _).Scaler);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Theory]
    [InlineData("grad_scaler.scale", "inf")]
    [InlineData("grad_scaler.scale", "-1")]
    [InlineData("grad_scaler.scale", "x")]
    [InlineData("grad_scaler.growth_tracker", "2000")]
    [InlineData("grad_scaler.growth_factor", "1")]
    [InlineData("grad_scaler.backoff_factor", "1.5")]
    [InlineData("grad_scaler.growth_interval", "0")]
    [InlineData("grad_scaler.consecutive_skipped_steps", "5")]
    [InlineData("grad_scaler.skipped_steps", null)]
    public void Bad_scaler_metadata_is_a_format_error_naming_the_file(string key, string? value)
    {
        var meta = new GradScaler().GetState().ToMetadata().ToDictionary(kv => kv.Key, kv => kv.Value);
        if (value is null) meta.Remove(key); else meta[key] = value;
        var e = Assert.Throws<ModelFormatException>(() => GradScalerState.FromMetadata(meta, "ckpt.safetensors"));
        Assert.Equal("ckpt.safetensors", e.Path);
    }

    [Fact]
    public void Invalid_options_are_refused()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new GradScaler(new GradScalerOptions { InitScale = 0 }));
        Assert.Throws<ArgumentOutOfRangeException>(() => new GradScaler(new GradScalerOptions { InitScale = float.PositiveInfinity }));
        Assert.Throws<ArgumentOutOfRangeException>(() => new GradScaler(new GradScalerOptions { GrowthFactor = 1 }));
        Assert.Throws<ArgumentOutOfRangeException>(() => new GradScaler(new GradScalerOptions { BackoffFactor = 1 }));
        Assert.Throws<ArgumentOutOfRangeException>(() => new GradScaler(new GradScalerOptions { BackoffFactor = 0 }));
        Assert.Throws<ArgumentOutOfRangeException>(() => new GradScaler(new GradScalerOptions { GrowthInterval = 0 }));
        Assert.Throws<ArgumentOutOfRangeException>(() => new GradScaler().Update(float.NaN));
    }

    [Fact]
    public void Precision_words_parse_and_map_to_engine_types()
    {
        Assert.Equal(Precision.Fp16, PrecisionInfo.Parse("FP16"));
        Assert.Equal(Precision.Bf16, PrecisionInfo.Parse("bf16"));
        Assert.Equal(RnnDataType.BFloat16, Precision.Bf16.ToRnnDataType());
        Assert.True(Precision.Fp16.NeedsLossScaling());
        Assert.False(Precision.Bf16.NeedsLossScaling());
        Assert.True(GradScaler.For(Precision.Fp16).IsEnabled);
        Assert.False(GradScaler.For(Precision.Bf16).IsEnabled);
        var e = Assert.Throws<ArgumentException>(() => PrecisionInfo.Parse("half"));
        Assert.Contains("fp32, fp16, bf16", e.Message);
    }
}
