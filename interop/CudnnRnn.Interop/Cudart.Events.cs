// Provenance: CUDA runtime cuda_runtime_api.h / driver_types.h (CUDA 12.x and 13.x). Not in ../shared/cudnn/api.json:
// these prototypes are checked by ContractTests.RuntimeExtras instead. Semantics relied on (CUDA Runtime API, "Event
// Management"): cudaEventRecord captures the work queued on the stream so far and returns at once; cudaEventQuery
// returns cudaSuccess once that work has completed (or the event was never recorded) and cudaErrorNotReady before,
// without blocking; cudaEventSynchronize blocks the host until it has completed; cudaEventDisableTiming (0x02) makes
// the event cheaper (no timestamps).

using System.Runtime.InteropServices;

namespace CudnnRnn.Interop;

public static unsafe partial class Cudart
{
    /// <summary><c>cudaEventDisableTiming</c>: the event records no timestamp (cheaper; for ordering only).</summary>
    public const uint cudaEventDisableTiming = 0x02;

    /// <summary><c>cudaEventCreateWithFlags(cudaEvent_t *event, unsigned int flags)</c>.</summary>
    [LibraryImport(CudaLibraries.CudartLibraryName)]
    public static partial cudaError_t cudaEventCreateWithFlags(out SafeCudaEvent @event, uint flags);

    /// <summary><c>cudaEventRecord(cudaEvent_t event, cudaStream_t stream)</c>.</summary>
    [LibraryImport(CudaLibraries.CudartLibraryName)]
    public static partial cudaError_t cudaEventRecord(SafeCudaEvent @event, SafeCudaStream stream);

    /// <summary><c>cudaEventQuery(cudaEvent_t event)</c>: cudaSuccess when complete, cudaErrorNotReady when not (no blocking).</summary>
    [LibraryImport(CudaLibraries.CudartLibraryName)]
    public static partial cudaError_t cudaEventQuery(SafeCudaEvent @event);

    /// <summary><c>cudaEventSynchronize(cudaEvent_t event)</c>: blocks the host (count it as a synchronizing call).</summary>
    [LibraryImport(CudaLibraries.CudartLibraryName)]
    public static partial cudaError_t cudaEventSynchronize(SafeCudaEvent @event);

    /// <summary><c>cudaEventDestroy(cudaEvent_t event)</c>.</summary>
    [LibraryImport(CudaLibraries.CudartLibraryName)]
    public static partial cudaError_t cudaEventDestroy(nint @event);
}

/// <summary>Owns a <c>cudaEvent_t</c>.</summary>
public sealed class SafeCudaEvent : CudaSafeHandle
{
    /// <summary>An invalid handle.</summary>
    public SafeCudaEvent() : base(CudaHandleKind.Event) { }

    /// <summary><c>cudaEventCreateWithFlags</c> with <see cref="Cudart.cudaEventDisableTiming"/>, checked.</summary>
    public static SafeCudaEvent Create()
    {
        CudaException.ThrowIfFailed(Cudart.cudaEventCreateWithFlags(out var e, Cudart.cudaEventDisableTiming));
        e.MarkCreated();
        return e;
    }

    /// <inheritdoc/>
    protected override bool ReleaseNative(nint value) => Cudart.cudaEventDestroy(value) == cudaError_t.cudaSuccess;
}
