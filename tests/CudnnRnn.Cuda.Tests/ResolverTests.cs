using CudnnRnn.Interop;
using Xunit;

namespace CudnnRnn.Cuda.Tests;

/// <summary>The one resolver: versioned names in order, the override, and the trace a user sees when nothing loads.</summary>
[Collection(NativeCollection.Name)]
public sealed class ResolverTests
{
    [Fact]
    public void Candidates_are_versioned_names_newest_major_first()
    {
        if (OperatingSystem.IsWindows())
        {
            Assert.Equal(["cudnn64_9.dll", "cudnn64_8.dll"], CudaLibraries.CudnnCandidates);
            Assert.Equal(["cudart64_12.dll", "cudart64_13.dll", "cudart64_110.dll"], CudaLibraries.CudartCandidates.Take(3));
        }
        else
        {
            Assert.Equal(["libcudnn.so.9", "libcudnn.so.8"], CudaLibraries.CudnnCandidates);
            Assert.Equal(["libcudart.so.12", "libcudart.so.13", "libcudart.so.11.0"], CudaLibraries.CudartCandidates.Take(3));
        }
    }

    [Fact]
    public void The_runtime_cuDNN_was_built_for_is_tried_first()
    {
        // Both majors on the search path (pip wheels of CUDA 12 and 13 side by side): the one cuDNN needs goes first.
        var all = CudaLibraries.CudartCandidates;
        var for13 = CudaLibraries.CudartCandidatesFor(13);
        var for12 = CudaLibraries.CudartCandidatesFor(12);
        var for11 = CudaLibraries.CudartCandidatesFor(11);
        Assert.Equal(13, CudaLibraries.CandidateMajor(for13[0]));
        Assert.Equal(12, CudaLibraries.CandidateMajor(for12[0]));
        Assert.Equal(11, CudaLibraries.CandidateMajor(for11[0]));
        Assert.Equal(all, CudaLibraries.CudartCandidatesFor(0));             // unknown: the usual order
        Assert.All(new[] { for13, for12, for11 }, l => Assert.Equal(all.Order(), l.Order()));   // nothing lost or added
        Assert.Equal(13, CudaLibraries.CandidateMajor("libcudart.so.13"));
        Assert.Equal(11, CudaLibraries.CandidateMajor("libcudart.so.11.0"));
        Assert.Equal(11, CudaLibraries.CandidateMajor("cudart64_110.dll"));
        Assert.Equal(12, CudaLibraries.CandidateMajor("cudart64_12.dll"));
        Assert.Equal(0, CudaLibraries.CandidateMajor("libcudart.so"));
    }

    [Fact]
    public void Nothing_loadable_gives_a_typed_exception_whose_trace_lists_every_name_tried()
    {
        string[] names = ["libcudnnrnn-test-missing-a.so.9", "libcudnnrnn-test-missing-b.so.8"];
        var r = CudaLibraries.TryLoadFirst("cuDNN", null, null, names);
        Assert.Equal(0, r.Handle);
        Assert.Equal(names.Length, r.Trace.Count);
        for (int i = 0; i < names.Length; i++)
        {
            Assert.StartsWith(names[i] + ":", r.Trace[i]);
            Assert.True(r.Trace[i].Length > names[i].Length + 2, "each line carries the loader's error text");
        }
        var e = Assert.Throws<CudaLibraryNotFoundException>(() => r.ThrowIfMissing());
        Assert.Equal("cuDNN", e.Library);
        Assert.Equal(r.Trace, e.Trace);
        Assert.All(names, n => Assert.Contains(n, e.Message));
        Assert.Contains(CudaLibraries.CudnnPathVariable, e.Message);
        Assert.IsAssignableFrom<DllNotFoundException>(e);
    }

    [Fact]
    public void An_override_is_the_only_path_tried_and_the_trace_says_where_it_came_from()
    {
        string path = Path.Combine(Path.GetTempPath(), "cudnnrnn-no-such-dir", "libcudnn.so.9");
        var r = CudaLibraries.TryLoadFirst("cuDNN", path, CudaLibraries.CudnnPathVariable, CudaLibraries.CudnnCandidates);
        Assert.Equal(0, r.Handle);
        Assert.Equal(2, r.Trace.Count);
        Assert.Contains(CudaLibraries.CudnnPathVariable, r.Trace[0]);
        Assert.StartsWith(path + ":", r.Trace[1]);
    }

    [Fact]
    public void A_call_into_a_missing_cuDNN_throws_the_typed_exception_not_a_crash()
    {
        string missing = Path.Combine(Path.GetTempPath(), "cudnnrnn-no-such-dir", "libcudnn-missing.so");
        if (CudaLibraries.TryLoadCudnn(out _))
            Assert.Skip("cuDNN is installed and already bound here; the missing-library path can only be observed on a machine without it.");
        using var ov = new ResolverOverride(missing, null);
        var e = Assert.Throws<CudaLibraryNotFoundException>(() => Cudnn.cudnnGetVersion());
        Assert.Contains(missing, e.Message);
        Assert.Contains("CudaLibraries.CudnnPath", e.Trace[0]);
    }

    [Fact]
    public void Without_CUDA_the_engine_reports_the_trace_as_its_reason_and_Create_throws_it()
    {
        string missing = Path.Combine(Path.GetTempPath(), "cudnnrnn-no-such-dir", "libcudart-missing.so");
        if (CudaLibraries.TryLoadCudart(out _))
            Assert.Skip("A CUDA runtime is installed and bound here; the missing-library path can only be observed without it.");
        using var ov = new ResolverOverride(null, missing);
        Assert.False(CudaEngine.TryCreate(out var engine, out string reason));
        Assert.Null(engine);
        Assert.Contains("CUDA runtime", reason);
        Assert.Contains(missing, reason);
        var probe = CudaEngine.Probe();
        Assert.False(probe.Available);
        Assert.Equal(reason, probe.Reason);
        Assert.Contains("unavailable", probe.ToString());
        var e = Assert.Throws<RnnEngineUnavailableException>(() => CudaEngine.Create());
        Assert.Equal("cuda", e.Engine);
        Assert.Equal(reason, e.Reason);
    }

    [Fact]
    public void On_this_machine_TryCreate_either_works_or_says_why_and_never_throws()
    {
        bool ok = CudaEngine.TryCreate(out var engine, out string reason);
        using (engine)
        {
            Assert.Equal(ok, engine is not null);
            if (ok) Assert.Equal("", reason);
            else Assert.False(string.IsNullOrWhiteSpace(reason));
        }
        Assert.Throws<ArgumentOutOfRangeException>(() => CudaEngine.TryCreate(out _, out _, -1));
    }
}
