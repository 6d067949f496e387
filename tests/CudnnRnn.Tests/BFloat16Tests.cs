using System.Numerics;
using Xunit;

namespace CudnnRnn.Tests;

/// <summary>
/// BFloat16's conversions, checked exhaustively where the space is small (all 65,536 patterns, every halfway point) and
/// against an independent reference elsewhere: <see cref="Reference"/> rounds by exact rational comparison with the two
/// neighbouring bfloat16 values (BigInteger), sharing no code or idea (no scaling, no Math.Round) with the implementation.
/// </summary>
public sealed class BFloat16Tests
{
    // Every finite non-negative bfloat16 value in increasing order (patterns 0x0000..0x7F7F are monotone), then 2^128,
    // the value "one step past the largest" that IEEE rounding uses to decide overflow (it maps to Infinity, pattern 0x7F80).
    private static readonly double[] Ladder = BuildLadder();

    private static double[] BuildLadder()
    {
        var v = new double[0x7F81];
        for (int i = 0; i <= 0x7F7F; i++)
        {
            // value from the bit fields alone: (1.f)·2^(e−127) or 0.f·2^−126
            int e = (i >> 7) & 0xFF, f = i & 0x7F;
            v[i] = e == 0 ? f * Math.Pow(2, -133) : (128 + f) * Math.Pow(2, e - 127 - 7);
        }
        v[0x7F80] = Math.Pow(2, 128);
        return v;
    }

    /// <summary>value·2^1100 as an exact integer (every double and every bfloat16 is a multiple of 2^−1074).</summary>
    private static BigInteger Exact(double value)
    {
        long bits = BitConverter.DoubleToInt64Bits(value);
        int exp = (int)((bits >> 52) & 0x7FF);
        long mant = bits & 0xF_FFFF_FFFF_FFFFL;
        if (exp == 0) exp = 1; else mant |= 1L << 52;
        return new BigInteger(mant) << (exp - 1075 + 1100);
    }

    /// <summary>The correctly rounded bfloat16 pattern of a non-NaN double: nearest value, ties to the even pattern.</summary>
    private static ushort Reference(double d)
    {
        ushort sign = (ushort)(double.IsNegative(d) ? 0x8000 : 0);
        double a = Math.Abs(d);
        if (a >= Ladder[^1]) return (ushort)(sign | 0x7F80);
        int lo = 0, hi = Ladder.Length - 1; // invariant Ladder[lo] <= a < Ladder[hi]
        while (hi - lo > 1) { int mid = (lo + hi) / 2; if (Ladder[mid] <= a) lo = mid; else hi = mid; }
        if (Ladder[lo] == a) return (ushort)(sign | lo);
        var twice = 2 * Exact(a);
        var sum = Exact(Ladder[lo]) + Exact(Ladder[hi]);
        int pick = twice < sum ? lo : twice > sum ? hi : (lo % 2 == 0 ? lo : hi);
        return (ushort)(sign | pick);
    }

    [Fact]
    public void EveryPattern_ToFloatIsExact_AndRoundTripsThroughFloatAndDouble()
    {
        for (int i = 0; i <= 0xFFFF; i++)
        {
            var b = BFloat16.FromBits((ushort)i);
            float f = b;
            Assert.Equal((uint)i << 16, BitConverter.SingleToUInt32Bits(f));
            var viaFloat = (BFloat16)f;
            var viaDouble = (BFloat16)(double)b;
            if (float.IsNaN(f))
            {
                Assert.True(BFloat16.IsNaN(viaFloat) && BFloat16.IsNaN(viaDouble), $"0x{i:X4} is NaN and must stay NaN");
                Assert.Equal(i & 0x8000, viaFloat.Bits & 0x8000);
                Assert.Equal(i & 0x8000, viaDouble.Bits & 0x8000);
                Assert.True(BFloat16.IsNaN(b));
            }
            else
            {
                Assert.Equal(i, viaFloat.Bits);
                Assert.Equal(i, viaDouble.Bits);
                Assert.Equal(float.IsSubnormal(f), BFloat16.IsSubnormal(b));
                Assert.Equal(float.IsInfinity(f), BFloat16.IsInfinity(b));
                Assert.Equal(float.IsNormal(f), BFloat16.IsNormal(b));
            }
        }
    }

    [Fact]
    public void EveryHalfwayPoint_TiesToEven_AndNeighboursRoundToTheNearer()
    {
        for (int sign = 0; sign <= 0x8000; sign += 0x8000)
            for (int p = 0; p < 0x7F80; p++) // each finite pattern and the value above it (0x7F7F's is Infinity)
            {
                uint baseBits = (uint)(sign | p) << 16;
                int even = p % 2 == 0 ? p : p + 1;
                Assert.Equal(sign | even, ((BFloat16)BitConverter.UInt32BitsToSingle(baseBits | 0x8000)).Bits);
                Assert.Equal(sign | p, ((BFloat16)BitConverter.UInt32BitsToSingle(baseBits | 0x7FFF)).Bits);
                Assert.Equal(sign | (p + 1), ((BFloat16)BitConverter.UInt32BitsToSingle(baseBits | 0x8001)).Bits);
                double mid = 0.5 * (Ladder[p] + Ladder[p + 1]) * (sign != 0 ? -1 : 1); // exact in double
                Assert.Equal(sign | even, ((BFloat16)mid).Bits);
                Assert.Equal(sign | p, ((BFloat16)(sign != 0 ? Math.BitIncrement(mid) : Math.BitDecrement(mid))).Bits);
                Assert.Equal(sign | (p + 1), ((BFloat16)(sign != 0 ? Math.BitDecrement(mid) : Math.BitIncrement(mid))).Bits);
            }
    }

    [Fact]
    public void DoubleIsRoundedOnce_NotThroughFloat()
    {
        // 1 + 2^-8 + 2^-30 lies just above the halfway point between 1 and 1 + 2^-7; rounded to float first it becomes the
        // halfway point itself, which then ties to even (1). Correct rounding gives 1 + 2^-7.
        double d = 1 + Math.Pow(2, -8) + Math.Pow(2, -30);
        Assert.Equal(0x3F80, ((BFloat16)(float)d).Bits); // the double-rounding trap exists
        Assert.Equal(0x3F81, ((BFloat16)d).Bits);
        Assert.Equal(0x3F81, Reference(d));
    }

    [Fact]
    public void Overflow_RoundsToInfinityAsIeeeDoes()
    {
        Assert.Equal(0x7F7F, BFloat16.MaxValue.Bits);
        Assert.Equal((1 + 127 / 128.0) * Math.Pow(2, 127), (double)BFloat16.MaxValue);
        Assert.Equal(0x7F80, ((BFloat16)float.MaxValue).Bits);      // above max + half an ulp
        Assert.Equal(0xFF80, ((BFloat16)(-float.MaxValue)).Bits);
        double threshold = Math.Pow(2, 128) - Math.Pow(2, 119);      // max + half an ulp: the tie goes to the even 2^128
        Assert.Equal(0x7F80, ((BFloat16)threshold).Bits);
        Assert.Equal(0x7F7F, ((BFloat16)Math.BitDecrement(threshold)).Bits);
        Assert.Equal(0x7F80, ((BFloat16)(float)threshold).Bits);
        Assert.Equal(0x7F80, ((BFloat16)1e300).Bits);
        Assert.Equal(0xFF80, ((BFloat16)double.NegativeInfinity).Bits);
        Assert.Equal(0x7F80, ((BFloat16)float.PositiveInfinity).Bits);
        Assert.True(BFloat16.IsPositiveInfinity(BFloat16.MaxValue * (BFloat16)2f));
    }

    [Fact]
    public void Subnormals_AndZeros()
    {
        Assert.Equal(Math.Pow(2, -133), (double)BFloat16.Epsilon);
        Assert.Equal(0x0000, ((BFloat16)Math.Pow(2, -134)).Bits);                 // halfway to 0: even is 0
        Assert.Equal(0x0001, ((BFloat16)Math.BitIncrement(Math.Pow(2, -134))).Bits);
        Assert.Equal(0x0002, ((BFloat16)(3 * Math.Pow(2, -134))).Bits);         // 1.5 eps: tie to 2 eps
        Assert.Equal(0x0000, ((BFloat16)float.Epsilon).Bits);
        Assert.Equal(0x8000, ((BFloat16)(-float.Epsilon)).Bits);                  // sign kept on underflow
        Assert.Equal(0x0000, ((BFloat16)double.Epsilon).Bits);
        Assert.Equal(0x8000, ((BFloat16)(-0.0)).Bits);
        Assert.Equal(0x8000, ((BFloat16)(-0.0f)).Bits);
        Assert.Equal(0x007F, ((BFloat16)(127 * Math.Pow(2, -133))).Bits);       // largest subnormal
        Assert.Equal(0x0080, ((BFloat16)(127.5 * Math.Pow(2, -133))).Bits);     // tie: to the even smallest normal
        Assert.True(BFloat16.IsSubnormal(BFloat16.FromBits(0x007F)));
        Assert.True(BFloat16.IsNormal(BFloat16.FromBits(0x0080)));
    }

    [Fact]
    public void NaN_StaysNaN_Quiet_WithItsSign()
    {
        foreach (uint bits in new uint[] { 0x7F800001, 0x7FC00000, 0xFF800001, 0x7F80FFFF, 0xFFFFFFFF, 0x7FBFFFFF })
        {
            var b = (BFloat16)BitConverter.UInt32BitsToSingle(bits); // 0x7F800001 truncated would be Infinity
            Assert.True(BFloat16.IsNaN(b), $"float 0x{bits:X8}");
            Assert.Equal((int)(bits >> 16) & 0x8000, b.Bits & 0x8000);
            Assert.NotEqual(0, b.Bits & 0x0040);
        }
        foreach (ulong bits in new ulong[] { 0x7FF0000000000001, 0xFFF0000000000001, 0x7FF8000000000000 })
        {
            var b = (BFloat16)BitConverter.UInt64BitsToDouble(bits);
            Assert.True(BFloat16.IsNaN(b), $"double 0x{bits:X16}");
            Assert.Equal((int)(bits >> 48) & 0x8000, b.Bits & 0x8000);
        }
        Assert.False(BFloat16.NaN == BFloat16.NaN);
        Assert.True(BFloat16.NaN.Equals(BFloat16.NaN));
    }

    [Fact]
    public void RandomDoublesAndFloats_MatchTheExactRationalReference()
    {
        var rng = new Random(20261129);
        Span<byte> eight = stackalloc byte[8];
        for (int n = 0; n < 200_000; n++)
        {
            double d;
            switch (n % 4)
            {
                case 0: // any bit pattern (all exponents, subnormal doubles, beyond float's range)
                    rng.NextBytes(eight);
                    d = BitConverter.ToDouble(eight);
                    break;
                case 1: // bfloat16's own range
                    d = (rng.NextDouble() + 0.5) * Math.Pow(2, rng.Next(-140, 130)) * (rng.Next(2) == 0 ? -1 : 1);
                    break;
                default: // a few double ulps around a halfway point, where a wrong tie or double rounding shows
                    int p = rng.Next(0, 0x7F80);
                    d = 0.5 * (Ladder[p] + Ladder[p + 1]);
                    for (int k = rng.Next(-3, 4); k != 0; k += k > 0 ? -1 : 1) d = k > 0 ? Math.BitIncrement(d) : Math.BitDecrement(d);
                    if (rng.Next(2) == 0) d = -d;
                    break;
            }
            if (double.IsNaN(d)) continue;
            Assert.True(Reference(d) == ((BFloat16)d).Bits, $"double {d:R} (0x{BitConverter.DoubleToUInt64Bits(d):X16}): reference 0x{Reference(d):X4}, got 0x{((BFloat16)d).Bits:X4}");
            float f = (float)d;
            if (!float.IsNaN(f))
                Assert.True(Reference(f) == ((BFloat16)f).Bits, $"float {f:R}: reference 0x{Reference(f):X4}, got 0x{((BFloat16)f).Bits:X4}");
        }
    }

    [Fact]
    public void ReferenceCanFail_ItDistinguishesTruncationFromRounding()
    {
        // The checker above would catch a converter that truncates: the reference disagrees with truncation here.
        float f = BitConverter.UInt32BitsToSingle(0x3F80C000); // 1 + 2^-8 + 2^-9: above halfway
        Assert.Equal(0x3F81, Reference(f));
        Assert.NotEqual(0x3F80C000u >> 16, (uint)Reference(f));
    }

    [Fact]
    public void Arithmetic_RoundsTheFloatResultOnce_AndGenericMathWorks()
    {
        var one = BFloat16.One;
        var tiny = (BFloat16)Math.Pow(2, -8);                 // half an ulp of 1
        Assert.Equal(0x3F80, (one + tiny).Bits);              // 1 + 2^-8 ties to even: 1
        Assert.Equal(3.0f, (float)((BFloat16)1.5f * (BFloat16)2f));
        Assert.Equal(0x3F81, Sum([BFloat16.One, (BFloat16)Math.Pow(2, -7)]).Bits);
        Assert.Equal(1.5, double.CreateChecked((BFloat16)1.5f));
        Assert.Equal(0x3DCD, BFloat16.CreateChecked(0.1).Bits);  // 0.1 = 0x3DCCCCCD in float → 0x3DCD
        Assert.Equal(Reference(0.1), BFloat16.CreateChecked(0.1).Bits);
        Assert.Equal((BFloat16)2f, BFloat16.Sqrt((BFloat16)4f));
        Assert.True(BFloat16.Parse("1.5", null) == (BFloat16)1.5f);
        Assert.Equal("1.5", ((BFloat16)1.5f).ToString());
        Assert.Equal(BFloat16.FromBits(0x3F81), BFloat16.BitIncrement(one));
        Assert.Equal(BFloat16.FromBits(0x3F7F), BFloat16.BitDecrement(one));
        Assert.Equal(2, System.Runtime.CompilerServices.Unsafe.SizeOf<BFloat16>());
    }

    private static T Sum<T>(T[] values) where T : IFloatingPointIeee754<T>
    {
        T s = T.Zero;
        foreach (var v in values) s += v;
        return s;
    }

    [Fact]
    public void DataTypes_MapToTheirElementTypes()
    {
        Assert.Equal(RnnDataType.Float16, RnnDescriptor.DataTypeOf<Half>());
        Assert.Equal(RnnDataType.BFloat16, RnnDescriptor.DataTypeOf<BFloat16>());
        Assert.Equal(typeof(Half), new RnnDescriptor(RnnMode.Lstm, 2, 3, dataType: RnnDataType.Float16).ElementType);
        Assert.Equal(typeof(BFloat16), new RnnDescriptor(RnnMode.Lstm, 2, 3, dataType: RnnDataType.BFloat16).ElementType);
        Assert.Throws<NotSupportedException>(() => RnnDescriptor.DataTypeOf<System.Runtime.InteropServices.NFloat>());
    }
}
