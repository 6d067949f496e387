using CudnnRnn.Testing;
using Xunit;

namespace CudnnRnn.Tests;

/// <summary>The allocation checker the hot-path tests use can fail: steady allocations fail it, a one-off does not.</summary>
[Collection(nameof(AllocationTests))]
public sealed class SteadyStateAllocationTests
{
    private static object? s_sink;

    [Fact]
    public void A_step_that_allocates_every_call_fails()
    {
        var bytes = SteadyStateAllocation.Measure(() => s_sink = new byte[16]);
        Assert.All(bytes, b => Assert.True(b > 0));
        Assert.False(SteadyStateAllocation.IsAllocationFree(bytes));
        Assert.ThrowsAny<Exception>(() => SteadyStateAllocation.AssertAllocationFree(() => s_sink = new byte[16]));
    }

    [Fact]
    public void A_step_that_allocates_every_third_call_fails()
    {
        int calls = 0;
        var bytes = SteadyStateAllocation.Measure(() => { if (++calls % 3 == 0) s_sink = new byte[16]; });
        Assert.False(SteadyStateAllocation.IsAllocationFree(bytes));
    }

    [Fact]
    public void A_one_off_allocation_after_warm_up_passes_and_a_quiet_step_passes()
    {
        int calls = 0;
        var bytes = SteadyStateAllocation.Measure(() => { if (++calls == 7) s_sink = new byte[16]; });
        Assert.Equal(1, bytes.Count(b => b != 0));
        Assert.True(SteadyStateAllocation.IsAllocationFree(bytes));
        SteadyStateAllocation.AssertAllocationFree(() => calls++);
    }

    [Fact]
    public void Allocations_in_a_third_of_the_windows_are_the_limit()
    {
        Assert.True(SteadyStateAllocation.IsAllocationFree([0, 0, 0, 0, 0, 0, 8, 8, 8]));
        Assert.False(SteadyStateAllocation.IsAllocationFree([0, 0, 0, 0, 0, 8, 8, 8, 8]));
    }
}
