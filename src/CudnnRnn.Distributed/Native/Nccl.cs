// Provenance: NVIDIA NCCL's public header (src/nccl.h.in, NCCL 2.x): ncclResult_t, ncclDataType_t, ncclRedOp_t values,
// NCCL_UNIQUE_ID_BYTES = 128, and the signatures below. ncclCommInitRank takes the ncclUniqueId BY VALUE (a 128-byte
// struct). NCCL_VERSION_CODE is major·10000 + minor·100 + patch since 2.9 (major·1000 + minor·100 + patch before).
// ncclAvg exists since NCCL 2.10. Every call returns ncclResult_t; ncclGetErrorString gives NCCL's own text.
// UNTESTED here (no GPU, no libnccl.so.2 on the development machine): written against the header's contract only.

using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace CudnnRnn.Distributed.Native;

/// <summary><c>ncclResult_t</c>.</summary>
public enum ncclResult_t
{
    /// <summary>Success.</summary>
    ncclSuccess = 0,
    /// <summary>A CUDA call failed.</summary>
    ncclUnhandledCudaError = 1,
    /// <summary>A system call failed.</summary>
    ncclSystemError = 2,
    /// <summary>An internal check failed (NCCL bug or memory corruption).</summary>
    ncclInternalError = 3,
    /// <summary>An argument is invalid.</summary>
    ncclInvalidArgument = 4,
    /// <summary>The call is invalid in this state.</summary>
    ncclInvalidUsage = 5,
    /// <summary>A remote peer failed or disconnected.</summary>
    ncclRemoteError = 6,
    /// <summary>A non-blocking operation is still in progress.</summary>
    ncclInProgress = 7,
}

/// <summary><c>ncclDataType_t</c> (the values used here).</summary>
public enum ncclDataType_t
{
    /// <summary><c>ncclInt8</c> / <c>ncclChar</c>.</summary>
    ncclInt8 = 0,
    /// <summary><c>ncclInt32</c>.</summary>
    ncclInt32 = 2,
    /// <summary><c>ncclFloat16</c> / <c>ncclHalf</c>.</summary>
    ncclFloat16 = 6,
    /// <summary><c>ncclFloat32</c> / <c>ncclFloat</c>.</summary>
    ncclFloat32 = 7,
    /// <summary><c>ncclFloat64</c> / <c>ncclDouble</c>.</summary>
    ncclFloat64 = 8,
    /// <summary><c>ncclBfloat16</c> (NCCL 2.10+).</summary>
    ncclBfloat16 = 9,
}

/// <summary><c>ncclRedOp_t</c> (the built-in operations).</summary>
public enum ncclRedOp_t
{
    /// <summary>Sum.</summary>
    ncclSum = 0,
    /// <summary>Product.</summary>
    ncclProd = 1,
    /// <summary>Maximum.</summary>
    ncclMax = 2,
    /// <summary>Minimum.</summary>
    ncclMin = 3,
    /// <summary>Average (NCCL 2.10+).</summary>
    ncclAvg = 4,
}

/// <summary><c>ncclUniqueId</c>: <c>struct { char internal[NCCL_UNIQUE_ID_BYTES]; }</c>, 128 bytes, passed by value.</summary>
[StructLayout(LayoutKind.Sequential, Size = Bytes)]
public unsafe struct ncclUniqueId
{
    /// <summary><c>NCCL_UNIQUE_ID_BYTES</c>.</summary>
    public const int Bytes = 128;
    /// <summary>The opaque bytes.</summary>
    public fixed byte Internal[Bytes];
}

/// <summary>NCCL entry points, named as the C header. Check every result with <see cref="NcclException.ThrowIfFailed"/>.</summary>
public static unsafe partial class Nccl
{
    static Nccl() => DistributedLibraries.EnsureResolverRegistered();

    /// <summary><c>ncclResult_t ncclGetVersion(int *version)</c>.</summary>
    [LibraryImport(DistributedLibraries.NcclLibraryName)]
    public static partial ncclResult_t ncclGetVersion(out int version);

    /// <summary><c>ncclResult_t ncclGetUniqueId(ncclUniqueId *uniqueId)</c>: called once, on rank 0, then broadcast.</summary>
    [LibraryImport(DistributedLibraries.NcclLibraryName)]
    public static partial ncclResult_t ncclGetUniqueId(ncclUniqueId* uniqueId);

    /// <summary><c>ncclResult_t ncclCommInitRank(ncclComm_t *comm, int nranks, ncclUniqueId commId, int rank)</c>.</summary>
    [LibraryImport(DistributedLibraries.NcclLibraryName)]
    public static partial ncclResult_t ncclCommInitRank(out SafeNcclComm comm, int nranks, ncclUniqueId commId, int rank);

    /// <summary><c>ncclResult_t ncclCommDestroy(ncclComm_t comm)</c>: waits for pending operations, then frees.</summary>
    [LibraryImport(DistributedLibraries.NcclLibraryName)]
    public static partial ncclResult_t ncclCommDestroy(nint comm);

    /// <summary><c>ncclResult_t ncclCommAbort(ncclComm_t comm)</c>: frees at once, aborting uncompleted operations.</summary>
    [LibraryImport(DistributedLibraries.NcclLibraryName)]
    public static partial ncclResult_t ncclCommAbort(nint comm);

    /// <summary><c>ncclResult_t ncclCommGetAsyncError(ncclComm_t comm, ncclResult_t *asyncError)</c>.</summary>
    [LibraryImport(DistributedLibraries.NcclLibraryName)]
    public static partial ncclResult_t ncclCommGetAsyncError(SafeNcclComm comm, out ncclResult_t asyncError);

    /// <summary><c>ncclAllReduce(const void *sendbuff, void *recvbuff, size_t count, ncclDataType_t, ncclRedOp_t, ncclComm_t, cudaStream_t)</c>; in place when sendbuff == recvbuff.</summary>
    [LibraryImport(DistributedLibraries.NcclLibraryName)]
    public static partial ncclResult_t ncclAllReduce(void* sendbuff, void* recvbuff, nuint count, ncclDataType_t datatype, ncclRedOp_t op, SafeNcclComm comm, nint stream);

    /// <summary><c>ncclBroadcast(const void *sendbuff, void *recvbuff, size_t count, ncclDataType_t, int root, ncclComm_t, cudaStream_t)</c>.</summary>
    [LibraryImport(DistributedLibraries.NcclLibraryName)]
    public static partial ncclResult_t ncclBroadcast(void* sendbuff, void* recvbuff, nuint count, ncclDataType_t datatype, int root, SafeNcclComm comm, nint stream);

    /// <summary><c>ncclResult_t ncclGroupStart(void)</c>.</summary>
    [LibraryImport(DistributedLibraries.NcclLibraryName)]
    public static partial ncclResult_t ncclGroupStart();

    /// <summary><c>ncclResult_t ncclGroupEnd(void)</c>.</summary>
    [LibraryImport(DistributedLibraries.NcclLibraryName)]
    public static partial ncclResult_t ncclGroupEnd();

    /// <summary><c>const char *ncclGetErrorString(ncclResult_t result)</c>.</summary>
    [LibraryImport(DistributedLibraries.NcclLibraryName)]
    public static partial byte* ncclGetErrorString(ncclResult_t result);

    /// <summary>NCCL's version, decoded from <c>ncclGetVersion</c> (both encodings).</summary>
    public static Version Version()
    {
        NcclException.ThrowIfFailed(ncclGetVersion(out int code));
        return DecodeVersion(code);
    }

    /// <summary>Decodes NCCL_VERSION_CODE: major·10000 + minor·100 + patch from 2.9 on, major·1000 + minor·100 + patch before.</summary>
    public static Version DecodeVersion(int code) => code >= 10000
        ? new Version(code / 10000, code % 10000 / 100, code % 100)
        : new Version(code / 1000, code % 1000 / 100, code % 100);
}

/// <summary>Owns an <c>ncclComm_t</c>: <c>ncclCommDestroy</c> on release, or <c>ncclCommAbort</c> after <see cref="MarkFailed"/>.</summary>
public sealed class SafeNcclComm : SafeHandle
{
    private int _failed;

    /// <summary>An invalid handle (the LibraryImport generator creates out-handles through it).</summary>
    public SafeNcclComm() : base(0, ownsHandle: true) { }

    /// <inheritdoc/>
    public override bool IsInvalid => handle == 0;

    /// <summary>After an asynchronous error the communicator must be aborted, not destroyed (destroy would wait forever).</summary>
    public void MarkFailed() => Interlocked.Exchange(ref _failed, 1);

    /// <inheritdoc/>
    protected override bool ReleaseHandle() => Volatile.Read(ref _failed) != 0
        ? Nccl.ncclCommAbort(handle) == ncclResult_t.ncclSuccess
        : Nccl.ncclCommDestroy(handle) == ncclResult_t.ncclSuccess;
}

/// <summary>An NCCL call failed; the message has NCCL's own text (<c>ncclGetErrorString</c>).</summary>
public sealed class NcclException : Exception
{
    /// <summary>Creates the exception.</summary>
    public NcclException(ncclResult_t result, string call, string message) : base(message)
    {
        Result = result;
        Call = call;
    }

    /// <summary>The result code.</summary>
    public ncclResult_t Result { get; }
    /// <summary>The failing call as written in the source.</summary>
    public string Call { get; }

    /// <summary>The one check every NCCL call goes through.</summary>
    public static void ThrowIfFailed(ncclResult_t result, [CallerArgumentExpression(nameof(result))] string call = "")
    {
        if (result != ncclResult_t.ncclSuccess) throw Create(result, call);
    }

    /// <summary>Builds the exception (asks NCCL for the text).</summary>
    public static unsafe NcclException Create(ncclResult_t result, string call)
    {
        string text = "";
        try
        {
            byte* s = Nccl.ncclGetErrorString(result);
            if (s is not null) text = Marshal.PtrToStringUTF8((nint)s) ?? "";
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException) { }
        return new NcclException(result, call, $"{call} failed: {result} ({(int)result}){(text.Length > 0 ? $": {text}" : "")}");
    }
}

/// <summary>The few CUDA runtime calls the NCCL path needs beyond CudnnRnn.Interop's set (same library, same resolver).</summary>
public static partial class CudartExtra
{
    static CudartExtra() => DistributedLibraries.EnsureResolverRegistered();

    /// <summary><c>cudaError_t cudaStreamQuery(cudaStream_t stream)</c>: cudaSuccess when done, cudaErrorNotReady (600) while work is pending.</summary>
    [LibraryImport(DistributedLibraries.CudartLibraryName)]
    public static partial CudnnRnn.Interop.cudaError_t cudaStreamQuery(nint stream);
}
