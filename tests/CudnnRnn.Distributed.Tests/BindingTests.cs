using System.Runtime.CompilerServices;
using CudnnRnn.Distributed.Native;

namespace CudnnRnn.Distributed.Tests;

/// <summary>The MPI and NCCL bindings without a running job: loading, handles, error strings, launcher variables.</summary>
public sealed class BindingTests
{
    private static void RequireMpiLibrary()
    {
        if (!DistributedLibraries.TryLoadMpi(out var e)) Assert.Skip($"Open MPI's library is not installed: {e!.Message}");
    }

    [Fact]
    public void Open_mpi_is_detected_and_its_predefined_handles_are_distinct_symbol_addresses()
    {
        RequireMpiLibrary();
        Assert.Equal(MpiFlavor.OpenMpi, MpiHandles.DetectFlavor());
        var h = MpiHandles.Get();
        nint[] all = [h.CommWorld, h.Float, h.Double, h.Byte, h.Int, h.Sum, h.Max, h.ErrorsReturn];
        Assert.All(all, a => Assert.NotEqual(0, a));
        Assert.Equal(all.Length, all.Distinct().Count());
        Assert.StartsWith("Open MPI", Mpi.LibraryVersion());
    }

    [Fact]
    public void Mpi_errors_before_init_keep_the_code_and_never_call_into_an_uninitialised_library()
    {
        RequireMpiLibrary();
        // Open MPI 4 aborts the process if MPI_Error_string runs before MPI_Init; the exception then has the code only.
        // (With MPI initialised the text is MPI's own: checked in an mpirun job, MpiJobTests.Broadcast_...)
        var e = Assert.Throws<MpiException>(() => MpiException.ThrowIfFailed(2, "MPI_Allreduce(...)"));
        Assert.Equal(2, e.ErrorCode);
        Assert.Equal("MPI_Allreduce(...) failed: MPI error 2", e.Message);
        MpiException.ThrowIfFailed(Mpi.MPI_SUCCESS); // success passes
    }

    [Fact]
    public void A_missing_library_reports_every_name_tried()
    {
        var r = CudnnRnn.Interop.CudaLibraries.TryLoadFirst("MPI", "/nonexistent/libmpi.so.40", DistributedLibraries.MpiPathVariable, DistributedLibraries.MpiCandidates);
        Assert.Equal(0, r.Handle);
        var e = new DistributedLibraryNotFoundException(r.Library, r.Trace);
        Assert.Contains("/nonexistent/libmpi.so.40", e.Message);
        Assert.Contains("openmpi-bin", e.Message);
    }

    [Fact]
    public void Launcher_variables_give_rank_size_and_local_rank()
    {
        var ompi = LauncherEnvironment.FromVariables(new Dictionary<string, string?>
            { ["OMPI_COMM_WORLD_RANK"] = "3", ["OMPI_COMM_WORLD_SIZE"] = "8", ["OMPI_COMM_WORLD_LOCAL_RANK"] = "1" }.GetValueOrDefault);
        Assert.Equal(new LauncherEnvironment(3, 8, 1, "mpirun (Open MPI)"), ompi);
        var slurm = LauncherEnvironment.FromVariables(new Dictionary<string, string?>
            { ["SLURM_PROCID"] = "5", ["SLURM_NTASKS"] = "6", ["SLURM_LOCALID"] = "2" }.GetValueOrDefault);
        Assert.Equal(new LauncherEnvironment(5, 6, 2, "srun (Slurm)"), slurm);
        var pmi = LauncherEnvironment.FromVariables(new Dictionary<string, string?> { ["PMI_RANK"] = "1", ["PMI_SIZE"] = "2" }.GetValueOrDefault);
        Assert.Equal(new LauncherEnvironment(1, 2, null, "PMI"), pmi);
        Assert.False(LauncherEnvironment.FromVariables(_ => null).IsLaunched);
        var bad = Assert.Throws<FormatException>(() => LauncherEnvironment.FromVariables(n => n == "SLURM_PROCID" ? "x" : null));
        Assert.Contains("SLURM_PROCID", bad.Message);
    }

    [Fact]
    public void Nccl_types_follow_the_header()
    {
        Assert.Equal(128, Unsafe.SizeOf<ncclUniqueId>());          // NCCL_UNIQUE_ID_BYTES
        Assert.Equal(new Version(2, 21, 5), Nccl.DecodeVersion(22105)); // 2.9+: major·10000 + minor·100 + patch
        Assert.Equal(new Version(2, 8, 4), Nccl.DecodeVersion(2804));   // before: major·1000 + minor·100 + patch
        Assert.Equal(4, (int)ncclRedOp_t.ncclAvg);
        Assert.Equal(8, (int)ncclDataType_t.ncclFloat64);
        Assert.Equal(7, (int)ncclDataType_t.ncclFloat32);   // nccl.h.in: ncclFloat16 = 6, ncclFloat32 = 7, ncclBfloat16 = 9
        Assert.Equal(6, (int)ncclDataType_t.ncclFloat16);
        Assert.Equal(9, (int)ncclDataType_t.ncclBfloat16);
    }
}
