using CudnnRnn.Cpu;
using CudnnRnn.Testing.Recording;
using Xunit;

namespace CudnnRnn.Tests;

/// <summary>The CPU engine against every cuDNN recording in tests/recordings (skips with the reason while there is none).</summary>
public sealed class CpuCudnnRecordingTests : CudnnRecordingConformance
{
    protected override IRnnEngine? TryCreateEngine(out string reason)
    {
        reason = "";
        return CpuEngine.Create();
    }
}

/// <summary>
/// The recording machinery without a GPU: the CPU engine records the whole set, the files are read back and replayed
/// through the same comparison the cuDNN recording gets; a corrupted output element fails naming the tensor and index;
/// the configuration set covers every feature it must.
/// </summary>
public sealed class RecordingMachineryTests
{
    private static ITestOutputHelper? Output => TestContext.Current.TestOutputHelper;

    public static TheoryData<string> ConfigNames() => CpuDryRun.ConfigNames();

    [Theory]
    [MemberData(nameof(ConfigNames))]
    public void Cpu_dry_run_replays_bit_for_bit(string config)
    {
        var manifest = CpuDryRun.Manifest;
        Assert.True(manifest.Refused.Count == 0, "the CPU engine refused: " + string.Join("; ", manifest.Refused));
        var entry = manifest.Get(config);
        using var cpu = CpuEngine.Create();
        var result = RecordingReplay.Run(cpu, CpuDryRun.Folder, entry);
        Assert.True(result.Passed, string.Join("; ", result.Failures));
        // The same engine on the inputs read back from the file must reproduce every recorded bit: this proves the inputs,
        // weights (by PyTorch name) and outputs round-trip through the format exactly, not just within a tolerance.
        var inexact = result.Tensors.Where(t => t.MaxAbs != 0).Select(t => t.ToString()).ToList();
        Assert.True(inexact.Count == 0, "not bit-identical: " + string.Join("; ", inexact));
        // Every output is there: y, hy, dx, dhx (+ cy, dcx for LSTM) and one gradient per PyTorch parameter.
        var rnn = entry.ToDescriptor();
        int expected = 4 + (rnn.Mode == RnnMode.Lstm ? 2 : 0) + Enumerable.Count(RnnWeightLayout.Canonical(rnn).PyTorchParameters);
        Assert.Equal(expected, result.Tensors.Count);
    }

    [Fact]
    public void A_configuration_whose_own_algorithm_fails_is_recorded_with_the_standard_one_and_says_so()
    {
        // Stand-in for cuDNN refusing its persistent algorithm inside a call: the hooks fail the engine's own (Auto) run of
        // the first persistent-eligible configuration; the recorder retries it with STANDARD, keeps the numbers and notes
        // why, refuses nothing, and leaves the other configurations as they were. A configuration that fails both ways is
        // refused with both reasons.
        var eligible = CudnnRecordingSet.All.First(c => c.ExpectsPersistent);
        var forcedStandard = CudnnRecordingSet.All.First(c => c.Algorithm == RecordingAlgorithm.Standard);
        string folder = Path.Combine(Path.GetTempPath(), "cudnnrnn-recorder-fallback-" + Guid.NewGuid().ToString("N"));
        try
        {
            var selected = RecordingAlgorithm.Auto;
            var hooks = new RecorderHooks
            {
                SelectAlgorithm = a => selected = a,
                AlgorithmOf = _ => selected == RecordingAlgorithm.Auto ? throw new NotSupportedException("persistent refused (stand-in)") : "STANDARD",
            };
            using var cpu = CpuEngine.Create(1);
            var m = CudnnRecorder.Record(cpu, new RecordingProvenance("cpu", "test"), folder, "test", hooks, [eligible, forcedStandard]);
            Assert.Empty(m.Refused);
            var e = m.Get(eligible.Name);
            Assert.Equal(RecordingAlgorithm.Auto, e.AlgorithmRequested);
            Assert.Equal("STANDARD", e.Algorithm);
            Assert.Contains("persistent refused (stand-in)", e.Note);
            Assert.Null(m.Get(forcedStandard.Name).Note);
            // The manifest on disk says the same (saved after every configuration).
            Assert.Contains("persistent refused (stand-in)", RecordingManifest.Load(folder).Get(eligible.Name).Note);

            var failing = new RecorderHooks { AlgorithmOf = _ => throw new NotSupportedException("always") };
            var refused = CudnnRecorder.Record(cpu, new RecordingProvenance("cpu", "test"), folder, "test", failing, [eligible]);
            Assert.Single(refused.Refused);
            Assert.Contains("with the standard algorithm too", refused.Refused[0].Reason);
        }
        finally
        {
            if (Directory.Exists(folder)) Directory.Delete(folder, recursive: true);
        }
    }

    [Fact]
    public void Dry_run_records_the_whole_set_with_provenance_in_a_few_megabytes()
    {
        var m = RecordingManifest.Load(CpuDryRun.Folder);
        Assert.Equal("cpu", m.Provenance.Engine);
        Assert.False(string.IsNullOrWhiteSpace(m.Provenance.Device));
        Assert.True(DateTime.TryParse(m.RecordedUtc, System.Globalization.CultureInfo.InvariantCulture,
            System.Globalization.DateTimeStyles.AdjustToUniversal, out var when) && Math.Abs((DateTime.UtcNow - when).TotalHours) < 24, m.RecordedUtc);
        Assert.Equal(CudnnRecordingSet.All.Select(c => c.Name), m.Configs.Select(c => c.Name));
        Assert.All(m.Configs, c =>
        {
            Assert.Equal("engine-default", c.Algorithm);
            Assert.Equal("n/a", c.MathType);
            Assert.Equal(new FileInfo(Path.Combine(CpuDryRun.Folder, c.File)).Length, c.Bytes);
            Assert.Equal(CudnnRecordingSet.Get(c.Name), c.ToConfig()); // the manifest rebuilds the exact configuration
        });
        long bytes = CpuDryRun.TotalBytes;
        Output?.WriteLine($"{m.Configs.Count} configurations, {bytes} bytes ({bytes / 1048576.0:F2} MiB), largest " +
            $"{m.Configs.MaxBy(c => c.Bytes)!.Name} ({m.Configs.Max(c => c.Bytes)} bytes)");
        Assert.True(bytes < 10L << 20, $"the recording set must stay under 10 MiB; it is {bytes} bytes");
    }

    public static TheoryData<string> CorruptibleTensors() =>
        ["y", "hy", "cy", "dx", "dhx", "dcx", "grad.weight_ih_l0", "grad.weight_hh_l1_reverse", "grad.bias_hh_l0", "grad.weight_hr_l1"];

    /// <summary>
    /// One element of one recorded output moved by 10× its bound fails, and the message names the tensor and the index;
    /// moved by half its bound it passes (the bound is where the tolerance says it is).
    /// </summary>
    [Theory]
    [MemberData(nameof(CorruptibleTensors))]
    public void A_corrupted_recorded_element_fails_naming_tensor_and_index(string tensor)
    {
        const string config = "clip-f64-lstm-l2-bi-batch-var-proj4-clip"; // every LSTM output and a projection exist here
        var entry = CpuDryRun.Manifest.Get(config);
        var recorded = RecordingTensorFile.Read(Path.Combine(CpuDryRun.Folder, entry.File));
        var target = recorded[tensor];
        int index = target.Values.Length / 2 + 1;
        double scale = target.Values.Max(Math.Abs);
        string group = tensor.StartsWith("grad.", StringComparison.Ordinal) ? "dw" : tensor;
        double bound = RecordingTolerance.For(group, entry.ToDescriptor(), entry.ToDataDescriptor()) * (Math.Abs(target.Values[index]) + scale);

        var far = Replay(tensor, index, target.Values[index] + 10 * bound);
        Assert.False(far.Passed);
        var failure = Assert.Single(far.Failures);
        Assert.Equal(tensor, failure.Name);
        Assert.Equal(index, failure.WorstIndex);
        Assert.Contains($"{tensor}: ", failure.ToString());
        Assert.Contains($"FAILED at [{index}]", failure.ToString());
        Output?.WriteLine(failure.ToString());

        var near = Replay(tensor, index, target.Values[index] + 0.5 * bound);
        Assert.True(near.Passed, string.Join("; ", near.Failures));

        RecordingReplayResult Replay(string name, int i, double value)
        {
            string folder = Directory.CreateTempSubdirectory("cudnnrnn-corrupt-").FullName;
            try
            {
                var copy = recorded.Values.Select(t => t.Name == name ? t with { Values = Replace(t.Values, i, value) } : t).ToList();
                RecordingTensorFile.Write(Path.Combine(folder, entry.File), entry.DataType, copy);
                using var cpu = CpuEngine.Create();
                return RecordingReplay.Run(cpu, folder, entry);
            }
            finally
            {
                Directory.Delete(folder, recursive: true);
            }
        }
    }

    private static double[] Replace(double[] values, int index, double value)
    {
        var copy = (double[])values.Clone();
        copy[index] = value;
        return copy;
    }

    /// <summary>A corrupted input (one x element) makes outputs fail too: the replay really feeds the recorded inputs.</summary>
    [Fact]
    public void A_corrupted_recorded_input_makes_the_replay_fail()
    {
        var entry = CpuDryRun.Manifest.Configs.First(c => c.Name.StartsWith("grid-f64-gru-", StringComparison.Ordinal) && c.NumLayers == 2
            && c.Direction == RnnDirection.Bidirectional);
        var recorded = RecordingTensorFile.Read(Path.Combine(CpuDryRun.Folder, entry.File));
        string folder = Directory.CreateTempSubdirectory("cudnnrnn-corrupt-").FullName;
        try
        {
            var copy = recorded.Values.Select(t => t.Name == "x" ? t with { Values = Replace(t.Values, 0, t.Values[0] + 0.25) } : t);
            RecordingTensorFile.Write(Path.Combine(folder, entry.File), entry.DataType, copy);
            using var cpu = CpuEngine.Create();
            var result = RecordingReplay.Run(cpu, folder, entry);
            Assert.Contains(result.Failures, f => f.Name == "y");
            Assert.Contains(result.Failures, f => f.Name == "grad.weight_ih_l0");
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    /// <summary>The replay test's own assertion, on a copy of the dry run with one dhx element moved: it fails and says where.</summary>
    [Fact]
    public void The_replay_assertion_passes_on_the_dry_run_and_names_the_failure_on_a_corrupted_copy()
    {
        var entry = CpuDryRun.Manifest.Configs.First(c => c.Mode == RnnMode.Lstm && c.DataType == RnnDataType.Float32);
        using var cpu = CpuEngine.Create();
        CudnnRecordingConformance.ReplayAndAssert(cpu, CpuDryRun.Folder, entry.Name);

        string folder = Directory.CreateTempSubdirectory("cudnnrnn-corrupt-").FullName;
        try
        {
            foreach (var file in Directory.GetFiles(CpuDryRun.Folder)) File.Copy(file, Path.Combine(folder, Path.GetFileName(file)));
            var recorded = RecordingTensorFile.Read(Path.Combine(folder, entry.File));
            var copy = recorded.Values.Select(t => t.Name == "dhx" ? t with { Values = Replace(t.Values, 3, t.Values[3] + 0.01) } : t);
            RecordingTensorFile.Write(Path.Combine(folder, entry.File), entry.DataType, copy);
            var e = Assert.ThrowsAny<Exception>(() => CudnnRecordingConformance.ReplayAndAssert(cpu, folder, entry.Name));
            Assert.Contains($"for {entry.Name}: dhx: ", e.Message);
            Assert.Contains("FAILED at [3]", e.Message);
            Assert.Contains("the cpu recording", e.Message);
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [Fact]
    public void Tensor_files_round_trip_exactly_and_reject_damage()
    {
        string folder = Directory.CreateTempSubdirectory("cudnnrnn-format-").FullName;
        try
        {
            double[] d = [1.0 / 3, -0.0, double.MaxValue, double.Epsilon, 1e-300];
            double[] f = [(float)(1.0 / 3), -0.0, float.MaxValue, float.Epsilon, (float)1e-30];
            string p64 = Path.Combine(folder, "a.safetensors"), p32 = Path.Combine(folder, "b.safetensors");
            RecordingTensorFile.Write(p64, RnnDataType.Float64, [new RecordedTensor("t", "F64", [5], d)]);
            RecordingTensorFile.Write(p32, RnnDataType.Float32, [new RecordedTensor("t", "F32", [1, 5], f), new RecordedTensor("e", "F32", [0], [])]);
            var r64 = RecordingTensorFile.Read(p64)["t"];
            var r32 = RecordingTensorFile.Read(p32);
            Assert.Equal("F64", r64.DType);
            Assert.Equal(d.Select(BitConverter.DoubleToInt64Bits), r64.Values.Select(BitConverter.DoubleToInt64Bits));
            Assert.Equal(f.Select(BitConverter.DoubleToInt64Bits), r32["t"].Values.Select(BitConverter.DoubleToInt64Bits));
            Assert.Equal([1, 5], r32["t"].Shape);
            Assert.Empty(r32["e"].Values);
            Assert.Equal(0, new FileInfo(p64).Length % 8); // header padded to 8 bytes, as safetensors does

            var bytes = File.ReadAllBytes(p64);
            File.WriteAllBytes(p64, bytes[..^8]); // one value short
            var e = Assert.Throws<RecordingFormatException>(() => RecordingTensorFile.Read(p64));
            Assert.Contains("'t'", e.Message);
            Assert.Contains(p64, e.Message);
            File.WriteAllBytes(p64, bytes[..4]);
            Assert.Throws<RecordingFormatException>(() => RecordingTensorFile.Read(p64));
            Assert.Throws<ArgumentException>(() => RecordingTensorFile.Write(p64, RnnDataType.Float64, [new RecordedTensor("t", "F64", [2, 2], [1, 2, 3])]));
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [Fact]
    public void Locator_lists_every_recording_folder_or_one_skipping_placeholder()
    {
        string root = Directory.CreateTempSubdirectory("cudnnrnn-recordings-").FullName;
        try
        {
            var empty = RecordingLocator.Rows(root);
            var row = Assert.Single(empty);
            Assert.Equal(RecordingLocator.NoRecording, row.Data.Item1);
            Assert.Equal(RecordingLocator.NoRecording, Assert.Single(RecordingLocator.Rows(Path.Combine(root, "missing"))).Data.Item1);

            Directory.CreateDirectory(Path.Combine(root, "not-a-recording")); // no manifest: ignored
            foreach (var name in new[] { "cudnn-9.19.0-nvidia-h100", "cudnn-9.20.0-nvidia-h100" })
            {
                string dir = Directory.CreateDirectory(Path.Combine(root, name)).FullName;
                foreach (var file in Directory.GetFiles(CpuDryRun.Folder)) File.Copy(file, Path.Combine(dir, Path.GetFileName(file)));
            }
            var rows = RecordingLocator.Rows(root).Select(r => r.Data).ToList();
            Assert.Equal(2 * CudnnRecordingSet.All.Count, rows.Count);
            Assert.Equal(["cudnn-9.19.0-nvidia-h100", "cudnn-9.20.0-nvidia-h100"], rows.Select(r => r.Item1).Distinct());
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }

    [Theory]
    [InlineData("9.19.0", "NVIDIA H100 80GB HBM3", "cudnn-9.19.0-nvidia-h100-80gb-hbm3")]
    [InlineData("9.6.0", "  Tesla T4 ", "cudnn-9.6.0-tesla-t4")]
    [InlineData("8.9.7", "NVIDIA GeForce RTX 4090 (sm_89)/x", "cudnn-8.9.7-nvidia-geforce-rtx-4090-sm-89-x")]
    [InlineData("9.1.0", "", "cudnn-9.1.0-unknown")]
    public void Default_folder_names_are_version_and_gpu_slugs(string version, string gpu, string expected) =>
        Assert.Equal(expected, RecordingLocator.DefaultFolderName(version, gpu));

    /// <summary>The repository's recordings, when present, are complete cuDNN recordings: readable, nothing refused, every file there.</summary>
    [Fact]
    public void Committed_recordings_are_complete()
    {
        var folders = RecordingLocator.Folders();
        if (folders.Count == 0) Assert.Skip(RecordingLocator.NoRecordingReason);
        foreach (var folder in folders)
        {
            var m = RecordingManifest.Load(folder);
            Assert.True(m.Refused.Count == 0, $"{folder}: refused {string.Join("; ", m.Refused)}");
            Assert.Equal("cuda", m.Provenance.Engine);
            Assert.False(string.IsNullOrEmpty(m.Provenance.CudnnVersion), $"{folder}: no cuDNN version");
            foreach (var c in m.Configs) Assert.True(File.Exists(Path.Combine(folder, c.File)), $"{folder}: {c.File} is missing");
        }
    }
}
