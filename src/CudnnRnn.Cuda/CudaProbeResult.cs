namespace CudnnRnn.Cuda;

/// <summary>What <see cref="CudaEngine.Probe"/> found, for an "info" command. Every field is filled as far as the probe got.</summary>
/// <param name="Available">True when an engine can be created on the probed device.</param>
/// <param name="Reason">Why not (empty when available): the same text <see cref="CudaEngine.TryCreate(out CudaEngine?, out string, int)"/> gives.</param>
/// <param name="CudnnVersion">Loaded cuDNN version (e.g. "9.6.0"), or null.</param>
/// <param name="CudnnRawVersion">cudnnGetVersion's raw value, or 0.</param>
/// <param name="CudnnCudartVersion">cudnnGetCudartVersion (the runtime cuDNN was built with), or 0.</param>
/// <param name="CudnnMaxDeviceVersion">cudnnGetMaxDeviceVersion on 9.x (e.g. 900 = SM 9.0), or 0.</param>
/// <param name="RuntimeVersion">cudaRuntimeGetVersion (1000·major + 10·minor), or 0.</param>
/// <param name="DriverVersion">cudaDriverGetVersion (0 = no driver), or 0.</param>
/// <param name="DeviceCount">cudaGetDeviceCount, or 0.</param>
/// <param name="Device">The probed device ordinal.</param>
/// <param name="DeviceName">Device name from the driver API, or null.</param>
/// <param name="CudnnLibrary">File cuDNN was loaded from, or "".</param>
/// <param name="CudartLibrary">File the CUDA runtime was loaded from, or "".</param>
public sealed record CudaProbeResult(bool Available, string Reason, string? CudnnVersion, ulong CudnnRawVersion, ulong CudnnCudartVersion,
    ulong CudnnMaxDeviceVersion, int RuntimeVersion, int DriverVersion, int DeviceCount, int Device, string? DeviceName,
    string CudnnLibrary, string CudartLibrary)
{
    /// <summary>"12.4" from 12040.</summary>
    public static string FormatCudaVersion(int v) => v <= 0 ? "none" : $"{v / 1000}.{v % 1000 / 10}";

    /// <inheritdoc/>
    public override string ToString() => Available
        ? $"cuda: available: {DeviceName} (device {Device} of {DeviceCount}); cuDNN {CudnnVersion} ({CudnnLibrary}, built with CUDA runtime {CudnnCudartVersion}); " +
          $"CUDA runtime {FormatCudaVersion(RuntimeVersion)} ({CudartLibrary}); driver supports CUDA {FormatCudaVersion(DriverVersion)}"
        : $"cuda: unavailable: {Reason}";
}
