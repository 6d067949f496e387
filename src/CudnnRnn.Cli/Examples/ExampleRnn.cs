// An RNN in the precision an example was asked for, behind float32 host arrays: fp32 is an RnnLayer<float> whose weights
// are the optimizer's parameter (updated in place); fp16 and bf16 are an AutocastRnnLayer — the RNN in 16 bits on the
// engine, cast each forward from a float32 master parameter, its weight gradients widened back into float32.
using System.Numerics;
using CudnnRnn.Training;

namespace CudnnRnn.Cli.Examples;

/// <summary>A recurrent layer of float32 data in fp32, fp16 or bf16 (see the file header).</summary>
internal sealed class ExampleRnn : IDisposable
{
    private readonly IImpl _impl;

    /// <summary>Creates the layer with PyTorch's initialisation (seeded; the same initial weights in every precision).</summary>
    public ExampleRnn(IRnnEngine engine, RnnDescriptor rnn, ulong seed, Precision precision)
    {
        var layer = new RnnLayer<float>(engine, rnn.WithDataType(RnnDataType.Float32), seed);
        if (precision == Precision.Fp32)
        {
            _impl = new Fp32(layer);
            Weights = Parameter<float>.Of(layer);
            return;
        }
        using (layer)
        {
            // The float32 master in the 16-bit weight layout (parameter by parameter, so any engine layout works).
            var layout16 = engine.GetWeightLayout(rnn.WithDataType(precision.ToRnnDataType()));
            Weights = new Parameter<float>("rnn", checked((int)layout16.TotalElements));
            foreach (var p in layout16.PyTorchParameters) layout16.ImportPyTorch<float>(Weights.Value, p.Name, layer.ExportPyTorch(p.Name));
        }
        _impl = precision == Precision.Fp16
            ? new Autocast<Half>(new AutocastRnnLayer<Half>(engine, rnn, Weights))
            : new Autocast<BFloat16>(new AutocastRnnLayer<BFloat16>(engine, rnn, Weights));
    }

    /// <summary>The float32 weights the optimizer updates (fp32: the layer's own, in engine memory; else the master copy).</summary>
    public Parameter<float> Weights { get; }

    /// <summary>Forward; returns h_n [L·D, B, H] as float32.</summary>
    public float[] ForwardHy(RnnDataDescriptor xDesc, float[] x, bool training) => _impl.ForwardHy(xDesc, x, training);

    /// <summary>Backward of the last training forward from dL/dh_n (y unused); the weight gradient lands in <see cref="Weights"/>.</summary>
    public void BackwardHy(float[] dhy) => _impl.BackwardHy(dhy);

    /// <inheritdoc/>
    public void Dispose() => _impl.Dispose();

    private interface IImpl : IDisposable
    {
        float[] ForwardHy(RnnDataDescriptor xDesc, float[] x, bool training);
        void BackwardHy(float[] dhy);
    }

    private sealed class Fp32(RnnLayer<float> layer) : IImpl
    {
        private RnnForwardContext<float>? _ctx;

        public float[] ForwardHy(RnnDataDescriptor xDesc, float[] x, bool training)
        {
            _ctx?.Dispose();
            layer.Training = training;
            _ctx = layer.Forward(xDesc, x);
            return _ctx.Hy.ToArray();
        }

        public void BackwardHy(float[] dhy)
        {
            layer.Backward(_ctx!, dy: default, dhy: dhy);
            _ctx!.Dispose();
            _ctx = null;
        }

        public void Dispose()
        {
            _ctx?.Dispose();
            layer.Dispose();
        }
    }

    private sealed class Autocast<TLow>(AutocastRnnLayer<TLow> layer) : IImpl where TLow : unmanaged, IFloatingPointIeee754<TLow>
    {
        private RnnForwardContext<TLow>? _ctx;

        public float[] ForwardHy(RnnDataDescriptor xDesc, float[] x, bool training)
        {
            _ctx?.Dispose();
            layer.Training = training;
            _ctx = layer.Forward(xDesc, x);
            return layer.ReadWidened(_ctx.Hy);
        }

        public void BackwardHy(float[] dhy)
        {
            layer.Backward(_ctx!, dy: default, dhy: dhy);
            _ctx!.Dispose();
            _ctx = null;
        }

        public void Dispose()
        {
            _ctx?.Dispose();
            layer.Dispose();
        }
    }
}
