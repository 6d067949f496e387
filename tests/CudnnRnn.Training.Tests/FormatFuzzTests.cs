using System.Buffers.Binary;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using CsCheck;
using CudnnRnn.Cpu;
using CudnnRnn.Training;
using Xunit;

namespace CudnnRnn.Training.Tests;

/// <summary>
/// Mutation fuzzing of valid model and CoNLL-U files (issue 16, item 8b) with CsCheck: byte flips, truncations and
/// structured header/line edits. The only exception allowed out is the format's own (<see cref="ModelFormatException"/>,
/// <see cref="ConlluFormatException"/>); each case runs on its own thread with a time bound (hang) and an allocation
/// bound (no out-of-memory). CI runs a fixed-seed few hundred cases per format in seconds; CUDNNRNN_FUZZ_LONG=1 runs
/// 20 times as many from a random seed (CsCheck prints the seed of a failure; CsCheck_Seed=... replays it).
/// </summary>
public sealed class FormatFuzzTests : IDisposable
{
    private static readonly bool LongMode = Environment.GetEnvironmentVariable("CUDNNRNN_FUZZ_LONG") == "1";
    private const int CiCasesPerCategory = 50;
    private static long Cases => LongMode ? 20L * CiCasesPerCategory : CiCasesPerCategory;
    // CI: one fixed seed, so a run is reproducible; long mode: a fresh seed each run (CsCheck_Seed overrides both).
    private static string? Seed => Environment.GetEnvironmentVariable("CsCheck_Seed") ?? (LongMode ? null : new PCG(7, 20261129).ToString());
    // A case takes milliseconds; a minute means a hang, not a slow machine.
    private static readonly TimeSpan CaseLimit = TimeSpan.FromSeconds(60);
    // The base model is a few KB: a reader allocating 256 MB for a mutation of it is on its way to an out-of-memory.
    private const long MaxAllocatedBytes = 256L << 20;

    private readonly string _dir = Path.Combine(Path.GetTempPath(), $"cudnnrnn-fuzz-{Guid.NewGuid():N}");
    private readonly CpuEngine _engine = CpuEngine.Create(1);

    public FormatFuzzTests() => Directory.CreateDirectory(_dir);

    public void Dispose()
    {
        _engine.Dispose();
        Directory.Delete(_dir, recursive: true);
    }

    /// <summary>A mutation: what it does (printed by CsCheck on failure) and how.</summary>
    public sealed record Mutation(string What, Func<byte[], byte[]> Apply)
    {
        public override string ToString() => What;
    }

    /// <summary>Runs <paramref name="read"/> on its own thread; returns its exception (or null); fails on a hang or an allocation over the bound.</summary>
    internal static Exception? RunBounded(Action read)
    {
        Exception? caught = null;
        long allocated = 0;
        var thread = new Thread(() =>
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            try { read(); }
            catch (Exception e) { caught = e; }
            allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        }) { IsBackground = true };
        thread.Start();
        if (!thread.Join(CaseLimit)) throw new TimeoutException($"the reader did not finish within {CaseLimit.TotalSeconds} s (hang)");
        if (allocated > MaxAllocatedBytes) throw new InvalidOperationException($"the reader allocated {allocated:N0} bytes (bound {MaxAllocatedBytes:N0})");
        return caught;
    }

    /// <summary>Null or exactly <typeparamref name="TFormat"/> is fine; anything else fails the case with the exception inside.</summary>
    internal static bool CheckOutcome<TFormat>(Exception? e) where TFormat : Exception =>
        e is null ? false : e.GetType() == typeof(TFormat) ? true
            : throw new InvalidOperationException($"expected {typeof(TFormat).Name} or success, got {e.GetType().Name}: {e.Message}", e);

    private void Fuzz<TFormat>(string format, string category, Gen<Mutation> gen, byte[] original, Action<string> read) where TFormat : Exception
    {
        long rejected = 0, accepted = 0;
        string path = Path.Combine(_dir, $"case.{format}");
        gen.Sample(m =>
        {
            File.WriteAllBytes(path, m.Apply(original));
            if (CheckOutcome<TFormat>(RunBounded(() => read(path)))) rejected++; else accepted++;
        }, iter: Cases, threads: 1, seed: Seed);
        TestContext.Current.TestOutputHelper?.WriteLine($"{format} fuzz [{category}] {(LongMode ? "long" : "CI")} mode: {rejected + accepted} cases, {rejected} rejected with {typeof(TFormat).Name}, {accepted} read");
        Assert.Equal(Cases, rejected + accepted);
    }

    // ---------------------------------------------------------------- generic byte mutations

    private static Gen<Mutation> ByteFlips(int from, int length, string where) =>
        Gen.Select(Gen.Int[0, length - 1].Array[1, 8], Gen.Byte.Array[8], (at, values) => new Mutation(
            $"{where} bytes {string.Join(",", at.Select(a => a + from))} := {Convert.ToHexString(values[..at.Length])}",
            bytes =>
            {
                var b = (byte[])bytes.Clone();
                for (int i = 0; i < at.Length; i++) b[from + at[i]] = values[i];
                return b;
            }));

    private static Gen<Mutation> Truncations(int length) =>
        Gen.Int[0, length - 1].Select(keep => new Mutation($"truncate to {keep} bytes", bytes => bytes[..keep]));

    // ---------------------------------------------------------------- safetensors

    private byte[] ValidModel()
    {
        using var tagger = ModelFileHardeningTests.Small(_engine);
        string path = Path.Combine(_dir, "base.safetensors");
        TaggerModelFile.Save(tagger, path);
        return File.ReadAllBytes(path);
    }

    private static (JsonObject Header, byte[] Data) Split(byte[] file)
    {
        int len = (int)BinaryPrimitives.ReadUInt64LittleEndian(file);
        return (JsonNode.Parse(file.AsSpan(8, len))!.AsObject(), file[(8 + len)..]);
    }

    private static byte[] Join(string header, byte[] data) => ModelFileHardeningTests.Raw(header, data);

    private static readonly long[] Offsets = [0, 1, 3, 4, 7, 8, -1, -8, int.MaxValue, 1L << 31, 1L << 32, long.MaxValue, long.MinValue];
    private static readonly JsonNode?[] Dims = [0, 1, 2, 3, -1, 65536, int.MaxValue, 1L << 31, 1.5, "3", null];
    private static readonly JsonNode?[] HyperValues = [2000000000, int.MaxValue, -1, 0, 1, 3, 16385, 65, 1e308, -1e308, 0.999999, 1.5, "x", "lstm", "cnn", null, true];
    private static readonly string[] HyperFields =
        ["Mode", "WordDim", "CharDim", "CharModel", "CharHidden", "CharFilters", "ShapeDim", "Hidden", "Layers", "Bidirectional",
         "EmbeddingDropout", "Dropout", "WordDropout", "MinWordFrequency", "MaxCharsPerWord", "Unknown"];

    /// <summary>Structured edits of the JSON header (re-serialised, so lengths stay consistent unless the edit is to them).</summary>
    private static Gen<Mutation> HeaderEdits(byte[] file)
    {
        var (header0, _) = Split(file);
        string[] tensors = header0.Select(kv => kv.Key).Where(k => k != "__metadata__").ToArray();
        string[] metaKeys = header0["__metadata__"]!.AsObject().Select(kv => kv.Key).ToArray();
        Mutation Edit(string what, Action<JsonObject> edit, Func<string, string>? text = null) => new(what, bytes =>
        {
            var (h, data) = Split(bytes);
            edit(h);
            string json = h.ToJsonString();
            return Join(text is null ? json : text(json), data);
        });
        var tensor = Gen.Int[0, tensors.Length - 1].Select(i => tensors[i]);
        var offsets = Gen.Select(tensor, Gen.Int[0, 1], Gen.OneOf(Gen.Int[0, Offsets.Length - 1].Select(i => Offsets[i]), Gen.Long[-64, 64]), Gen.Bool,
            (t, which, v, relative) => Edit($"{t}.data_offsets[{which}] {(relative ? "+=" : ":=")} {v}", h =>
            {
                var o = h[t]!["data_offsets"]!.AsArray();
                o[which] = relative ? o[which]!.GetValue<long>() + v : v;
            }));
        var dtypes = Gen.Select(tensor, Gen.OneOf<JsonNode?>("F16", "BF16", "I32", "U8", "BOOL", "F32", "F64", "", "f32", 5, null),
            (t, d) => Edit($"{t}.dtype := {d?.ToJsonString() ?? "null"}", h => h[t]!["dtype"] = d?.DeepClone()));
        var shapes = Gen.Select(tensor, Gen.Int[0, Dims.Length - 1].Array[0, 5],
            (t, dims) => Edit($"{t}.shape := [{string.Join(",", dims.Select(i => Dims[i]?.ToJsonString() ?? "null"))}]",
                h => h[t]!["shape"] = new JsonArray(dims.Select(i => Dims[i]?.DeepClone()).ToArray())));
        var removals = Gen.Select(tensor, Gen.OneOf("dtype", "shape", "data_offsets"),
            (t, f) => Edit($"remove {t}.{f}", h => h[t]!.AsObject().Remove(f)));
        var extras = tensor.Select(t => Edit($"add {t}.extra", h => h[t]!["extra"] = 1));
        var removeTensor = tensor.Select(t => Edit($"remove tensor {t}", h => h.Remove(t)));
        var duplicates = tensor.Select(t => Edit($"duplicate key {t}", _ => { }, json =>
        {
            var h = JsonNode.Parse(json)!.AsObject();
            return json[..^1] + $",{JsonSerializer.Serialize(t)}:{h[t]!.ToJsonString()}}}";
        }));
        var hyper = Gen.Select(Gen.Int[0, HyperFields.Length - 1], Gen.Int[0, HyperValues.Length - 1], (f, v) =>
            Edit($"hyper_parameters.{HyperFields[f]} := {HyperValues[v]?.ToJsonString() ?? "null"}", h =>
            {
                var meta = h["__metadata__"]!.AsObject();
                var hp = JsonNode.Parse(meta["hyper_parameters"]!.GetValue<string>())!.AsObject();
                hp[HyperFields[f]] = HyperValues[v]?.DeepClone();
                meta["hyper_parameters"] = hp.ToJsonString();
            }));
        var hyperDuplicate = Gen.Int[0, HyperFields.Length - 2].Select(f => Edit($"hyper_parameters duplicate {HyperFields[f]}", h =>
        {
            var meta = h["__metadata__"]!.AsObject();
            string hp = meta["hyper_parameters"]!.GetValue<string>();
            meta["hyper_parameters"] = "{\"" + HyperFields[f] + "\":7," + hp[1..];
        }));
        var lists = Gen.Select(Gen.OneOf("words", "chars", "tags"), Gen.OneOf("null item", "duplicate", "empty", "no specials", "not a list", "huge"),
            (key, how) => Edit($"{key}: {how}", h =>
            {
                var meta = h["__metadata__"]!.AsObject();
                var items = JsonNode.Parse(meta[key]!.GetValue<string>())!.AsArray();
                meta[key] = how switch
                {
                    "null item" => new JsonArray([.. items.Select(i => i?.DeepClone()), null]).ToJsonString(),
                    "duplicate" => new JsonArray([.. items.Select(i => i?.DeepClone()), items[^1]!.DeepClone()]).ToJsonString(),
                    "empty" => "[]",
                    "no specials" => new JsonArray([.. items.Skip(2).Select(i => i?.DeepClone())]).ToJsonString(),
                    "not a list" => "{\"a\":1}",
                    _ => new JsonArray([.. items.Select(i => i?.DeepClone()), .. Enumerable.Range(0, 100_000).Select(i => (JsonNode)$"w{i}")]).ToJsonString(),
                };
            }));
        var metaEdits = Gen.Select(Gen.Int[0, metaKeys.Length - 1], Gen.OneOf<string?>(null, "", "2", "0", "upos", "lemma", "cudnnrnn-tagger", "{"),
            (k, v) => Edit($"__metadata__.{metaKeys[k]} := {v ?? "(removed)"}", h =>
            {
                var meta = h["__metadata__"]!.AsObject();
                if (v is null) meta.Remove(metaKeys[k]); else meta[metaKeys[k]] = v;
            }));
        return Gen.OneOf(offsets, dtypes, shapes, removals, extras, removeTensor, duplicates, hyper, hyperDuplicate, lists, metaEdits);
    }

    private static Gen<Mutation> HeaderLengths(int length) =>
        Gen.OneOf(
            Gen.Int[-16, 16].Select(d => (ulong)((long)length + d)),
            Gen.OneOf<ulong>(0UL, 1UL, 7UL, 100UL << 20, (100UL << 20) + 1, 1UL << 31, 1UL << 32, ulong.MaxValue, (ulong)long.MaxValue),
            Gen.ULong)
        .Select(v => new Mutation($"header length := {v}", bytes =>
        {
            var b = (byte[])bytes.Clone();
            BinaryPrimitives.WriteUInt64LittleEndian(b, v);
            return b;
        }));

    private static Gen<Mutation> ValueEdits(byte[] file)
    {
        int len = (int)BinaryPrimitives.ReadUInt64LittleEndian(file), data = 8 + len, count = (file.Length - data) / 4;
        return Gen.Select(Gen.Int[0, count - 1], Gen.OneOf(float.NaN, float.PositiveInfinity, float.NegativeInfinity, float.MaxValue, 0f, -0f, float.Epsilon),
            (i, v) => new Mutation($"value {i} := {v}", bytes =>
            {
                var b = (byte[])bytes.Clone();
                BinaryPrimitives.WriteSingleLittleEndian(b.AsSpan(data + 4 * i), v);
                return b;
            }));
    }

    [Theory]
    [InlineData("byte flips")]
    [InlineData("header byte flips")]
    [InlineData("truncations")]
    [InlineData("header length")]
    [InlineData("header edits")]
    [InlineData("value edits")]
    public void Mutated_model_files_give_only_ModelFormatException(string category)
    {
        byte[] model = ValidModel();
        int headerLen = (int)BinaryPrimitives.ReadUInt64LittleEndian(model);
        var gen = category switch
        {
            "byte flips" => ByteFlips(0, model.Length, "file"),
            "header byte flips" => ByteFlips(8, headerLen, "header"),
            "truncations" => Truncations(model.Length),
            "header length" => HeaderLengths(headerLen),
            "header edits" => HeaderEdits(model),
            _ => ValueEdits(model),
        };
        using (TaggerModelFile.Load<float>(WriteBase(model), _engine)) { } // the base file is valid
        Fuzz<ModelFormatException>("safetensors", category, gen, model, path => TaggerModelFile.Load<float>(path, _engine).Dispose());
    }

    private string WriteBase(byte[] bytes)
    {
        string path = Path.Combine(_dir, "base-check.bin");
        File.WriteAllBytes(path, bytes);
        return path;
    }

    // ---------------------------------------------------------------- CoNLL-U

    private static readonly string ConlluBase =
        "# sent_id = 1\n# text = Don't go to the café.\n" +
        ConlluHardeningTests.Word("1-2", "Don't") + ConlluHardeningTests.Word("1", "Do") + ConlluHardeningTests.Word("2", "n't") +
        ConlluHardeningTests.Word("3", "go") + ConlluHardeningTests.Word("3.1", "gone") + ConlluHardeningTests.Word("4", "to") +
        ConlluHardeningTests.Word("5", "the") + ConlluHardeningTests.Word("6", "café") + ConlluHardeningTests.Word("7", ".") + "\n" +
        "# sent_id = 2\n" + ConlluHardeningTests.Word("0.1", "∅") + ConlluHardeningTests.Word("1", "日本") + ConlluHardeningTests.Word("2", "ok") + "\r\n" +
        ConlluHardeningTests.Word("1", "Hi") + "\n";

    private static readonly byte[] Interesting = "\t\n\r-.#0123456789 _"u8.ToArray().Concat(new byte[] { 0xFF, 0xC3, 0x80, 0xE6, 0x00 }).ToArray();
    private static readonly string[] Ids = ["0", "-1", "1-1", "2-1", "3-4", "1-99", "1.0", "0.1", "5.1", "1.2", "99", "a", "", "1.1.1", "+1", " 1", "2147483648", "1-2147483647", "1-"];

    private static Gen<Mutation> LineEdits(string[] lines) =>
        Gen.Select(Gen.OneOf("delete", "duplicate", "swap", "blank", "id", "tab-", "tab+"), Gen.Int[0, lines.Length - 1], Gen.Int[0, lines.Length - 1], Gen.Int[0, Ids.Length - 1],
            (how, i, j, id) => new Mutation($"line {i + 1}: {how} ({j + 1}, '{Ids[id]}')", _ =>
            {
                var l = lines.ToList();
                switch (how)
                {
                    case "delete": l.RemoveAt(i); break;
                    case "duplicate": l.Insert(i, l[i]); break;
                    case "swap": (l[i], l[j]) = (l[j], l[i]); break;
                    case "blank": l.Insert(i, ""); break;
                    case "id": l[i] = l[i].Contains('\t') ? Ids[id] + l[i][l[i].IndexOf('\t')..] : Ids[id]; break;
                    case "tab-": l[i] = l[i].Contains('\t') ? l[i].Remove(l[i].IndexOf('\t'), 1) : l[i]; break;
                    default: l[i] += "\t_"; break;
                }
                return Encoding.UTF8.GetBytes(string.Join("\n", l));
            }));

    private static Gen<Mutation> InterestingBytes(int length) =>
        Gen.Select(Gen.Int[0, length - 1].Array[1, 4], Gen.Int[0, Interesting.Length - 1].Array[4], Gen.Bool, (at, which, insert) => new Mutation(
            $"{(insert ? "insert" : "set")} {string.Join(",", at.Select((a, k) => $"{a}:0x{Interesting[which[k]]:X2}"))}", bytes =>
            {
                var b = bytes.ToList();
                for (int k = 0; k < at.Length; k++)
                    if (insert) b.Insert(Math.Min(at[k], b.Count), Interesting[which[k]]); else b[at[k]] = Interesting[which[k]];
                return b.ToArray();
            }));

    [Theory]
    [InlineData("byte flips")]
    [InlineData("interesting bytes")]
    [InlineData("truncations")]
    [InlineData("line edits")]
    public void Mutated_conllu_files_give_only_ConlluFormatException(string category)
    {
        byte[] text = Encoding.UTF8.GetBytes(ConlluBase);
        Assert.Equal(3, ConlluReader.ReadFile(WriteBase(text)).Count); // the base file is valid
        var gen = category switch
        {
            "byte flips" => ByteFlips(0, text.Length, "file"),
            "interesting bytes" => InterestingBytes(text.Length),
            "truncations" => Truncations(text.Length),
            _ => LineEdits(ConlluBase.Split('\n')),
        };
        Fuzz<ConlluFormatException>("conllu", category, gen, text, path => ConlluReader.ReadFile(path));
    }

    // ---------------------------------------------------------------- the harness itself can fail

    [Fact]
    public void The_harness_fails_on_a_foreign_exception_a_hang_bound_and_an_allocation_bound()
    {
        Assert.False(CheckOutcome<ModelFormatException>(RunBounded(() => { })));
        Assert.True(CheckOutcome<ModelFormatException>(RunBounded(() => throw new ModelFormatException("f", "r"))));
        Assert.Throws<InvalidOperationException>(() => CheckOutcome<ModelFormatException>(RunBounded(() => throw new IndexOutOfRangeException())));
        // A subclass or base class is not the format exception either.
        Assert.Throws<InvalidOperationException>(() => CheckOutcome<ConlluFormatException>(RunBounded(() => throw new FormatException())));
        var e = Assert.Throws<InvalidOperationException>(() => RunBounded(() => GC.KeepAlive(new byte[MaxAllocatedBytes + 1])));
        Assert.Contains("allocated", e.Message);
    }
}
