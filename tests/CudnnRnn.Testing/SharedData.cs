namespace CudnnRnn.Testing;

/// <summary>
/// Finds the project's shared data (../shared beside the repository: golden vectors, cuDNN facts, treebank). CI clones the
/// repository with shared/ beside it, so a missing folder is a setup error, reported with every place looked at.
/// </summary>
public static class SharedData
{
    private static readonly Lazy<string> Root = new(Locate);

    /// <summary>The shared folder.</summary>
    public static string Folder => Root.Value;

    /// <summary>A path inside the shared folder.</summary>
    public static string Path(params string[] parts) => System.IO.Path.Combine([Folder, .. parts]);

    /// <summary>The golden folder.</summary>
    public static string GoldenFolder => Path("golden");

    /// <summary>Every golden case file name (without folder), sorted.</summary>
    public static IEnumerable<string> GoldenFiles() =>
        Directory.GetFiles(GoldenFolder, "p*.json").Select(System.IO.Path.GetFileName).OrderBy(f => f, StringComparer.Ordinal)!;

    private static string Locate()
    {
        var env = Environment.GetEnvironmentVariable("CUDNNRNN_SHARED");
        if (!string.IsNullOrEmpty(env) && Directory.Exists(System.IO.Path.Combine(env, "golden"))) return env;
        var tried = new List<string>();
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            foreach (var candidate in new[] { System.IO.Path.Combine(dir.FullName, "shared"), System.IO.Path.Combine(dir.FullName, "..", "shared") })
            {
                tried.Add(candidate);
                if (Directory.Exists(System.IO.Path.Combine(candidate, "golden"))) return System.IO.Path.GetFullPath(candidate);
            }
        }
        throw new DirectoryNotFoundException(
            "The shared data folder (shared/ with golden/ inside, cloned beside the repository) was not found. Set CUDNNRNN_SHARED or clone it beside the repo. Looked in: "
            + string.Join("; ", tried.Distinct()));
    }
}
