using CudnnRnn.Testing;
using CudnnRnn.Cpu;
using Xunit;

namespace CudnnRnn.OpenCL.Tests;

/// <summary>Device discovery and choice, capability errors, buffer behaviour, foreign and disposed objects, error text.</summary>
public sealed class OpenClEngineTests
{
    private static readonly RnnDescriptor Lstm32 = new(RnnMode.Lstm, 3, 4, dataType: RnnDataType.Float32);
    private static readonly RnnDataDescriptor X = RnnDataDescriptor.Uniform(RnnDataLayout.SeqMajorUnpacked, 2, 2, 3);

    [Fact]
    public void ListDevices_ReportsTheEnginesDevice()
    {
        var engine = SharedOpenCl.Require();
        var listing = OpenClEngine.ListDevices();
        Assert.True(listing.Available, listing.Reason);
        Assert.Null(listing.Reason);
        var device = Assert.Single(listing.Devices, d => d.PlatformIndex == engine.Device.PlatformIndex && d.DeviceIndex == engine.Device.DeviceIndex);
        Assert.Equal(engine.Device.Name, device.Name);
        Assert.Contains(engine.Device.Name, listing.ToString());
        Assert.Contains("fp64", listing.ToString());
        Assert.Equal("opencl", engine.Name);
        Assert.Contains(engine.Device.Name, engine.DeviceDescription);
    }

    [Fact]
    public void Create_PrefersAGpu_AndHonoursTheSelector()
    {
        var shared = SharedOpenCl.Require();
        var devices = OpenClEngine.ListDevices().Devices.ToList();
        var expected = devices.FirstOrDefault(d => d.Type == "GPU") ?? devices[0];
        Assert.Equal((expected.PlatformIndex, expected.DeviceIndex), (shared.Device.PlatformIndex, shared.Device.DeviceIndex));

        var last = devices[^1];
        var byIndex = OpenClDeviceSelector.Parse($"{last.PlatformIndex}:{last.DeviceIndex}");
        Assert.Equal(new OpenClDeviceSelector { PlatformIndex = last.PlatformIndex, DeviceIndex = last.DeviceIndex }, byIndex);
        using (var e = OpenClEngine.Create(byIndex))
            Assert.Equal(last.Name, e.Device.Name);
        using (var e = OpenClEngine.Create(new OpenClDeviceSelector { DeviceName = last.Name[..Math.Min(5, last.Name.Length)].ToUpperInvariant() }))
            Assert.Contains(last.Name[..Math.Min(5, last.Name.Length)], e.Device.Name, StringComparison.OrdinalIgnoreCase);
        Assert.Equal(new OpenClDeviceSelector { DeviceName = "pthread" }, OpenClDeviceSelector.Parse("pthread"));
        Assert.Equal(new OpenClDeviceSelector { PlatformIndex = 3 }, OpenClDeviceSelector.Parse("3"));
    }

    [Fact]
    public void Create_WithUnmatchedSelector_IsUnavailableWithTheDeviceList()
    {
        var shared = SharedOpenCl.Require();
        var selector = new OpenClDeviceSelector { DeviceName = "no-such-device-xyz" };
        var e = Assert.Throws<RnnEngineUnavailableException>(() => OpenClEngine.Create(selector));
        Assert.Equal("opencl", e.Engine);
        Assert.Contains("no-such-device-xyz", e.Message);
        Assert.Contains(shared.Device.Name, e.Message);
        Assert.False(OpenClEngine.TryCreate(out var none, out var reason, selector));
        Assert.Null(none);
        Assert.Contains("no-such-device-xyz", reason);
        Assert.Throws<RnnEngineUnavailableException>(() => OpenClEngine.Create(new OpenClDeviceSelector { PlatformIndex = 999 }));
    }

    [Fact]
    public void Float64_OnADeviceWithoutFp64_IsRefusedClearly()
    {
        SharedOpenCl.Require();
        using var engine = OpenClEngine.Create(null, disableFloat64: true);
        Assert.False(engine.Supports(RnnDataType.Float64, out var reason));
        Assert.Contains("cl_khr_fp64", reason);
        Assert.Contains("fp64 no", engine.DeviceDescription);
        var ex = Assert.Throws<NotSupportedException>(() => engine.CreatePlan<double>(Lstm32.WithDataType(RnnDataType.Float64), X));
        Assert.Contains("cl_khr_fp64", ex.Message);
        Assert.Contains("Double", ex.Message);
        Assert.True(engine.Supports(RnnDataType.Float32, out var none));
        Assert.Null(none);
        using var plan = engine.CreatePlan<float>(Lstm32, X); // float32 still works
        Assert.True(plan.ReserveBytes > 0);
    }

    [Fact]
    public void Float64_FollowsTheDevice()
    {
        var engine = SharedOpenCl.Require();
        Assert.Equal(engine.Device.SupportsFloat64, engine.Supports(RnnDataType.Float64, out var reason));
        Assert.Equal(engine.Device.SupportsFloat64, reason is null);
    }

    [Fact]
    public void Buffer_RoundTripsWithOffsets_FillsAndDisposesOnce()
    {
        var engine = SharedOpenCl.Require();
        var b = engine.Allocate<double>(10);
        Assert.Equal(new double[10], b.ToArray()); // zero-filled
        b.Write(3, [1.5, 2.5, 3.5]);
        var part = new double[4];
        b.Read(2, part);
        Assert.Equal([0, 1.5, 2.5, 3.5], part);
        b.Fill(-7);
        Assert.All(b.ToArray(), v => Assert.Equal(-7, v));
        b.Clear();
        Assert.All(b.ToArray(), v => Assert.Equal(0, v));
        Assert.Throws<ArgumentException>(() => b.Write(8, [1, 2, 3]));
        Assert.Contains("opencl", b.ToString());
        b.Dispose();
        b.Dispose(); // harmless
        Assert.True(b.IsDisposed);
        Assert.Throws<ObjectDisposedException>(() => b.ToArray());
        Assert.Throws<ObjectDisposedException>(() => b.Fill(1));

        using var empty = engine.Allocate<float>(0);
        Assert.Empty(empty.ToArray());
        empty.Clear();
    }

    [Fact]
    public void Plan_RejectsBuffersOfOtherEngines_AndDisposedObjects()
    {
        var engine = SharedOpenCl.Require();
        using var cpu = TestCpu.Engine();
        using var plan = engine.CreatePlan<float>(Lstm32, X);
        using var x = engine.Allocate<float>(X.ElementCount);
        using var y = engine.Allocate<float>(plan.YDesc.ElementCount);
        using var w = engine.Allocate<float>(plan.WeightLayout.TotalElements);
        using var reserve = plan.CreateReserve();

        using var cpuX = cpu.Allocate<float>(X.ElementCount);
        var e1 = Assert.Throws<ArgumentException>(() => plan.Forward(RnnForwardMode.Training, cpuX, y, null, null, null, null, w, reserve));
        Assert.Contains("cpu", e1.Message);
        Assert.Equal("x", e1.ParamName);

        using (var other = OpenClEngine.Create(new OpenClDeviceSelector { PlatformIndex = engine.Device.PlatformIndex, DeviceIndex = engine.Device.DeviceIndex }))
        using (var otherW = other.Allocate<float>(plan.WeightLayout.TotalElements))
        {
            var e2 = Assert.Throws<ArgumentException>(() => plan.Forward(RnnForwardMode.Inference, x, y, null, null, null, null, otherW, null));
            Assert.Equal("weights", e2.ParamName);
        }

        // A CPU plan refuses OpenCL buffers the same way.
        using var cpuPlan = cpu.CreatePlan<float>(Lstm32, X);
        using var cpuY = cpu.Allocate<float>(plan.YDesc.ElementCount);
        using var cpuW = cpu.Allocate<float>(plan.WeightLayout.TotalElements);
        Assert.Throws<ArgumentException>(() => cpuPlan.Forward(RnnForwardMode.Inference, x, cpuY, null, null, null, null, cpuW, null));

        // Call order is enforced before any kernel runs.
        using var dy = engine.Allocate<float>(plan.YDesc.ElementCount);
        using var dx = engine.Allocate<float>(X.ElementCount);
        Assert.Throws<InvalidOperationException>(() => plan.BackwardData(y, dy, dx, null, null, null, null, null, null, w, reserve));

        var disposedX = engine.Allocate<float>(X.ElementCount);
        disposedX.Dispose();
        Assert.Throws<ObjectDisposedException>(() => plan.Forward(RnnForwardMode.Inference, disposedX, y, null, null, null, null, w, null));

        var p2 = engine.CreatePlan<float>(Lstm32, X);
        p2.Dispose();
        p2.Dispose(); // harmless
        Assert.Throws<ObjectDisposedException>(() => p2.Forward(RnnForwardMode.Inference, x, y, null, null, null, null, w, null));
        Assert.Throws<ObjectDisposedException>(() => p2.CreateReserve());
    }

    [Fact]
    public void DisposedEngine_RefusesWork_AndDisposesOnce()
    {
        var shared = SharedOpenCl.Require();
        var engine = OpenClEngine.Create(new OpenClDeviceSelector { PlatformIndex = shared.Device.PlatformIndex, DeviceIndex = shared.Device.DeviceIndex });
        var b = engine.Allocate<float>(4);
        engine.Dispose();
        engine.Dispose(); // harmless
        Assert.Throws<ObjectDisposedException>(() => engine.Allocate<float>(4));
        Assert.Throws<ObjectDisposedException>(() => engine.CreatePlan<float>(Lstm32, X));
        Assert.Throws<ObjectDisposedException>(() => b.ToArray());
        b.Dispose(); // the buffer's cl_mem is still released after its engine
    }

    [Fact]
    public void Plans_AgreeWithTheCpuEngineOnReserveSize()
    {
        var engine = SharedOpenCl.Require();
        using var cpu = TestCpu.Engine();
        var rnn = new RnnDescriptor(RnnMode.Lstm, 3, 6, 2, RnnDirection.Bidirectional, projSize: 4, dropout: 0.2);
        var x = new RnnDataDescriptor(RnnDataLayout.BatchMajorUnpacked, 5, 3, 3, [5, 2, 4]);
        using var a = engine.CreatePlan<float>(rnn, x);
        using var b = cpu.CreatePlan<float>(rnn, x);
        Assert.Equal(b.ReserveBytes, a.ReserveBytes); // same reserve layout, so the same meaning between calls
        Assert.True(a.WorkspaceBytes > 0);
    }

    [Fact]
    public void FailedBuild_CarriesTheBuildLog()
    {
        var engine = SharedOpenCl.Require();
        var e = Assert.Throws<OpenClException>(() => engine.BuildProgram("__kernel void broken(__global float* p) { p[0] = undeclared_name; }", ""));
        Assert.Equal(-11, e.Status);
        Assert.Equal("CL_BUILD_PROGRAM_FAILURE", e.ErrorName);
        Assert.Contains("undeclared_name", e.Message); // the compiler's diagnostic, from the build log
        Assert.Contains("Build log", e.Message);
    }

    [Fact]
    public void StatusCheck_NamesTheErrorAndTheCall()
    {
        int status = -5;
        var e = Assert.Throws<OpenClException>(() => OpenClException.ThrowIfFailed(status));
        Assert.Equal("CL_OUT_OF_RESOURCES", e.ErrorName);
        Assert.Equal("status", e.Call);
        Assert.Contains("CL_OUT_OF_RESOURCES (-5)", e.Message);
        OpenClException.ThrowIfFailed(0);
        Assert.Equal("CL_INVALID_KERNEL_ARGS", OpenClException.NameOf(-52));
        Assert.Equal("unknown OpenCL status", OpenClException.NameOf(-12345));
    }
}
