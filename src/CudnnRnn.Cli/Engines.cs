using System.Globalization;
using CudnnRnn.Cpu;
using CudnnRnn.Cuda;
using CudnnRnn.OpenCL;

namespace CudnnRnn.Cli;

/// <summary>The engines the CLI can run.</summary>
internal enum EngineKind
{
    /// <summary>The managed CPU engine (host memory, one worker per core).</summary>
    Cpu,
    /// <summary>cuDNN on an NVIDIA GPU.</summary>
    Cuda,
    /// <summary>OpenCL (a GPU, or PoCL's CPU device).</summary>
    OpenCl,
}

/// <summary>Creates engines for every command: the one factory behind <c>--engine</c> and <c>--device</c>.</summary>
internal static class Engines
{
    /// <summary>The command-line names, in <see cref="EngineKind"/> order.</summary>
    public static readonly IReadOnlyList<(string Name, EngineKind Kind)> Choices =
        [("cpu", EngineKind.Cpu), ("cuda", EngineKind.Cuda), ("opencl", EngineKind.OpenCl)];

    /// <summary>The engine names the CLI knows.</summary>
    public static IEnumerable<string> Names => Choices.Select(c => c.Name);

    /// <summary>The command-line name of <paramref name="kind"/>.</summary>
    public static string NameOf(EngineKind kind) => Choices.First(c => c.Kind == kind).Name;

    /// <summary>
    /// Why <paramref name="device"/> cannot select a device of <paramref name="kind"/>, or null when it can (null
    /// device: the engine's default). Checked while parsing, before any engine is created.
    /// </summary>
    public static string? CheckDevice(EngineKind kind, string? device) => (kind, device) switch
    {
        (_, null) => null,
        (_, { } d) when string.IsNullOrWhiteSpace(d) => "--device must not be empty.",
        (EngineKind.Cpu, _) => "--device selects a device of the cuda or opencl engine; the cpu engine has none.",
        (EngineKind.Cuda, { } d) when !int.TryParse(d, NumberStyles.None, CultureInfo.InvariantCulture, out _) =>
            $"--device for the cuda engine is a CUDA device index (0, 1, ...); got '{d}'.",
        _ => null,
    };

    /// <summary>
    /// Creates an engine. Throws <see cref="RnnEngineUnavailableException"/> with the reason when it cannot run here,
    /// and <see cref="ArgumentException"/> for a device that <see cref="CheckDevice"/> rejects.
    /// </summary>
    /// <param name="kind">Which engine.</param>
    /// <param name="device">Device selector (cuda: index; opencl: "P:D", "P" or a device-name substring), or null.</param>
    /// <param name="cpuThreads">Threads of the CPU engine (0 = all cores).</param>
    public static IRnnEngine Create(EngineKind kind, string? device = null, int cpuThreads = 0)
    {
        if (CheckDevice(kind, device) is { } problem) throw new ArgumentException(problem, nameof(device));
        return kind switch
        {
            EngineKind.Cpu => CpuEngine.Create(cpuThreads),
            EngineKind.Cuda => CudaEngine.Create(device is null ? 0 : int.Parse(device, NumberStyles.None, CultureInfo.InvariantCulture)),
            EngineKind.OpenCl => OpenClEngine.Create(device is null ? null : OpenClDeviceSelector.Parse(device)),
            _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "Expected Cpu, Cuda or OpenCl."),
        };
    }

    /// <summary>Extra lines for <c>info</c> (versions, devices) about an engine.</summary>
    public static IEnumerable<string> Details(EngineKind kind) => kind switch
    {
        EngineKind.Cuda => CudaEngine.Probe() is { Available: true } probe ? [probe.ToString()] : [],
        EngineKind.OpenCl => OpenClEngine.ListDevices().ToString()!.Split('\n', StringSplitOptions.RemoveEmptyEntries),
        _ => [],
    };
}
