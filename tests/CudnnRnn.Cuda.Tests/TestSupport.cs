using System.Text.Json;
using CudnnRnn.Interop;
using Xunit;

namespace CudnnRnn.Cuda.Tests;

/// <summary>
/// Every test that loads (or pretends to load) native libraries runs in this one collection, one test at a time: the
/// resolver's state is process-wide, and a GPU test must never run while another test has pointed the resolver at a
/// fake or a missing path.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class NativeCollection
{
    /// <summary>Collection name.</summary>
    public const string Name = "native";
}

/// <summary>
/// Locates ../shared (the repo is cloned with shared/ beside it: repo at X/main, shared at X/shared), or the folder named
/// by CUDNNRNN_SHARED (the GPU bundle's copy, see scripts/gpu-bundle.sh).
/// </summary>
internal static class SharedFiles
{
    private static readonly Lazy<string?> s_shared = new(() =>
    {
        string? env = Environment.GetEnvironmentVariable("CUDNNRNN_SHARED");
        if (!string.IsNullOrEmpty(env) && File.Exists(Path.Combine(env, "cudnn", "api.json"))) return Path.GetFullPath(env);
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            string candidate = Path.Combine(dir.FullName, "shared");
            if (File.Exists(Path.Combine(candidate, "cudnn", "api.json"))) return candidate;
        }
        return null;
    });

    /// <summary>The shared directory, or a failed assertion saying where it was looked for (it is always present in CI).</summary>
    public static string Directory => s_shared.Value ?? throw new Xunit.Sdk.XunitException(
        $"Could not find shared/cudnn/api.json in any directory above {AppContext.BaseDirectory}. The repository must be cloned " +
        "with the shared folder beside it (X/main and X/shared); the contract tests compare the bindings with that file.");

    public static string ApiJsonPath => Path.Combine(Directory, "cudnn", "api.json");
    public static string GoldenDirectory => Path.Combine(Directory, "golden");

    private static readonly Lazy<JsonDocument> s_api = new(() => JsonDocument.Parse(File.ReadAllText(ApiJsonPath)));
    public static JsonElement Api => s_api.Value.RootElement;

    /// <summary>
    /// Set (to 1) by scripts/gpu-run.sh: the tests run from the GPU bundle, where the repository's source files are not;
    /// the few tests that read sources skip there (they run in CI from the repository).
    /// </summary>
    public static bool InBundle => Environment.GetEnvironmentVariable("CUDNNRNN_BUNDLE") == "1";

    /// <summary>The repository root (the directory holding CudnnRnn.sln above the test assembly), or null.</summary>
    public static string? RepoRoot
    {
        get
        {
            for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
                if (File.Exists(Path.Combine(dir.FullName, "CudnnRnn.sln"))) return dir.FullName;
            return null;
        }
    }
}

/// <summary>GPU tests get an engine or skip with the engine's own reason, visibly; they never pass without a GPU.</summary>
internal static class Gpu
{
    public static CudaEngine RequireEngine()
    {
        if (!CudaEngine.TryCreate(out var engine, out string reason))
            Assert.Skip($"No usable cuDNN/GPU: {reason}");
        return engine!;
    }
}

/// <summary>Runs an action with the resolver pointed somewhere else, restoring everything afterwards.</summary>
internal sealed class ResolverOverride : IDisposable
{
    private readonly string? _cudnn = CudaLibraries.CudnnPath, _cudart = CudaLibraries.CudartPath;

    public ResolverOverride(string? cudnnPath, string? cudartPath)
    {
        CudaLibraries.ResetForTesting();
        CudaLibraries.CudnnPath = cudnnPath;
        CudaLibraries.CudartPath = cudartPath;
    }

    public void Dispose()
    {
        CudaLibraries.CudnnPath = _cudnn;
        CudaLibraries.CudartPath = _cudart;
        CudaLibraries.ResetForTesting();
    }
}

/// <summary>Helpers for the GPU tests that count synchronizing calls (a process-wide counter).</summary>
internal static class GpuQuiet
{
    /// <summary>
    /// Runs pending finalizers now: a CUDA handle abandoned by an earlier test and freed by its finalizer (cudaFree,
    /// cudaFreeHost: counted as synchronizing) must not land inside a window whose synchronizing calls a test counts.
    /// </summary>
    public static void SettleFinalizers()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
    }
}
