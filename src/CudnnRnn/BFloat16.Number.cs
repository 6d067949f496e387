using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Numerics;

namespace CudnnRnn;

// Classification, parsing and formatting (through float, which holds every bfloat16 exactly) and the generic
// INumberBase conversions (CreateChecked and friends) to and from the built-in numeric types.
public readonly partial struct BFloat16
{
    /// <inheritdoc/>
    public static bool IsNaN(BFloat16 value) => (value._bits & 0x7FFF) > ExponentMask;
    /// <inheritdoc/>
    public static bool IsInfinity(BFloat16 value) => (value._bits & 0x7FFF) == ExponentMask;
    /// <inheritdoc/>
    public static bool IsPositiveInfinity(BFloat16 value) => value._bits == ExponentMask;
    /// <inheritdoc/>
    public static bool IsNegativeInfinity(BFloat16 value) => value._bits == (SignMask | ExponentMask);
    /// <inheritdoc/>
    public static bool IsFinite(BFloat16 value) => (value._bits & ExponentMask) != ExponentMask;
    /// <inheritdoc/>
    public static bool IsNormal(BFloat16 value) => (value._bits & ExponentMask) is not 0 and not ExponentMask;
    /// <inheritdoc/>
    public static bool IsSubnormal(BFloat16 value) => (value._bits & ExponentMask) == 0 && (value._bits & FractionMask) != 0;
    /// <inheritdoc/>
    public static bool IsZero(BFloat16 value) => (value._bits & 0x7FFF) == 0;
    /// <inheritdoc/>
    public static bool IsNegative(BFloat16 value) => (value._bits & SignMask) != 0;
    /// <inheritdoc/>
    public static bool IsPositive(BFloat16 value) => (value._bits & SignMask) == 0;
    /// <inheritdoc/>
    public static bool IsInteger(BFloat16 value) => float.IsInteger(value);
    /// <inheritdoc/>
    public static bool IsEvenInteger(BFloat16 value) => float.IsEvenInteger(value);
    /// <inheritdoc/>
    public static bool IsOddInteger(BFloat16 value) => float.IsOddInteger(value);
    /// <inheritdoc/>
    public static bool IsCanonical(BFloat16 value) => true;
    /// <inheritdoc/>
    public static bool IsComplexNumber(BFloat16 value) => false;
    /// <inheritdoc/>
    public static bool IsImaginaryNumber(BFloat16 value) => false;
    /// <inheritdoc/>
    public static bool IsRealNumber(BFloat16 value) => !IsNaN(value);

    // ------------------------------------------------------------------ IFloatingPoint's exponent / significand access

    private short Exponent => (short)ILogB(this);
    private ushort Significand => IsNormal(this) ? (ushort)((_bits & FractionMask) | 0x80) : (ushort)(_bits & FractionMask);

    /// <inheritdoc/>
    public int GetExponentByteCount() => sizeof(short);
    /// <inheritdoc/>
    public int GetExponentShortestBitLength()
    {
        short e = Exponent;
        return e >= 0 ? 16 - BitOperations.LeadingZeroCount((uint)e) + 16 : 33 - BitOperations.LeadingZeroCount((uint)~e);
    }
    /// <inheritdoc/>
    public int GetSignificandByteCount() => sizeof(ushort);
    /// <inheritdoc/>
    public int GetSignificandBitLength() => 8;
    /// <inheritdoc/>
    public bool TryWriteExponentBigEndian(Span<byte> destination, out int bytesWritten) =>
        TryWrite(destination, (ushort)Exponent, bigEndian: true, out bytesWritten);
    /// <inheritdoc/>
    public bool TryWriteExponentLittleEndian(Span<byte> destination, out int bytesWritten) =>
        TryWrite(destination, (ushort)Exponent, bigEndian: false, out bytesWritten);
    /// <inheritdoc/>
    public bool TryWriteSignificandBigEndian(Span<byte> destination, out int bytesWritten) =>
        TryWrite(destination, Significand, bigEndian: true, out bytesWritten);
    /// <inheritdoc/>
    public bool TryWriteSignificandLittleEndian(Span<byte> destination, out int bytesWritten) =>
        TryWrite(destination, Significand, bigEndian: false, out bytesWritten);

    private static bool TryWrite(Span<byte> destination, ushort value, bool bigEndian, out int bytesWritten)
    {
        bool ok = bigEndian
            ? System.Buffers.Binary.BinaryPrimitives.TryWriteUInt16BigEndian(destination, value)
            : System.Buffers.Binary.BinaryPrimitives.TryWriteUInt16LittleEndian(destination, value);
        bytesWritten = ok ? sizeof(ushort) : 0;
        return ok;
    }

    // ------------------------------------------------------------------ formatting and parsing (through float)

    /// <summary>The shortest decimal that rounds back to this value (as float's "R" formatting of the exact value).</summary>
    public override string ToString() => ((float)this).ToString(CultureInfo.InvariantCulture);
    /// <inheritdoc/>
    public string ToString(string? format, IFormatProvider? formatProvider) => ((float)this).ToString(format, formatProvider);
    /// <inheritdoc/>
    public bool TryFormat(Span<char> destination, out int charsWritten, ReadOnlySpan<char> format, IFormatProvider? provider) =>
        ((float)this).TryFormat(destination, out charsWritten, format, provider);
    /// <inheritdoc/>
    public bool TryFormat(Span<byte> utf8Destination, out int bytesWritten, ReadOnlySpan<char> format, IFormatProvider? provider) =>
        ((float)this).TryFormat(utf8Destination, out bytesWritten, format, provider);

    // Parsing goes through double (one rounding of the decimal to 53 bits, then one to bfloat16): a decimal within 2^−53
    // relative of a bfloat16 halfway point may round differently from a correctly rounded parse, as float.Parse's result
    // would for Half; documented, not hidden.

    /// <summary>Parses through <see cref="double.Parse(string, NumberStyles, IFormatProvider)"/> and rounds to bfloat16.</summary>
    public static BFloat16 Parse(string s, NumberStyles style, IFormatProvider? provider) => (BFloat16)double.Parse(s, style, provider);
    /// <inheritdoc cref="Parse(string, NumberStyles, IFormatProvider)"/>
    public static BFloat16 Parse(ReadOnlySpan<char> s, NumberStyles style, IFormatProvider? provider) => (BFloat16)double.Parse(s, style, provider);
    /// <inheritdoc cref="Parse(string, NumberStyles, IFormatProvider)"/>
    public static BFloat16 Parse(string s, IFormatProvider? provider) => (BFloat16)double.Parse(s, provider);
    /// <inheritdoc cref="Parse(string, NumberStyles, IFormatProvider)"/>
    public static BFloat16 Parse(ReadOnlySpan<char> s, IFormatProvider? provider) => (BFloat16)double.Parse(s, provider);
    /// <inheritdoc cref="Parse(string, NumberStyles, IFormatProvider)"/>
    public static bool TryParse([NotNullWhen(true)] string? s, NumberStyles style, IFormatProvider? provider, out BFloat16 result) =>
        Done(double.TryParse(s, style, provider, out double d), d, out result);
    /// <inheritdoc cref="Parse(string, NumberStyles, IFormatProvider)"/>
    public static bool TryParse(ReadOnlySpan<char> s, NumberStyles style, IFormatProvider? provider, out BFloat16 result) =>
        Done(double.TryParse(s, style, provider, out double d), d, out result);
    /// <inheritdoc cref="Parse(string, NumberStyles, IFormatProvider)"/>
    public static bool TryParse([NotNullWhen(true)] string? s, IFormatProvider? provider, out BFloat16 result) =>
        Done(double.TryParse(s, provider, out double d), d, out result);
    /// <inheritdoc cref="Parse(string, NumberStyles, IFormatProvider)"/>
    public static bool TryParse(ReadOnlySpan<char> s, IFormatProvider? provider, out BFloat16 result) =>
        Done(double.TryParse(s, provider, out double d), d, out result);

    private static bool Done(bool ok, double d, out BFloat16 result)
    {
        result = ok ? (BFloat16)d : default;
        return ok;
    }

    // ------------------------------------------------------------------ generic conversions (INumberBase)

    /// <inheritdoc/>
    static bool INumberBase<BFloat16>.TryConvertFromChecked<TOther>(TOther value, out BFloat16 result) => TryConvertFrom(value, out result);
    /// <inheritdoc/>
    static bool INumberBase<BFloat16>.TryConvertFromSaturating<TOther>(TOther value, out BFloat16 result) => TryConvertFrom(value, out result);
    /// <inheritdoc/>
    static bool INumberBase<BFloat16>.TryConvertFromTruncating<TOther>(TOther value, out BFloat16 result) => TryConvertFrom(value, out result);
    /// <inheritdoc/>
    static bool INumberBase<BFloat16>.TryConvertToChecked<TOther>(BFloat16 value, [MaybeNullWhen(false)] out TOther result) =>
        TryConvertTo(value, checkedInt: true, out result);
    /// <inheritdoc/>
    static bool INumberBase<BFloat16>.TryConvertToSaturating<TOther>(BFloat16 value, [MaybeNullWhen(false)] out TOther result) =>
        TryConvertTo(value, checkedInt: false, out result);
    /// <inheritdoc/>
    static bool INumberBase<BFloat16>.TryConvertToTruncating<TOther>(BFloat16 value, [MaybeNullWhen(false)] out TOther result) =>
        TryConvertTo(value, checkedInt: false, out result);

    /// <summary>Converts any number to bfloat16, rounding to nearest, ties to even (out-of-range → ±Infinity).</summary>
    public static BFloat16 CreateChecked<TOther>(TOther value) where TOther : INumberBase<TOther> => Create(value);
    /// <inheritdoc cref="CreateChecked{TOther}(TOther)"/>
    public static BFloat16 CreateSaturating<TOther>(TOther value) where TOther : INumberBase<TOther> => Create(value);
    /// <inheritdoc cref="CreateChecked{TOther}(TOther)"/>
    public static BFloat16 CreateTruncating<TOther>(TOther value) where TOther : INumberBase<TOther> => Create(value);

    private static BFloat16 Create<TOther>(TOther value) where TOther : INumberBase<TOther>
    {
        if (TryConvertFrom(value, out var result)) return result;
        if (TOther.TryConvertToChecked(value, out double d)) return (BFloat16)d;
        throw new NotSupportedException($"No conversion from {typeof(TOther)} to {nameof(BFloat16)}.");
    }

    /// <summary>From the built-in numbers: floating types round once (double directly), integers through double.</summary>
    private static bool TryConvertFrom<TOther>(TOther value, out BFloat16 result) where TOther : INumberBase<TOther>
    {
        if (typeof(TOther) == typeof(BFloat16)) { result = (BFloat16)(object)value; return true; }
        if (typeof(TOther) == typeof(float)) { result = (BFloat16)(float)(object)value; return true; }
        if (typeof(TOther) == typeof(double)) { result = (BFloat16)(double)(object)value; return true; }
        if (typeof(TOther) == typeof(Half)) { result = (BFloat16)(Half)(object)value; return true; }
        if (typeof(TOther) == typeof(decimal)) { result = (BFloat16)(double)(decimal)(object)value; return true; }
        if (typeof(TOther) == typeof(int)) { result = (BFloat16)(double)(int)(object)value; return true; }
        if (typeof(TOther) == typeof(long)) { result = (BFloat16)(double)(long)(object)value; return true; }
        if (typeof(TOther) == typeof(short)) { result = (BFloat16)(float)(short)(object)value; return true; }
        if (typeof(TOther) == typeof(byte)) { result = (BFloat16)(float)(byte)(object)value; return true; }
        if (typeof(TOther) == typeof(uint)) { result = (BFloat16)(double)(uint)(object)value; return true; }
        if (typeof(TOther) == typeof(ulong)) { result = (BFloat16)(double)(ulong)(object)value; return true; }
        result = default;
        return false;
    }

    /// <summary>To the built-in numbers through the exact float value (integers: checked or saturating).</summary>
    private static bool TryConvertTo<TOther>(BFloat16 value, bool checkedInt, [MaybeNullWhen(false)] out TOther result) where TOther : INumberBase<TOther>
    {
        float f = value;
        if (typeof(TOther) == typeof(float)) { result = (TOther)(object)f; return true; }
        if (typeof(TOther) == typeof(double)) { result = (TOther)(object)(double)f; return true; }
        if (typeof(TOther) == typeof(Half)) { result = (TOther)(object)(Half)f; return true; }
        if (typeof(TOther) == typeof(decimal)) { result = (TOther)(object)(checkedInt ? checked((decimal)f) : (decimal)f); return true; }
        if (typeof(TOther) == typeof(int)) { result = (TOther)(object)(checkedInt ? checked((int)f) : int.CreateSaturating(f)); return true; }
        if (typeof(TOther) == typeof(long)) { result = (TOther)(object)(checkedInt ? checked((long)f) : long.CreateSaturating(f)); return true; }
        result = default;
        return false;
    }
}
