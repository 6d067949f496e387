using System.Buffers.Binary;
using System.Diagnostics;
using System.Globalization;
using System.Numerics;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;

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
/// <param name="DType">Stored dtype ("F32", "F64", "F16" or "BF16"; 16-bit values convert to float64 exactly).</param>
/// <param name="Shape">Shape.</param>
/// <param name="Values">Values, row-major.</param>
public sealed record SafeTensor(string Name, string DType, int[] Shape, double[] Values);

/// <summary>
/// Reads and writes the safetensors format (https://github.com/huggingface/safetensors): an 8-byte little-endian
/// header length, a JSON header mapping each tensor name to dtype/shape/data_offsets (plus an optional
/// <c>__metadata__</c> string map), then the raw little-endian tensor bytes, which the tensors must cover exactly
/// (no overlap, no hole). Every value must be finite: a model holding NaN or ±∞ is neither written nor read.
/// Files are written to a temporary file, flushed, renamed over the destination and the directory synced
/// (<see cref="AtomicFile"/>), so a failure never leaves a partial file at the destination.
/// </summary>
public static class SafeTensors
{
    private const long MaxHeaderBytes = 100L << 20;
    private const int MaxRank = 16;

    /// <summary>
    /// Writes tensors and metadata to <paramref name="path"/> atomically: float32 as <c>F32</c>, float64 as <c>F64</c>,
    /// <see cref="Half"/> as <c>F16</c>, <see cref="BFloat16"/> as <c>BF16</c> (to store float32 values in 16 bits, round
    /// them first with <see cref="PrecisionCast.NarrowChecked{TLow}"/>, which refuses values beyond the type's range).
    /// Throws <see cref="ArgumentException"/> naming the tensor and element for a NaN or infinite value, before anything
    /// is written.
    /// </summary>
    public static void Write<T>(string path, IEnumerable<(string Name, int[] Shape, T[] Values)> tensors, IReadOnlyDictionary<string, string> metadata)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(tensors);
        ArgumentNullException.ThrowIfNull(metadata);
        string dtype = DTypeOf<T>();
        if (!BitConverter.IsLittleEndian) throw new PlatformNotSupportedException("Big-endian hosts are not supported.");
        int size = Marshal.SizeOf<T>();
        var list = tensors.ToList();
        var names = new HashSet<string>(StringComparer.Ordinal);
        long offset = 0;
        var json = new System.Buffers.ArrayBufferWriter<byte>();
        using (var w = new Utf8JsonWriter(json))
        {
            w.WriteStartObject();
            if (metadata.Count > 0)
            {
                w.WriteStartObject("__metadata__");
                foreach (var kv in metadata) w.WriteString(kv.Key, kv.Value);
                w.WriteEndObject();
            }
            foreach (var (name, shape, values) in list)
            {
                if (string.IsNullOrEmpty(name) || name == "__metadata__") throw new ArgumentException($"Invalid tensor name '{name}'.", nameof(tensors));
                if (!names.Add(name)) throw new ArgumentException($"Duplicate tensor name '{name}'.", nameof(tensors));
                long count = 1;
                foreach (int d in shape)
                    count = d >= 0 ? checked(count * d) : throw new ArgumentException($"Tensor '{name}' has a negative dimension in shape [{string.Join(",", shape)}].", nameof(tensors));
                if (count != values.LongLength) throw new ArgumentException($"Tensor '{name}' has {values.LongLength} values; its shape {string.Join("x", shape)} needs {count}.", nameof(tensors));
                int bad = IndexOfNonFinite<T>(values);
                if (bad >= 0)
                    throw new ArgumentException($"Tensor '{name}' holds {Describe(double.CreateChecked(values[bad]))} at element {bad}: a model with a non-finite value is not written (did training diverge?).", nameof(tensors));
                w.WriteStartObject(name);
                w.WriteString("dtype", dtype);
                w.WriteStartArray("shape");
                foreach (int d in shape) w.WriteNumberValue(d);
                w.WriteEndArray();
                w.WriteStartArray("data_offsets");
                w.WriteNumberValue(offset);
                w.WriteNumberValue(offset + count * size);
                w.WriteEndArray();
                w.WriteEndObject();
                offset += count * size;
            }
            w.WriteEndObject();
        }
        byte[] header = json.WrittenSpan.ToArray();
        int pad = (8 - header.Length % 8) % 8; // the format allows trailing spaces; aligned data helps mmap readers
        AtomicFile.Write(path, fs =>
        {
            Span<byte> len = stackalloc byte[8];
            BinaryPrimitives.WriteUInt64LittleEndian(len, (ulong)(header.Length + pad));
            fs.Write(len);
            fs.Write(header);
            for (int i = 0; i < pad; i++) fs.WriteByte((byte)' ');
            foreach (var (_, _, values) in list) fs.Write(MemoryMarshal.AsBytes(values.AsSpan()));
        });
    }

    /// <summary>
    /// Reads every tensor and the metadata; throws <see cref="ModelFormatException"/> (with the path) on any
    /// inconsistency. The header is read and checked in full (dtypes, shapes, offsets covering the data section exactly
    /// and in order) before any tensor data is read, so a corrupt header costs no more than its own size.
    /// </summary>
    public static (Dictionary<string, SafeTensor> Tensors, Dictionary<string, string> Metadata) Read(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (!File.Exists(path)) throw new FileNotFoundException($"Model file not found: {path}", path);
        try
        {
            using var fs = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
            return Read(fs, path);
        }
        catch (Exception e) when (e is IOException and not FileNotFoundException and not DirectoryNotFoundException)
        {
            throw new ModelFormatException(path, $"could not be read ({e.Message})", e);
        }
    }

    private sealed record Entry(string Name, string DType, int Size, int[] Shape, long Count, long Begin, long End);

    private static (Dictionary<string, SafeTensor>, Dictionary<string, string>) Read(FileStream fs, string path)
    {
        long fileLength = fs.Length;
        if (fileLength < 8) throw new ModelFormatException(path, $"file is {fileLength} bytes long, too short for a safetensors header (truncated?)");
        Span<byte> lenBytes = stackalloc byte[8];
        fs.ReadExactly(lenBytes);
        ulong headerLen = BinaryPrimitives.ReadUInt64LittleEndian(lenBytes);
        if (headerLen > (ulong)MaxHeaderBytes || headerLen > (ulong)(fileLength - 8))
            throw new ModelFormatException(path, $"header length {headerLen} does not fit in the {fileLength}-byte file (at most {Math.Min(MaxHeaderBytes, fileLength - 8)}; truncated or not a safetensors file)");
        var headerBytes = new byte[(int)headerLen];
        fs.ReadExactly(headerBytes);
        long dataStart = 8 + (long)headerLen, dataLen = fileLength - dataStart;
        var (entries, meta) = ParseHeader(headerBytes, path);
        CheckCoverage(entries, dataLen, path);

        var tensors = new Dictionary<string, SafeTensor>(entries.Count, StringComparer.Ordinal);
        var values = new double[entries.Count][];
        var buffer = new byte[1 << 16];
        foreach (int i in Enumerable.Range(0, entries.Count).OrderBy(i => entries[i].Begin))
        {
            var e = entries[i];
            fs.Position = dataStart + e.Begin;
            var v = new double[e.Count];
            long done = 0;
            while (done < e.Count)
            {
                int n = (int)Math.Min(e.Count - done, buffer.Length / e.Size);
                var span = buffer.AsSpan(0, n * e.Size);
                fs.ReadExactly(span);
                Decode(e.DType, span, v.AsSpan((int)done, n));
                done += n;
            }
            int bad = IndexOfNonFinite<double>(v);
            if (bad >= 0)
                throw new ModelFormatException(path, $"tensor '{e.Name}' holds {Describe(v[bad])} at element {bad}; a model with non-finite values is refused (was it saved from a diverged training run?)");
            values[i] = v;
        }
        for (int i = 0; i < entries.Count; i++)
            tensors[entries[i].Name] = new SafeTensor(entries[i].Name, entries[i].DType, entries[i].Shape, values[i]);
        return (tensors, meta);
    }

    private static (List<Entry>, Dictionary<string, string>) ParseHeader(byte[] headerBytes, string path)
    {
        var meta = new Dictionary<string, string>(StringComparer.Ordinal);
        var entries = new List<Entry>();
        // The format requires UTF-8; checked here because JsonDocument only finds invalid bytes inside strings when they are read.
        if (!System.Text.Unicode.Utf8.IsValid(headerBytes)) throw new ModelFormatException(path, "header is not valid UTF-8");
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(headerBytes, new JsonDocumentOptions { AllowDuplicateProperties = false, MaxDepth = 8 });
        }
        catch (JsonException e)
        {
            throw new ModelFormatException(path, $"header is not valid JSON ({e.Message})", e);
        }
        using (doc)
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Object) throw new ModelFormatException(path, $"header is a JSON {doc.RootElement.ValueKind}, not a JSON object");
            foreach (var prop in doc.RootElement.EnumerateObject())
            {
                string name = prop.Name;
                var node = prop.Value;
                if (name == "__metadata__")
                {
                    if (node.ValueKind != JsonValueKind.Object) throw new ModelFormatException(path, "__metadata__ is not a JSON object");
                    foreach (var kv in node.EnumerateObject())
                        meta[kv.Name] = kv.Value.ValueKind == JsonValueKind.String ? kv.Value.GetString()!
                            : throw new ModelFormatException(path, $"__metadata__ entry '{kv.Name}' is a {kv.Value.ValueKind}, not a string");
                    continue;
                }
                entries.Add(ParseEntry(name, node, path));
            }
        }
        return (entries, meta);
    }

    private static Entry ParseEntry(string name, JsonElement node, string path)
    {
        ModelFormatException Bad(string what) => new(path, $"tensor '{name}': {what}");
        if (node.ValueKind != JsonValueKind.Object) throw Bad($"entry is a JSON {node.ValueKind}, not an object with dtype, shape and data_offsets");
        if (!node.TryGetProperty("dtype", out var dt) || dt.ValueKind != JsonValueKind.String) throw Bad("dtype is missing or not a string");
        string dtype = dt.GetString()!;
        int size = dtype switch
        {
            "F32" => 4,
            "F64" => 8,
            "F16" or "BF16" => 2,
            _ => throw Bad($"dtype {dtype} is not supported (only F32, F64, F16 and BF16)"),
        };
        if (!node.TryGetProperty("shape", out var sh) || sh.ValueKind != JsonValueKind.Array) throw Bad("shape is missing or not an array");
        if (sh.GetArrayLength() > MaxRank) throw Bad($"shape has {sh.GetArrayLength()} dimensions (at most {MaxRank})");
        var shape = new int[sh.GetArrayLength()];
        int k = 0;
        foreach (var d in sh.EnumerateArray())
        {
            if (d.ValueKind != JsonValueKind.Number || !d.TryGetInt32(out int v) || v < 0)
                throw Bad($"shape dimension {k} is {d.GetRawText()}, expected an integer in [0, {int.MaxValue}]");
            shape[k++] = v;
        }
        long count = 1;
        if (shape.Contains(0)) count = 0;
        else
        {
            try { foreach (int v in shape) count = checked(count * v); }
            catch (OverflowException) { throw Bad($"the element count of shape [{string.Join(",", shape)}] overflows a 64-bit integer"); }
        }
        if (count > Array.MaxLength) throw Bad($"shape [{string.Join(",", shape)}] has {count} elements, more than one array holds ({Array.MaxLength})");
        if (!node.TryGetProperty("data_offsets", out var offs) || offs.ValueKind != JsonValueKind.Array || offs.GetArrayLength() != 2)
            throw Bad("data_offsets is missing or not an array of two integers");
        if (!offs[0].TryGetInt64(out long begin) || !offs[1].TryGetInt64(out long end) || begin < 0 || end < begin)
            throw Bad($"data_offsets {offs.GetRawText()} are not two integers 0 <= begin <= end");
        if (end - begin != count * size)
            throw Bad($"has {end - begin} bytes; shape [{string.Join(",", shape)}] of {dtype} needs {count * size}");
        foreach (var p in node.EnumerateObject())
            if (p.Name is not ("dtype" or "shape" or "data_offsets")) throw Bad($"unknown field '{p.Name}'");
        return new Entry(name, dtype, size, shape, count, begin, end);
    }

    /// <summary>The format requires the tensors to cover the data section exactly: in offset order, each begins where the last ended.</summary>
    private static void CheckCoverage(List<Entry> entries, long dataLen, string path)
    {
        long at = 0;
        string previous = "the start of the data section";
        foreach (var e in entries.OrderBy(e => e.Begin).ThenBy(e => e.End))
        {
            if (e.Begin < at)
                throw new ModelFormatException(path, $"tensor '{e.Name}' (bytes {e.Begin}..{e.End}) overlaps {previous}, which ends at byte {at}");
            if (e.Begin > at)
                throw new ModelFormatException(path, $"tensor '{e.Name}' begins at byte {e.Begin}, leaving a hole of {e.Begin - at} bytes after {previous}");
            if (e.End > dataLen)
                throw new ModelFormatException(path, $"tensor '{e.Name}' spans bytes {e.Begin}..{e.End} but the data section has {dataLen} bytes (truncated?)");
            at = e.End;
            previous = $"tensor '{e.Name}'";
        }
        if (at != dataLen)
            throw new ModelFormatException(path, $"the data section has {dataLen - at} bytes after the last tensor (the tensors must cover it exactly; a hole or a file of another format?)");
    }

    /// <summary>Index of the first NaN or infinity, or −1.</summary>
    internal static int IndexOfNonFinite<T>(ReadOnlySpan<T> values) where T : unmanaged, IFloatingPointIeee754<T>
    {
        // A vectorised sum is finite when every value is (unless it overflows: then the element loop decides).
        for (int start = 0; start < values.Length; start += 4096)
        {
            var chunk = values.Slice(start, Math.Min(4096, values.Length - start));
            if (T.IsFinite(System.Numerics.Tensors.TensorPrimitives.Sum(chunk))) continue;
            for (int i = 0; i < chunk.Length; i++)
                if (!T.IsFinite(chunk[i])) return start + i;
        }
        return -1;
    }

    /// <summary>The safetensors dtype of an element type: F32, F64, F16 (<see cref="Half"/>) or BF16 (<see cref="BFloat16"/>).</summary>
    public static string DTypeOf<T>() =>
        typeof(T) == typeof(float) ? "F32" : typeof(T) == typeof(double) ? "F64"
        : typeof(T) == typeof(Half) ? "F16" : typeof(T) == typeof(BFloat16) ? "BF16"
        : throw new NotSupportedException($"Element type {typeof(T)} is not supported; expected float, double, Half or BFloat16.");

    /// <summary>Little-endian stored values to float64 (exact for every dtype read).</summary>
    private static void Decode(string dtype, ReadOnlySpan<byte> bytes, Span<double> values)
    {
        switch (dtype)
        {
            case "F32":
                for (int k = 0; k < values.Length; k++) values[k] = BinaryPrimitives.ReadSingleLittleEndian(bytes[(k * 4)..]);
                break;
            case "F64":
                for (int k = 0; k < values.Length; k++) values[k] = BinaryPrimitives.ReadDoubleLittleEndian(bytes[(k * 8)..]);
                break;
            case "F16":
                for (int k = 0; k < values.Length; k++) values[k] = (double)BinaryPrimitives.ReadHalfLittleEndian(bytes[(k * 2)..]);
                break;
            case "BF16": // the upper half of a float32
                for (int k = 0; k < values.Length; k++) values[k] = BitConverter.UInt32BitsToSingle((uint)BinaryPrimitives.ReadUInt16LittleEndian(bytes[(k * 2)..]) << 16);
                break;
            default:
                throw new UnreachableException($"dtype {dtype} passed the header check");
        }
    }

    private static string Describe(double v) => double.IsNaN(v) ? "NaN" : v > 0 ? "+Infinity" : "-Infinity";

}
