using CudnnRnn.Cpu;

namespace CudnnRnn.Testing.Recording;

/// <summary>
/// The whole recording set recorded with the CPU engine into a temporary folder, once per test process: the dry run that
/// proves the recorder, the file format, the replay and the comparison without a GPU. Removed when the process exits.
/// </summary>
public static class CpuDryRun
{
    private static readonly Lazy<(string Folder, RecordingManifest Manifest)> s_run = new(() =>
    {
        string folder = Path.Combine(Path.GetTempPath(), "cudnnrnn-dry-run-" + Guid.NewGuid().ToString("N"), "cpu-dry-run");
        using var cpu = CpuEngine.Create();
        var manifest = CudnnRecorder.Record(cpu, new RecordingProvenance(cpu.Name, cpu.DeviceDescription), folder, "CpuDryRun");
        AppDomain.CurrentDomain.ProcessExit += (_, _) =>
        {
            try { Directory.Delete(Path.GetDirectoryName(folder)!, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        };
        return (folder, manifest);
    });

    /// <summary>The recording folder.</summary>
    public static string Folder => s_run.Value.Folder;

    /// <summary>Its manifest, as written.</summary>
    public static RecordingManifest Manifest => s_run.Value.Manifest;

    /// <summary>Total bytes of the recording (tensor files and manifest).</summary>
    public static long TotalBytes => Directory.GetFiles(Folder).Sum(f => new FileInfo(f).Length);

    /// <summary>Every configuration name of the set, for theories.</summary>
    public static Xunit.TheoryData<string> ConfigNames()
    {
        var data = new Xunit.TheoryData<string>();
        foreach (var c in CudnnRecordingSet.All) data.Add(c.Name);
        return data;
    }
}
