using CudnnRnn.Interop;
using Xunit;

namespace CudnnRnn.Cuda.Tests;

/// <summary>
/// The checks of the CUDA interop API that need no GPU: Wrap's argument checks run before any native call (on a machine
/// without CUDA a native call would throw CudaLibraryNotFoundException instead of the argument exception asserted here),
/// the pointer classification of every foreign-memory case, range overlap, the context save/restore logic over a fake
/// driver, and borrowed handles that free nothing.
/// </summary>
[Collection(NativeCollection.Name)]
public sealed class InteropTests
{
    [Fact]
    public void Wrap_refuses_a_null_pointer_naming_the_argument()
    {
        using var engine = CudaEngine.CreateDetachedForTesting();
        var e = Assert.Throws<ArgumentException>(() => engine.Wrap<float>(0, 16));
        Assert.Equal("devicePointer", e.ParamName);
        Assert.Contains("NULL", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Wrap_refuses_a_negative_length()
    {
        using var engine = CudaEngine.CreateDetachedForTesting();
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => engine.Wrap<float>(0x1000, -1));
        Assert.Equal("length", e.ParamName);
    }

    [Fact]
    public void Wrap_refuses_a_length_whose_byte_size_overflows_and_a_range_that_wraps_the_address_space()
    {
        using var engine = CudaEngine.CreateDetachedForTesting();
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => engine.Wrap<double>(0x1000, long.MaxValue / 8 + 1));
        Assert.Equal("length", e.ParamName);
        Assert.Contains("overflow", e.Message, StringComparison.Ordinal);
        // A length that fits 64 bits but runs past the top of the address space from a high pointer.
        e = Assert.Throws<ArgumentOutOfRangeException>(() => engine.Wrap<double>(unchecked((nint)0xFFFF_FFFF_FFFF_0000), 1 << 20));
        Assert.Contains("wraps around", e.Message, StringComparison.Ordinal);
        Assert.Equal((nuint)(1024 * 8), CudaEngine.CheckWrapArguments<double>(0x1000, 1024));
    }

    [Fact]
    public void Wrap_on_a_disposed_engine_throws_ObjectDisposedException()
    {
        var engine = CudaEngine.CreateDetachedForTesting();
        engine.Dispose();
        engine.Dispose(); // harmless twice
        Assert.Throws<ObjectDisposedException>(() => engine.Wrap<float>(0x1000, 4));
    }

    private static readonly CudaPointerInfo s_good = new(true, CUmemorytype.CU_MEMORYTYPE_DEVICE, false, 0, 0x77, true, 0x1000, 4096);

    [Fact]
    public void Device_memory_of_this_device_and_context_inside_its_allocation_is_accepted()
    {
        Assert.Null(CudaEngine.DescribeForeignPointer(s_good, 0x1000, 4096, 0, 0x77));
        Assert.Null(CudaEngine.DescribeForeignPointer(s_good, 0x1800, 2048, 0, 0x77)); // a sub-range ending at the allocation's end
        // Some allocations record no context (0): the device check still applies.
        Assert.Null(CudaEngine.DescribeForeignPointer(s_good with { Context = 0 }, 0x1000, 16, 0, 0x77));
    }

    [Fact]
    public void Every_kind_of_foreign_memory_is_refused_with_what_was_found_and_what_was_expected()
    {
        string? M(CudaPointerInfo i, nint p = 0x1000, nuint bytes = 64) => CudaEngine.DescribeForeignPointer(i, p, bytes, 0, 0x77);

        Assert.Contains("not memory CUDA knows", M(default)!, StringComparison.Ordinal);
        string host = M(s_good with { MemoryType = CUmemorytype.CU_MEMORYTYPE_HOST })!;
        Assert.Contains("CU_MEMORYTYPE_HOST", host, StringComparison.Ordinal);
        Assert.Contains("expected device (or managed) memory on CUDA device 0", host, StringComparison.Ordinal);
        string device = M(s_good with { Device = 1 })!;
        Assert.Contains("another device: CUDA device 1", device, StringComparison.Ordinal);
        Assert.Contains("runs on CUDA device 0", device, StringComparison.Ordinal);
        string context = M(s_good with { Context = 0x99 })!;
        Assert.Contains("another context: allocated in CUDA context 0x99", context, StringComparison.Ordinal);
        Assert.Contains("runs in context 0x77", context, StringComparison.Ordinal);
        string past = M(s_good, 0x1F00, 512)!;
        Assert.Contains("256 bytes past the end of its allocation [0x1000, 0x2000)", past, StringComparison.Ordinal);
        Assert.Contains("cannot be checked", M(s_good with { RangeKnown = false })!, StringComparison.Ordinal);
    }

    [Fact]
    public void Managed_memory_is_accepted_from_another_context_but_not_from_another_device()
    {
        var managed = s_good with { IsManaged = true, MemoryType = CUmemorytype.CU_MEMORYTYPE_HOST, Context = 0x99 };
        Assert.Null(CudaEngine.DescribeForeignPointer(managed, 0x1000, 64, 0, 0x77));
        Assert.NotNull(CudaEngine.DescribeForeignPointer(managed with { Device = 2 }, 0x1000, 64, 0, 0x77));
    }

    [Theory]
    [InlineData(0x1000, 16, 0x1010, 16, false)] // adjacent
    [InlineData(0x1000, 17, 0x1010, 16, true)]  // one byte in common
    [InlineData(0x1010, 16, 0x1000, 17, true)]
    [InlineData(0x1000, 64, 0x1010, 8, true)]   // contained
    [InlineData(0x1000, 0, 0x1000, 16, false)]  // empty
    public void Byte_ranges_overlap_exactly_when_they_share_a_byte(long a, long aBytes, long b, long bBytes, bool overlap) =>
        Assert.Equal(overlap, CudaBuffer<float>.RangesOverlap((nint)a, (ulong)aBytes, (nint)b, (ulong)bBytes));

    [Fact]
    public void A_stream_of_another_context_is_named_with_both_contexts()
    {
        Assert.Null(CudaEngine.StreamContextMismatch(0x5, 0x77, 0x77));
        string m = CudaEngine.StreamContextMismatch(0x5, 0x99, 0x77)!;
        Assert.Contains("belongs to CUDA context 0x99", m, StringComparison.Ordinal);
        Assert.Contains("current on this thread is 0x77", m, StringComparison.Ordinal);
    }

    private sealed class FakeDriver(nint current) : ICudaContextApi
    {
        public nint Current = current;
        public List<string> Calls = [];
        public int FailGet, FailSet;

        public int GetCurrent(out nint context)
        {
            Calls.Add("get");
            context = Current;
            return FailGet;
        }

        public int SetCurrent(nint context)
        {
            Calls.Add($"set 0x{context:x}");
            if (FailSet != 0) return FailSet;
            Current = context;
            return 0;
        }
    }

    [Fact]
    public void The_scope_makes_the_engine_context_current_and_restores_the_foreign_one()
    {
        var driver = new FakeDriver(0x99);
        using (var scope = CudaContextScope.Enter(driver, 0x77))
        {
            Assert.True(scope.Switched);
            Assert.Equal(0x77, driver.Current);
        }
        Assert.Equal(0x99, driver.Current);
        Assert.Equal(["get", "set 0x77", "set 0x99"], driver.Calls);
    }

    [Fact]
    public void The_scope_restores_no_context_when_none_was_current_and_switches_nothing_when_ours_is()
    {
        var none = new FakeDriver(0);
        using (CudaContextScope.Enter(none, 0x77)) Assert.Equal(0x77, none.Current);
        Assert.Equal(0, none.Current);

        var ours = new FakeDriver(0x77);
        using (var scope = CudaContextScope.Enter(ours, 0x77)) Assert.False(scope.Switched);
        Assert.Equal(["get"], ours.Calls);
    }

    [Fact]
    public void The_scope_restores_the_context_when_the_call_inside_throws()
    {
        var driver = new FakeDriver(0x99);
        Assert.Throws<InvalidOperationException>((Action)(() =>
        {
            using var scope = CudaContextScope.Enter(driver, 0x77);
            throw new InvalidOperationException("cuDNN failed");
        }));
        Assert.Equal(0x99, driver.Current);
    }

    [Fact]
    public void Driver_failures_name_the_call_and_the_result()
    {
        var e = Assert.Throws<CudaDriverException>(() => CudaContextScope.Enter(new FakeDriver(0x99) { FailGet = 3 }, 0x77));
        Assert.Contains("cuCtxGetCurrent", e.Message, StringComparison.Ordinal);
        Assert.Contains("CUDA_ERROR_NOT_INITIALIZED", e.Message, StringComparison.Ordinal);
        e = Assert.Throws<CudaDriverException>(() => CudaContextScope.Enter(new FakeDriver(0x99) { FailSet = 709 }, 0x77));
        Assert.Contains("cuCtxSetCurrent(engine context 0x77)", e.Message, StringComparison.Ordinal);
        Assert.Contains("CUDA_ERROR_CONTEXT_IS_DESTROYED", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Borrowed_memory_and_streams_free_nothing_when_disposed_and_are_not_counted()
    {
        long memory = CudaHandleDiagnostics.Live(CudaHandleKind.DeviceMemory), streams = CudaHandleDiagnostics.Live(CudaHandleKind.Stream);
        // Freeing would call cudaFree / cudaStreamDestroy, which throws here (no CUDA runtime): disposing must not.
        var m = SafeCudaDeviceMemory.Borrow(0x1000, 64);
        var s = SafeCudaStream.Borrow(0x2000);
        Assert.True(m.IsBorrowed);
        Assert.False(s.OwnsStream);
        Assert.Equal((nuint)64, m.ByteLength);
        m.Dispose();
        s.Dispose();
        m.Dispose();
        Assert.True(m.IsClosed);
        Assert.Equal(memory, CudaHandleDiagnostics.Live(CudaHandleKind.DeviceMemory));
        Assert.Equal(streams, CudaHandleDiagnostics.Live(CudaHandleKind.Stream));
    }

    [Fact]
    public void A_detached_engine_reports_no_caller_context_and_an_engine_in_one_reports_it()
    {
        using var plain = CudaEngine.CreateDetachedForTesting();
        Assert.False(plain.UsesCallerContext);
        using var inContext = CudaEngine.CreateDetachedForTesting(context: 0x77);
        Assert.True(inContext.UsesCallerContext);
        Assert.Equal(0x77, inContext.ContextHandle);
    }
}
