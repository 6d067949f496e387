// Provenance: the MPI standard's C bindings (MPI-3.1 §§ 3–8) as Open MPI 4.1's mpi.h declares them. Every handle type
// (MPI_Comm, MPI_Datatype, MPI_Op, MPI_Errhandler) is a pointer in Open MPI, and the predefined handles are addresses
// of global symbols: MPI_COMM_WORLD is &ompi_mpi_comm_world, MPI_FLOAT &ompi_mpi_float, MPI_SUM &ompi_mpi_op_sum,
// MPI_ERRORS_RETURN &ompi_mpi_errors_return (OMPI_PREDEFINED_GLOBAL in mpi.h). MpiHandles resolves them with
// NativeLibrary.GetExport. MPI_IN_PLACE is ((void *) 1) in Open MPI. Every function returns an int error code
// (MPI_SUCCESS = 0); MPI_Error_string turns it into the library's own text (MPI_MAX_ERROR_STRING = 256 in Open MPI).

using System.Runtime.InteropServices;

namespace CudnnRnn.Distributed.Native;

/// <summary>MPI entry points, named as the C header. Check every result with <see cref="MpiException.ThrowIfFailed"/>.</summary>
public static unsafe partial class Mpi
{
    static Mpi() => DistributedLibraries.EnsureResolverRegistered();

    /// <summary><c>MPI_SUCCESS</c>.</summary>
    public const int MPI_SUCCESS = 0;
    /// <summary><c>MPI_MAX_ERROR_STRING</c> in Open MPI.</summary>
    public const int MPI_MAX_ERROR_STRING = 256;
    /// <summary>A buffer large enough for <c>MPI_Get_library_version</c> in Open MPI (256) and MPICH (8192).</summary>
    public const int MaxLibraryVersionString = 8192;

    /// <summary><c>int MPI_Init(int *argc, char ***argv)</c>; NULL, NULL is allowed since MPI-2.</summary>
    [LibraryImport(DistributedLibraries.MpiLibraryName)]
    public static partial int MPI_Init(int* argc, byte*** argv);

    /// <summary><c>int MPI_Initialized(int *flag)</c> (callable before MPI_Init).</summary>
    [LibraryImport(DistributedLibraries.MpiLibraryName)]
    public static partial int MPI_Initialized(out int flag);

    /// <summary><c>int MPI_Finalized(int *flag)</c> (callable after MPI_Finalize).</summary>
    [LibraryImport(DistributedLibraries.MpiLibraryName)]
    public static partial int MPI_Finalized(out int flag);

    /// <summary><c>int MPI_Finalize(void)</c>.</summary>
    [LibraryImport(DistributedLibraries.MpiLibraryName)]
    public static partial int MPI_Finalize();

    /// <summary><c>int MPI_Comm_rank(MPI_Comm comm, int *rank)</c>.</summary>
    [LibraryImport(DistributedLibraries.MpiLibraryName)]
    public static partial int MPI_Comm_rank(nint comm, out int rank);

    /// <summary><c>int MPI_Comm_size(MPI_Comm comm, int *size)</c>.</summary>
    [LibraryImport(DistributedLibraries.MpiLibraryName)]
    public static partial int MPI_Comm_size(nint comm, out int size);

    /// <summary><c>int MPI_Comm_set_errhandler(MPI_Comm comm, MPI_Errhandler errhandler)</c>.</summary>
    [LibraryImport(DistributedLibraries.MpiLibraryName)]
    public static partial int MPI_Comm_set_errhandler(nint comm, nint errhandler);

    /// <summary><c>int MPI_Allreduce(const void *sendbuf, void *recvbuf, int count, MPI_Datatype, MPI_Op, MPI_Comm)</c>.</summary>
    [LibraryImport(DistributedLibraries.MpiLibraryName)]
    public static partial int MPI_Allreduce(void* sendbuf, void* recvbuf, int count, nint datatype, nint op, nint comm);

    /// <summary>
    /// <c>int MPI_Iallreduce(const void *sendbuf, void *recvbuf, int count, MPI_Datatype, MPI_Op, MPI_Comm, MPI_Request *request)</c>
    /// (MPI 3): starts a non-blocking all-reduce; the buffer must stay pinned until <see cref="MPI_Wait"/> or a
    /// successful <see cref="MPI_Test"/>. Open MPI's <c>MPI_Request</c> is a pointer (<c>ompi_request_t*</c>).
    /// </summary>
    [LibraryImport(DistributedLibraries.MpiLibraryName)]
    public static partial int MPI_Iallreduce(void* sendbuf, void* recvbuf, int count, nint datatype, nint op, nint comm, nint* request);

    /// <summary>
    /// <c>int MPI_Test(MPI_Request *request, int *flag, MPI_Status *status)</c>: flag ≠ 0 when the operation completed
    /// (the request is then set to <c>MPI_REQUEST_NULL</c>); it also lets the library progress. Pass null for
    /// <c>MPI_STATUS_IGNORE</c> (Open MPI: <c>((MPI_Status *) 0)</c>).
    /// </summary>
    [LibraryImport(DistributedLibraries.MpiLibraryName)]
    public static partial int MPI_Test(nint* request, out int flag, void* status);

    /// <summary><c>int MPI_Wait(MPI_Request *request, MPI_Status *status)</c>: blocks until the operation completes; null status = ignore.</summary>
    [LibraryImport(DistributedLibraries.MpiLibraryName)]
    public static partial int MPI_Wait(nint* request, void* status);

    /// <summary><c>int MPI_Bcast(void *buffer, int count, MPI_Datatype, int root, MPI_Comm)</c>.</summary>
    [LibraryImport(DistributedLibraries.MpiLibraryName)]
    public static partial int MPI_Bcast(void* buffer, int count, nint datatype, int root, nint comm);

    /// <summary><c>int MPI_Barrier(MPI_Comm comm)</c>.</summary>
    [LibraryImport(DistributedLibraries.MpiLibraryName)]
    public static partial int MPI_Barrier(nint comm);

    /// <summary><c>int MPI_Abort(MPI_Comm comm, int errorcode)</c>: "makes a best attempt to abort all tasks in the group of comm".</summary>
    [LibraryImport(DistributedLibraries.MpiLibraryName)]
    public static partial int MPI_Abort(nint comm, int errorcode);

    /// <summary><c>int MPI_Error_string(int errorcode, char *string, int *resultlen)</c> (callable before MPI_Init).</summary>
    [LibraryImport(DistributedLibraries.MpiLibraryName)]
    public static partial int MPI_Error_string(int errorcode, byte* str, out int resultlen);

    /// <summary><c>int MPI_Get_library_version(char *version, int *resultlen)</c> (MPI-3; callable before MPI_Init).</summary>
    [LibraryImport(DistributedLibraries.MpiLibraryName)]
    public static partial int MPI_Get_library_version(byte* version, out int resultlen);

    /// <summary>
    /// MPI's own text for an error code (<c>MPI_Error_string</c>), or "" when it cannot be had: Open MPI 4 aborts the
    /// process when MPI_Error_string is called before MPI_Init or after MPI_Finalize, so it is only asked in between.
    /// </summary>
    public static string ErrorString(int code)
    {
        try
        {
            if (MPI_Initialized(out int init) != MPI_SUCCESS || init == 0) return "";
            if (MPI_Finalized(out int done) != MPI_SUCCESS || done != 0) return "";
            byte* buf = stackalloc byte[MPI_MAX_ERROR_STRING + 1];
            if (MPI_Error_string(code, buf, out int len) != MPI_SUCCESS) return "";
            return Marshal.PtrToStringUTF8((nint)buf, Math.Clamp(len, 0, MPI_MAX_ERROR_STRING));
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException) { return ""; }
    }

    /// <summary>The library's version text (<c>MPI_Get_library_version</c>), e.g. "Open MPI v4.1.4, ...".</summary>
    public static string LibraryVersion()
    {
        byte* buf = (byte*)NativeMemory.AllocZeroed(MaxLibraryVersionString + 1);
        try
        {
            MpiException.ThrowIfFailed(MPI_Get_library_version(buf, out int len));
            return Marshal.PtrToStringUTF8((nint)buf, Math.Clamp(len, 0, MaxLibraryVersionString)).TrimEnd('\0', '\n', ' ');
        }
        finally { NativeMemory.Free(buf); }
    }
}

/// <summary>Which MPI implementation is loaded.</summary>
public enum MpiFlavor
{
    /// <summary>Open MPI: supported (handles are symbol addresses, resolved by <see cref="MpiHandles"/>).</summary>
    OpenMpi,
    /// <summary>
    /// MPICH or a derivative (Intel MPI, MVAPICH): NOT supported. Its handles are integer constants (MPI_COMM_WORLD is
    /// 0x44000000) and MPI_IN_PLACE is (void*)-1; binding them is possible but untested here, so we refuse rather than
    /// guess.
    /// </summary>
    Mpich,
}

/// <summary>Open MPI's predefined handles: addresses of the library's global objects.</summary>
public sealed class MpiHandles
{
    /// <summary><c>MPI_IN_PLACE</c> in Open MPI's mpi.h: <c>((void *) 1)</c>.</summary>
    public const nint InPlace = 1;

    private MpiHandles(nint lib)
    {
        CommWorld = Export(lib, "ompi_mpi_comm_world");
        Float = Export(lib, "ompi_mpi_float");
        Double = Export(lib, "ompi_mpi_double");
        Byte = Export(lib, "ompi_mpi_byte");
        Int = Export(lib, "ompi_mpi_int");
        Sum = Export(lib, "ompi_mpi_op_sum");
        Max = Export(lib, "ompi_mpi_op_max");
        ErrorsReturn = Export(lib, "ompi_mpi_errors_return");
    }

    /// <summary><c>MPI_COMM_WORLD</c>.</summary>
    public nint CommWorld { get; }
    /// <summary><c>MPI_FLOAT</c>.</summary>
    public nint Float { get; }
    /// <summary><c>MPI_DOUBLE</c>.</summary>
    public nint Double { get; }
    /// <summary><c>MPI_BYTE</c>.</summary>
    public nint Byte { get; }
    /// <summary><c>MPI_INT</c>.</summary>
    public nint Int { get; }
    /// <summary><c>MPI_SUM</c>.</summary>
    public nint Sum { get; }
    /// <summary><c>MPI_MAX</c>.</summary>
    public nint Max { get; }
    /// <summary><c>MPI_ERRORS_RETURN</c>.</summary>
    public nint ErrorsReturn { get; }

    private static MpiHandles? s_handles;

    /// <summary>Detects the loaded implementation: Open MPI exports <c>ompi_mpi_comm_world</c>, MPICH does not.</summary>
    public static MpiFlavor DetectFlavor() =>
        NativeLibrary.TryGetExport(DistributedLibraries.LoadMpi(), "ompi_mpi_comm_world", out _) ? MpiFlavor.OpenMpi : MpiFlavor.Mpich;

    /// <summary>The handles of the loaded Open MPI; throws <see cref="NotSupportedException"/> for MPICH.</summary>
    public static MpiHandles Get()
    {
        if (s_handles is { } h) return h;
        nint lib = DistributedLibraries.LoadMpi();
        if (DetectFlavor() == MpiFlavor.Mpich)
            throw new NotSupportedException(
                $"The MPI library loaded from '{DistributedLibraries.MpiLoadedFrom}' is MPICH-family ({SafeVersion()}). CudnnRnn.Distributed " +
                "supports Open MPI only: MPICH's handles are integer constants, not symbol addresses, and that binding is not implemented. " +
                $"Install Open MPI, or point {DistributedLibraries.MpiPathVariable} at Open MPI's libmpi.so.40.");
        return s_handles = new MpiHandles(lib);
    }

    private static string SafeVersion()
    {
        try { return Mpi.LibraryVersion(); }
        catch (Exception e) { return $"version unknown: {e.Message}"; }
    }

    private static nint Export(nint lib, string name) => NativeLibrary.TryGetExport(lib, name, out nint a) ? a
        : throw new EntryPointNotFoundException($"Open MPI's '{name}' is not exported by '{DistributedLibraries.MpiLoadedFrom}'.");
}

public static unsafe partial class Mpi
{
    /// <summary><c>MPI_THREAD_SERIALIZED</c> in Open MPI's mpi.h (SINGLE 0, FUNNELED 1, SERIALIZED 2, MULTIPLE 3).</summary>
    public const int MPI_THREAD_SERIALIZED = 2;

    /// <summary><c>int MPI_Init_thread(int *argc, char ***argv, int required, int *provided)</c>.</summary>
    [LibraryImport(DistributedLibraries.MpiLibraryName)]
    public static partial int MPI_Init_thread(int* argc, byte*** argv, int required, out int provided);
}
