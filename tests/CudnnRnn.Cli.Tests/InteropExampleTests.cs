using System.CommandLine;
using System.Text.RegularExpressions;
using CudnnRnn.Cli;
using CudnnRnn.Cli.Examples;
using CudnnRnn.OpenCL;
using Xunit;

namespace CudnnRnn.Cli.Tests;

/// <summary>
/// `cudnnrnn example interop`: outside memory through forward and backward, every result bitwise equal to engine memory.
/// The run must end with "interop: N checks passed, 0 failed" and exit 0; OpenCL skips visibly where it is unavailable.
/// </summary>
public sealed partial class InteropExampleTests
{
    [GeneratedRegex(@"^interop: (\d+) checks passed, (\d+) failed$", RegexOptions.Multiline)]
    private static partial Regex Summary();

    private static (int Exit, int Passed, int Failed, string Log) Run(EngineKind kind, bool ilgpu)
    {
        var log = new StringWriter();
        int exit = InteropExample.Run(kind, null, ilgpu, new ExampleOptions { Log = log });
        string text = log.ToString();
        var m = Summary().Matches(text);
        Assert.True(m.Count == 1, $"expected one summary line; the log was:\n{text}");
        Assert.EndsWith(m[0].Value, text.TrimEnd());   // the summary is the last line
        return (exit, int.Parse(m[0].Groups[1].Value), int.Parse(m[0].Groups[2].Value), text);
    }

    [Theory]
    [InlineData("cpu", false, 14)]      // plan: y hy cy dx dhx dcx dw; layer: the same seven
    [InlineData("cpu", true, 15)]       // ILGPU's CPU accelerator: the fourteen and its kernel's y² of our y
    [InlineData("opencl", false, 15)]   // the fourteen and the warm step without host synchronisation
    public void Interop_AllChecksPass(string engine, bool ilgpu, int checks)
    {
        var kind = Engines.Choices.Single(c => c.Name == engine).Kind;
        if (kind == EngineKind.OpenCl)
        {
            if (!OpenClEngine.TryCreate(out var probe, out var why)) Assert.Skip("OpenCL is unavailable here: " + why);
            probe.Dispose();
        }
        var (exit, passed, failed, log) = Run(kind, ilgpu);
        Assert.True(failed == 0, log);
        Assert.Equal(checks, passed);
        Assert.Equal(0, exit);
        Assert.DoesNotContain("FAIL", log);
    }

    [Fact]
    public void TheBitwiseComparisonRejectsOneFlippedBit_AndEmptyOrMismatchedResults()
    {
        float[] a = [1f, -2.5f, 3e-8f];
        Assert.True(InteropExample.CompareBitwise(a, (float[])a.Clone()).Ok);
        var b = (float[])a.Clone();
        b[2] = BitConverter.Int32BitsToSingle(BitConverter.SingleToInt32Bits(b[2]) ^ 1);
        var (ok, detail) = InteropExample.CompareBitwise(a, b);
        Assert.False(ok);
        Assert.Contains("1 of 3 values differ (first at [2]", detail);
        Assert.False(InteropExample.CompareBitwise([0f], [-0f]).Ok);   // bits, not ==
        Assert.False(InteropExample.CompareBitwise(a, a[..2]).Ok);
        Assert.False(InteropExample.CompareBitwise([], []).Ok);
    }

    [Fact]
    public void Command_RunsInterop_AndRefusesIlgpuOnOtherExamples()
    {
        var root = new RootCommand { ExampleCommand.Create() };
        Assert.Equal(0, root.Parse(["example", "interop", "--engine", "cpu"]).Invoke());
        Assert.Equal(CudnnRnn.Cli.Cli.UsageError, root.Parse(["example", "shapes", "--ilgpu"]).Invoke());
    }
}
