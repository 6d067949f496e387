namespace CudnnRnn;

// The elementary functions: each converts to float (exact), calls the float function and rounds the result once.
public readonly partial struct BFloat16
{
    /// <inheritdoc/>
    public static BFloat16 Abs(BFloat16 value) => new((ushort)(value._bits & ~SignMask & 0xFFFF));
    /// <inheritdoc/>
    public static BFloat16 Sqrt(BFloat16 x) => R(MathF.Sqrt(x));
    /// <inheritdoc/>
    public static BFloat16 Cbrt(BFloat16 x) => R(MathF.Cbrt(x));
    /// <inheritdoc/>
    public static BFloat16 Hypot(BFloat16 x, BFloat16 y) => R(float.Hypot(x, y));
    /// <inheritdoc/>
    public static BFloat16 RootN(BFloat16 x, int n) => R(float.RootN(x, n));
    /// <inheritdoc/>
    public static BFloat16 Pow(BFloat16 x, BFloat16 y) => R(MathF.Pow(x, y));
    /// <inheritdoc/>
    public static BFloat16 Exp(BFloat16 x) => R(MathF.Exp(x));
    /// <inheritdoc/>
    public static BFloat16 Exp10(BFloat16 x) => R(float.Exp10(x));
    /// <inheritdoc/>
    public static BFloat16 Exp2(BFloat16 x) => R(float.Exp2(x));
    /// <inheritdoc/>
    public static BFloat16 ExpM1(BFloat16 x) => R(float.ExpM1(x));
    /// <inheritdoc/>
    public static BFloat16 Exp10M1(BFloat16 x) => R(float.Exp10M1(x));
    /// <inheritdoc/>
    public static BFloat16 Exp2M1(BFloat16 x) => R(float.Exp2M1(x));
    /// <inheritdoc/>
    public static BFloat16 Log(BFloat16 x) => R(MathF.Log(x));
    /// <inheritdoc/>
    public static BFloat16 Log(BFloat16 x, BFloat16 newBase) => R(MathF.Log(x, newBase));
    /// <inheritdoc/>
    public static BFloat16 Log10(BFloat16 x) => R(MathF.Log10(x));
    /// <inheritdoc/>
    public static BFloat16 Log2(BFloat16 x) => R(MathF.Log2(x));
    /// <inheritdoc/>
    public static BFloat16 LogP1(BFloat16 x) => R(float.LogP1(x));
    /// <inheritdoc/>
    public static BFloat16 Log2P1(BFloat16 x) => R(float.Log2P1(x));
    /// <inheritdoc/>
    public static BFloat16 Log10P1(BFloat16 x) => R(float.Log10P1(x));
    /// <inheritdoc/>
    public static BFloat16 Sin(BFloat16 x) => R(MathF.Sin(x));
    /// <inheritdoc/>
    public static BFloat16 Cos(BFloat16 x) => R(MathF.Cos(x));
    /// <inheritdoc/>
    public static BFloat16 Tan(BFloat16 x) => R(MathF.Tan(x));
    /// <inheritdoc/>
    public static BFloat16 Asin(BFloat16 x) => R(MathF.Asin(x));
    /// <inheritdoc/>
    public static BFloat16 Acos(BFloat16 x) => R(MathF.Acos(x));
    /// <inheritdoc/>
    public static BFloat16 Atan(BFloat16 x) => R(MathF.Atan(x));
    /// <inheritdoc/>
    public static BFloat16 Atan2(BFloat16 y, BFloat16 x) => R(MathF.Atan2(y, x));
    /// <inheritdoc/>
    public static BFloat16 Atan2Pi(BFloat16 y, BFloat16 x) => R(float.Atan2Pi(y, x));
    /// <inheritdoc/>
    public static BFloat16 SinPi(BFloat16 x) => R(float.SinPi(x));
    /// <inheritdoc/>
    public static BFloat16 CosPi(BFloat16 x) => R(float.CosPi(x));
    /// <inheritdoc/>
    public static BFloat16 TanPi(BFloat16 x) => R(float.TanPi(x));
    /// <inheritdoc/>
    public static BFloat16 AsinPi(BFloat16 x) => R(float.AsinPi(x));
    /// <inheritdoc/>
    public static BFloat16 AcosPi(BFloat16 x) => R(float.AcosPi(x));
    /// <inheritdoc/>
    public static BFloat16 AtanPi(BFloat16 x) => R(float.AtanPi(x));
    /// <inheritdoc/>
    public static (BFloat16 Sin, BFloat16 Cos) SinCos(BFloat16 x) => (Sin(x), Cos(x));
    /// <inheritdoc/>
    public static (BFloat16 SinPi, BFloat16 CosPi) SinCosPi(BFloat16 x) => (SinPi(x), CosPi(x));
    /// <inheritdoc/>
    public static BFloat16 Sinh(BFloat16 x) => R(MathF.Sinh(x));
    /// <inheritdoc/>
    public static BFloat16 Cosh(BFloat16 x) => R(MathF.Cosh(x));
    /// <inheritdoc/>
    public static BFloat16 Tanh(BFloat16 x) => R(MathF.Tanh(x));
    /// <inheritdoc/>
    public static BFloat16 Asinh(BFloat16 x) => R(MathF.Asinh(x));
    /// <inheritdoc/>
    public static BFloat16 Acosh(BFloat16 x) => R(MathF.Acosh(x));
    /// <inheritdoc/>
    public static BFloat16 Atanh(BFloat16 x) => R(MathF.Atanh(x));
    /// <inheritdoc/>
    public static BFloat16 Ceiling(BFloat16 x) => R(MathF.Ceiling(x));
    /// <inheritdoc/>
    public static BFloat16 Floor(BFloat16 x) => R(MathF.Floor(x));
    /// <inheritdoc/>
    public static BFloat16 Truncate(BFloat16 x) => R(MathF.Truncate(x));
    /// <inheritdoc/>
    public static BFloat16 Round(BFloat16 x) => R(MathF.Round(x));
    /// <inheritdoc/>
    public static BFloat16 Round(BFloat16 x, int digits) => R(MathF.Round(x, digits));
    /// <inheritdoc/>
    public static BFloat16 Round(BFloat16 x, MidpointRounding mode) => R(MathF.Round(x, mode));
    /// <inheritdoc/>
    public static BFloat16 Round(BFloat16 x, int digits, MidpointRounding mode) => R(MathF.Round(x, digits, mode));
    /// <summary>x·y + z with one rounding of the float result (the float FMA rounds once more first).</summary>
    public static BFloat16 FusedMultiplyAdd(BFloat16 left, BFloat16 right, BFloat16 addend) => R(MathF.FusedMultiplyAdd(left, right, addend));
    /// <inheritdoc/>
    public static BFloat16 Ieee754Remainder(BFloat16 left, BFloat16 right) => R(MathF.IEEERemainder(left, right));
    /// <inheritdoc/>
    public static int ILogB(BFloat16 x) => MathF.ILogB(x);
    /// <inheritdoc/>
    public static BFloat16 ScaleB(BFloat16 x, int n) => (BFloat16)Math.ScaleB((double)x, n);
    /// <inheritdoc/>
    public static BFloat16 ReciprocalEstimate(BFloat16 x) => R(1f / x);
    /// <inheritdoc/>
    public static BFloat16 ReciprocalSqrtEstimate(BFloat16 x) => R(1f / MathF.Sqrt(x));
    /// <inheritdoc/>
    public static BFloat16 CopySign(BFloat16 value, BFloat16 sign) => new((ushort)((value._bits & ~SignMask & 0xFFFF) | (sign._bits & SignMask)));

    /// <summary>The next representable value towards +∞.</summary>
    public static BFloat16 BitIncrement(BFloat16 x)
    {
        if (IsNaN(x) || x._bits == PositiveInfinity._bits) return x;
        if (x._bits == NegativeZero._bits) return Epsilon;
        return new((ushort)((x._bits & SignMask) != 0 ? x._bits - 1 : x._bits + 1));
    }

    /// <summary>The next representable value towards −∞.</summary>
    public static BFloat16 BitDecrement(BFloat16 x)
    {
        if (IsNaN(x) || x._bits == NegativeInfinity._bits) return x;
        if (x._bits == 0) return new((ushort)(SignMask | 1));
        return new((ushort)((x._bits & SignMask) != 0 ? x._bits + 1 : x._bits - 1));
    }

    /// <summary>The larger value; NaN if either is NaN (as <see cref="float.Max"/>).</summary>
    public static BFloat16 Max(BFloat16 x, BFloat16 y) => R(float.Max(x, y));
    /// <summary>The smaller value; NaN if either is NaN (as <see cref="float.Min"/>).</summary>
    public static BFloat16 Min(BFloat16 x, BFloat16 y) => R(float.Min(x, y));
    /// <inheritdoc/>
    public static BFloat16 MaxNumber(BFloat16 x, BFloat16 y) => R(float.MaxNumber(x, y));
    /// <inheritdoc/>
    public static BFloat16 MinNumber(BFloat16 x, BFloat16 y) => R(float.MinNumber(x, y));
    /// <inheritdoc/>
    public static BFloat16 MaxMagnitude(BFloat16 x, BFloat16 y) => R(float.MaxMagnitude(x, y));
    /// <inheritdoc/>
    public static BFloat16 MaxMagnitudeNumber(BFloat16 x, BFloat16 y) => R(float.MaxMagnitudeNumber(x, y));
    /// <inheritdoc/>
    public static BFloat16 MinMagnitude(BFloat16 x, BFloat16 y) => R(float.MinMagnitude(x, y));
    /// <inheritdoc/>
    public static BFloat16 MinMagnitudeNumber(BFloat16 x, BFloat16 y) => R(float.MinMagnitudeNumber(x, y));
    /// <inheritdoc/>
    public static BFloat16 Clamp(BFloat16 value, BFloat16 min, BFloat16 max) => R(float.Clamp(value, min, max));
    /// <inheritdoc/>
    public static int Sign(BFloat16 value) => MathF.Sign(value);
}
