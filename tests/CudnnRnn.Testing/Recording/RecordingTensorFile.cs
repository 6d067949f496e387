using System.Buffers.Binary;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace CudnnRnn.Testing.Recording;

/// <summary>One tensor of a recording: name, stored dtype ("F32"/"F64"), shape and the values (widened to double exactly).</summary>
public sealed record RecordedTensor(string Name, string DType, int[] Shape, double[] Values)
{
    /// <summary>Element count the shape implies.</summary>
    public long ShapeCount => Shape.Aggregate(1L, (a, b) => a * b);
}

/// <summary>A recording file that is truncated, corrupt or of another format.</summary>
public sealed class RecordingFormatException(string path, string reason) : Exception($"{path}: {reason}")
{
    /// <summary>The file.</summary>
    public string Path { get; } = path;
}

/// <summary>
/// The tensor file of one recorded configuration, in the safetensors format (readable by Python's <c>safetensors</c>): an
/// 8-byte little-endian header length, a JSON header mapping each tensor name to dtype, shape and byte offsets, then the raw
/// little-endian values. Values are stored in the configuration's own element type, so a float32 recording holds exactly
/// the bits cuDNN produced and the replay feeds exactly the bits cuDNN was given.
/// </summary>
public static class RecordingTensorFile
{
    private const long MaxHeaderBytes = 16L << 20;

    /// <summary>Writes <paramref name="tensors"/> in <paramref name="dataType"/> (float32 values must be representable: they are cast).</summary>
    public static void Write(string path, RnnDataType dataType, IEnumerable<RecordedTensor> tensors)
    {
        int size = dataType == RnnDataType.Float32 ? 4 : 8;
        string dtype = size == 4 ? "F32" : "F64";
        var list = tensors.ToList();
        var header = new JsonObject();
        long offset = 0;
        foreach (var t in list)
        {
            if (t.ShapeCount != t.Values.Length)
                throw new ArgumentException($"Tensor '{t.Name}': shape [{string.Join(",", t.Shape)}] holds {t.ShapeCount} values, got {t.Values.Length}.", nameof(tensors));
            long bytes = (long)t.Values.Length * size;
            header[t.Name] = new JsonObject
            {
                ["dtype"] = dtype,
                ["shape"] = new JsonArray(t.Shape.Select(d => (JsonNode)d).ToArray()),
                ["data_offsets"] = new JsonArray(offset, offset + bytes),
            };
            offset += bytes;
        }
        byte[] json = Encoding.UTF8.GetBytes(header.ToJsonString());
        int pad = (8 - json.Length % 8) % 8; // safetensors pads the header with spaces to an 8-byte boundary
        var buffer = new byte[8 + json.Length + pad + offset];
        BinaryPrimitives.WriteInt64LittleEndian(buffer, json.Length + pad);
        json.CopyTo(buffer, 8);
        buffer.AsSpan(8 + json.Length, pad).Fill((byte)' ');
        long at = 8 + json.Length + pad;
        foreach (var t in list)
            foreach (double v in t.Values)
            {
                if (size == 4) BinaryPrimitives.WriteSingleLittleEndian(buffer.AsSpan((int)at), (float)v);
                else BinaryPrimitives.WriteDoubleLittleEndian(buffer.AsSpan((int)at), v);
                at += size;
            }
        string tmp = path + ".tmp";
        File.WriteAllBytes(tmp, buffer);
        File.Move(tmp, path, overwrite: true);
    }

    /// <summary>Reads every tensor of a file, checking the header against the file's size.</summary>
    public static Dictionary<string, RecordedTensor> Read(string path)
    {
        byte[] bytes = File.ReadAllBytes(path);
        if (bytes.Length < 8) throw new RecordingFormatException(path, $"{bytes.Length} bytes: too short for a safetensors header.");
        long headerLength = BinaryPrimitives.ReadInt64LittleEndian(bytes);
        if (headerLength <= 0 || headerLength > MaxHeaderBytes || 8 + headerLength > bytes.Length)
            throw new RecordingFormatException(path, $"header length {headerLength} does not fit a {bytes.Length}-byte file.");
        JsonObject header;
        try
        {
            header = JsonNode.Parse(Encoding.UTF8.GetString(bytes, 8, (int)headerLength))!.AsObject();
        }
        catch (JsonException e)
        {
            throw new RecordingFormatException(path, "the header is not JSON: " + e.Message);
        }
        long dataStart = 8 + headerLength, dataBytes = bytes.Length - dataStart;
        var result = new Dictionary<string, RecordedTensor>(StringComparer.Ordinal);
        foreach (var (name, node) in header)
        {
            if (name == "__metadata__") continue;
            string dtype = node?["dtype"]?.GetValue<string>() ?? "";
            int size = dtype switch
            {
                "F32" => 4,
                "F64" => 8,
                _ => throw new RecordingFormatException(path, $"tensor '{name}' has dtype '{dtype}'; expected F32 or F64."),
            };
            int[] shape = node!["shape"]?.AsArray().Select(d => d!.GetValue<int>()).ToArray()
                ?? throw new RecordingFormatException(path, $"tensor '{name}' has no shape.");
            var offsets = node["data_offsets"]?.AsArray().Select(d => d!.GetValue<long>()).ToArray();
            if (offsets is not { Length: 2 } || offsets[0] < 0 || offsets[1] < offsets[0] || offsets[1] > dataBytes)
                throw new RecordingFormatException(path, $"tensor '{name}' has data_offsets outside the {dataBytes} data bytes.");
            long count = shape.Aggregate(1L, (a, b) => a * b);
            if ((offsets[1] - offsets[0]) != count * size)
                throw new RecordingFormatException(path,
                    $"tensor '{name}': shape [{string.Join(",", shape)}] needs {count * size} bytes, data_offsets span {offsets[1] - offsets[0]}.");
            var values = new double[count];
            var span = bytes.AsSpan((int)(dataStart + offsets[0]));
            for (int i = 0; i < count; i++)
                values[i] = size == 4 ? BinaryPrimitives.ReadSingleLittleEndian(span[(i * 4)..]) : BinaryPrimitives.ReadDoubleLittleEndian(span[(i * 8)..]);
            result[name] = new RecordedTensor(name, dtype, shape, values);
        }
        return result;
    }
}
