using System.Diagnostics;
using System.Text;

namespace CudnnRnn.Distributed.Tests;

/// <summary>Runs the CLI or the test host, alone or under <c>mpirun -np N</c>, with a hard timeout.</summary>
internal static class MpiJob
{
    public sealed record Outcome(int ExitCode, string Output, TimeSpan Elapsed, bool TimedOut);

    private static readonly Lazy<string?> s_mpirun = new(() =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries)
            .Select(d => Path.Combine(d, "mpirun")).FirstOrDefault(File.Exists));

    /// <summary>mpirun's path, or null.</summary>
    public static string? Mpirun => s_mpirun.Value;

    /// <summary>Skips the calling test visibly when mpirun is absent.</summary>
    public static void RequireMpirun()
    {
        if (Mpirun is null) Assert.Skip("mpirun is not on PATH: install Open MPI (apt-get install openmpi-bin libopenmpi-dev); ./build.sh test does.");
    }

    private static readonly Lazy<string> s_repo = new(() =>
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
            if (File.Exists(Path.Combine(d.FullName, "CudnnRnn.sln"))) return d.FullName;
        throw new InvalidOperationException("CudnnRnn.sln not found above the test directory.");
    });

    private static string Configuration => AppContext.BaseDirectory.Contains($"{Path.DirectorySeparatorChar}Debug{Path.DirectorySeparatorChar}") ? "Debug" : "Release";

    /// <summary>The built CLI apphost.</summary>
    public static string Cli => Binary(Path.Combine("src", "CudnnRnn.Cli"), "CudnnRnn.Cli");

    /// <summary>The built test host apphost.</summary>
    public static string TestHost => Binary(Path.Combine("tests", "CudnnRnn.Distributed.TestHost"), "CudnnRnn.Distributed.TestHost");

    private static string Binary(string project, string name)
    {
        string path = Path.Combine(s_repo.Value, project, "bin", Configuration, "net10.0", name);
        return File.Exists(path) ? path : throw new FileNotFoundException($"{path} is not built (dotnet build CudnnRnn.sln -c {Configuration}).", path);
    }

    /// <summary>Runs <paramref name="program"/> under <c>mpirun -np <paramref name="ranks"/></c>.</summary>
    public static Outcome Mpi(int ranks, string program, IEnumerable<string> args, TimeSpan timeout, IReadOnlyDictionary<string, string>? env = null)
    {
        var all = new List<string> { "--oversubscribe" };
        if (Environment.UserName == "root") all.Add("--allow-run-as-root");
        foreach (var (k, v) in env ?? new Dictionary<string, string>()) { all.Add("-x"); all.Add($"{k}={v}"); }
        all.AddRange(["-np", ranks.ToString(System.Globalization.CultureInfo.InvariantCulture), program]);
        all.AddRange(args);
        return Run(Mpirun!, all, timeout, env);
    }

    /// <summary>Runs <paramref name="program"/> directly.</summary>
    public static Outcome Run(string program, IEnumerable<string> args, TimeSpan timeout, IReadOnlyDictionary<string, string>? env = null)
    {
        var psi = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args) psi.ArgumentList.Add(a);
        foreach (var (k, v) in env ?? new Dictionary<string, string>()) psi.Environment[k] = v;
        psi.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        var output = new StringBuilder();
        using var p = new Process { StartInfo = psi };
        p.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (output) output.AppendLine(e.Data); };
        p.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (output) output.AppendLine(e.Data); };
        var clock = Stopwatch.StartNew();
        p.Start();
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        bool done = p.WaitForExit(timeout);
        if (!done) p.Kill(entireProcessTree: true);
        p.WaitForExit();
        clock.Stop();
        lock (output) return new Outcome(done ? p.ExitCode : -1, output.ToString(), clock.Elapsed, !done);
    }

    /// <summary>Writes a small synthetic CoNLL-U training file (the synthetic tagging task's sentences).</summary>
    public static string WriteTrainingData(string dir, int sentences, ulong seed)
    {
        var sb = new StringBuilder();
        int n = 0;
        foreach (var s in Training.SyntheticTask.Generate(sentences, seed))
        {
            sb.Append("# sent_id = s").Append(++n).Append('\n');
            for (int i = 0; i < s.Length; i++)
                sb.Append(i + 1).Append('\t').Append(s.Words[i]).Append("\t_\t").Append(s.Tags[i]).Append("\t_\t_\t0\troot\t_\t_\n");
            sb.Append('\n');
        }
        string path = Path.Combine(dir, "train.conllu");
        File.WriteAllText(path, sb.ToString());
        return path;
    }
}
