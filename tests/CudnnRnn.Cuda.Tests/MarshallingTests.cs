using System.Reflection;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using CudnnRnn.Interop;
using Xunit;

namespace CudnnRnn.Cuda.Tests;

/// <summary>What the source-generated stubs rely on, checked without a native library.</summary>
public sealed class MarshallingTests
{
    [Fact]
    public void Interop_assembly_disables_runtime_marshalling()
    {
        Assert.NotNull(typeof(Cudnn).Assembly.GetCustomAttribute<DisableRuntimeMarshallingAttribute>());
    }

    [Fact]
    public void Every_SafeHandle_type_has_the_public_parameterless_constructor_the_generator_needs_and_zero_is_invalid()
    {
        var types = typeof(Cudnn).Assembly.GetTypes().Where(t => typeof(SafeHandle).IsAssignableFrom(t) && !t.IsAbstract).ToList();
        Assert.Equal(10, types.Count); // handle, 4 descriptors, device memory, stream, memory pool, pinned host memory, event
        foreach (var t in types)
        {
            var ctor = t.GetConstructor(Type.EmptyTypes);
            Assert.True(ctor is { IsPublic: true }, $"{t.Name} needs a public parameterless constructor for `out` marshalling");
            using var h = (SafeHandle)ctor!.Invoke(null);
            Assert.True(h.IsInvalid, $"{t.Name}: a fresh handle must be invalid (0), so release never runs for it");
            h.Dispose();
            h.Dispose(); // double dispose is harmless
            Assert.True(h.IsClosed);
        }
    }

    [Fact]
    public void Imports_use_only_blittable_types_and_never_bool_string_or_arrays()
    {
        foreach (var (m, _) in ContractTests.Imports())
        {
            foreach (var t in m.GetParameters().Select(p => p.ParameterType).Append(m.ReturnType))
            {
                var core = t.IsByRef ? t.GetElementType()! : t;
                Assert.False(core == typeof(bool) || core == typeof(string) || core.IsArray || core == typeof(char),
                    $"{m.Name} uses {t}: bool/string/char/arrays need runtime marshalling (and C bool is 1 byte)");
                _ = ContractTests.NetKind(t); // throws on anything outside the allowed set
            }
        }
    }

    [Fact]
    public void A_zero_byte_device_allocation_is_NULL_without_calling_the_runtime()
    {
        // cudaMalloc is not called for 0 bytes (so this runs without CUDA) and the NULL handle is never freed.
        using var m = SafeCudaDeviceMemory.Allocate(0);
        Assert.True(m.IsInvalid);
        Assert.Equal((nuint)0, m.ByteLength);
    }

    [Fact]
    public void Dropout_and_rnn_descriptor_reject_bad_arguments_before_any_native_call()
    {
        using var dropout = new SafeCudnnDropoutDescriptor();
        using var cudnn = new SafeCudnnHandle();
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => dropout.Set(cudnn, 1.5f, null, 0));
        Assert.Equal("dropout", e.ParamName);
        var n = Assert.Throws<ArgumentNullException>(() => dropout.Set(cudnn, 0.5f, null, 0));
        Assert.Equal("states", n.ParamName);
        using var rnn = new SafeCudnnRNNDescriptor();
        Assert.Throws<ArgumentNullException>(() => rnn.Set(default, default, default, default, default, default, default, default, 1, 1, 1, 1, null!, 0));
    }
}
