using CudnnRnn.Testing;
using Xunit;

namespace CudnnRnn.Cli.Tests;

/// <summary><c>verify --dtype float16|bfloat16</c> on a golden case: both comparisons printed, exit code from the derived check.</summary>
public sealed class VerifyDtypeTests
{
    [Theory]
    [InlineData("float16")]
    [InlineData("bfloat16")]
    public void Verify16_PrintsBothErrors_AndPasses(string dtype)
    {
        var file = SharedData.Path("golden", "p25_lstm_L2bi_var_bias_proj3.json");
        var outWriter = new StringWriter();
        var old = Console.Out;
        int rc;
        try
        {
            Console.SetOut(outWriter);
            rc = Cli.Build().Parse(["verify", file, "--dtype", dtype, "--layout", "packed"]).Invoke();
        }
        finally { Console.SetOut(old); }
        string text = outWriter.ToString();
        Assert.True(rc == 0, text);
        Assert.Contains($"cpu (", text);
        Assert.Contains($"), {dtype}", text);
        Assert.Contains("PASS p25_lstm_L2bi_var_bias_proj3", text);
        Assert.Contains("vs rounded-input f64: y ", text);
        Assert.Contains("vs original golden:", text);
        Assert.Contains("1 passed, 0 failed", text);
    }
}
