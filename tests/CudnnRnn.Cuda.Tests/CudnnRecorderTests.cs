using CudnnRnn.Cpu;
using CudnnRnn.Interop;
using CudnnRnn.Testing.Recording;
using Xunit;

namespace CudnnRnn.Cuda.Tests;

/// <summary>
/// The cuDNN recorder: runs the recording set (<see cref="CudnnRecordingSet"/>) on cuDNN and writes the reference every
/// CPU and OpenCL test run replays. It runs only on a GPU and only when asked (<c>./build.sh record-cudnn [DIR]</c>, which
/// sets CUDNNRNN_RECORD_DIR, or CUDNNRNN_RECORD_ROOT for the default folder name); otherwise it skips with the reason.
/// </summary>
[Collection(NativeCollection.Name)]
public sealed class CudnnRecorderTests
{
    /// <summary>The exact folder to record into.</summary>
    public const string DirVariable = "CUDNNRNN_RECORD_DIR";
    /// <summary>A parent folder: the recording goes to ROOT/cudnn-&lt;version&gt;-&lt;gpu slug&gt;.</summary>
    public const string RootVariable = "CUDNNRNN_RECORD_ROOT";
    /// <summary>A file the test writes the recording folder's path into (build.sh reads it).</summary>
    public const string ReportVariable = "CUDNNRNN_RECORD_REPORT";

    private static ITestOutputHelper? Output => TestContext.Current.TestOutputHelper;

    [Fact]
    public void Record_cuDNN_reference()
    {
        string? dir = Environment.GetEnvironmentVariable(DirVariable), root = Environment.GetEnvironmentVariable(RootVariable);
        if (string.IsNullOrEmpty(dir) && string.IsNullOrEmpty(root))
            Assert.Skip($"records only when asked: run ./build.sh record-cudnn [DIR] (sets {DirVariable} or {RootVariable})");
        using var engine = Gpu.RequireEngine();
        var probe = engine.ProbeInfo;
        string gpu = probe.DeviceName ?? $"CUDA device {engine.Device}";
        string folder = Path.GetFullPath(string.IsNullOrEmpty(dir)
            ? Path.Combine(root!, RecordingLocator.DefaultFolderName(engine.CudnnVersion.ToString(), gpu))
            : dir);
        var provenance = new RecordingProvenance(engine.Name, engine.DeviceDescription, engine.CudnnVersion.ToString(),
            CudaProbeResult.FormatCudaVersion(probe.RuntimeVersion), CudaProbeResult.FormatCudaVersion(probe.DriverVersion), gpu);
        var hooks = new RecorderHooks
        {
            SelectAlgorithm = a => engine.ForceStandardAlgorithm = a == RecordingAlgorithm.Standard,
            AlgorithmOf = plan => plan switch
            {
                CudaPlan<float> f => f.Algorithm.ToString(),
                CudaPlan<double> d => d.Algorithm.ToString(),
                _ => throw new InvalidOperationException($"Not a cuDNN plan: {plan.GetType()}"),
            },
            MathTypeOf = dt => CudnnMapping.Math(dt).MathType.ToString(),
        };
        // A re-recording replaces the files of the previous recording in this folder (configurations no longer in the set
        // go too); only files that recording's manifest lists are removed, nothing else in the folder.
        if (File.Exists(Path.Combine(folder, RecordingManifest.FileName)))
            foreach (var old in RecordingManifest.Load(folder).Configs)
                File.Delete(Path.Combine(folder, Path.GetFileName(old.File)));
        var manifest = CudnnRecorder.Record(engine, provenance, folder, "CudnnRnn.Cuda.Tests CudnnRecorderTests.Record_cuDNN_reference", hooks);
        string? report = Environment.GetEnvironmentVariable(ReportVariable);
        if (!string.IsNullOrEmpty(report)) File.WriteAllText(report, folder + "\n");
        long bytes = Directory.GetFiles(folder).Sum(f => new FileInfo(f).Length);
        Output?.WriteLine($"recorded {manifest.Configs.Count} configurations into {folder} ({bytes} bytes) on {engine.DeviceDescription}");

        // What the CPU engine's replay will see (the CPU and OpenCL test runs assert it; here it is reported).
        using (var cpu = CpuEngine.Create())
            foreach (var entry in manifest.Configs)
            {
                try
                {
                    var result = RecordingReplay.Run(cpu, folder, entry);
                    Output?.WriteLine($"{entry.Name} [{entry.Algorithm}] cpu: " + string.Join(", ",
                        result.WorstPerGroup.Select(g => $"{g.Group} {g.RelativeToScale:E1} ({g.ErrorOverBound:F3} of bound)")) +
                        (result.Passed ? "" : " FAILED: " + string.Join("; ", result.Failures)) + (entry.Note is { } n ? $" (note: {n})" : ""));
                }
                catch (Exception e) when (e is not OutOfMemoryException)
                {
                    // Reported, not thrown: the refusal and coverage checks below must still run and say their part.
                    Output?.WriteLine($"{entry.Name} [{entry.Algorithm}] cpu replay threw {e.GetType().Name}: {e.Message}");
                }
            }

        Assert.True(manifest.Refused.Count == 0, "cuDNN refused: " + string.Join("; ", manifest.Refused));
        // The persistent configurations: where cuDNN refuses PERSIST_STATIC_SMALL_H (a layout it does not take it with) the
        // plan falls back to STANDARD by design, and the manifest says so; but every mode must have run it at least once,
        // or the recording does not cover the persistent algorithm.
        const string persist = nameof(cudnnRNNAlgo_t.CUDNN_RNN_ALGO_PERSIST_STATIC_SMALL_H);
        var expected = manifest.Configs.Where(c => CudnnRecordingSet.All.FirstOrDefault(s => s.Name == c.Name)?.ExpectsPersistent == true).ToList();
        foreach (var c in expected.Where(c => c.Algorithm != persist))
            Output?.WriteLine($"note: {c.Name} ({c.Layout}) ran {c.Algorithm}: cuDNN did not take the persistent algorithm for it");
        var uncovered = Enum.GetValues<RnnMode>().Where(m => !expected.Any(c => c.Mode == m && c.Algorithm == persist)).ToList();
        Assert.True(uncovered.Count == 0, $"no configuration of {string.Join(", ", uncovered)} ran {persist}, so the recording does not " +
            "cover the persistent algorithm for it: " + string.Join("; ", expected.Select(c => $"{c.Name} ran {c.Algorithm}")));
        Assert.All(manifest.Configs.Where(c => c.AlgorithmRequested == RecordingAlgorithm.Standard),
            c => Assert.Equal(nameof(cudnnRNNAlgo_t.CUDNN_RNN_ALGO_STANDARD), c.Algorithm));
    }

    /// <summary>The recording set's idea of which configurations run persistent agrees with the engine's (no GPU needed).</summary>
    [Fact]
    public void Recording_set_persistent_eligibility_matches_the_engine()
    {
        foreach (var c in CudnnRecordingSet.All)
        {
            bool persistent = CudnnMapping.Algorithm(c.Rnn, c.XDesc) == cudnnRNNAlgo_t.CUDNN_RNN_ALGO_PERSIST_STATIC_SMALL_H;
            Assert.True(persistent == c.PersistentEligible, $"{c.Name}: engine {(persistent ? "persistent" : "standard")}, set says eligible={c.PersistentEligible}");
        }
    }

    /// <summary>ForceStandardAlgorithm turns a persistent-eligible plan into STANDARD and back.</summary>
    [Fact]
    public void Force_standard_algorithm_overrides_the_persistent_choice()
    {
        using var engine = Gpu.RequireEngine();
        var rnn = new RnnDescriptor(RnnMode.Lstm, 8, 16, dataType: RnnDataType.Float32);
        var xDesc = RnnDataDescriptor.Uniform(RnnDataLayout.SeqMajorUnpacked, 4, 2, 8);
        Assert.Equal(cudnnRNNAlgo_t.CUDNN_RNN_ALGO_PERSIST_STATIC_SMALL_H, CudnnMapping.Algorithm(rnn, xDesc));
        engine.ForceStandardAlgorithm = true;
        using (var plan = (CudaPlan<float>)engine.CreatePlan<float>(rnn, xDesc))
            Assert.Equal(cudnnRNNAlgo_t.CUDNN_RNN_ALGO_STANDARD, plan.Algorithm);
        engine.ForceStandardAlgorithm = false;
        using (var plan = (CudaPlan<float>)engine.CreatePlan<float>(rnn, xDesc))
            Output?.WriteLine($"unforced: {plan.Algorithm}");
    }
}
