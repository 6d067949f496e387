// The few pieces every example shares: options, a dense layer, mean squared error and saving a plot (the recurrent
// layers are RnnLayer with Parameter.Of, whose weights the toolkit's optimizers update in place). Each example file uses these and is otherwise self-contained.
using CudnnRnn.Training;

namespace CudnnRnn.Cli.Examples;

/// <summary>Settings common to every example (the command line fills them; tests shrink <see cref="Epochs"/>).</summary>
internal sealed record ExampleOptions
{
    /// <summary>Cell type, or null for the example's default (some examples compare two cells).</summary>
    public RnnMode? Cell { get; init; }
    /// <summary>Folder the plot is written to.</summary>
    public string OutputDirectory { get; init; } = "cudnnrnn-examples";
    /// <summary>Seed of the data, the weights and the batch order: same seed, same numbers.</summary>
    public ulong Seed { get; init; } = 1;
    /// <summary>Training epochs, or null for the example's default.</summary>
    public int? Epochs { get; init; }
    /// <summary>Where progress and results are printed.</summary>
    public TextWriter Log { get; init; } = Console.Out;
    /// <summary>Precision of the RNN (fp16/bf16: mixed precision with float32 master weights; the training examples sine, airline and classify).</summary>
    public Precision Precision { get; init; } = Precision.Fp32;
}

/// <summary>A fully connected layer <c>y = x·Wᵀ + b</c> (PyTorch's <c>nn.Linear</c>) over the toolkit's <see cref="Linear"/>.</summary>
internal sealed class Dense
{
    /// <summary>Creates it with PyTorch's initialisation: uniform in ±1/√inputs.</summary>
    public Dense(string name, int inputs, int outputs, ref SeededRandom rng)
    {
        Inputs = inputs;
        Outputs = outputs;
        Weight = new Parameter<float>(name + ".weight", outputs, inputs);
        Bias = new Parameter<float>(name + ".bias", outputs);
        rng.FillUniform<float>(Weight.Value, 1 / Math.Sqrt(inputs));
        rng.FillUniform<float>(Bias.Value, 1 / Math.Sqrt(inputs));
    }

    /// <summary>Input width.</summary>
    public int Inputs { get; }
    /// <summary>Output width.</summary>
    public int Outputs { get; }
    /// <summary>[outputs, inputs].</summary>
    public Parameter<float> Weight { get; }
    /// <summary>[outputs].</summary>
    public Parameter<float> Bias { get; }
    /// <summary>Both parameters, for an optimizer.</summary>
    public Parameter<float>[] Parameters => [Weight, Bias];

    /// <summary>y[rows × outputs] for x[rows × inputs].</summary>
    public float[] Forward(ReadOnlySpan<float> x, int rows)
    {
        var y = new float[rows * Outputs];
        Linear.Forward<float>(x, rows, Inputs, Weight.Value, Bias.Value, Outputs, y);
        return y;
    }

    /// <summary>Adds the weight and bias gradients and returns dL/dx.</summary>
    public float[] Backward(ReadOnlySpan<float> x, int rows, ReadOnlySpan<float> dy)
    {
        var dx = new float[rows * Inputs];
        Linear.Backward<float>(x, rows, Inputs, Weight.Value, dy, Outputs, dx, Weight.Grad, Bias.Grad);
        return dx;
    }
}

/// <summary>Small numeric and plotting helpers of the examples.</summary>
internal static class ExampleMath
{
    /// <summary>Mean of (prediction − target)²; writes its gradient into <paramref name="gradient"/> when not empty.</summary>
    public static double MeanSquaredError(ReadOnlySpan<float> prediction, ReadOnlySpan<float> target, Span<float> gradient = default)
    {
        double sum = 0;
        for (int i = 0; i < prediction.Length; i++)
        {
            double d = prediction[i] - target[i];
            sum += d * d;
            if (!gradient.IsEmpty) gradient[i] = (float)(2 * d / prediction.Length);
        }
        return sum / prediction.Length;
    }

    /// <summary>ReLU in place; returns the values for backward.</summary>
    public static float[] Relu(float[] values)
    {
        for (int i = 0; i < values.Length; i++) values[i] = Math.Max(values[i], 0f);
        return values;
    }

    /// <summary>Zeroes the gradient where the ReLU output was 0.</summary>
    public static void ReluBackward(ReadOnlySpan<float> output, Span<float> gradient)
    {
        for (int i = 0; i < gradient.Length; i++) if (output[i] <= 0) gradient[i] = 0;
    }

    /// <summary>The display name of a cell: GRU, LSTM, RNN.</summary>
    public static string CellName(RnnMode mode) => mode switch
    {
        RnnMode.Gru => "GRU",
        RnnMode.Lstm => "LSTM",
        RnnMode.RnnTanh => "RNN (tanh)",
        _ => "RNN (ReLU)",
    };

    /// <summary>Full path of <c>OutputDirectory/fileName</c>, creating the folder.</summary>
    public static string PlotPath(ExampleOptions options, string fileName)
    {
        Directory.CreateDirectory(options.OutputDirectory);
        return Path.GetFullPath(Path.Combine(options.OutputDirectory, fileName));
    }
}
