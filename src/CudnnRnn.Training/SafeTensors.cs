using System.Buffers.Binary;
using System.Numerics;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace CudnnRnn.Training;

/// <summary>A model file that is truncated, corrupt, of another format or of another format version.</summary>
public sealed class ModelFormatException : Exception
{
    /// <summary>Creates the exception.</summary>
    public ModelFormatException(string path, string reason, Exception? inner = null)
        : base($"{path}: {reason}", inner)
    {
        Path = path;
        Reason = reason;
    }

    /// <summary>The file.</summary>
    public string Path { get; }
    /// <summary>What is wrong.</summary>
    public string Reason { get; }
}

/// <summary>One tensor of a safetensors file, as float64 values (converted from the stored dtype).</summary>
/// <param name="Name">Tensor name.</param>
/// <param name="DType">Stored dtype ("F32" or "F64").</param>
/// <param name="Shape">Shape.</param>
/// <param name="Values">Values, row-major.</param>
public sealed record SafeTensor(string Name, string DType, int[] Shape, double[] Values);

/// <summary>
/// Reads and writes the safetensors format (https://github.com/huggingface/safetensors): an 8-byte little-endian
/// header length, a JSON header mapping each tensor name to dtype/shape/data_offsets (plus an optional
/// <c>__metadata__</c> string map), then the raw little-endian tensor bytes. Files are written to a temporary file
/// and renamed, so a failure never leaves a partial file at the destination.
/// </summary>
public static class SafeTensors
{
    private const long MaxHeaderBytes = 100L << 20;

    /// <summary>Writes tensors (float32 or float64) and metadata to <paramref name="path"/> atomically.</summary>
    public static void Write<T>(string path, IEnumerable<(string Name, int[] Shape, T[] Values)> tensors, IReadOnlyDictionary<string, string> metadata)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        string dtype = typeof(T) == typeof(float) ? "F32" : typeof(T) == typeof(double) ? "F64"
            : throw new NotSupportedException($"Element type {typeof(T)} is not supported.");
        int size = Marshal.SizeOf<T>();
        var list = tensors.ToList();
        var header = new JsonObject();
        if (metadata.Count > 0)
        {
            var meta = new JsonObject();
            foreach (var kv in metadata) meta[kv.Key] = kv.Value;
            header["__metadata__"] = meta;
        }
        long offset = 0;
        foreach (var (name, shape, values) in list)
        {
            long count = shape.Aggregate(1L, (a, b) => a * b);
            if (count != values.LongLength) throw new ArgumentException($"Tensor '{name}' has {values.LongLength} values; its shape {string.Join("x", shape)} needs {count}.");
            if (header.ContainsKey(name)) throw new ArgumentException($"Duplicate tensor name '{name}'.");
            header[name] = new JsonObject
            {
                ["dtype"] = dtype,
                ["shape"] = new JsonArray(shape.Select(d => (JsonNode)d).ToArray()),
                ["data_offsets"] = new JsonArray(offset, offset + count * size),
            };
            offset += count * size;
        }
        byte[] json = Encoding.UTF8.GetBytes(header.ToJsonString());
        int pad = (8 - json.Length % 8) % 8; // the format allows trailing spaces; aligned data helps mmap readers
        string full = System.IO.Path.GetFullPath(path);
        string dir = System.IO.Path.GetDirectoryName(full)!;
        Directory.CreateDirectory(dir);
        string tmp = System.IO.Path.Combine(dir, $".{System.IO.Path.GetFileName(full)}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp");
        try
        {
            using (var fs = new FileStream(tmp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16))
            {
                Span<byte> len = stackalloc byte[8];
                BinaryPrimitives.WriteUInt64LittleEndian(len, (ulong)(json.Length + pad));
                fs.Write(len);
                fs.Write(json);
                for (int i = 0; i < pad; i++) fs.WriteByte((byte)' ');
                foreach (var (_, _, values) in list)
                {
                    if (!BitConverter.IsLittleEndian) throw new PlatformNotSupportedException("Big-endian hosts are not supported.");
                    fs.Write(MemoryMarshal.AsBytes(values.AsSpan()));
                }
                fs.Flush(flushToDisk: true);
            }
            File.Move(tmp, full, overwrite: true);
        }
        catch
        {
            try { File.Delete(tmp); } catch (IOException) { } catch (UnauthorizedAccessException) { }
            throw;
        }
    }

    /// <summary>Reads every tensor and the metadata; throws <see cref="ModelFormatException"/> on any inconsistency.</summary>
    public static (Dictionary<string, SafeTensor> Tensors, Dictionary<string, string> Metadata) Read(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"Model file not found: {path}", path);
        byte[] bytes = File.ReadAllBytes(path);
        if (bytes.Length < 8) throw new ModelFormatException(path, $"file is {bytes.Length} bytes long, too short for a safetensors header (truncated?)");
        ulong headerLen = BinaryPrimitives.ReadUInt64LittleEndian(bytes);
        if (headerLen > (ulong)MaxHeaderBytes || headerLen > (ulong)(bytes.Length - 8))
            throw new ModelFormatException(path, $"header length {headerLen} does not fit in the {bytes.Length}-byte file (truncated or not a safetensors file)");
        JsonObject header;
        try
        {
            header = JsonNode.Parse(bytes.AsSpan(8, (int)headerLen)) as JsonObject
                ?? throw new ModelFormatException(path, "header is not a JSON object");
        }
        catch (JsonException e)
        {
            throw new ModelFormatException(path, $"header is not valid JSON ({e.Message})", e);
        }
        long dataStart = 8 + (long)headerLen, dataLen = bytes.Length - dataStart;
        var meta = new Dictionary<string, string>(StringComparer.Ordinal);
        var tensors = new Dictionary<string, SafeTensor>(StringComparer.Ordinal);
        foreach (var (name, node) in header)
        {
            try
            {
                if (name == "__metadata__")
                {
                    foreach (var (k, v) in node!.AsObject()) meta[k] = v!.GetValue<string>();
                    continue;
                }
                var o = node!.AsObject();
                string dtype = o["dtype"]!.GetValue<string>();
                int[] shape = o["shape"]!.AsArray().Select(d => d!.GetValue<int>()).ToArray();
                var offs = o["data_offsets"]!.AsArray();
                long begin = offs[0]!.GetValue<long>(), end = offs[1]!.GetValue<long>();
                int size = dtype switch
                {
                    "F32" => 4,
                    "F64" => 8,
                    _ => throw new ModelFormatException(path, $"tensor '{name}' has dtype {dtype}; only F32 and F64 are supported"),
                };
                long count = shape.Aggregate(1L, (a, b) => b < 0 ? throw new ModelFormatException(path, $"tensor '{name}' has a negative dimension") : a * b);
                if (begin < 0 || end < begin || end > dataLen)
                    throw new ModelFormatException(path, $"tensor '{name}' spans bytes {begin}..{end} but the data section has {dataLen} bytes (truncated?)");
                if (end - begin != count * size)
                    throw new ModelFormatException(path, $"tensor '{name}' has {end - begin} bytes; shape [{string.Join(",", shape)}] of {dtype} needs {count * size}");
                var span = bytes.AsSpan((int)(dataStart + begin), (int)(end - begin));
                var values = new double[count];
                if (size == 4)
                    for (int i = 0; i < count; i++) values[i] = BinaryPrimitives.ReadSingleLittleEndian(span[(i * 4)..]);
                else
                    for (int i = 0; i < count; i++) values[i] = BinaryPrimitives.ReadDoubleLittleEndian(span[(i * 8)..]);
                tensors[name] = new SafeTensor(name, dtype, shape, values);
            }
            catch (Exception e) when (e is InvalidOperationException or FormatException or NullReferenceException or ArgumentException)
            {
                throw new ModelFormatException(path, $"header entry '{name}' is malformed ({e.Message})", e);
            }
        }
        return (tensors, meta);
    }
}
