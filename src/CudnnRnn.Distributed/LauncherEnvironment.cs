namespace CudnnRnn.Distributed;

/// <summary>
/// Rank, world size and local rank as the launcher exports them, read before (or without) MPI: Open MPI's mpirun
/// (OMPI_COMM_WORLD_RANK / _SIZE / _LOCAL_RANK), Slurm's srun (SLURM_PROCID / SLURM_NTASKS / SLURM_LOCALID), and the
/// PMI variables of MPICH's Hydra (PMI_RANK / PMI_SIZE, MPI_LOCALRANKID). Null fields: the variable is not set.
/// </summary>
/// <param name="Rank">Global rank.</param>
/// <param name="WorldSize">Number of ranks.</param>
/// <param name="LocalRank">Rank among the processes on this node.</param>
/// <param name="Launcher">Which launcher's variables were found ("mpirun (Open MPI)", "srun (Slurm)", "PMI", or "none").</param>
public sealed record LauncherEnvironment(int? Rank, int? WorldSize, int? LocalRank, string Launcher)
{
    /// <summary>Reads the current process's environment.</summary>
    public static LauncherEnvironment Current => FromVariables(Environment.GetEnvironmentVariable);

    /// <summary>True when a launcher started this process as one of several ranks.</summary>
    public bool IsLaunched => Rank is not null;

    /// <summary>Reads the variables through <paramref name="get"/> (tests pass a dictionary).</summary>
    public static LauncherEnvironment FromVariables(Func<string, string?> get)
    {
        ArgumentNullException.ThrowIfNull(get);
        int? Int(string name)
        {
            string? v = get(name);
            if (string.IsNullOrWhiteSpace(v)) return null;
            return int.TryParse(v, System.Globalization.NumberStyles.Integer, System.Globalization.CultureInfo.InvariantCulture, out int i) && i >= 0
                ? i : throw new FormatException($"Environment variable {name}='{v}' is not a non-negative integer.");
        }
        if (Int("OMPI_COMM_WORLD_RANK") is { } r)
            return new(r, Int("OMPI_COMM_WORLD_SIZE"), Int("OMPI_COMM_WORLD_LOCAL_RANK"), "mpirun (Open MPI)");
        if (Int("PMI_RANK") is { } p)
            return new(p, Int("PMI_SIZE"), Int("MPI_LOCALRANKID") ?? Int("PMI_LOCAL_RANK"), "PMI");
        if (Int("SLURM_PROCID") is { } s)
            return new(s, Int("SLURM_NTASKS"), Int("SLURM_LOCALID"), "srun (Slurm)");
        return new(null, null, null, "none");
    }
}
