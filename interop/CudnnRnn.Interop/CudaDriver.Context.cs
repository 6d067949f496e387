// Provenance: CUDA driver API cuda.h (CUDA 12.x): cuCtxGetCurrent, cuCtxSetCurrent, cuCtxGetDevice, cuStreamGetCtx,
// cuPointerGetAttribute and cuMemGetAddressRange (bound by its ABI name cuMemGetAddressRange_v2, which cuda.h #defines the
// plain name to since CUDA 3.2). OUTSIDE the shared contract (api.json has no driver calls): these are the long-stable
// prototypes from cuda.h, not re-verified against a header in ../shared; ContractTests lists them as deliberate extras.
// CUcontext and CUstream are opaque pointers; CUdeviceptr is `unsigned long long` on 64-bit hosts; CUresult is a C enum
// (int), 0 = CUDA_SUCCESS. Used by engines created in the caller's current context and by CudaEngine.Wrap's checks.

using System.Runtime.InteropServices;

namespace CudnnRnn.Interop;

public static unsafe partial class CudaDriver
{
    /// <summary><c>CUresult cuCtxGetCurrent(CUcontext *pctx)</c>: the context bound to the calling CPU thread (NULL if none).</summary>
    [LibraryImport(CudaLibraries.DriverLibraryName)]
    public static partial int cuCtxGetCurrent(out nint pctx);

    /// <summary><c>CUresult cuCtxSetCurrent(CUcontext ctx)</c>: binds <paramref name="ctx"/> to the calling thread, replacing the top of its stack.</summary>
    [LibraryImport(CudaLibraries.DriverLibraryName)]
    public static partial int cuCtxSetCurrent(nint ctx);

    /// <summary><c>CUresult cuCtxGetDevice(CUdevice *device)</c>: the device ordinal of the current context.</summary>
    [LibraryImport(CudaLibraries.DriverLibraryName)]
    public static partial int cuCtxGetDevice(out int device);

    /// <summary><c>CUresult cuStreamGetCtx(CUstream hStream, CUcontext *pctx)</c> (CUDA 9.2+).</summary>
    [LibraryImport(CudaLibraries.DriverLibraryName)]
    public static partial int cuStreamGetCtx(nint hStream, out nint pctx);

    /// <summary><c>CUresult cuPointerGetAttribute(void *data, CUpointer_attribute attribute, CUdeviceptr ptr)</c>.</summary>
    [LibraryImport(CudaLibraries.DriverLibraryName)]
    public static partial int cuPointerGetAttribute(void* data, CUpointer_attribute attribute, ulong ptr);

    /// <summary><c>CUresult cuMemGetAddressRange(CUdeviceptr *pbase, size_t *psize, CUdeviceptr dptr)</c> (ABI name _v2).</summary>
    [LibraryImport(CudaLibraries.DriverLibraryName)]
    public static partial int cuMemGetAddressRange_v2(out ulong pbase, out nuint psize, ulong dptr);

    /// <summary>The C name of a CUresult this library can meet (others as a number).</summary>
    public static string ResultName(int result) => result switch
    {
        0 => "CUDA_SUCCESS",
        1 => "CUDA_ERROR_INVALID_VALUE",
        3 => "CUDA_ERROR_NOT_INITIALIZED",
        4 => "CUDA_ERROR_DEINITIALIZED",
        100 => "CUDA_ERROR_NO_DEVICE",
        101 => "CUDA_ERROR_INVALID_DEVICE",
        201 => "CUDA_ERROR_INVALID_CONTEXT",
        400 => "CUDA_ERROR_INVALID_HANDLE",
        709 => "CUDA_ERROR_CONTEXT_IS_DESTROYED",
        _ => $"CUresult {result}",
    };

    /// <summary>Throws <see cref="CudaDriverException"/> when <paramref name="result"/> is not CUDA_SUCCESS.</summary>
    public static void ThrowIfFailed(int result, [System.Runtime.CompilerServices.CallerArgumentExpression(nameof(result))] string call = "")
    {
        if (result != 0) throw new CudaDriverException(result, call);
    }
}

/// <summary>A CUDA driver API call returned a CUresult other than CUDA_SUCCESS.</summary>
public sealed class CudaDriverException : Exception
{
    /// <summary>Creates the exception for <paramref name="result"/> returned by <paramref name="call"/>.</summary>
    public CudaDriverException(int result, string call)
        : base($"{call} returned {CudaDriver.ResultName(result)} ({result}).")
    {
        Result = result;
        Call = call;
    }

    /// <summary>The raw CUresult.</summary>
    public int Result { get; }
    /// <summary>The failing call as written in the source.</summary>
    public string Call { get; }
}

#pragma warning disable CA1707, CA1008, CA1028 // C names and values

/// <summary><c>CUpointer_attribute</c> (cuda.h): the members this library reads.</summary>
public enum CUpointer_attribute
{
    /// <summary>The CUcontext in which the pointer was allocated or registered.</summary>
    CU_POINTER_ATTRIBUTE_CONTEXT = 1,
    /// <summary>The CUmemorytype of the memory.</summary>
    CU_POINTER_ATTRIBUTE_MEMORY_TYPE = 2,
    /// <summary>Whether the memory is managed (unified) memory (an unsigned int, 0 or 1).</summary>
    CU_POINTER_ATTRIBUTE_IS_MANAGED = 8,
    /// <summary>The device ordinal of the device the memory belongs to (an int).</summary>
    CU_POINTER_ATTRIBUTE_DEVICE_ORDINAL = 9,
}

/// <summary><c>CUmemorytype</c> (cuda.h).</summary>
public enum CUmemorytype
{
    /// <summary>Host memory.</summary>
    CU_MEMORYTYPE_HOST = 1,
    /// <summary>Device memory.</summary>
    CU_MEMORYTYPE_DEVICE = 2,
    /// <summary>CUDA array.</summary>
    CU_MEMORYTYPE_ARRAY = 3,
    /// <summary>Unified device or host memory.</summary>
    CU_MEMORYTYPE_UNIFIED = 4,
}
