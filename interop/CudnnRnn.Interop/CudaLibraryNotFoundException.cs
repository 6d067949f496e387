namespace CudnnRnn.Interop;

/// <summary>
/// A CUDA library (cuDNN, the CUDA runtime, the driver) could not be loaded. <see cref="Trace"/> lists every name tried
/// with the loader's own error, and the message says how to point the search at an installed copy.
/// </summary>
public sealed class CudaLibraryNotFoundException : DllNotFoundException
{
    /// <summary>Creates the exception.</summary>
    public CudaLibraryNotFoundException(string library, IReadOnlyList<string> trace)
        : base(BuildMessage(library, trace))
    {
        Library = library;
        Trace = trace;
    }

    /// <summary>Which library ("cuDNN", "CUDA runtime", "CUDA driver").</summary>
    public string Library { get; }

    /// <summary>One line per attempt: the name or path tried and the loader's error.</summary>
    public IReadOnlyList<string> Trace { get; }

    private static string BuildMessage(string library, IReadOnlyList<string> trace)
    {
        string hint = library switch
        {
            "cuDNN" => $" Set {CudaLibraries.CudnnPathVariable} (or CudaLibraries.CudnnPath) to the library's full path, or put its " +
                       "directory on LD_LIBRARY_PATH (PATH on Windows). cuDNN 9 also needs its sub-libraries (libcudnn_adv.so.9, ...) " +
                       "and cuBLASLt loadable from the same search path.",
            "CUDA runtime" => $" Set {CudaLibraries.CudartPathVariable} (or CudaLibraries.CudartPath) to the library's full path, " +
                              "or put the CUDA toolkit's library directory on LD_LIBRARY_PATH (PATH on Windows).",
            _ => " Is an NVIDIA driver installed?",
        };
        return $"Could not load the {library} library. Tried:{Environment.NewLine}  " +
               string.Join(Environment.NewLine + "  ", trace) + Environment.NewLine + hint.TrimStart();
    }
}
