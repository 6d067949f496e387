using System.CommandLine;
using System.CommandLine.Parsing;

namespace CudnnRnn.Cli;

/// <summary>
/// An option whose value is an enum: the command line spells each value as a lower-case word, help lists the words and
/// the default word, and anything else is a parse error naming the option and the words it accepts.
/// </summary>
internal sealed class EnumOption<T> where T : struct, Enum
{
    private readonly IReadOnlyList<(string Word, T Value)> _choices;

    /// <summary>Creates <paramref name="name"/> accepting exactly the words of <paramref name="choices"/>.</summary>
    /// <param name="name">The option's name (<c>--engine</c>).</param>
    /// <param name="description">Help text; " (default: WORD)" is appended.</param>
    /// <param name="defaultValue">The value when the option is not given.</param>
    /// <param name="choices">The words and their values.</param>
    /// <param name="defaultText">Help's words for the default, when it is not one value's word.</param>
    public EnumOption(string name, string description, T defaultValue, IReadOnlyList<(string Word, T Value)> choices, string? defaultText = null)
    {
        _choices = choices;
        Default = defaultValue;
        Option = new Option<T?>(name)
        {
            Description = $"{description} (default: {defaultText ?? WordOf(defaultValue)})",
            HelpName = string.Join("|", choices.Select(c => c.Word)),
            CustomParser = result =>
            {
                string text = result.Tokens.Count == 1 ? result.Tokens[0].Value : "";
                if (TryParse(text, out T value)) return value;
                result.AddError($"{name} must be one of {string.Join(", ", choices.Select(c => c.Word))}; got '{text}'.");
                return null;
            },
        };
        Option.CompletionSources.Add(choices.Select(c => c.Word).ToArray());
    }

    /// <summary>The option to add to a command.</summary>
    public Option<T?> Option { get; }
    /// <summary>The value when the option is not given.</summary>
    public T Default { get; }

    /// <summary>The command-line word of <paramref name="value"/>.</summary>
    public string WordOf(T value) => _choices.First(c => EqualityComparer<T>.Default.Equals(c.Value, value)).Word;

    /// <summary>Parses a word (case-insensitive).</summary>
    public bool TryParse(string text, out T value)
    {
        foreach (var (word, v) in _choices)
            if (string.Equals(word, text, StringComparison.OrdinalIgnoreCase)) { value = v; return true; }
        value = Default;
        return false;
    }

    /// <summary>The parsed value, or <see cref="Default"/>.</summary>
    public T GetValue(ParseResult result) => result.GetValue(Option) ?? Default;

    /// <summary>The parsed value, or null when the option was not given.</summary>
    public T? GetValueOrNull(ParseResult result) => result.GetValue(Option);

    /// <summary>The value while validating a command; null when the word is invalid (that error is reported already).</summary>
    public T? GetValue(CommandResult result) => result.GetResult(Option) switch
    {
        null or { Implicit: true } => Default,
        { Tokens: [var token] } when TryParse(token.Value, out T value) => value,
        _ => null,
    };

    /// <summary>Lets the option go into a command's option list.</summary>
    public static implicit operator Option(EnumOption<T> option) => option.Option;
}

/// <summary>The words of the options that several commands share.</summary>
internal static class Words
{
    /// <summary><c>--dtype</c>.</summary>
    public static readonly IReadOnlyList<(string, RnnDataType)> DataTypes =
        [("float32", RnnDataType.Float32), ("float64", RnnDataType.Float64), ("float16", RnnDataType.Float16), ("bfloat16", RnnDataType.BFloat16)];
    /// <summary><c>--layout</c>.</summary>
    public static readonly IReadOnlyList<(string, RnnDataLayout)> Layouts =
        [("seq", RnnDataLayout.SeqMajorUnpacked), ("packed", RnnDataLayout.SeqMajorPacked), ("batch", RnnDataLayout.BatchMajorUnpacked)];
    /// <summary><c>--cell</c>.</summary>
    public static readonly IReadOnlyList<(string, RnnMode)> Cells = [("rnn", RnnMode.RnnTanh), ("gru", RnnMode.Gru), ("lstm", RnnMode.Lstm)];

    /// <summary>The word of a data type.</summary>
    public static string Of(RnnDataType type) => DataTypes.First(c => c.Item2 == type).Item1;
    /// <summary>The word of a layout.</summary>
    public static string Of(RnnDataLayout layout) => Layouts.First(c => c.Item2 == layout).Item1;
}

/// <summary>
/// <c>--engine</c> and <c>--device</c>: one definition for every command that runs an engine — the same words, help
/// text and checks everywhere — and the engine comes from <see cref="Engines.Create"/>.
/// </summary>
internal sealed class EngineOptions
{
    private EngineOptions()
    {
        Engine = new EnumOption<EngineKind>("--engine", "Engine that runs the RNNs: cpu (managed, all cores), cuda (cuDNN) or opencl.",
            EngineKind.Cpu, Engines.Choices);
        Device = new Option<string?>("--device")
        {
            Description = "Device of a GPU engine: cuda: a CUDA device index (default 0); opencl: P:D (platform:device index), P, " +
                "or a device-name substring (default: the first GPU, else the first device).",
        };
    }

    /// <summary>The <c>--engine</c> option.</summary>
    public EnumOption<EngineKind> Engine { get; }
    /// <summary>The <c>--device</c> option.</summary>
    public Option<string?> Device { get; }

    /// <summary>Creates the two options, adds them to <paramref name="command"/> and checks their combination while parsing.</summary>
    public static EngineOptions AddTo(Command command)
    {
        ArgumentNullException.ThrowIfNull(command);
        var o = new EngineOptions();
        command.Options.Add(o.Engine.Option);
        command.Options.Add(o.Device);
        command.Validators.Add(result =>
        {
            if (o.Engine.GetValue(result) is { } kind && Engines.CheckDevice(kind, result.GetValue(o.Device)) is { } problem) result.AddError(problem);
        });
        return o;
    }

    /// <summary>The choice parsed from <paramref name="result"/>.</summary>
    public EngineChoice GetValue(ParseResult result) => new(Engine.GetValue(result), result.GetValue(Device));
}

/// <summary>An engine chosen on the command line.</summary>
/// <param name="Kind">Which engine.</param>
/// <param name="Device">Device selector, or null for the engine's default.</param>
internal sealed record EngineChoice(EngineKind Kind, string? Device)
{
    /// <summary>The command-line name of the engine.</summary>
    public string Name => Engines.NameOf(Kind);

    /// <summary>Creates the engine (<see cref="RnnEngineUnavailableException"/> when it cannot run here).</summary>
    public IRnnEngine Create(int cpuThreads = 0) => Engines.Create(Kind, Device, cpuThreads);
}
