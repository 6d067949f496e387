using System.Text;
using Silk.NET.OpenCL;

namespace CudnnRnn.OpenCL;

/// <summary>
/// The one place the OpenCL ICD loader is located (through Silk.NET's loader: <c>libOpenCL.so.1</c>/<c>libOpenCL.so</c>,
/// <c>OpenCL.dll</c>, the macOS framework). A missing loader is remembered as a reason, never a crash, so the engine can
/// report itself unavailable. Also the typed <c>clGet*Info</c> helpers.
/// </summary>
internal static unsafe class OpenClRuntime
{
    private static readonly Lazy<(CL? Api, string? Error)> s_api = new(Load, LazyThreadSafetyMode.ExecutionAndPublication);

    /// <summary>The loaded API; only valid after <see cref="TryGetApi"/> said yes (handles exist only then).</summary>
    public static CL Api => s_api.Value.Api ?? throw new InvalidOperationException("OpenCL is not loaded: " + s_api.Value.Error);

    /// <summary>Loads the ICD loader once; false with the reason when it cannot be loaded.</summary>
    public static bool TryGetApi(out CL api, out string reason)
    {
        var (a, e) = s_api.Value;
        api = a!;
        reason = e ?? "";
        return a is not null;
    }

    private static (CL?, string?) Load()
    {
        try
        {
            var api = CL.GetApi();
            // Resolve one entry point now, so a library without the OpenCL symbols fails here, with a reason.
            uint n;
            _ = api.GetPlatformIDs(0, null, &n);
            return (api, null);
        }
        catch (Exception e)
        {
            return (null,
                $"no OpenCL ICD loader could be loaded ({e.GetType().Name}: {e.Message}). Install one and a driver, " +
                "e.g. on Debian/Ubuntu: apt-get install ocl-icd-libopencl1 pocl-opencl-icd (CPU) or your GPU vendor's OpenCL ICD.");
        }
    }

    public static string PlatformString(CL api, nint platform, PlatformInfo param)
    {
        nuint size;
        OpenClException.ThrowIfFailed(api.GetPlatformInfo(platform, param, 0, null, &size));
        if (size == 0) return "";
        var bytes = new byte[(int)size];
        fixed (byte* p = bytes)
            OpenClException.ThrowIfFailed(api.GetPlatformInfo(platform, param, size, p, null));
        return Decode(bytes);
    }

    public static string DeviceString(CL api, nint device, DeviceInfo param)
    {
        nuint size;
        OpenClException.ThrowIfFailed(api.GetDeviceInfo(device, param, 0, null, &size));
        if (size == 0) return "";
        var bytes = new byte[(int)size];
        fixed (byte* p = bytes)
            OpenClException.ThrowIfFailed(api.GetDeviceInfo(device, param, size, p, null));
        return Decode(bytes);
    }

    public static TValue DeviceValue<TValue>(CL api, nint device, DeviceInfo param) where TValue : unmanaged
    {
        TValue v = default;
        OpenClException.ThrowIfFailed(api.GetDeviceInfo(device, param, (nuint)sizeof(TValue), &v, null));
        return v;
    }

    private static string Decode(byte[] bytes)
    {
        int n = Array.IndexOf(bytes, (byte)0);
        return Encoding.UTF8.GetString(bytes, 0, n < 0 ? bytes.Length : n).Trim();
    }

    /// <summary>Platforms and their devices (see <see cref="OpenClEngine.ListDevices"/>).</summary>
    public static OpenClDeviceListing List()
    {
        if (!TryGetApi(out var api, out var reason)) return new OpenClDeviceListing(false, reason, []);
        uint count;
        int status = api.GetPlatformIDs(0, null, &count);
        if (status == -1001 || (status == 0 && count == 0))
            return new OpenClDeviceListing(false,
                "the OpenCL ICD loader is installed but reports no platform (no ICD in /etc/OpenCL/vendors). " +
                "Install a driver, e.g. apt-get install pocl-opencl-icd for the CPU.", []);
        OpenClException.ThrowIfFailed(status, "clGetPlatformIDs(count)");
        var ids = new nint[count];
        fixed (nint* p = ids) OpenClException.ThrowIfFailed(api.GetPlatformIDs(count, p, null));

        var platforms = new List<OpenClPlatformInfo>();
        for (int pi = 0; pi < ids.Length; pi++)
        {
            nint pid = ids[pi];
            string name = PlatformString(api, pid, PlatformInfo.Name);
            string vendor = PlatformString(api, pid, PlatformInfo.Vendor);
            string version = PlatformString(api, pid, PlatformInfo.Version);
            uint nd;
            int ds = api.GetDeviceIDs(pid, DeviceType.All, 0, null, &nd);
            if (ds == -1 || (ds == 0 && nd == 0)) // CL_DEVICE_NOT_FOUND
            {
                platforms.Add(new OpenClPlatformInfo(pi, name, vendor, version, [], "no devices"));
                continue;
            }
            if (ds != 0)
            {
                platforms.Add(new OpenClPlatformInfo(pi, name, vendor, version, [], $"clGetDeviceIDs failed with {OpenClException.NameOf(ds)} ({ds})"));
                continue;
            }
            var dids = new nint[nd];
            fixed (nint* p = dids) OpenClException.ThrowIfFailed(api.GetDeviceIDs(pid, DeviceType.All, nd, p, null));
            var devices = new List<OpenClDeviceInfo>();
            for (int di = 0; di < dids.Length; di++)
                devices.Add(Describe(api, pid, name, version, pi, dids[di], di));
            platforms.Add(new OpenClPlatformInfo(pi, name, vendor, version, devices, null));
        }
        bool any = platforms.Any(p => p.Devices.Count > 0);
        return new OpenClDeviceListing(any, any ? null : "OpenCL platforms exist but none has a device.", platforms);
    }

    internal static OpenClDeviceInfo Describe(CL api, nint platform, string platformName, string platformVersion, int pi, nint device, int di)
    {
        var type = (DeviceType)DeviceValue<ulong>(api, device, DeviceInfo.Type);
        string typeName = type.HasFlag(DeviceType.Gpu) ? "GPU" : type.HasFlag(DeviceType.Cpu) ? "CPU"
            : type.HasFlag(DeviceType.Accelerator) ? "Accelerator" : type.HasFlag(DeviceType.Custom) ? "Custom" : "Other";
        string extensions = DeviceString(api, device, DeviceInfo.Extensions);
        // cl_khr_fp64 (OpenCL 1.x/3.0), or a non-zero CL_DEVICE_DOUBLE_FP_CONFIG (core in 1.2+ when doubles exist).
        bool fp64 = extensions.Split(' ', StringSplitOptions.RemoveEmptyEntries).Contains("cl_khr_fp64")
            || DeviceValue<ulong>(api, device, DeviceInfo.DoubleFPConfig) != 0;
        return new OpenClDeviceInfo(
            PlatformIndex: pi,
            DeviceIndex: di,
            PlatformName: platformName,
            PlatformVersion: platformVersion,
            Name: DeviceString(api, device, DeviceInfo.Name),
            Vendor: DeviceString(api, device, DeviceInfo.Vendor),
            Type: typeName,
            Version: DeviceString(api, device, DeviceInfo.Version),
            DriverVersion: DeviceString(api, device, DeviceInfo.DriverVersion),
            SupportsFloat64: fp64,
            ComputeUnits: (int)DeviceValue<uint>(api, device, DeviceInfo.MaxComputeUnits),
            GlobalMemoryBytes: (long)DeviceValue<ulong>(api, device, DeviceInfo.GlobalMemSize),
            MaxAllocationBytes: (long)DeviceValue<ulong>(api, device, DeviceInfo.MaxMemAllocSize),
            MaxWorkGroupSize: (long)DeviceValue<nuint>(api, device, DeviceInfo.MaxWorkGroupSize))
        {
            PlatformId = platform,
            DeviceId = device,
        };
    }
}
