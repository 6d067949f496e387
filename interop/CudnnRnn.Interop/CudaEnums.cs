// Provenance: CUDA runtime headers driver_types.h / cuda_runtime_api.h (CUDA 12.x copies, CUDART_VERSION 12050), as
// recorded in ../shared/cudnn/api.json "cudaRuntime" and API.md §5.9. Only the codes the contract lists are named; any
// other code still decodes through cudaGetErrorName / cudaGetErrorString.

namespace CudnnRnn.Interop;

#pragma warning disable CA1707, CA1008, CA1028 // C names and values

/// <summary><c>cudaError_t</c> (the members api.json lists; the runtime may return others).</summary>
public enum cudaError_t
{
    /// <summary>Success.</summary>
    cudaSuccess = 0,
    /// <summary>Invalid value.</summary>
    cudaErrorInvalidValue = 1,
    /// <summary>Out of device memory.</summary>
    cudaErrorMemoryAllocation = 2,
    /// <summary>"the CUDA driver and runtime could not be initialized".</summary>
    cudaErrorInitializationError = 3,
    /// <summary>The runtime is unloading.</summary>
    cudaErrorCudartUnloading = 4,
    /// <summary>Invalid launch configuration.</summary>
    cudaErrorInvalidConfiguration = 9,
    /// <summary>Invalid memcpy direction.</summary>
    cudaErrorInvalidMemcpyDirection = 21,
    /// <summary>"the CUDA driver that the application has loaded is a stub library".</summary>
    cudaErrorStubLibrary = 34,
    /// <summary>"installed NVIDIA CUDA driver is older than the CUDA runtime library".</summary>
    cudaErrorInsufficientDriver = 35,
    /// <summary>The call needs a newer driver.</summary>
    cudaErrorCallRequiresNewerDriver = 36,
    /// <summary>Devices unavailable (exclusive mode or similar).</summary>
    cudaErrorDevicesUnavailable = 46,
    /// <summary>"no CUDA-capable devices were detected by the installed CUDA driver".</summary>
    cudaErrorNoDevice = 100,
    /// <summary>Invalid device ordinal.</summary>
    cudaErrorInvalidDevice = 101,
    /// <summary>Startup failure.</summary>
    cudaErrorStartupFailure = 127,
    /// <summary>No kernel image for this device.</summary>
    cudaErrorNoKernelImageForDevice = 209,
    /// <summary>Invalid resource handle.</summary>
    cudaErrorInvalidResourceHandle = 400,
    /// <summary>Not ready (asynchronous work pending).</summary>
    cudaErrorNotReady = 600,
    /// <summary>Illegal address.</summary>
    cudaErrorIllegalAddress = 700,
    /// <summary>Launch failure.</summary>
    cudaErrorLaunchFailure = 719,
    /// <summary>Not supported.</summary>
    cudaErrorNotSupported = 801,
    /// <summary>System driver mismatch.</summary>
    cudaErrorSystemDriverMismatch = 803,
    /// <summary>Compatibility mode not supported on this device.</summary>
    cudaErrorCompatNotSupportedOnDevice = 804,
    /// <summary>Unknown error.</summary>
    cudaErrorUnknown = 999,
}

/// <summary><c>enum cudaMemcpyKind</c>.</summary>
public enum cudaMemcpyKind
{
    /// <summary>Host to host.</summary>
    cudaMemcpyHostToHost = 0,
    /// <summary>Host to device.</summary>
    cudaMemcpyHostToDevice = 1,
    /// <summary>Device to host.</summary>
    cudaMemcpyDeviceToHost = 2,
    /// <summary>Device to device.</summary>
    cudaMemcpyDeviceToDevice = 3,
    /// <summary>Inferred from the pointers (needs unified virtual addressing).</summary>
    cudaMemcpyDefault = 4,
}

/// <summary>CUDA runtime <c>#define</c> flags from api.json "flags".</summary>
public static class CudartConstants
{
    /// <summary><c>cudaStreamDefault</c>.</summary>
    public const uint cudaStreamDefault = 0;
    /// <summary><c>cudaStreamNonBlocking</c>.</summary>
    public const uint cudaStreamNonBlocking = 1;
    /// <summary><c>cudaEventDefault</c>.</summary>
    public const uint cudaEventDefault = 0;
    /// <summary><c>cudaEventBlockingSync</c>.</summary>
    public const uint cudaEventBlockingSync = 1;
    /// <summary><c>cudaEventDisableTiming</c>.</summary>
    public const uint cudaEventDisableTiming = 2;
    /// <summary><c>cudaEventInterprocess</c>.</summary>
    public const uint cudaEventInterprocess = 4;
}
