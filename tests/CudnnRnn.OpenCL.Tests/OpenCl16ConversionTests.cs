using Xunit;

namespace CudnnRnn.OpenCL.Tests;

/// <summary>
/// The device conversion kernels of the 16-bit plans against .NET's conversions, bit for bit: every one of the 65,536
/// 16-bit patterns to float, and back from float on every float a 16-bit value maps to, every exact tie between two
/// neighbours and its two float neighbours (round to nearest even is decided there), the overflow boundary, and a fixed
/// sample of random float bit patterns (subnormals, NaN payloads, huge values).
/// </summary>
public sealed class OpenCl16ConversionTests
{
    /// <summary>Every binary16 pattern to float, exactly as (float)Half does it.</summary>
    [Fact]
    public void Half_ToFloat_AllPatterns_MatchDotNet()
    {
        var bits = AllPatterns();
        var actual = ToFloat(RnnDataType.Float16, bits);
        AssertBitwise(bits, actual, i => (float)BitConverter.UInt16BitsToHalf(bits[i]), "half_to_float");
    }

    /// <summary>Floats to binary16 with round to nearest even, exactly as (Half)float does it.</summary>
    [Fact]
    public void Half_FromFloat_EdgeAndRandomFloats_MatchDotNet()
    {
        var floats = HalfProbeFloats();
        var actual = FromFloat(RnnDataType.Float16, floats);
        AssertBitwise(floats, actual, i => BitConverter.HalfToUInt16Bits((Half)floats[i]), "float_to_half");
    }

    /// <summary>The bitwise checker rejects one flipped bit (it is the only judge of the kernels above).</summary>
    [Fact]
    public void BitwiseChecker_RejectsOneCorruptedValue()
    {
        var bits = AllPatterns();
        var converted = bits.Select(b => (float)BitConverter.UInt16BitsToHalf(b)).ToArray();
        converted[12345] = BitConverter.UInt32BitsToSingle(BitConverter.SingleToUInt32Bits(converted[12345]) ^ 1);
        var e = Assert.ThrowsAny<Exception>(() =>
            AssertBitwise(bits, converted, i => (float)BitConverter.UInt16BitsToHalf(bits[i]), "corrupted"));
        Assert.Contains("12345", e.Message);
    }

    internal static ushort[] AllPatterns() => Enumerable.Range(0, 65536).Select(i => (ushort)i).ToArray();

    /// <summary>Floats that decide float → binary16 rounding, plus random bit patterns (fixed seed).</summary>
    internal static float[] HalfProbeFloats()
    {
        var list = new List<float>();
        for (int i = 0; i < 65536; i++)
        {
            var h = BitConverter.UInt16BitsToHalf((ushort)i);
            float f = (float)h;
            list.Add(f);
            if (!Half.IsFinite(h)) continue;
            // The exact midpoint to the next binary16 value up (away from zero) and its float neighbours.
            var next = Half.IsNegative(h) ? Half.BitDecrement(h) : Half.BitIncrement(h);
            double mid = ((double)f + (double)(float)next) / 2; // exact in double; also exact in float (12 significant bits)
            float m = (float)mid;
            list.Add(m);
            list.Add(MathF.BitIncrement(m));
            list.Add(MathF.BitDecrement(m));
        }
        list.AddRange([65504f, 65519.996f, 65520f, 65536f, -65520f, float.MaxValue, float.Epsilon, -float.Epsilon,
            5.96e-8f, 2.98e-8f, 2.9802322e-8f, 2.9802326e-8f, float.NaN, -float.NaN]);
        var rng = new Random(20261129);
        for (int i = 0; i < 1 << 20; i++) list.Add(BitConverter.UInt32BitsToSingle((uint)rng.NextInt64(0, 1L << 32)));
        return [.. list];
    }

    internal static float[] ToFloat(RnnDataType type, ushort[] bits)
    {
        var engine = SharedOpenCl.Require();
        using var convert = new OpenClConversions(engine, type);
        using var src = engine.AllocateBuffer<Half>(bits.Length);
        using var dst = engine.AllocateBuffer<float>(bits.Length);
        dst.Fill(float.NaN);
        src.CopyFrom(bits.Select(BitConverter.UInt16BitsToHalf).ToArray());
        convert.ToFloat(src.Handle, dst.Handle, bits.Length);
        engine.Synchronize();
        return dst.ToArray();
    }

    internal static ushort[] FromFloat(RnnDataType type, float[] floats)
    {
        var engine = SharedOpenCl.Require();
        using var convert = new OpenClConversions(engine, type);
        using var src = engine.AllocateBuffer<float>(floats.Length);
        using var dst = engine.AllocateBuffer<Half>(floats.Length);
        dst.Fill(Half.NaN);
        src.CopyFrom(floats);
        convert.FromFloat(src.Handle, dst.Handle, floats.Length);
        engine.Synchronize();
        return dst.ToArray().Select(BitConverter.HalfToUInt16Bits).ToArray();
    }

    /// <summary>Asserts actual[i] has exactly the bits of expected(i) for every i; reports the first few mismatches.</summary>
    internal static void AssertBitwise<TIn>(TIn[] input, float[] actual, Func<int, float> expected, string what) =>
        AssertBits(input, actual.Select(BitConverter.SingleToUInt32Bits).ToArray(), i => BitConverter.SingleToUInt32Bits(expected(i)), what);

    internal static void AssertBitwise<TIn>(TIn[] input, ushort[] actual, Func<int, ushort> expected, string what) =>
        AssertBits(input, actual.Select(v => (uint)v).ToArray(), i => expected(i), what);

    private static void AssertBits<TIn>(TIn[] input, uint[] actual, Func<int, uint> expected, string what)
    {
        Assert.Equal(input.Length, actual.Length);
        var bad = new List<string>();
        int count = 0;
        for (int i = 0; i < actual.Length; i++)
        {
            uint e = expected(i);
            if (actual[i] == e) continue;
            count++;
            if (bad.Count < 8) bad.Add($"[{i}] input {Show(input[i])}: got 0x{actual[i]:X}, expected 0x{e:X}");
        }
        Assert.True(count == 0, $"{what}: {count} of {actual.Length} values differ: {string.Join("; ", bad)}");
    }

    private static string Show<TIn>(TIn v) => v switch
    {
        float f => $"{f:R} (0x{BitConverter.SingleToUInt32Bits(f):X8})",
        ushort u => $"0x{u:X4}",
        _ => $"{v}",
    };
}
