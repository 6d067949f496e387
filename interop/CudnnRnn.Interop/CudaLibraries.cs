// The one place native libraries are located (STYLE.md §6). Every [LibraryImport] in this assembly names one of three
// logical libraries ("cudnn", "cudart", "cuda"); the resolver below maps each to the first versioned file name that
// loads, or to the override, and records every attempt with the loader's own error. When nothing loads, the resolver
// throws CudaLibraryNotFoundException carrying that trace instead of letting the runtime fall back to its own probing
// (which would bind an unversioned libcudnn.so we never tried, or fail with a bare DllNotFoundException).
//
// cuDNN 9: we bind against the shim (libcudnn.so.9 / cudnn64_9.dll). That the shim exports the RNN entry points is
// INFERRED from NVIDIA's sample linking only -lcudnn; no export table was inspected (API.md §2.2). The GPU test
// Every_bound_entry_point_is_exported_by_the_loaded_libraries checks it. The sub-libraries (libcudnn_adv.so.9, ...) and
// cuBLASLt must be loadable from the same search path; CudaEngine.Probe calls cudnnAdvVersionCheck to find out early.
//
// File names: cuDNN 9/8 Linux and Windows names are from API.md §2.1 (api.json "libraries"). The cudart file names
// (libcudart.so.12, cudart64_12.dll, ...) are NOT FOUND in any source read for API.md (§5.9, api.json "notFound"): they
// are the names the CUDA redistributables use in practice, unverified here. The driver library (libcuda.so.1,
// nvcuda.dll) is outside the contract and optional (device names only).

using System.Reflection;
using System.Runtime.InteropServices;

namespace CudnnRnn.Interop;

/// <summary>Locates and loads cuDNN, the CUDA runtime and (optionally) the CUDA driver library.</summary>
public static class CudaLibraries
{
    /// <summary>Logical library name of cuDNN used by the imports.</summary>
    public const string CudnnLibraryName = "cudnn";
    /// <summary>Logical library name of the CUDA runtime used by the imports.</summary>
    public const string CudartLibraryName = "cudart";
    /// <summary>Logical library name of the CUDA driver (only for the device name).</summary>
    public const string DriverLibraryName = "cuda";
    /// <summary>Environment variable holding a full path to the cuDNN library (overrides the search).</summary>
    public const string CudnnPathVariable = "CUDNNRNN_CUDNN_PATH";
    /// <summary>Environment variable holding a full path to the CUDA runtime library (overrides the search).</summary>
    public const string CudartPathVariable = "CUDNNRNN_CUDART_PATH";

    private static readonly Lock s_lock = new();
    private static int s_resolverRegistered;
    private static LoadResult? s_cudnn, s_cudart, s_driver;
    private static string? s_cudnnPath, s_cudartPath;
    private static CudnnVersionInfo? s_cudnnVersion;

    /// <summary>
    /// Full path of the cuDNN library to load instead of searching; takes precedence over
    /// <see cref="CudnnPathVariable"/>. Set it before the first cuDNN call (after that the library is bound).
    /// </summary>
    public static string? CudnnPath
    {
        get => s_cudnnPath;
        set { lock (s_lock) { s_cudnnPath = value; if (s_cudnn is { Handle: 0 }) s_cudnn = null; } }
    }

    /// <summary>Full path of the CUDA runtime library; takes precedence over <see cref="CudartPathVariable"/>.</summary>
    public static string? CudartPath
    {
        get => s_cudartPath;
        set { lock (s_lock) { s_cudartPath = value; if (s_cudart is { Handle: 0 }) s_cudart = null; } }
    }

    /// <summary>The file names tried for cuDNN on this OS, in order (without an override).</summary>
    public static IReadOnlyList<string> CudnnCandidates => OperatingSystem.IsWindows()
        ? ["cudnn64_9.dll", "cudnn64_8.dll"]
        : ["libcudnn.so.9", "libcudnn.so.8"];

    /// <summary>The file names tried for the CUDA runtime on this OS, in order (without an override).</summary>
    public static IReadOnlyList<string> CudartCandidates => OperatingSystem.IsWindows()
        ? ["cudart64_12.dll", "cudart64_13.dll", "cudart64_110.dll", "cudart64_11.dll"]
        : ["libcudart.so.12", "libcudart.so.13", "libcudart.so.11.0", "libcudart.so"];

    /// <summary>The file names tried for the CUDA driver library.</summary>
    public static IReadOnlyList<string> DriverCandidates => OperatingSystem.IsWindows() ? ["nvcuda.dll"] : ["libcuda.so.1"];

    /// <summary>Registers the import resolver for this assembly (idempotent; loads nothing).</summary>
    public static void EnsureResolverRegistered()
    {
        if (Interlocked.Exchange(ref s_resolverRegistered, 1) != 0) return;
        NativeLibrary.SetDllImportResolver(typeof(CudaLibraries).Assembly, Resolve);
    }

    private static nint Resolve(string libraryName, Assembly assembly, DllImportSearchPath? searchPath) => libraryName switch
    {
        CudnnLibraryName => LoadCudnn(),
        CudartLibraryName => LoadCudart(),
        DriverLibraryName => LoadDriver(),
        _ => 0,
    };

    /// <summary>Loads cuDNN (once) and returns its handle; throws <see cref="CudaLibraryNotFoundException"/> with the trace.</summary>
    public static nint LoadCudnn() => Get(ref s_cudnn, "cuDNN", CudnnPath ?? Environment.GetEnvironmentVariable(CudnnPathVariable),
        CudnnPath is not null ? $"{nameof(CudaLibraries)}.{nameof(CudnnPath)}" : CudnnPathVariable, CudnnCandidates).ThrowIfMissing();

    /// <summary>
    /// Loads the CUDA runtime (once) and returns its handle; throws <see cref="CudaLibraryNotFoundException"/> with the
    /// trace. Without an override, the runtime of the CUDA major version the loadable cuDNN was built for is tried first
    /// (<see cref="CudartCandidatesFor"/>): with CUDA 12 and 13 runtimes both on the search path (pip wheels of two
    /// stacks side by side), the fixed order would bind the one cuDNN cannot work with, and every cuDNN call would then be
    /// refused for the mismatch.
    /// </summary>
    public static nint LoadCudart()
    {
        string? overridePath = CudartPath ?? Environment.GetEnvironmentVariable(CudartPathVariable);
        var candidates = s_cudart is null && string.IsNullOrEmpty(overridePath) ? CudartCandidatesFor(CudnnBuiltForCudaMajor()) : CudartCandidates;
        return Get(ref s_cudart, "CUDA runtime", overridePath,
            CudartPath is not null ? $"{nameof(CudaLibraries)}.{nameof(CudartPath)}" : CudartPathVariable, candidates).ThrowIfMissing();
    }

    /// <summary>
    /// <see cref="CudartCandidates"/> with the names of CUDA major version <paramref name="cudaMajor"/> first, the others
    /// in their usual order after them (unchanged when <paramref name="cudaMajor"/> is 0: unknown).
    /// </summary>
    public static IReadOnlyList<string> CudartCandidatesFor(int cudaMajor)
    {
        var all = CudartCandidates;
        if (cudaMajor <= 0) return all;
        return [.. all.Where(n => CandidateMajor(n) == cudaMajor), .. all.Where(n => CandidateMajor(n) != cudaMajor)];
    }

    /// <summary>The CUDA major version a runtime file name stands for (libcudart.so.13 → 13, cudart64_110.dll → 11), or 0.</summary>
    internal static int CandidateMajor(string name)
    {
        string digits;
        if (name.StartsWith("libcudart.so.", StringComparison.Ordinal)) digits = name["libcudart.so.".Length..].Split('.')[0];
        else if (name.StartsWith("cudart64_", StringComparison.Ordinal) && name.EndsWith(".dll", StringComparison.Ordinal))
        {
            digits = name["cudart64_".Length..^".dll".Length];
            if (digits.Length == 3) digits = digits[..2];   // cudart64_110.dll is CUDA 11.0
        }
        else return 0;
        return int.TryParse(digits, out int major) ? major : 0;
    }

    /// <summary>
    /// The CUDA major version the cuDNN that loads was built for (<c>cudnnGetCudartVersion</c> / 1000, a constant getter),
    /// or 0 when no cuDNN loads or it lacks the export.
    /// </summary>
    private static unsafe int CudnnBuiltForCudaMajor()
    {
        if (!TryLoadCudnn(out _) || s_cudnn is not { Handle: not 0 } cudnn) return 0;
        if (!NativeLibrary.TryGetExport(cudnn.Handle, "cudnnGetCudartVersion", out nint f)) return 0;
        return (int)(((delegate* unmanaged<nuint>)f)() / 1000);
    }

    /// <summary>Loads the CUDA driver library (once); throws <see cref="CudaLibraryNotFoundException"/> with the trace.</summary>
    public static nint LoadDriver() => Get(ref s_driver, "CUDA driver", null, null, DriverCandidates).ThrowIfMissing();

    /// <summary>Tries to load cuDNN; on failure returns false and the exception a call would throw (with the trace).</summary>
    public static bool TryLoadCudnn(out CudaLibraryNotFoundException? error) => Try(LoadCudnn, out error);

    /// <summary>Tries to load the CUDA runtime; on failure returns false and the exception (with the trace).</summary>
    public static bool TryLoadCudart(out CudaLibraryNotFoundException? error) => Try(LoadCudart, out error);

    /// <summary>Tries to load the CUDA driver library.</summary>
    public static bool TryLoadDriver(out CudaLibraryNotFoundException? error) => Try(LoadDriver, out error);

    private static bool Try(Func<nint> load, out CudaLibraryNotFoundException? error)
    {
        try
        {
            load();
            error = null;
            return true;
        }
        catch (CudaLibraryNotFoundException e)
        {
            error = e;
            return false;
        }
    }

    /// <summary>
    /// The loaded cuDNN's version from <c>cudnnGetVersion</c>, decoded with the 8.x or 9.x encoding.
    /// Loads cuDNN if needed.
    /// </summary>
    public static CudnnVersionInfo CudnnVersion
    {
        get
        {
            if (s_cudnnVersion is { } v) return v;
            LoadCudnn();
            v = CudnnVersionInfo.Decode(Cudnn.cudnnGetVersion());
            s_cudnnVersion = v;
            return v;
        }
    }

    /// <summary>Major version of the loaded cuDNN, or 0 when none is loaded yet (never loads anything).</summary>
    public static int LoadedCudnnMajor => s_cudnnVersion?.Major ?? (s_cudnn is { Handle: not 0 } ? CudnnVersion.Major : 0);

    /// <summary>The file each library was loaded from ("" when not loaded). For the "info" command and traces.</summary>
    public static (string Cudnn, string Cudart, string Driver) LoadedFrom =>
        (s_cudnn?.LoadedFrom ?? "", s_cudart?.LoadedFrom ?? "", s_driver?.LoadedFrom ?? "");

    /// <summary>
    /// Tries <paramref name="candidates"/> in order (each from the application directory if a copy is there, then with
    /// the OS loader's own search), or only <paramref name="overridePath"/> when one is set, and returns the outcome with a
    /// line per attempt. Pure apart from the loads themselves; exposed for tests.
    /// </summary>
    public static LoadResult TryLoadFirst(string library, string? overridePath, string? overrideSource, IReadOnlyList<string> candidates)
    {
        ArgumentNullException.ThrowIfNull(library);
        ArgumentNullException.ThrowIfNull(candidates);
        var trace = new List<string>();
        IEnumerable<string> names = string.IsNullOrEmpty(overridePath) ? candidates : [overridePath];
        if (!string.IsNullOrEmpty(overridePath))
            trace.Add($"override from {overrideSource}: only '{overridePath}' is tried");
        foreach (string name in names)
        {
            // A copy next to the application (e.g. from a NuGet runtimes/ folder) first, then the OS loader's own search
            // (LD_LIBRARY_PATH / ld.so cache, or PATH and the system directories on Windows) with the exact name.
            string local = Path.Combine(AppContext.BaseDirectory, name);
            foreach (string attempt in Path.IsPathRooted(name) || !File.Exists(local) ? [name] : new[] { local, name })
            {
                try
                {
                    nint handle = NativeLibrary.Load(attempt);
                    trace.Add($"{attempt}: loaded");
                    return new LoadResult(library, handle, attempt, trace);
                }
                catch (Exception e) when (e is DllNotFoundException or BadImageFormatException)
                {
                    trace.Add($"{attempt}: {LoaderError(e.Message)}");
                }
            }
        }
        return new LoadResult(library, 0, "", trace);
    }

    // .NET prefixes the loader's own text (dlerror / the Win32 message) with advice about strace and LD_DEBUG; keep the text.
    private static string LoaderError(string message)
    {
        const string marker = "LD_DEBUG environment variable:";
        int i = message.IndexOf(marker, StringComparison.Ordinal);
        string core = i >= 0 ? message[(i + marker.Length)..] : message;
        return core.ReplaceLineEndings(" ").Trim();
    }

    private static LoadResult Get(ref LoadResult? slot, string library, string? overridePath, string? overrideSource, IReadOnlyList<string> candidates)
    {
        if (slot is { } r) return r;
        lock (s_lock)
        {
            return slot ??= TryLoadFirst(library, overridePath, overrideSource, candidates);
        }
    }

    /// <summary>
    /// Forgets cached load outcomes (not the libraries: imports already bound stay bound). Tests use it to move between
    /// "nothing installed" and an override; a process should not need it.
    /// </summary>
    internal static void ResetForTesting()
    {
        lock (s_lock)
        {
            s_cudnn = s_cudart = s_driver = null;
            s_cudnnVersion = null;
        }
    }

    /// <summary>The outcome of loading one library.</summary>
    /// <param name="Library">Human name ("cuDNN", "CUDA runtime").</param>
    /// <param name="Handle">OS handle, 0 when nothing loaded.</param>
    /// <param name="LoadedFrom">The name or path that loaded.</param>
    /// <param name="Trace">One line per attempt: the name and the loader's error, or "loaded".</param>
    public sealed record LoadResult(string Library, nint Handle, string LoadedFrom, IReadOnlyList<string> Trace)
    {
        /// <summary>The handle, or the typed exception with the trace.</summary>
        public nint ThrowIfMissing() => Handle != 0 ? Handle : throw new CudaLibraryNotFoundException(Library, Trace);
    }
}

/// <summary>cuDNN version numbers decoded from <c>cudnnGetVersion()</c>.</summary>
/// <param name="Major">Major version.</param>
/// <param name="Minor">Minor version.</param>
/// <param name="Patch">Patch level.</param>
/// <param name="Raw">The value cudnnGetVersion returned.</param>
public readonly record struct CudnnVersionInfo(int Major, int Minor, int Patch, ulong Raw)
{
    /// <summary>
    /// Decodes CUDNN_VERSION: 9.x is major·10000 + minor·100 + patch (90600 = 9.6.0), 8.x was major·1000 + minor·100 +
    /// patch (8201 = 8.2.1). ManagedCuda divides by 1000 always, which reads 90600 as 90.6.
    /// </summary>
    public static CudnnVersionInfo Decode(nuint raw)
    {
        ulong v = raw;
        ulong div = v >= 10000 ? 10000UL : 1000UL;
        return new CudnnVersionInfo((int)(v / div), (int)(v % div / 100), (int)(v % 100), v);
    }

    /// <inheritdoc/>
    public override string ToString() => $"{Major}.{Minor}.{Patch}";
}
