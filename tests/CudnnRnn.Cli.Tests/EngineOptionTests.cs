using System.CommandLine;
using Xunit;

// One test at a time in this assembly: several of its tests create OpenCL engines (PoCL), and PoCL building programs
// and contexts on several threads at once crashed the test host once (SIGSEGV in libc on a thread-pool thread), as the
// OpenCL test project already knows (it runs its tests one at a time too).
[assembly: CollectionBehavior(DisableTestParallelization = true)]

namespace CudnnRnn.Cli.Tests;

/// <summary><c>--engine</c> and <c>--device</c>: one definition in every command, checked while parsing; one factory.</summary>
public sealed class EngineOptionTests
{
    private static IEnumerable<Command> AllCommands(Command c) => c.Subcommands.SelectMany(AllCommands).Prepend(c);

    private static readonly RootCommand Root = Cli.Build();

    [Fact]
    public void Every_command_that_runs_an_engine_declares_the_same_engine_and_device_options()
    {
        var withEngine = AllCommands(Root).Where(c => c.Options.Any(o => o.Name == "--engine")).ToList();
        Assert.Equal(["bench", "checksums", "demo", "eval", "example", "predict", "train", "verify"], withEngine.Select(c => c.Name).Order());
        var first = withEngine[0].Options.Single(o => o.Name == "--engine");
        foreach (var c in withEngine)
        {
            var engine = c.Options.Single(o => o.Name == "--engine");
            Assert.IsType<Option<EngineKind?>>(engine);
            Assert.Equal(first.Description, engine.Description);
            Assert.Equal("cpu|cuda|opencl", engine.HelpName);
            var device = Assert.Single(c.Options, o => o.Name == "--device");
            Assert.Equal(withEngine[0].Options.Single(o => o.Name == "--device").Description, device.Description);
        }
    }

    [Theory]
    [InlineData("cpu", nameof(EngineKind.Cpu))]
    [InlineData("cuda", nameof(EngineKind.Cuda))]
    [InlineData("OpenCL", nameof(EngineKind.OpenCl))]
    public void Engine_words_parse_to_the_enum(string word, string kind)
    {
        var expected = Enum.Parse<EngineKind>(kind);
        foreach (var args in new[] { new[] { "checksums", "--engine", word }, ["tagger", "eval", "--model", "m", "--data", "d", "--engine", word] })
        {
            var r = Root.Parse(args);
            Assert.Empty(r.Errors);
            Assert.Equal(expected, r.GetValue<EngineKind?>("--engine"));
        }
        Assert.Null(Root.Parse(["checksums"]).GetValue<EngineKind?>("--engine"));   // not given: the option's default (cpu) applies
    }

    [Theory]
    [InlineData("verify x --engine gpu", "--engine must be one of cpu, cuda, opencl; got 'gpu'.")]
    [InlineData("bench --engine cpu --device 0", "--device selects a device of the cuda or opencl engine; the cpu engine has none.")]
    [InlineData("tagger predict --model m --device 1", "--device selects a device of the cuda or opencl engine; the cpu engine has none.")]
    [InlineData("example shapes --engine cuda --device first", "--device for the cuda engine is a CUDA device index (0, 1, ...); got 'first'.")]
    [InlineData("demo --engine gpu --device 1", "--engine must be one of cpu, cuda, opencl; got 'gpu'.")]
    [InlineData("verify x --layout diag", "--layout must be one of seq, packed, batch, all; got 'diag'.")]
    [InlineData("bench --dtype float8", "--dtype must be one of float32, float64, float16, bfloat16; got 'float8'.")]
    [InlineData("bench --lengths random", "--lengths must be one of full, varied; got 'random'.")]
    [InlineData("example sine --cell lstm2", "--cell must be one of rnn, gru, lstm; got 'lstm2'.")]
    public void Bad_engine_choices_are_parse_errors_that_say_what_is_accepted(string args, string message)
    {
        var errors = Root.Parse(args.Split(' ')).Errors.Select(e => e.Message).ToList();
        Assert.Equal([message], errors);
    }

    [Theory]
    [InlineData("bench --engine cuda --dtype float16")]
    [InlineData("bench --engine cuda --dtype bfloat16")]
    [InlineData("checksums --engine cuda --device 1")]
    [InlineData("verify x --engine opencl --device 0:1")]
    [InlineData("tagger train --train t --out m --engine opencl --device pthread")]
    public void Good_device_choices_parse(string args) => Assert.Empty(Root.Parse(args.Split(' ')).Errors);

    [Fact]
    public void The_factory_builds_the_chosen_engine_and_refuses_a_device_it_cannot_take()
    {
        using (var cpu = new EngineChoice(EngineKind.Cpu, null).Create(cpuThreads: 1))
        {
            Assert.Equal("cpu", cpu.Name);
            Assert.True(cpu.IsHostMemory);
        }
        Assert.Throws<ArgumentException>("device", () => Engines.Create(EngineKind.Cpu, "0"));
        Assert.Throws<ArgumentException>("device", () => Engines.Create(EngineKind.Cuda, "gpu0"));
        Assert.Throws<ArgumentOutOfRangeException>("kind", () => Engines.Create((EngineKind)5));
        Assert.Equal(["cpu", "cuda", "opencl"], Engines.Names);
        Assert.Equal(Enum.GetValues<EngineKind>(), Engines.Choices.Select(c => c.Kind));
    }

    [Fact]
    public void Device_engines_report_device_memory()
    {
        // Runs where the engine can; elsewhere the reason is shown as a skip.
        var reasons = new List<string>();
        foreach (var kind in new[] { EngineKind.Cuda, EngineKind.OpenCl })
        {
            try
            {
                using var e = Engines.Create(kind);
                Assert.False(e.IsHostMemory, $"{e.Name} claims host memory");
            }
            catch (RnnEngineUnavailableException ex) { reasons.Add(ex.Message); }
        }
        if (reasons.Count == 2) Assert.Skip(string.Join(" / ", reasons));
    }
}
