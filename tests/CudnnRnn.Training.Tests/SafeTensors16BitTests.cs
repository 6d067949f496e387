using System.Buffers.Binary;
using System.Text;
using CudnnRnn.Training;
using Xunit;

namespace CudnnRnn.Training.Tests;

/// <summary>safetensors <c>F16</c> and <c>BF16</c> (issue 14, item 1): written bytes checked against the format by hand, values read back exactly, crafted files refused.</summary>
public sealed class SafeTensors16BitTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), $"cudnnrnn-st16-{Guid.NewGuid():N}");

    public SafeTensors16BitTests() => Directory.CreateDirectory(_dir);

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string PathOf(string name) => Path.Combine(_dir, name);

    private static (string Header, byte[] Data) Split(byte[] file)
    {
        int n = (int)BinaryPrimitives.ReadUInt64LittleEndian(file);
        return (Encoding.UTF8.GetString(file, 8, n).TrimEnd(' '), file[(8 + n)..]);
    }

    [Fact]
    public void Float16_tensors_are_written_as_F16_little_endian_and_read_back_exactly()
    {
        string path = PathOf("h.safetensors");
        Half[] v = [(Half)1, (Half)(-2.5f), Half.MaxValue, Half.Epsilon, (Half)0.1f];
        SafeTensors.Write(path, [("w", new[] { 5 }, v)], new Dictionary<string, string>());
        var (header, data) = Split(File.ReadAllBytes(path));
        Assert.Equal("""{"w":{"dtype":"F16","shape":[5],"data_offsets":[0,10]}}""", header);
        // IEEE binary16 bit patterns worked out by hand: 1 = 0x3C00, −2.5 = 0xC100, 65504 = 0x7BFF, 2^-24 = 0x0001, 0.1 → 0x2E66.
        Assert.Equal(new byte[] { 0x00, 0x3C, 0x00, 0xC1, 0xFF, 0x7B, 0x01, 0x00, 0x66, 0x2E }, data);
        var (tensors, _) = SafeTensors.Read(path);
        Assert.Equal("F16", tensors["w"].DType);
        Assert.Equal(new[] { 1, -2.5, 65504, Math.ScaleB(1, -24), 0.0999755859375 }, tensors["w"].Values);
    }

    [Fact]
    public void BFloat16_tensors_are_written_as_BF16_and_read_back_exactly()
    {
        string path = PathOf("b.safetensors");
        BFloat16[] v = [(BFloat16)1f, (BFloat16)(-2.5f), BFloat16.MaxValue, (BFloat16)1e-30f];
        SafeTensors.Write(path, [("b", new[] { 2, 2 }, v)], new Dictionary<string, string> { ["k"] = "v" });
        var (header, data) = Split(File.ReadAllBytes(path));
        Assert.Contains("\"b\":{\"dtype\":\"BF16\",\"shape\":[2,2],\"data_offsets\":[0,8]}", header);
        Assert.Equal(new byte[] { 0x80, 0x3F, 0x20, 0xC0, 0x7F, 0x7F }, data[..6]);   // 1 = 0x3F80, −2.5 = 0xC020, max = 0x7F7F
        var (tensors, meta) = SafeTensors.Read(path);
        Assert.Equal("BF16", tensors["b"].DType);
        Assert.Equal(new[] { 2, 2 }, tensors["b"].Shape);
        Assert.Equal(v.Select(x => (double)(float)x).ToArray(), tensors["b"].Values);
        Assert.Equal(3.3895313892515355e38, tensors["b"].Values[2]);
        Assert.Equal("v", meta["k"]);
    }

    [Fact]
    public void A_mixed_file_reads_each_tensor_in_its_own_dtype()
    {
        byte[] data = [0x00, 0x3C, /* F16 1 */ 0x80, 0xBF, /* BF16 −1 */ 0, 0, 0x80, 0x3F /* F32 1 */];
        string path = PathOf("mixed.safetensors");
        File.WriteAllBytes(path, ModelFileHardeningTests.Raw(
            """{"h":{"dtype":"F16","shape":[1],"data_offsets":[0,2]},"b":{"dtype":"BF16","shape":[1],"data_offsets":[2,4]},"f":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}""", data));
        var (t, _) = SafeTensors.Read(path);
        Assert.Equal(1.0, t["h"].Values[0]);
        Assert.Equal(-1.0, t["b"].Values[0]);
        Assert.Equal(1.0, t["f"].Values[0]);
    }

    [Theory]
    [InlineData("F16", 0x7E00)]   // NaN
    [InlineData("F16", 0x7C00)]   // +∞
    [InlineData("F16", 0xFC00)]   // −∞
    [InlineData("BF16", 0x7FC0)]  // NaN
    [InlineData("BF16", 0x7F81)]  // signalling NaN
    [InlineData("BF16", 0xFF80)]  // −∞
    public void Nonfinite_16_bit_values_are_refused(string dtype, int bits)
    {
        var data = new byte[4];
        BinaryPrimitives.WriteUInt16LittleEndian(data.AsSpan(2), (ushort)bits);
        string path = PathOf($"bad-{dtype}-{bits:X4}.safetensors");
        File.WriteAllBytes(path, ModelFileHardeningTests.Raw($$$"""{"w":{"dtype":"{{{dtype}}}","shape":[2],"data_offsets":[0,4]}}""", data));
        var e = Assert.Throws<ModelFormatException>(() => SafeTensors.Read(path));
        Assert.Contains("'w'", e.Reason);
        Assert.Contains("element 1", e.Reason);
    }

    [Theory]
    [InlineData("F16", "[3]", "[0,4]")]    // 3 halves need 6 bytes
    [InlineData("BF16", "[2]", "[0,8]")]   // 2 bfloat16 need 4 bytes, not F32's 8
    [InlineData("F16", "[1]", "[0,3]")]    // odd byte count
    public void A_byte_count_that_does_not_fit_the_16_bit_dtype_is_refused(string dtype, string shape, string offsets)
    {
        string path = PathOf($"size-{Guid.NewGuid():N}.safetensors");
        int end = int.Parse(offsets.Split(',')[1].TrimEnd(']'));
        File.WriteAllBytes(path, ModelFileHardeningTests.Raw("{\"w\":{\"dtype\":\"" + dtype + "\",\"shape\":" + shape + ",\"data_offsets\":" + offsets + "}}", new byte[end]));
        var e = Assert.Throws<ModelFormatException>(() => SafeTensors.Read(path));
        Assert.Contains($"of {dtype} needs", e.Reason);
    }

    [Theory]
    [InlineData("f16")]
    [InlineData("BF8")]
    [InlineData("F8_E4M3")]
    public void Other_dtypes_stay_refused(string dtype)
    {
        string path = PathOf($"dtype-{dtype}.safetensors");
        File.WriteAllBytes(path, ModelFileHardeningTests.Raw($$$"""{"w":{"dtype":"{{{dtype}}}","shape":[2],"data_offsets":[0,4]}}""", new byte[4]));
        var e = Assert.Throws<ModelFormatException>(() => SafeTensors.Read(path));
        Assert.Contains("only F32, F64, F16 and BF16", e.Reason);
    }

    [Fact]
    public void Writing_a_nonfinite_16_bit_value_is_refused_before_anything_is_written()
    {
        string path = PathOf("nan.safetensors");
        var e = Assert.Throws<ArgumentException>(() => SafeTensors.Write(path, [("w", new[] { 3 }, new[] { (Half)1, Half.NaN, (Half)2 })], new Dictionary<string, string>()));
        Assert.Contains("'w'", e.Message);
        Assert.Contains("element 1", e.Message);
        Assert.Throws<ArgumentException>(() => SafeTensors.Write(path, [("b", new[] { 1 }, new[] { BFloat16.PositiveInfinity })], new Dictionary<string, string>()));
        Assert.False(File.Exists(path));
    }
}
