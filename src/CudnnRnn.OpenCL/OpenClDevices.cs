using System.Globalization;
using System.Text;

namespace CudnnRnn.OpenCL;

/// <summary>One OpenCL device as the runtime reports it.</summary>
/// <param name="PlatformIndex">Index of its platform in <c>clGetPlatformIDs</c> order.</param>
/// <param name="DeviceIndex">Index within the platform, <c>clGetDeviceIDs(CL_DEVICE_TYPE_ALL)</c> order.</param>
/// <param name="PlatformName">CL_PLATFORM_NAME.</param>
/// <param name="PlatformVersion">CL_PLATFORM_VERSION.</param>
/// <param name="Name">CL_DEVICE_NAME.</param>
/// <param name="Vendor">CL_DEVICE_VENDOR.</param>
/// <param name="Type">GPU, CPU, Accelerator, Custom or Other.</param>
/// <param name="Version">CL_DEVICE_VERSION.</param>
/// <param name="DriverVersion">CL_DRIVER_VERSION.</param>
/// <param name="SupportsFloat64">True when the device has cl_khr_fp64 (or reports a double FP config).</param>
/// <param name="ComputeUnits">CL_DEVICE_MAX_COMPUTE_UNITS.</param>
/// <param name="GlobalMemoryBytes">CL_DEVICE_GLOBAL_MEM_SIZE.</param>
/// <param name="MaxAllocationBytes">CL_DEVICE_MAX_MEM_ALLOC_SIZE.</param>
/// <param name="MaxWorkGroupSize">CL_DEVICE_MAX_WORK_GROUP_SIZE.</param>
public sealed record OpenClDeviceInfo(int PlatformIndex, int DeviceIndex, string PlatformName, string PlatformVersion, string Name,
    string Vendor, string Type, string Version, string DriverVersion, bool SupportsFloat64, int ComputeUnits, long GlobalMemoryBytes,
    long MaxAllocationBytes, long MaxWorkGroupSize)
{
    internal nint PlatformId { get; init; }
    internal nint DeviceId { get; init; }

    /// <summary>One line: "[p:d] name (type, version, fp64 yes/no)".</summary>
    public override string ToString() =>
        string.Create(CultureInfo.InvariantCulture,
            $"[{PlatformIndex}:{DeviceIndex}] {Name} ({Type}, {Version}, {ComputeUnits} compute units, {GlobalMemoryBytes / (1024 * 1024)} MiB, fp64 {(SupportsFloat64 ? "yes" : "no")})");
}

/// <summary>One OpenCL platform and its devices.</summary>
/// <param name="Index">Index in <c>clGetPlatformIDs</c> order.</param>
/// <param name="Name">CL_PLATFORM_NAME.</param>
/// <param name="Vendor">CL_PLATFORM_VENDOR.</param>
/// <param name="Version">CL_PLATFORM_VERSION.</param>
/// <param name="Devices">Its devices.</param>
/// <param name="Error">Why the device list is empty, when it is.</param>
public sealed record OpenClPlatformInfo(int Index, string Name, string Vendor, string Version, IReadOnlyList<OpenClDeviceInfo> Devices, string? Error);

/// <summary>What <see cref="OpenClEngine.ListDevices"/> found: platforms and devices, or why OpenCL is unavailable.</summary>
/// <param name="Available">True when at least one device exists.</param>
/// <param name="Reason">Why not (no ICD loader, no platform, no device), when not.</param>
/// <param name="Platforms">Every platform found.</param>
public sealed record OpenClDeviceListing(bool Available, string? Reason, IReadOnlyList<OpenClPlatformInfo> Platforms)
{
    /// <summary>Every device of every platform.</summary>
    public IEnumerable<OpenClDeviceInfo> Devices => Platforms.SelectMany(p => p.Devices);

    /// <summary>A human-readable report (for the CLI's <c>info</c>).</summary>
    public override string ToString()
    {
        var sb = new StringBuilder();
        if (!Available) sb.Append("OpenCL unavailable: ").AppendLine(Reason);
        foreach (var p in Platforms)
        {
            sb.Append(CultureInfo.InvariantCulture, $"platform {p.Index}: {p.Name} ({p.Vendor}, {p.Version})");
            if (p.Error is not null) sb.Append(" - ").Append(p.Error);
            sb.AppendLine();
            foreach (var d in p.Devices) sb.Append("  ").AppendLine(d.ToString());
        }
        return sb.ToString().TrimEnd();
    }
}

/// <summary>
/// Chooses the OpenCL device: by platform and device index, and/or by case-insensitive name substrings. Among the
/// devices that match, <see cref="OpenClEngine.Create(OpenClDeviceSelector?)"/> takes the first GPU, else the first device.
/// </summary>
public sealed record OpenClDeviceSelector
{
    /// <summary>Platform index (<c>clGetPlatformIDs</c> order), or null for any.</summary>
    public int? PlatformIndex { get; init; }
    /// <summary>Device index within the platform, or null for any.</summary>
    public int? DeviceIndex { get; init; }
    /// <summary>Substring of the platform name (case-insensitive), or null for any.</summary>
    public string? PlatformName { get; init; }
    /// <summary>Substring of the device name (case-insensitive), or null for any.</summary>
    public string? DeviceName { get; init; }

    /// <summary>
    /// Parses a command-line device choice: <c>"P:D"</c> (platform and device index), <c>"P"</c> (platform index), or
    /// any other text as a device-name substring (<c>"pthread"</c>, <c>"NVIDIA"</c>).
    /// </summary>
    public static OpenClDeviceSelector Parse(string text)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(text);
        var parts = text.Split(':');
        if (parts.Length == 2 && int.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out int p)
            && int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out int d))
            return new OpenClDeviceSelector { PlatformIndex = p, DeviceIndex = d };
        if (int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out int only))
            return new OpenClDeviceSelector { PlatformIndex = only };
        return new OpenClDeviceSelector { DeviceName = text.Trim() };
    }

    /// <summary>True when <paramref name="device"/> satisfies every criterion given.</summary>
    public bool Matches(OpenClDeviceInfo device)
    {
        ArgumentNullException.ThrowIfNull(device);
        return (PlatformIndex is null || PlatformIndex == device.PlatformIndex)
            && (DeviceIndex is null || DeviceIndex == device.DeviceIndex)
            && (PlatformName is null || device.PlatformName.Contains(PlatformName, StringComparison.OrdinalIgnoreCase))
            && (DeviceName is null || device.Name.Contains(DeviceName, StringComparison.OrdinalIgnoreCase));
    }

    /// <inheritdoc/>
    public override string ToString()
    {
        var parts = new List<string>();
        if (PlatformIndex is { } p) parts.Add($"platform {p}");
        if (DeviceIndex is { } d) parts.Add($"device {d}");
        if (PlatformName is not null) parts.Add($"platform name ~ '{PlatformName}'");
        if (DeviceName is not null) parts.Add($"device name ~ '{DeviceName}'");
        return parts.Count == 0 ? "any device" : string.Join(", ", parts);
    }
}
