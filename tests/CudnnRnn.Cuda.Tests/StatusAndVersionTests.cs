using CudnnRnn.Interop;
using Xunit;

namespace CudnnRnn.Cuda.Tests;

/// <summary>cuDNN renumbered every status in 9.x and changed the version encoding (API.md §2.3, §6.1).</summary>
public sealed class StatusAndVersionTests
{
    [Theory]
    [InlineData(3, 8, "CUDNN_STATUS_BAD_PARAM")]
    [InlineData(3, 9, "unknown cuDNN 9 cudnnStatus_t 3")]
    [InlineData(2000, 9, "CUDNN_STATUS_BAD_PARAM")]
    [InlineData(2000, 8, "unknown cuDNN 8 cudnnStatus_t 2000")]
    [InlineData(9, 8, "CUDNN_STATUS_NOT_SUPPORTED")]
    [InlineData(3000, 9, "CUDNN_STATUS_NOT_SUPPORTED")]
    [InlineData(14, 8, "CUDNN_STATUS_VERSION_MISMATCH")]
    [InlineData(1002, 9, "CUDNN_STATUS_SUBLIBRARY_VERSION_MISMATCH")] // not its deprecated alias VERSION_MISMATCH
    [InlineData(4003, 9, "CUDNN_STATUS_INTERNAL_ERROR_HOST_ALLOCATION_FAILED")] // not ALLOC_FAILED
    [InlineData(2, 8, "CUDNN_STATUS_ALLOC_FAILED")]
    [InlineData(2099, 9, "CUDNN_STATUS_BAD_PARAM (specific error 99)")] // CUDNN_STATUS_CATEGORY
    [InlineData(0, 8, "CUDNN_STATUS_SUCCESS")]
    [InlineData(0, 9, "CUDNN_STATUS_SUCCESS")]
    public void The_same_code_decodes_by_the_loaded_major_version(int code, int major, string expected) =>
        Assert.Equal(expected, CudnnStatus.GetName(code, major));

    [Fact]
    public void An_unknown_version_gives_both_readings()
    {
        string s = CudnnStatus.GetName(3, 0);
        Assert.Contains("cuDNN 9", s);
        Assert.Contains("CUDNN_STATUS_BAD_PARAM if cuDNN 8", s);
    }

    [Theory]
    [InlineData(90600u, 9, 6, 0)]
    [InlineData(90100u, 9, 1, 0)]
    [InlineData(91201u, 9, 12, 1)]
    [InlineData(8201u, 8, 2, 1)]
    [InlineData(8907u, 8, 9, 7)]
    public void Version_encoding_is_decoded_by_magnitude(uint raw, int major, int minor, int patch)
    {
        var v = CudnnVersionInfo.Decode(raw);
        Assert.Equal((major, minor, patch), (v.Major, v.Minor, v.Patch));
        Assert.Equal($"{major}.{minor}.{patch}", v.ToString());
    }

}

/// <summary>In the native collection: building the message asks the resolver for cudnnGetErrorString.</summary>
[Collection(NativeCollection.Name)]
public sealed class ThrowIfFailedTests
{
    [Fact]
    public void ThrowIfFailed_names_the_call_and_the_status_and_success_does_not_throw()
    {
        CudnnException.ThrowIfFailed(cudnnStatus_t.CUDNN_STATUS_SUCCESS);
        CudaException.ThrowIfFailed(cudaError_t.cudaSuccess);

        static cudnnStatus_t FakeCall(int code) => (cudnnStatus_t)code;
        var e = Assert.Throws<CudnnException>(() => CudnnException.ThrowIfFailed(FakeCall(2000)));
        Assert.Equal("FakeCall(2000)", e.Call);
        Assert.Equal(2000, e.Status);
        Assert.Contains("FakeCall(2000) failed", e.Message);
        Assert.Equal(CudnnStatus.GetName(2000, CudaLibraries.LoadedCudnnMajor), e.StatusName);
        Assert.Contains(e.StatusName, e.Message);

        static cudaError_t FakeCuda() => cudaError_t.cudaErrorNoDevice;
        var c = Assert.Throws<CudaException>(() => CudaException.ThrowIfFailed(FakeCuda()));
        Assert.Equal("FakeCuda()", c.Call);
        Assert.Equal(cudaError_t.cudaErrorNoDevice, c.Error);
        Assert.Contains("(100)", c.Message);
    }
}
