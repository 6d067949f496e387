using CudnnRnn.Cpu;
using Xunit;

namespace CudnnRnn.Tests;

/// <summary>
/// Issue 16 item 5: an output that is also an input (or another output, or the reserve) is refused with both argument
/// names, before any work: no engine computes in place. Inputs may share a buffer.
/// </summary>
public sealed class AliasingTests : IDisposable
{
    // I = H = 4, unidirectional, no projection: x and y, hx/hy/cx/cy, dx and dy all have equal sizes, so only the aliasing
    // rule (not a size check) can refuse them.
    private readonly CpuEngine _cpu = CpuEngine.Create(1);
    private readonly RnnDescriptor _rnn = new(RnnMode.Lstm, 4, 4, dataType: RnnDataType.Float64);
    private readonly RnnDataDescriptor _xDesc = new(RnnDataLayout.SeqMajorUnpacked, 3, 2, 4, [3, 2]);
    private readonly RnnPlan<double> _plan;
    private readonly RnnBuffer<double> _x, _y, _hx, _hy, _cx, _cy, _w, _dw, _dy, _dx;
    private readonly RnnReserve<double> _reserve;

    public AliasingTests()
    {
        _plan = _cpu.CreatePlan<double>(_rnn, _xDesc);
        _x = _cpu.Upload<double>(Rand.Data(1, _xDesc, padding: 0));
        _y = _cpu.Allocate<double>(_plan.YDesc.ElementCount);
        _dy = _cpu.Upload<double>(Rand.Data(2, _plan.YDesc, padding: 0));
        _dx = _cpu.Allocate<double>(_xDesc.ElementCount);
        _hx = _cpu.Upload<double>(Rand.Uniform(3, _plan.HiddenStateElements));
        _cx = _cpu.Upload<double>(Rand.Uniform(4, _plan.CellStateElements));
        _hy = _cpu.Allocate<double>(_plan.HiddenStateElements);
        _cy = _cpu.Allocate<double>(_plan.CellStateElements);
        _w = _cpu.Upload<double>(Rand.Weights(5, _rnn));
        _dw = _cpu.Allocate<double>(_plan.WeightLayout.TotalElements);
        _reserve = _plan.CreateReserve();
    }

    public void Dispose()
    {
        foreach (var b in new[] { _x, _y, _hx, _hy, _cx, _cy, _w, _dw, _dy, _dx }) b.Dispose();
        _reserve.Dispose();
        _plan.Dispose();
        _cpu.Dispose();
    }

    private static void Refused(string output, string other, Action call)
    {
        var ex = Assert.Throws<ArgumentException>(call);
        Assert.Equal(output, ex.ParamName);
        Assert.Contains($"'{output}' and '{other}'", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Forward_OutputAliasingAnInputOrOutput_IsRefused()
    {
        var x0 = _x.ToArray();
        Refused("y", "x", () => _plan.Forward(RnnForwardMode.Inference, _x, _x, _hx, _hy, _cx, _cy, _w, null));
        Assert.Equal(x0, _x.ToArray()); // refused before any work: x is untouched
        Refused("hy", "hx", () => _plan.Forward(RnnForwardMode.Inference, _x, _y, _hx, _hx, _cx, _cy, _w, null));
        Refused("cy", "cx", () => _plan.Forward(RnnForwardMode.Training, _x, _y, _hx, _hy, _cx, _cx, _w, _reserve));
        Refused("cy", "hy", () => _plan.Forward(RnnForwardMode.Inference, _x, _y, _hx, _hy, _cx, _hy, _w, null));
        Refused("hy", "cx", () => _plan.Forward(RnnForwardMode.Inference, _x, _y, _hx, _cx, _cx, _cy, _w, null));
        Assert.Equal(RnnReserveState.Empty, _reserve.State);
    }

    [Fact]
    public void Forward_TwoWrappersOfOneArray_AreTheSameMemory()
    {
        var array = _x.ToArray();
        using var a = _cpu.Wrap(array);
        using var b = _cpu.Wrap(array);
        Assert.True(a.SharesMemoryWith(b));
        Assert.False(a.SharesMemoryWith(_x));
        Refused("y", "x", () => _plan.Forward(RnnForwardMode.Inference, a, b, null, null, null, null, _w, null));
    }

    [Fact]
    public void BackwardData_DxAliasingDy_IsRefused()
    {
        _plan.Forward(RnnForwardMode.Training, _x, _y, _hx, _hy, _cx, _cy, _w, _reserve);
        Refused("dx", "dy", () => _plan.BackwardData(_y, _dy, _dy, _hx, null, null, _cx, null, null, _w, _reserve));
        Refused("dhx", "hx", () => _plan.BackwardData(_y, _dy, _dx, _hx, null, _hx, _cx, null, null, _w, _reserve));
        Refused("dcx", "dhx", () => _plan.BackwardData(_y, _dy, _dx, _hx, null, _hy, _cx, null, _hy, _w, _reserve));
        Assert.Equal(RnnReserveState.ForwardDone, _reserve.State); // nothing consumed the reserve
        _plan.BackwardData(_y, _dy, _dx, _hx, null, null, _cx, null, null, _w, _reserve);
    }

    [Theory]
    [InlineData(WeightGradMode.Set)]
    [InlineData(WeightGradMode.Add)]
    public void BackwardWeights_IntoTheForwardsWeights_IsRefused(WeightGradMode mode)
    {
        _plan.Forward(RnnForwardMode.Training, _x, _y, _hx, _hy, _cx, _cy, _w, _reserve);
        _plan.BackwardData(_y, _dy, _dx, _hx, null, null, _cx, null, null, _w, _reserve);
        var w0 = _w.ToArray();
        Refused("dweights", "weights", () => _plan.BackwardWeights(mode, _x, _hx, _y, _w, _reserve));
        Assert.Equal(w0, _w.ToArray()); // Set would have cleared the weights
        _plan.BackwardWeights(mode, _x, _hx, _y, _dw, _reserve);
    }

    [Fact]
    public void Inputs_MayShareABuffer()
    {
        // hx and cx are both read-only: one buffer for both is fine, and matches separate copies.
        using var same = _cpu.Upload<double>(_hx.ToArray());
        _plan.Forward(RnnForwardMode.Inference, _x, _y, same, _hy, same, _cy, _w, null);
        var shared = _y.ToArray();
        using var hx2 = _cpu.Upload<double>(_hx.ToArray());
        using var cx2 = _cpu.Upload<double>(_hx.ToArray());
        _plan.Forward(RnnForwardMode.Inference, _x, _y, hx2, _hy, cx2, _cy, _w, null);
        Assert.Equal(_y.ToArray(), shared);
    }
}
