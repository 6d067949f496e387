using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace CudnnRnn;

/// <summary>
/// bfloat16: the upper 16 bits of an IEEE 754 binary32 (1 sign bit, float32's 8 exponent bits, 7 fraction bits). .NET has
/// no such type; this one implements <see cref="IFloatingPointIeee754{TSelf}"/> so it flows through the same generic API
/// as <see cref="float"/>, <see cref="double"/> and <see cref="Half"/>. Arithmetic converts to <see cref="float"/> (exact),
/// computes there and rounds the result back once, to nearest, ties to even.
/// </summary>
/// <remarks>
/// Conversions: float → bfloat16 and double → bfloat16 round to nearest, ties to even, directly from the source value (a
/// double is not rounded to float first, which could round twice); a value at or beyond the overflow threshold
/// (2^128 − 2^119) becomes ±Infinity, as IEEE 754 rounding does; NaN stays NaN (made quiet, sign kept). bfloat16 → float
/// and → double are exact. The file is split by concern: this file (storage, conversions, operators, constants),
/// BFloat16.Math.cs (the elementary functions) and BFloat16.Number.cs (classification, parsing, formatting, generic
/// conversions).
/// </remarks>
[StructLayout(LayoutKind.Sequential, Size = 2)]
public readonly partial struct BFloat16 : IFloatingPointIeee754<BFloat16>, IMinMaxValue<BFloat16>
{
    private const ushort SignMask = 0x8000;
    private const ushort ExponentMask = 0x7F80;
    private const ushort FractionMask = 0x007F;
    private const ushort QuietBit = 0x0040;

    private const double TwoPow128 = 340282366920938463463374607431768211456.0; // 2^128, exact

    private readonly ushort _bits;

    private BFloat16(ushort bits) => _bits = bits;

    /// <summary>The value with the given bit pattern (as <see cref="BitConverter.UInt16BitsToHalf"/> does for Half).</summary>
    public static BFloat16 FromBits(ushort bits) => new(bits);

    /// <summary>The bit pattern of <paramref name="value"/>.</summary>
    public static ushort ToBits(BFloat16 value) => value._bits;

    /// <summary>The bit pattern of this value.</summary>
    public ushort Bits => _bits;

    // ------------------------------------------------------------------ conversions

    /// <summary>Rounds a float32 bit pattern to bfloat16 bits: nearest, ties to even; NaN quiet with its sign.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static ushort RoundFloatBits(uint bits)
    {
        if ((bits & 0x7FFF_FFFFu) > 0x7F80_0000u) return (ushort)((bits >> 16) | QuietBit);
        // Adding 0x7FFF plus the lowest kept bit rounds the discarded 16 bits to nearest, ties to even; a carry out of the
        // fraction increments the exponent, and from the largest finite value it reaches 0x7F80 (Infinity), as IEEE does.
        return (ushort)((bits + 0x7FFFu + ((bits >> 16) & 1u)) >> 16);
    }

    /// <summary>Rounds <paramref name="value"/> to the nearest bfloat16, ties to even (overflow → ±Infinity, NaN kept).</summary>
    public static explicit operator BFloat16(float value) => new(RoundFloatBits(BitConverter.SingleToUInt32Bits(value)));

    /// <summary>
    /// Rounds <paramref name="value"/> to the nearest bfloat16, ties to even, in one step (not via float, which could
    /// round twice: a double just above a bfloat16 halfway point can round to float exactly at that point).
    /// </summary>
    public static explicit operator BFloat16(double value)
    {
        ulong bits = BitConverter.DoubleToUInt64Bits(value);
        ushort sign = (ushort)((bits >> 48) & SignMask);
        if (double.IsNaN(value)) return new((ushort)(sign | ExponentMask | QuietBit | (ushort)((bits >> 45) & 0x3F)));
        double a = Math.Abs(value);
        if (a == 0) return new(sign);
        if (a >= TwoPow128) return new((ushort)(sign | ExponentMask)); // at or beyond 2^128 (also Infinity)
        // The quantum (unit in the last place) of bfloat16 at a's binade: 7 fraction bits for normals (exponent ≥ −126),
        // the fixed subnormal quantum 2^−133 below. a / quantum and the product below are exact power-of-two scalings,
        // and Math.Round rounds that exact quotient to nearest, ties to even: one rounding of the exact value.
        int e = Math.Max(Math.ILogB(a), -126);
        double q = Math.ScaleB(1.0, e - 7);
        double n = Math.Round(Math.ScaleB(a, 7 - e), MidpointRounding.ToEven);
        double rounded = n * q; // exact: n ≤ 256
        if (rounded >= TwoPow128) return new((ushort)(sign | ExponentMask));
        return new((ushort)(sign | (BitConverter.SingleToUInt32Bits((float)rounded) >> 16))); // exact in float
    }

    /// <summary>Exact: every bfloat16 is a float.</summary>
    public static implicit operator float(BFloat16 value) => BitConverter.UInt32BitsToSingle((uint)value._bits << 16);

    /// <summary>Exact: every bfloat16 is a double.</summary>
    public static explicit operator double(BFloat16 value) => (float)value;

    /// <summary>Rounds a Half to bfloat16 (via float, which is exact for every Half).</summary>
    public static explicit operator BFloat16(Half value) => (BFloat16)(float)value;

    /// <summary>Rounds to Half (via float: exact first step, so a single rounding).</summary>
    public static explicit operator Half(BFloat16 value) => (Half)(float)value;

    private static BFloat16 R(float value) => (BFloat16)value;

    // ------------------------------------------------------------------ constants

    /// <summary>Largest finite value, (2 − 2^−7) · 2^127 ≈ 3.39e38.</summary>
    public static BFloat16 MaxValue => new(0x7F7F);
    /// <summary>Most negative finite value.</summary>
    public static BFloat16 MinValue => new(0xFF7F);
    /// <summary>Smallest positive value (subnormal), 2^−133.</summary>
    public static BFloat16 Epsilon => new(0x0001);
    /// <summary>Smallest positive normal value, 2^−126.</summary>
    public static BFloat16 MinNormal => new(0x0080);
    /// <summary>A quiet NaN.</summary>
    public static BFloat16 NaN => new(0x7FC0);
    /// <summary>+∞.</summary>
    public static BFloat16 PositiveInfinity => new(0x7F80);
    /// <summary>−∞.</summary>
    public static BFloat16 NegativeInfinity => new(0xFF80);
    /// <summary>−0.</summary>
    public static BFloat16 NegativeZero => new(0x8000);
    /// <summary>0.</summary>
    public static BFloat16 Zero => new(0);
    /// <summary>1.</summary>
    public static BFloat16 One => new(0x3F80);
    /// <summary>−1.</summary>
    public static BFloat16 NegativeOne => new(0xBF80);
    /// <summary>e rounded to bfloat16.</summary>
    public static BFloat16 E => R(MathF.E);
    /// <summary>π rounded to bfloat16.</summary>
    public static BFloat16 Pi => R(MathF.PI);
    /// <summary>2π rounded to bfloat16.</summary>
    public static BFloat16 Tau => R(MathF.Tau);
    /// <summary>2 (binary).</summary>
    public static int Radix => 2;
    /// <summary>0.</summary>
    public static BFloat16 AdditiveIdentity => Zero;
    /// <summary>1.</summary>
    public static BFloat16 MultiplicativeIdentity => One;

    // ------------------------------------------------------------------ operators (computed in float, rounded once)

    /// <inheritdoc/>
    public static BFloat16 operator +(BFloat16 left, BFloat16 right) => R((float)left + right);
    /// <inheritdoc/>
    public static BFloat16 operator -(BFloat16 left, BFloat16 right) => R((float)left - right);
    /// <inheritdoc/>
    public static BFloat16 operator *(BFloat16 left, BFloat16 right) => R((float)left * right);
    /// <inheritdoc/>
    public static BFloat16 operator /(BFloat16 left, BFloat16 right) => R((float)left / right);
    /// <inheritdoc/>
    public static BFloat16 operator %(BFloat16 left, BFloat16 right) => R((float)left % right);
    /// <summary>Flips the sign bit (exact, NaN included).</summary>
    public static BFloat16 operator -(BFloat16 value) => new((ushort)(value._bits ^ SignMask));
    /// <inheritdoc/>
    public static BFloat16 operator +(BFloat16 value) => value;
    /// <inheritdoc/>
    public static BFloat16 operator ++(BFloat16 value) => R(value + 1f);
    /// <inheritdoc/>
    public static BFloat16 operator --(BFloat16 value) => R(value - 1f);
    /// <summary>IEEE equality: NaN equals nothing, +0 equals −0.</summary>
    public static bool operator ==(BFloat16 left, BFloat16 right) => (float)left == (float)right;
    /// <inheritdoc/>
    public static bool operator !=(BFloat16 left, BFloat16 right) => (float)left != (float)right;
    /// <inheritdoc/>
    public static bool operator <(BFloat16 left, BFloat16 right) => (float)left < (float)right;
    /// <inheritdoc/>
    public static bool operator >(BFloat16 left, BFloat16 right) => (float)left > (float)right;
    /// <inheritdoc/>
    public static bool operator <=(BFloat16 left, BFloat16 right) => (float)left <= (float)right;
    /// <inheritdoc/>
    public static bool operator >=(BFloat16 left, BFloat16 right) => (float)left >= (float)right;

    /// <summary>As <see cref="float.Equals(float)"/>: NaN equals NaN (so values work as keys), +0 equals −0.</summary>
    public bool Equals(BFloat16 other) => ((float)this).Equals((float)other);
    /// <inheritdoc/>
    public override bool Equals(object? obj) => obj is BFloat16 other && Equals(other);
    /// <inheritdoc/>
    public override int GetHashCode() => ((float)this).GetHashCode();
    /// <summary>As <see cref="float.CompareTo(float)"/> (NaN sorts first).</summary>
    public int CompareTo(BFloat16 other) => ((float)this).CompareTo((float)other);
    /// <inheritdoc/>
    public int CompareTo(object? obj) => obj switch
    {
        null => 1,
        BFloat16 other => CompareTo(other),
        _ => throw new ArgumentException($"Expected a {nameof(BFloat16)}, got {obj.GetType()}.", nameof(obj)),
    };
}
