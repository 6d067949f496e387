using CudnnRnn.Interop;

namespace CudnnRnn.Cuda;

public sealed partial class CudaEngine
{
    /// <summary>
    /// Checks, in order, the CUDA runtime library, the driver, the device, cuDNN and its RNN sub-library, and reports
    /// versions and the device name. Never throws for a missing library or device.
    /// </summary>
    public static CudaProbeResult Probe(int device = 0)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(device);
        string? cudnnVer = null, deviceName = null;
        ulong raw = 0, cudnnCudart = 0, maxDev = 0;
        int runtime = 0, driver = 0, count = 0;
        CudaProbeResult Result(bool ok, string reason)
        {
            var (cudnnLib, cudartLib, _) = CudaLibraries.LoadedFrom;
            return new(ok, reason, cudnnVer, raw, cudnnCudart, maxDev, runtime, driver, count, device, deviceName, cudnnLib, cudartLib);
        }

        try
        {
            if (!CudaLibraries.TryLoadCudart(out var cudartError))
                return Result(false, cudartError!.Message);
            var err = Cudart.cudaDriverGetVersion(out driver);
            if (err != cudaError_t.cudaSuccess)
                return Result(false, CudaException.Create(err, "cudaDriverGetVersion(out driver)").Message);
            err = Cudart.cudaRuntimeGetVersion(out runtime);
            if (err != cudaError_t.cudaSuccess)
                return Result(false, CudaException.Create(err, "cudaRuntimeGetVersion(out runtime)").Message);
            if (driver == 0)
                return Result(false, "no NVIDIA driver is installed (cudaDriverGetVersion reports 0).");
            err = Cudart.cudaGetDeviceCount(out count);
            switch (err)
            {
                case cudaError_t.cudaSuccess:
                    break;
                case cudaError_t.cudaErrorInsufficientDriver:
                    return Result(false, $"the NVIDIA driver (supports CUDA {CudaProbeResult.FormatCudaVersion(driver)}) is older than the CUDA runtime " +
                                         $"{CudaProbeResult.FormatCudaVersion(runtime)} (cudaErrorInsufficientDriver, 35).");
                case cudaError_t.cudaErrorNoDevice:
                    return Result(false, "no CUDA-capable device was detected by the installed driver (cudaErrorNoDevice, 100).");
                default:
                    return Result(false, CudaException.Create(err, "cudaGetDeviceCount(out count)").Message);
            }
            if (count == 0)
                return Result(false, "no CUDA-capable device (cudaGetDeviceCount reports 0).");
            if (device >= count)
                return Result(false, $"CUDA device {device} does not exist; {count} device(s) found.");
            deviceName = CudaDriver.TryGetDeviceName(device);

            if (!CudaLibraries.TryLoadCudnn(out var cudnnError))
                return Result(false, cudnnError!.Message);
            var v = CudaLibraries.CudnnVersion;
            cudnnVer = v.ToString();
            raw = v.Raw;
            cudnnCudart = Cudnn.cudnnGetCudartVersion();
            if (RuntimeMismatch(cudnnCudart, runtime) is { } mismatch)
                return Result(false, mismatch);
            if (v.Major < 8)
                return Result(false, $"cuDNN {v} is too old: the v8 RNN API (cudnnRNNForward) needs cuDNN 8 or 9.");
            if (v.Major >= 9)
            {
                maxDev = Cudnn.cudnnGetMaxDeviceVersion();
                // cudnnAdvVersionCheck lives in the RNN sub-library: it fails here rather than at the first RNN call when
                // libcudnn_adv / cudnn_adv64_9 cannot be loaded next to the shim (API.md §2.2, §10.5).
                var st = Cudnn.cudnnAdvVersionCheck();
                if (st != cudnnStatus_t.CUDNN_STATUS_SUCCESS)
                    return Result(false, $"cuDNN's RNN sub-library is not usable: {CudnnException.Create((int)st, "cudnnAdvVersionCheck()").Message}");
            }
            else
            {
                var st = Cudnn.cudnnAdvInferVersionCheck();
                if (st != cudnnStatus_t.CUDNN_STATUS_SUCCESS)
                    return Result(false, $"cuDNN's RNN sub-library is not usable: {CudnnException.Create((int)st, "cudnnAdvInferVersionCheck()").Message}");
            }
            return Result(true, "");
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException or CudaException or CudnnException)
        {
            return Result(false, e.Message);
        }
    }

    /// <summary>
    /// Null when cuDNN was built for the loaded CUDA runtime's major version, else why not. cudnnGetCudartVersion is the
    /// runtime version cuDNN was built with and cudaRuntimeGetVersion the loaded one, both 1000·major + 10·minor; CUDA
    /// keeps binary compatibility within a major version only, so a cuDNN for CUDA 11 with a CUDA 12 runtime (or the
    /// reverse) is refused here instead of failing in the first cuDNN call.
    /// </summary>
    internal static string? RuntimeMismatch(ulong cudnnBuiltFor, int loadedRuntime)
    {
        if (cudnnBuiltFor == 0 || loadedRuntime <= 0)
            return $"cannot compare CUDA runtime versions: cudnnGetCudartVersion reports {cudnnBuiltFor}, cudaRuntimeGetVersion {loadedRuntime}.";
        ulong builtMajor = cudnnBuiltFor / 1000, loadedMajor = (ulong)loadedRuntime / 1000;
        if (builtMajor == loadedMajor) return null;
        return $"cuDNN was built for CUDA runtime {builtMajor}.{cudnnBuiltFor % 1000 / 10} (cudnnGetCudartVersion = {cudnnBuiltFor}), but the loaded CUDA " +
               $"runtime is {CudaProbeResult.FormatCudaVersion(loadedRuntime)} (cudaRuntimeGetVersion = {loadedRuntime}); the major versions must match. " +
               "Install the cuDNN build for this CUDA major version, or point the library resolver at the matching runtime.";
    }
}
