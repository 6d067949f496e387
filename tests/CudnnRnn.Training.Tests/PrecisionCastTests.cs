using CudnnRnn.Cpu;
using CudnnRnn.Training;
using Xunit;

namespace CudnnRnn.Training.Tests;

/// <summary>
/// The vectorised float32 ↔ 16-bit conversions of mixed-precision training and the master-weight cast: rounding by
/// hand-worked cases (ties to even), the vector paths against the scalar conversions element by element over every
/// tail length, and the overflow policy (an error naming the tensor, never a silent ±Infinity).
/// </summary>
public class PrecisionCastTests
{
    private static float F(uint bits) => BitConverter.UInt32BitsToSingle(bits);

    [Fact]
    public void Float16_rounds_to_nearest_even()
    {
        // float16 has 10 fraction bits: the spacing at 1 is 2^-10, so 1 + 2^-11 is a tie.
        float[] x = [1 + MathF.ScaleB(1, -11), 1 + 3 * MathF.ScaleB(1, -11), 65504f, -0f, MathF.ScaleB(1, -24), MathF.ScaleB(1, -26)];
        float[] expected = [1, 1 + MathF.ScaleB(1, -9), 65504f, -0f, MathF.ScaleB(1, -24), 0];
        var h = new Half[x.Length];
        PrecisionCast.NarrowChecked<Half>(x, h, "t");
        var back = new float[x.Length];
        PrecisionCast.Widen<Half>(h, back);
        Assert.Equal(expected, back);
        Assert.True(float.IsNegative(back[3]));
    }

    [Fact]
    public void BFloat16_rounds_to_nearest_even_and_keeps_nan()
    {
        // bfloat16 has 7 fraction bits: spacing 2^-7 at 1, so 1 + 2^-8 is a tie (→ 1, even) and 1 + 3·2^-8 a tie (→ 1 + 2^-6).
        float[] x = [1 + MathF.ScaleB(1, -8), 1 + 3 * MathF.ScaleB(1, -8), 1 + MathF.ScaleB(1, -8) + MathF.ScaleB(1, -20), F(0x7F800001), F(0xFF800000), F(0x00000001)];
        ushort[] expected = [0x3F80, 0x3F82, 0x3F81, 0x7FC0, 0xFF80, 0x0000];
        var b = new BFloat16[x.Length];
        PrecisionCast.Narrow<BFloat16>(x, b);
        Assert.Equal(expected, b.Select(v => v.Bits).ToArray());
        // The signalling NaN 0x7F800001 would become +∞ (0x7F80) under the plain rounding formula: the NaN branch matters.
        uint naive = (0x7F800001u + 0x7FFFu + ((0x7F800001u >> 16) & 1u)) >> 16;
        Assert.Equal(0x7F80u, naive);
    }

    [Fact]
    public void Vector_paths_match_the_scalar_conversions_at_every_length()
    {
        var rng = new SeededRandom(7);
        for (int n = 0; n <= 70; n++)
        {
            var x = new float[n];
            for (int i = 0; i < n; i++)
            {
                // Mostly random bit patterns (NaNs, infinities, subnormals included), some exact ties.
                uint bits = (uint)rng.NextUInt64();
                if (i % 5 == 1) bits = (bits & 0xFFFF0000u) | 0x8000u;
                if (i % 7 == 3) bits = 0x7F800001u;   // NaNs that plain rounding would turn into ±∞, in every lane
                if (i % 7 == 5) bits = 0xFF807FFFu;
                x[i] = F(bits);
            }
            var b = new BFloat16[n];
            PrecisionCast.Narrow<BFloat16>(x, b);
            for (int i = 0; i < n; i++)
            {
                var s = (BFloat16)x[i];
                Assert.True(s.Bits == b[i].Bits || (float.IsNaN(x[i]) && BFloat16.IsNaN(b[i])), $"n={n} i={i}: {x[i]:R} → {b[i].Bits:X4}, scalar {s.Bits:X4}");
            }
            var wide = new float[n];
            PrecisionCast.Widen<BFloat16>(b, wide);
            for (int i = 0; i < n; i++) Assert.Equal(BitConverter.SingleToUInt32Bits((float)b[i]), BitConverter.SingleToUInt32Bits(wide[i]));

            var h = new Half[n];
            PrecisionCast.Narrow<Half>(x, h);
            for (int i = 0; i < n; i++)
                Assert.True(h[i].Equals((Half)x[i]), $"n={n} i={i}: {x[i]:R} → {h[i]}, scalar {(Half)x[i]}");
        }
    }

    [Theory]
    [InlineData(65504.004f, "float16")]       // the next float32 above 65504 (rounds back to 65504, but is beyond the range)
    [InlineData(-70000f, "float16")]
    [InlineData(float.NaN, "float16")]
    [InlineData(float.PositiveInfinity, "float16")]
    [InlineData(float.MaxValue, "bfloat16")]   // rounds to +∞ in bfloat16
    [InlineData(float.NaN, "bfloat16")]
    public void A_master_value_beyond_the_range_is_an_error_naming_it(float bad, string type)
    {
        var x = new float[37];
        for (int i = 0; i < x.Length; i++) x[i] = i - 18;
        x[29] = bad;
        var e = type == "float16"
            ? Assert.Throws<OverflowException>(() => PrecisionCast.NarrowChecked<Half>(x, new Half[x.Length], "lstm.weight_hh_l0"))
            : Assert.Throws<OverflowException>(() => PrecisionCast.NarrowChecked<BFloat16>(x, new BFloat16[x.Length], "lstm.weight_hh_l0"));
        Assert.Contains("'lstm.weight_hh_l0' element 29", e.Message);
        Assert.Contains(type, e.Message);
    }

    [Fact]
    public void The_range_limits_are_inclusive_where_the_value_is_finite()
    {
        var h = new Half[2];
        PrecisionCast.NarrowChecked<Half>([65504f, -65504f], h, "t");
        Assert.Equal(Half.MaxValue, h[0]);
        var b = new BFloat16[1];
        PrecisionCast.NarrowChecked<BFloat16>([F(0x7F7F7FFF)], b, "t");   // just below the tie: rounds down to the largest finite
        Assert.Equal(0x7F7F, b[0].Bits);
        Assert.Throws<OverflowException>(() => PrecisionCast.NarrowChecked<BFloat16>([F(0x7F7F8000)], b, "t"));   // the tie rounds to ∞
        // Unchecked narrowing (activations, gradients) overflows to ∞, which the loss scaler then sees.
        PrecisionCast.Narrow<Half>([1e6f, -1e6f], h);
        Assert.True(Half.IsPositiveInfinity(h[0]) && Half.IsNegativeInfinity(h[1]));
    }

    [Fact]
    public void AddWidened_accumulates_and_reports_the_first_nonfinite()
    {
        for (int n = 1; n <= 1100; n += 157)   // across the 512-element chunks
        {
            var g = new Half[n];
            var target = new float[n];
            for (int i = 0; i < n; i++) { g[i] = (Half)(i * 0.25f); target[i] = 1; }
            Assert.Equal(-1, PrecisionCast.AddWidened<Half>(g, target));
            for (int i = 0; i < n; i++) Assert.Equal(1 + (float)g[i], target[i]);
            g[n - 1] = Half.PositiveInfinity;
            if (n > 2) g[n / 2] = Half.NaN;
            Assert.Equal(n > 2 ? n / 2 : n - 1, PrecisionCast.AddWidened<Half>(g, target));
        }
    }

    [Fact]
    public void Lengths_must_match()
    {
        Assert.Throws<ArgumentException>(() => PrecisionCast.Narrow<Half>(new float[3], new Half[2]));
        Assert.Throws<ArgumentException>(() => PrecisionCast.Widen<BFloat16>(new BFloat16[3], new float[4]));
        Assert.Throws<NotSupportedException>(() => PrecisionCast.Narrow<double>(new float[1], new double[1]));
    }

    [Fact]
    public void Master_weights_cast_to_an_engine_buffer_and_gradients_come_back_in_float32()
    {
        using var engine = CpuEngine.Create(1);
        var master = new Parameter<float>("lstm", 5);
        float[] w = [0.1f, -2.5f, 1000.3f, MathF.ScaleB(1, -20), 3f];
        w.CopyTo(master.Value, 0);
        using var buffer = engine.Allocate<Half>(5);
        using var grads = engine.Allocate<Half>(5);
        var mw = new MasterWeights<Half>(master, buffer);
        Assert.True(mw.CastToEngine(1));
        Assert.False(mw.CastToEngine(1));             // same version: no cast
        Assert.Equal(w.Select(v => (Half)v).ToArray(), buffer.ToArray());

        grads.CopyFrom([(Half)1, (Half)0.5f, (Half)(-2), Half.Epsilon, (Half)0]);
        master.Grad[0] = 10;
        Assert.Equal(-1, mw.AddGradients(grads, master.Grad));
        Assert.Equal([11f, 0.5f, -2f, MathF.ScaleB(1, -24), 0f], master.Grad);

        master.Value[3] = 1e5f;                        // beyond float16: refused, the buffer keeps the last good cast
        var e = Assert.Throws<OverflowException>(() => mw.CastToEngine(2));
        Assert.Contains("'lstm' element 3", e.Message);
        Assert.Equal((Half)w[3], buffer.ToArray()[3]);
        using var small = engine.Allocate<Half>(4);
        Assert.Throws<ArgumentException>(() => new MasterWeights<Half>(master, small));
    }
}
