using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Text.Json;

namespace CudnnRnn.Cli.Bench;

/// <summary>Writes results as JSON in libtorch-bench's shape (metadata + "results"), with the machine they ran on.</summary>
internal static class BenchJson
{
    public static void Write(string path, IReadOnlyList<BenchResult> results, string engine, string device, string dtype, int warmup, int reps)
    {
        using var stream = File.Create(path);
        using var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true });
        w.WriteStartObject();
        w.WriteString("tool", "cudnnrnn bench");
        w.WriteString("engine", engine);
        w.WriteString("device", device);
        w.WriteString("dtype", dtype);
        w.WriteNumber("warmup", warmup);
        w.WriteNumber("minReps", reps);
        w.WriteString("statistic", "median");
        w.WriteString("timestamp", DateTime.UtcNow.ToString("O"));
        w.WriteString("machine", Environment.MachineName);
        w.WriteString("cpu", CpuModel());
        w.WriteNumber("logicalCpus", Environment.ProcessorCount);
        w.WriteString("runtime", RuntimeInformation.FrameworkDescription);
        w.WriteString("simd", Vector512.IsHardwareAccelerated ? "Vector512" : Vector256.IsHardwareAccelerated ? "Vector256" : "Vector128");
        w.WriteString("flopModel", "forward: sum over layers, directions, sequences and their actual steps of 2*gates*hidden*(in_l+hidden); forward_backward = 3x forward; gemm: 2*M*N*K");
        w.WriteStartArray("results");
        foreach (var r in results)
        {
            w.WriteStartObject();
            w.WriteString("kind", r.Kind);
            w.WriteString("shape", r.Shape);
            w.WriteNumber("threads", r.Threads);
            w.WriteString("phase", r.Phase);
            w.WriteString("lengths", r.Lengths);
            w.WriteString("impl", r.Impl);
            w.WriteNumber("medianMs", r.MedianMs);
            w.WriteNumber("minMs", r.MinMs);
            w.WriteNumber("reps", r.Reps);
            w.WriteNumber("flops", r.Flops);
            w.WriteNumber("gflops", r.Gflops);
            if (r.ReserveBytes is { } rb) w.WriteNumber("reserveBytes", rb);
            if (r.ReserveMinimumBytes is { } mb) w.WriteNumber("reserveMinimumBytes", mb);
            if (r.PeakWorkingSetBytes is { } pw) w.WriteNumber("peakWorkingSetBytes", pw);
            if (r.HostEnqueueMs is { } he) w.WriteNumber("hostEnqueueMs", he);
            if (r.RatioToBuffers is { } ratio) w.WriteNumber("ratioToBuffers", ratio);
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteEndObject();
    }

    /// <summary>The processor's model name where the OS tells it (Linux), else the architecture.</summary>
    public static string CpuModel()
    {
        try
        {
            if (File.Exists("/proc/cpuinfo"))
            {
                string? name = File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal));
                string? family = File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("cpu family", StringComparison.Ordinal));
                if (name is not null)
                    return name[(name.IndexOf(':') + 1)..].Trim() + (family is null ? "" : $" (family {family[(family.IndexOf(':') + 1)..].Trim()})");
            }
        }
        catch (IOException)
        {
        }
        return RuntimeInformation.ProcessArchitecture.ToString();
    }
}
