using System.Numerics;
using System.Collections.Immutable;

namespace CudnnRnn;

/// <summary>Where one (pseudoLayer, linLayerId) matrix and its bias live in a weight space, in elements.</summary>
/// <param name="PseudoLayer">layer × numDirections + direction.</param>
/// <param name="LinLayerId">cuDNN's linear-layer id (LSTM 0–3 input-side i,f,g,o, 4–7 recurrent, 8 projection; GRU 0–2 r,z,n
/// input-side, 3–5 recurrent; RNN 0 input-side, 1 recurrent).</param>
/// <param name="MatrixOffset">Element offset of the row-major matrix, or -1 when it does not exist (skip input, no projection).</param>
/// <param name="Rows">Matrix rows (0 when absent).</param>
/// <param name="Cols">Matrix columns (0 when absent).</param>
/// <param name="BiasOffset">Element offset of the bias vector, or -1 when it does not exist.</param>
/// <param name="BiasLength">Bias length (0 when absent).</param>
public readonly record struct RnnWeightEntry(int PseudoLayer, int LinLayerId, long MatrixOffset, int Rows, int Cols, long BiasOffset, int BiasLength)
{
    /// <summary>True when the matrix exists.</summary>
    public bool HasMatrix => MatrixOffset >= 0;
    /// <summary>True when the bias exists.</summary>
    public bool HasBias => BiasOffset >= 0;
}

/// <summary>A PyTorch parameter (<c>weight_ih_l0</c>, <c>bias_hh_l1_reverse</c>, …) and its shape.</summary>
/// <param name="Name">PyTorch name.</param>
/// <param name="Shape">[rows, cols] for matrices, [length] for biases.</param>
public readonly record struct PyTorchParameter(string Name, ImmutableArray<int> Shape)
{
    /// <summary>Number of elements (a 64-bit product: rows × cols can pass 2^31).</summary>
    public long Count => Shape.Aggregate(1L, (a, b) => a * b);
}

/// <summary>
/// The map of a flat weight space: for each pseudo-layer and linear-layer id, where the matrix (row-major, rows × cols)
/// and its bias are. It plays the role of <c>cudnnGetRNNWeightParams</c>. The CPU and OpenCL engines use
/// <see cref="Canonical"/>; the cuDNN engine builds one at run time with <see cref="FromEntries"/> from what cuDNN reports.
/// PyTorch-name import and export go through the entries, so they work with any layout.
/// </summary>
public sealed class RnnWeightLayout
{
    private readonly RnnWeightEntry[] _entries; // [pseudoLayer * LinLayerIdCount + linLayerId]

    private RnnWeightLayout(RnnDescriptor rnn, RnnWeightEntry[] entries, long totalElements)
    {
        Descriptor = rnn;
        _entries = entries;
        TotalElements = totalElements;
    }

    /// <summary>The network this layout belongs to.</summary>
    public RnnDescriptor Descriptor { get; }
    /// <summary>Elements in the whole weight space.</summary>
    public long TotalElements { get; }
    /// <summary>All entries, pseudo-layer major.</summary>
    public ReadOnlySpan<RnnWeightEntry> Entries => _entries;

    /// <summary>The expected matrix shape (rows, cols) of an id, or (0, 0) when the matrix does not exist.</summary>
    public static (int Rows, int Cols) ExpectedMatrixShape(RnnDescriptor rnn, int pseudoLayer, int linLayerId)
    {
        int layer = pseudoLayer / rnn.NumDirections;
        int g = rnn.Gates;
        if (rnn.Mode == RnnMode.Lstm && linLayerId == 8)
            return rnn.HasProjection ? (rnn.ProjSize, rnn.HiddenSize) : (0, 0);
        if (linLayerId < g)
            return layer == 0 && rnn.InputMode == RnnInputMode.Skip ? (0, 0) : (rnn.HiddenSize, rnn.LayerInputSize(layer));
        return (rnn.HiddenSize, rnn.StateSize);
    }

    /// <summary>The expected bias length of an id (0 when that bias does not exist).</summary>
    public static int ExpectedBiasLength(RnnDescriptor rnn, int linLayerId)
    {
        if (rnn.Mode == RnnMode.Lstm && linLayerId == 8) return 0; // "there is no bias in this operation"
        bool inputSide = linLayerId < rnn.Gates;
        return (inputSide ? rnn.HasInputBias : rnn.HasRecurrentBias) ? rnn.HiddenSize : 0;
    }

    /// <summary>
    /// Our own canonical layout, PyTorch's per pseudo-layer order: all input-side matrices (gate blocks stacked, i.e.
    /// <c>weight_ih</c>), all recurrent matrices (<c>weight_hh</c>), the input-side biases, the recurrent biases, then the
    /// projection. Under skip input the layer-0 input matrices do not exist; whether cuDNN keeps the layer-0 input
    /// biases under SKIP_INPUT is NOT FOUND: we keep them.
    /// </summary>
    public static RnnWeightLayout Canonical(RnnDescriptor rnn)
    {
        ArgumentNullException.ThrowIfNull(rnn);
        int ids = rnn.LinLayerIdCount, g = rnn.Gates;
        var entries = new RnnWeightEntry[rnn.PseudoLayerCount * ids];
        long off = 0;
        for (int pl = 0; pl < rnn.PseudoLayerCount; pl++)
        {
            var mOff = new long[ids];
            var bOff = new long[ids];
            Array.Fill(mOff, -1);
            Array.Fill(bOff, -1);
            for (int id = 0; id < 2 * g; id++) // W block then R block
            {
                var (r, c) = ExpectedMatrixShape(rnn, pl, id);
                if (r == 0) continue;
                mOff[id] = off;
                off += (long)r * c;
            }
            for (int id = 0; id < 2 * g; id++) // bW then bR
            {
                int len = ExpectedBiasLength(rnn, id);
                if (len == 0) continue;
                bOff[id] = off;
                off += len;
            }
            if (rnn.Mode == RnnMode.Lstm && rnn.HasProjection)
            {
                mOff[8] = off;
                off += (long)rnn.ProjSize * rnn.HiddenSize;
            }
            for (int id = 0; id < ids; id++)
            {
                var (r, c) = ExpectedMatrixShape(rnn, pl, id);
                int bl = ExpectedBiasLength(rnn, id);
                entries[pl * ids + id] = new RnnWeightEntry(pl, id, mOff[id], mOff[id] >= 0 ? r : 0, mOff[id] >= 0 ? c : 0,
                    bOff[id], bOff[id] >= 0 ? bl : 0);
            }
        }
        System.Diagnostics.Debug.Assert(off == rnn.CanonicalWeightCount, "RnnDescriptor.CanonicalWeightCount must count this layout.");
        return new RnnWeightLayout(rnn, entries, off);
    }

    /// <summary>
    /// Builds a layout from a table of entries another engine reports (cuDNN: <c>cudnnGetRNNWeightParams</c> addresses
    /// minus the weight-space base, divided by the element size, with the mDesc/bDesc dims). Every entry is checked
    /// against the shape the descriptor implies, and against the weight-space bounds and overlap.
    /// </summary>
    /// <param name="rnn">The network.</param>
    /// <param name="entries">One entry per (pseudoLayer, linLayerId), any order.</param>
    /// <param name="totalElements">Elements in the weight space (cuDNN: weightSpaceSize / element size).</param>
    public static RnnWeightLayout FromEntries(RnnDescriptor rnn, IEnumerable<RnnWeightEntry> entries, long totalElements)
    {
        ArgumentNullException.ThrowIfNull(rnn);
        ArgumentNullException.ThrowIfNull(entries);
        if (totalElements < 0) throw new ArgumentOutOfRangeException(nameof(totalElements), totalElements, "Must not be negative.");
        int ids = rnn.LinLayerIdCount;
        var table = new RnnWeightEntry?[rnn.PseudoLayerCount * ids];
        var spans = new List<(long Start, long End, string What)>();
        foreach (var e in entries)
        {
            if ((uint)e.PseudoLayer >= (uint)rnn.PseudoLayerCount)
                throw new ArgumentException($"Entry pseudoLayer {e.PseudoLayer} is outside 0..{rnn.PseudoLayerCount - 1}.", nameof(entries));
            if ((uint)e.LinLayerId >= (uint)ids)
                throw new ArgumentException($"Entry linLayerId {e.LinLayerId} is outside 0..{ids - 1} for {rnn.Mode}.", nameof(entries));
            ref var slot = ref table[e.PseudoLayer * ids + e.LinLayerId];
            if (slot is not null)
                throw new ArgumentException($"Duplicate entry for pseudoLayer {e.PseudoLayer}, linLayerId {e.LinLayerId}.", nameof(entries));
            var (r, c) = ExpectedMatrixShape(rnn, e.PseudoLayer, e.LinLayerId);
            if (e.HasMatrix != (r > 0) || (e.HasMatrix && (e.Rows != r || e.Cols != c)))
                throw new ArgumentException(
                    $"pseudoLayer {e.PseudoLayer}, linLayerId {e.LinLayerId}: matrix {(e.HasMatrix ? $"{e.Rows}x{e.Cols}" : "absent")}, expected {(r > 0 ? $"{r}x{c}" : "absent")}.",
                    nameof(entries));
            int bl = ExpectedBiasLength(rnn, e.LinLayerId);
            if (e.HasBias != (bl > 0) || (e.HasBias && e.BiasLength != bl))
                throw new ArgumentException(
                    $"pseudoLayer {e.PseudoLayer}, linLayerId {e.LinLayerId}: bias {(e.HasBias ? e.BiasLength.ToString() : "absent")}, expected {(bl > 0 ? bl.ToString() : "absent")}.",
                    nameof(entries));
            if (e.HasMatrix) spans.Add((e.MatrixOffset, e.MatrixOffset + (long)e.Rows * e.Cols, $"matrix ({e.PseudoLayer},{e.LinLayerId})"));
            if (e.HasBias) spans.Add((e.BiasOffset, e.BiasOffset + e.BiasLength, $"bias ({e.PseudoLayer},{e.LinLayerId})"));
            slot = e;
        }
        for (int i = 0; i < table.Length; i++)
            if (table[i] is null)
                throw new ArgumentException($"Missing entry for pseudoLayer {i / ids}, linLayerId {i % ids}.", nameof(entries));
        spans.Sort((a, b) => a.Start.CompareTo(b.Start));
        for (int i = 0; i < spans.Count; i++)
        {
            if (spans[i].Start < 0 || spans[i].End > totalElements)
                throw new ArgumentException($"{spans[i].What} [{spans[i].Start}, {spans[i].End}) lies outside the weight space of {totalElements} elements.", nameof(entries));
            if (i > 0 && spans[i].Start < spans[i - 1].End)
                throw new ArgumentException($"{spans[i].What} overlaps {spans[i - 1].What}.", nameof(entries));
        }
        return new RnnWeightLayout(rnn, table.Select(e => e!.Value).ToArray(), totalElements);
    }

    /// <summary>The entry of (pseudoLayer, linLayerId).</summary>
    public RnnWeightEntry this[int pseudoLayer, int linLayerId]
    {
        get
        {
            if ((uint)pseudoLayer >= (uint)Descriptor.PseudoLayerCount)
                throw new ArgumentOutOfRangeException(nameof(pseudoLayer), pseudoLayer, $"Expected 0..{Descriptor.PseudoLayerCount - 1}.");
            if ((uint)linLayerId >= (uint)Descriptor.LinLayerIdCount)
                throw new ArgumentOutOfRangeException(nameof(linLayerId), linLayerId, $"Expected 0..{Descriptor.LinLayerIdCount - 1} for {Descriptor.Mode}.");
            return _entries[pseudoLayer * Descriptor.LinLayerIdCount + linLayerId];
        }
    }

    /// <summary>Every PyTorch parameter of this network, in PyTorch's order.</summary>
    public IReadOnlyList<PyTorchParameter> PyTorchParameters => _pyTorchParameters ??= BuildPyTorchParameters(Descriptor);

    private IReadOnlyList<PyTorchParameter>? _pyTorchParameters;

    private static IReadOnlyList<PyTorchParameter> BuildPyTorchParameters(RnnDescriptor rnn)
    {
        var list = new List<PyTorchParameter>();
        int gh = rnn.Gates * rnn.HiddenSize;
        for (int layer = 0; layer < rnn.NumLayers; layer++)
            for (int dir = 0; dir < rnn.NumDirections; dir++)
            {
                string sfx = $"_l{layer}{(dir == 1 ? "_reverse" : "")}";
                if (!(layer == 0 && rnn.InputMode == RnnInputMode.Skip))
                    list.Add(new("weight_ih" + sfx, [gh, rnn.LayerInputSize(layer)]));
                list.Add(new("weight_hh" + sfx, [gh, rnn.StateSize]));
                if (rnn.HasInputBias) list.Add(new("bias_ih" + sfx, [gh]));
                if (rnn.HasRecurrentBias) list.Add(new("bias_hh" + sfx, [gh]));
                if (rnn.HasProjection) list.Add(new("weight_hr" + sfx, [rnn.ProjSize, rnn.HiddenSize]));
            }
        return list.AsReadOnly();
    }

    private (string Kind, int PseudoLayer) ParseName(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        foreach (var p in PyTorchParameters)
        {
            if (p.Name != name) continue;
            int us = name.IndexOf("_l", StringComparison.Ordinal);
            string kind = name[..us];
            string rest = name[(us + 2)..];
            bool reverse = rest.EndsWith("_reverse", StringComparison.Ordinal);
            int layer = int.Parse(reverse ? rest[..^8] : rest, System.Globalization.CultureInfo.InvariantCulture);
            return (kind, layer * Descriptor.NumDirections + (reverse ? 1 : 0));
        }
        throw new ArgumentException(
            $"'{name}' is not a parameter of this network ({Descriptor}); expected one of: {string.Join(", ", PyTorchParameters.Select(p => p.Name))}.",
            nameof(name));
    }

    /// <summary>Shape of a PyTorch parameter of this network.</summary>
    public PyTorchParameter GetPyTorchParameter(string name)
    {
        ParseName(name); // throws with the list of valid names
        return PyTorchParameters.First(p => p.Name == name);
    }

    /// <summary>Copies a PyTorch parameter (row-major, PyTorch shape) into a host copy of the weight space.</summary>
    public void ImportPyTorch<T>(Span<T> weightSpace, string name, ReadOnlySpan<T> values) where T : unmanaged
    {
        var (kind, pl) = ParseName(name);
        CheckSpace(weightSpace.Length);
        CheckCount(name, values.Length, nameof(values));
        // After the count checks every piece lies inside both spans, so the 64-bit offsets fit an int.
        foreach (var (wsOff, valOff, len) in Blocks(kind, pl))
            values.Slice(checked((int)valOff), checked((int)len)).CopyTo(weightSpace.Slice(checked((int)wsOff), checked((int)len)));
    }

    /// <summary>Copies a PyTorch parameter out of a host copy of the weight space.</summary>
    public void ExportPyTorch<T>(ReadOnlySpan<T> weightSpace, string name, Span<T> destination) where T : unmanaged
    {
        var (kind, pl) = ParseName(name);
        CheckSpace(weightSpace.Length);
        CheckCount(name, destination.Length, nameof(destination));
        foreach (var (wsOff, valOff, len) in Blocks(kind, pl))
            weightSpace.Slice(checked((int)wsOff), checked((int)len)).CopyTo(destination.Slice(checked((int)valOff), checked((int)len)));
    }

    /// <summary>
    /// Copies a PyTorch parameter given as float32 (a checkpoint's usual type) into a weight space of
    /// <typeparamref name="T"/>, rounding each value to nearest, ties to even. A finite value that would become infinite
    /// (|x| beyond the largest finite T after rounding: 65504 for Half) throws <see cref="ArgumentOutOfRangeException"/>
    /// naming the parameter, the element index, the value and the limit; nothing is written then. NaN and ±Infinity in
    /// <paramref name="values"/> are kept as they are.
    /// </summary>
    public void ImportPyTorchFromFloat32<T>(Span<T> weightSpace, string name, ReadOnlySpan<float> values) where T : unmanaged, IFloatingPointIeee754<T>
    {
        CheckCount(name, values.Length, nameof(values));
        var converted = new T[values.Length];
        for (int i = 0; i < values.Length; i++)
        {
            T v = T.CreateChecked(values[i]);
            if (float.IsFinite(values[i]) && !T.IsFinite(v))
                throw new ArgumentOutOfRangeException(nameof(values), values[i],
                    $"Parameter '{name}', element {i}: {values[i]:R} overflows {typeof(T).Name} (largest finite value {LargestFinite<T>():R}); " +
                    "it would become Infinity. Rescale the parameter or keep this layer in float32.");
            converted[i] = v;
        }
        ImportPyTorch<T>(weightSpace, name, converted);
    }

    /// <summary>Copies a PyTorch parameter out of a weight space of <typeparamref name="T"/> as float32 (exact for Half and BFloat16).</summary>
    public void ExportPyTorchToFloat32<T>(ReadOnlySpan<T> weightSpace, string name, Span<float> destination) where T : unmanaged, IFloatingPointIeee754<T>
    {
        CheckCount(name, destination.Length, nameof(destination));
        var values = new T[destination.Length];
        ExportPyTorch<T>(weightSpace, name, values);
        for (int i = 0; i < values.Length; i++) destination[i] = float.CreateChecked(values[i]);
    }

    private static double LargestFinite<T>() where T : IFloatingPointIeee754<T> =>
        typeof(T) == typeof(Half) ? (double)Half.MaxValue
        : typeof(T) == typeof(BFloat16) ? (double)BFloat16.MaxValue
        : typeof(T) == typeof(float) ? float.MaxValue
        : double.MaxValue;

    private void CheckCount(string name, int length, string argument)
    {
        var p = GetPyTorchParameter(name);
        if (length != p.Count)
            throw new ArgumentException($"{argument} has {length} elements; '{name}' has {p.Count} ({string.Join("x", p.Shape)}).", argument);
    }

    /// <summary>(weight-space offset, offset in the PyTorch tensor, length) of each contiguous piece of a parameter.</summary>
    private List<(long, long, long)> Blocks(string kind, int pl)
    {
        var rnn = Descriptor;
        int g = rnn.Gates;
        var blocks = new List<(long, long, long)>();
        switch (kind)
        {
            case "weight_ih":
            case "weight_hh":
                for (int j = 0; j < g; j++)
                {
                    var e = this[pl, kind == "weight_ih" ? j : g + j];
                    long n = (long)e.Rows * e.Cols;
                    blocks.Add((e.MatrixOffset, j * n, n));
                }
                break;
            case "bias_ih":
            case "bias_hh":
                for (int j = 0; j < g; j++)
                {
                    var e = this[pl, kind == "bias_ih" ? j : g + j];
                    blocks.Add((e.BiasOffset, (long)j * e.BiasLength, e.BiasLength));
                }
                break;
            case "weight_hr":
                {
                    var e = this[pl, 8];
                    blocks.Add((e.MatrixOffset, 0, (long)e.Rows * e.Cols));
                    break;
                }
        }
        return blocks;
    }

    private void CheckSpace(int length)
    {
        if (length != TotalElements)
            throw new ArgumentException($"The weight space has {length} elements; this layout needs exactly {TotalElements}.", "weightSpace");
    }
}
