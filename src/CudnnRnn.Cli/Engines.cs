using System.Globalization;
using CudnnRnn.Cpu;
using CudnnRnn.Cuda;
using CudnnRnn.OpenCL;

namespace CudnnRnn.Cli;

/// <summary>Creates engines by name for every command (<c>--engine cpu|cuda|opencl</c>).</summary>
internal static class Engines
{
    /// <summary>The engine names the CLI knows.</summary>
    public static readonly string[] Names = ["cpu", "cuda", "opencl"];

    /// <summary>
    /// Creates the named engine. Throws <see cref="RnnEngineUnavailableException"/> with the reason when it cannot run
    /// here, and <see cref="ArgumentException"/> for an unknown name.
    /// </summary>
    /// <param name="name">cpu, cuda or opencl.</param>
    /// <param name="device">Optional device selector (OpenCL: platform/device index or name).</param>
    /// <param name="threads">CPU threads (0 = all cores).</param>
    public static IRnnEngine Create(string name, string? device = null, int threads = 0) => name switch
    {
        "cpu" => CpuEngine.Create(threads),
        "cuda" => CreateCuda(device),
        "opencl" => CreateOpenCl(device),
        _ => throw new ArgumentException($"Unknown engine '{name}'; expected one of {string.Join(", ", Names)}.", nameof(name)),
    };

    /// <summary>Extra lines for <c>info</c> (versions, devices) about an engine.</summary>
    public static IEnumerable<string> Details(string name) => name switch
    {
        "cuda" => CudaEngine.Probe() is { Available: true } probe ? [probe.ToString()] : [],
        "opencl" => OpenClEngine.ListDevices().ToString()!.Split('\n', StringSplitOptions.RemoveEmptyEntries),
        _ => [],
    };

    private static IRnnEngine CreateCuda(string? device)
    {
        int index = 0;
        if (device is not null && !int.TryParse(device, NumberStyles.None, CultureInfo.InvariantCulture, out index))
            throw new ArgumentException($"--device for the cuda engine is a CUDA device index (0, 1, …); got '{device}'.", nameof(device));
        return CudaEngine.Create(index);
    }

    /// <summary>OpenCL: the first GPU, else the first device; <paramref name="device"/> selects "P:D", "P" or a name substring.</summary>
    private static IRnnEngine CreateOpenCl(string? device) =>
        OpenClEngine.Create(device is null ? null : OpenClDeviceSelector.Parse(device));
}
