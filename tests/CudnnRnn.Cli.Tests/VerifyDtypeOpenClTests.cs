using CudnnRnn.Testing;
using Xunit;

namespace CudnnRnn.Cli.Tests;

/// <summary><c>verify --engine opencl --dtype float16|bfloat16</c>: the OpenCL engine's 16-bit plans through the CLI
/// (skips with the reason where OpenCL is unavailable).</summary>
public sealed class VerifyDtypeOpenClTests
{
    [Theory]
    [InlineData("float16")]
    [InlineData("bfloat16")]
    public void Verify16_OnOpenCl_PassesEveryLayout(string dtype)
    {
        try { Engines.Create(EngineKind.OpenCl).Dispose(); }
        catch (RnnEngineUnavailableException e) { Assert.Skip(e.Message); }
        var file = SharedData.Path("golden", "p25_lstm_L2bi_var_bias_proj3.json");
        var outWriter = new StringWriter();
        var old = Console.Out;
        int rc;
        try
        {
            Console.SetOut(outWriter);
            rc = Cli.Build().Parse(["verify", file, "--engine", "opencl", "--dtype", dtype, "--layout", "all"]).Invoke();
        }
        finally { Console.SetOut(old); }
        string text = outWriter.ToString();
        Assert.True(rc == 0, text);
        Assert.Contains("engine opencl (", text);
        Assert.Contains($"), {dtype}", text);
        Assert.Contains("vs rounded-input f64: y ", text);
        Assert.Contains("vs original golden:", text);
        Assert.Contains("3 passed, 0 failed", text);
    }
}
