// The one place this assembly's native libraries are located (STYLE.md §6), in the manner of CudaLibraries: every
// [LibraryImport] here names a logical library ("mpi", "nccl", "cudart"), and the resolver maps it to the first file
// name that loads, or to the override, recording every attempt with the loader's own error. When nothing loads the
// resolver throws DistributedLibraryNotFoundException with that trace.
//
// MPI: Open MPI 3/4/5 ship libmpi.so.40; MPICH (3.1+) ships libmpi.so.12 (and libmpich.so.12). Only Open MPI is
// supported (MpiFlavor says why): MPICH's handles are integer constants, Open MPI's are addresses of global symbols.
// NCCL: libnccl.so.2 (the nvidia-nccl-cu12/cu13 wheels and the CUDA repositories both ship that name).
// cudart: delegated to CudaLibraries.LoadCudart, so both assemblies bind the same CUDA runtime.

using System.Reflection;
using System.Runtime.InteropServices;
using CudnnRnn.Interop;

namespace CudnnRnn.Distributed.Native;

/// <summary>Locates and loads MPI and NCCL.</summary>
public static class DistributedLibraries
{
    /// <summary>Logical name of MPI in the imports.</summary>
    public const string MpiLibraryName = "mpi";
    /// <summary>Logical name of NCCL in the imports.</summary>
    public const string NcclLibraryName = "nccl";
    /// <summary>Logical name of the CUDA runtime in the imports (resolved through <see cref="CudaLibraries.LoadCudart"/>).</summary>
    public const string CudartLibraryName = "cudart";
    /// <summary>Environment variable with a full path to the MPI library (overrides the search).</summary>
    public const string MpiPathVariable = "CUDNNRNN_MPI_PATH";
    /// <summary>Environment variable with a full path to the NCCL library (overrides the search).</summary>
    public const string NcclPathVariable = "CUDNNRNN_NCCL_PATH";

    private static readonly Lock s_lock = new();
    private static int s_registered;
    private static CudaLibraries.LoadResult? s_mpi, s_nccl;

    /// <summary>File names tried for MPI, in order: Open MPI's, then MPICH's (detected and refused with a clear message).</summary>
    public static IReadOnlyList<string> MpiCandidates => ["libmpi.so.40", "libmpi.so.12", "libmpich.so.12"];

    /// <summary>File names tried for NCCL.</summary>
    public static IReadOnlyList<string> NcclCandidates => ["libnccl.so.2"];

    /// <summary>Registers the import resolver for this assembly (idempotent; loads nothing).</summary>
    public static void EnsureResolverRegistered()
    {
        if (Interlocked.Exchange(ref s_registered, 1) != 0) return;
        NativeLibrary.SetDllImportResolver(typeof(DistributedLibraries).Assembly, Resolve);
    }

    private static nint Resolve(string name, Assembly assembly, DllImportSearchPath? path) => name switch
    {
        MpiLibraryName => LoadMpi(),
        NcclLibraryName => LoadNccl(),
        CudartLibraryName => CudaLibraries.LoadCudart(),
        _ => 0,
    };

    /// <summary>Loads MPI (once) and returns its handle; throws <see cref="DistributedLibraryNotFoundException"/> with the trace.</summary>
    public static nint LoadMpi() => Check(Get(ref s_mpi, "MPI", MpiPathVariable, MpiCandidates));

    /// <summary>Loads NCCL (once) and returns its handle; throws <see cref="DistributedLibraryNotFoundException"/> with the trace.</summary>
    public static nint LoadNccl() => Check(Get(ref s_nccl, "NCCL", NcclPathVariable, NcclCandidates));

    /// <summary>Tries to load MPI; false and the exception (with the trace) when it is not installed.</summary>
    public static bool TryLoadMpi(out DistributedLibraryNotFoundException? error) => Try(LoadMpi, out error);

    /// <summary>Tries to load NCCL; false and the exception (with the trace) when it is not installed.</summary>
    public static bool TryLoadNccl(out DistributedLibraryNotFoundException? error) => Try(LoadNccl, out error);

    /// <summary>The file MPI was loaded from ("" when not loaded).</summary>
    public static string MpiLoadedFrom => s_mpi?.LoadedFrom ?? "";

    /// <summary>The file NCCL was loaded from ("" when not loaded).</summary>
    public static string NcclLoadedFrom => s_nccl?.LoadedFrom ?? "";

    private static bool Try(Func<nint> load, out DistributedLibraryNotFoundException? error)
    {
        try
        {
            load();
            error = null;
            return true;
        }
        catch (DistributedLibraryNotFoundException e)
        {
            error = e;
            return false;
        }
    }

    private static nint Check(CudaLibraries.LoadResult r) =>
        r.Handle != 0 ? r.Handle : throw new DistributedLibraryNotFoundException(r.Library, r.Trace);

    private static CudaLibraries.LoadResult Get(ref CudaLibraries.LoadResult? slot, string library, string variable, IReadOnlyList<string> candidates)
    {
        if (slot is { } r) return r;
        lock (s_lock)
        {
            // The same search (application directory first, then the OS loader) and trace format as the CUDA libraries.
            return slot ??= CudaLibraries.TryLoadFirst(library, Environment.GetEnvironmentVariable(variable), variable, candidates);
        }
    }
}

/// <summary>MPI or NCCL could not be loaded; <see cref="Trace"/> lists every name tried with the loader's own error.</summary>
public sealed class DistributedLibraryNotFoundException : DllNotFoundException
{
    /// <summary>Creates the exception.</summary>
    public DistributedLibraryNotFoundException(string library, IReadOnlyList<string> trace) : base(BuildMessage(library, trace))
    {
        Library = library;
        Trace = trace;
    }

    /// <summary>"MPI" or "NCCL".</summary>
    public string Library { get; }

    /// <summary>One line per attempt: the name or path tried and the loader's error.</summary>
    public IReadOnlyList<string> Trace { get; }

    private static string BuildMessage(string library, IReadOnlyList<string> trace)
    {
        string hint = library == "MPI"
            ? $"Install Open MPI (Debian/Ubuntu: apt-get install openmpi-bin libopenmpi-dev), or set {DistributedLibraries.MpiPathVariable} to libmpi.so's full path."
            : $"Install NCCL (e.g. pip install nvidia-nccl-cu13, or the CUDA repository's libnccl2) and put its directory on LD_LIBRARY_PATH, or set {DistributedLibraries.NcclPathVariable}.";
        return $"Could not load the {library} library. Tried:{Environment.NewLine}  " + string.Join(Environment.NewLine + "  ", trace) +
               Environment.NewLine + hint;
    }
}
