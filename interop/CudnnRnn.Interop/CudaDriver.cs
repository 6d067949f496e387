// Provenance: CUDA driver API cuda.h (CUresult CUDAAPI cuInit / cuDeviceGet / cuDeviceGetName). OUTSIDE the shared
// contract: api.json has no call that returns a device name, and this is the smallest stable one (cudaDeviceProp's
// layout changes between CUDA versions). The prototypes are the long-stable cuda.h ones, not re-verified against a header
// in ../shared; the contract test lists them, with the context and pointer calls of CudaDriver.Context.cs, as the only
// deliberate extras. CUdevice is an int ordinal; CUresult is a C enum (int), 0 = CUDA_SUCCESS. The name is optional
// (never required to run); engines created in the caller's current context need the driver library.

using System.Runtime.InteropServices;

namespace CudnnRnn.Interop;

/// <summary>The CUDA driver API calls this library makes: naming a device here, contexts and pointers in CudaDriver.Context.cs.</summary>
public static unsafe partial class CudaDriver
{
    static CudaDriver() => CudaLibraries.EnsureResolverRegistered();

    /// <summary><c>CUresult cuInit(unsigned int Flags)</c>; Flags must be 0.</summary>
    [LibraryImport(CudaLibraries.DriverLibraryName)]
    public static partial int cuInit(uint Flags);

    /// <summary><c>CUresult cuDeviceGet(CUdevice *device, int ordinal)</c>.</summary>
    [LibraryImport(CudaLibraries.DriverLibraryName)]
    public static partial int cuDeviceGet(out int device, int ordinal);

    /// <summary><c>CUresult cuDeviceGetName(char *name, int len, CUdevice dev)</c>.</summary>
    [LibraryImport(CudaLibraries.DriverLibraryName)]
    public static partial int cuDeviceGetName(byte* name, int len, int dev);

    /// <summary>The device's name, or a line saying why it is unavailable. Never throws for a missing driver library.</summary>
    public static string TryGetDeviceName(int ordinal)
    {
        if (!CudaLibraries.TryLoadDriver(out var error))
            return $"CUDA device {ordinal} (name unavailable: {error!.Trace.LastOrDefault() ?? "driver library not loaded"})";
        try
        {
            int r = cuInit(0);
            if (r != 0) return $"CUDA device {ordinal} (cuInit returned CUresult {r})";
            r = cuDeviceGet(out int dev, ordinal);
            if (r != 0) return $"CUDA device {ordinal} (cuDeviceGet returned CUresult {r})";
            const int len = 256;
            byte* buf = stackalloc byte[len];
            buf[0] = 0;
            r = cuDeviceGetName(buf, len, dev);
            buf[len - 1] = 0;
            return r == 0 ? Marshal.PtrToStringUTF8((nint)buf) ?? $"CUDA device {ordinal}" : $"CUDA device {ordinal} (cuDeviceGetName returned CUresult {r})";
        }
        catch (EntryPointNotFoundException e)
        {
            return $"CUDA device {ordinal} (name unavailable: {e.Message})";
        }
    }
}
