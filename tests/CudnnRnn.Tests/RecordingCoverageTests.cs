using CudnnRnn.Testing.Recording;
using Xunit;

namespace CudnnRnn.Tests;

/// <summary>
/// The recording set covers everything issue 18 asks for, computed from the configurations themselves (not from their
/// names), so an edit that drops a feature fails here instead of silently shrinking what cuDNN is checked against.
/// </summary>
public sealed class RecordingCoverageTests
{
    private static readonly IReadOnlyList<RecordingConfig> Set = CudnnRecordingSet.All;
    private static readonly RnnMode[] Modes = Enum.GetValues<RnnMode>();

    private static void Covered(string item, Func<RecordingConfig, bool> predicate) =>
        Assert.True(Set.Any(predicate), $"no recorded configuration covers: {item}");

    // The recording set covers the types recorded on cuDNN so far; the 16-bit types get their own set with their engines.
    private static readonly RnnDataType[] RecordedTypes = [RnnDataType.Float32, RnnDataType.Float64];

    [Fact]
    public void Every_mode_direction_and_layout_in_float64()
    {
        foreach (var mode in Modes)
            foreach (var dir in Enum.GetValues<RnnDirection>())
                foreach (var layout in Enum.GetValues<RnnDataLayout>())
                    Covered($"{mode} {dir} {layout} float64", c => c.Rnn.Mode == mode && c.Rnn.Direction == dir && c.XDesc.Layout == layout
                        && c.Rnn.DataType == RnnDataType.Float64 && c.Rnn.BiasMode == RnnBiasMode.Double && c.Rnn.InputMode == RnnInputMode.Linear);
    }

    [Fact]
    public void Every_mode_in_float32_and_float64_with_variable_lengths_in_every_layout()
    {
        foreach (var mode in Modes)
            foreach (var dt in RecordedTypes)
                foreach (var layout in Enum.GetValues<RnnDataLayout>())
                    Covered($"{mode} {dt} {layout} variable lengths", c => c.Rnn.Mode == mode && c.Rnn.DataType == dt && c.XDesc.Layout == layout && !c.EqualLengths);
    }

    [Fact]
    public void One_two_and_three_layers_for_every_mode()
    {
        foreach (var mode in Modes)
            for (int layers = 1; layers <= 3; layers++)
                Covered($"{mode} with {layers} layers", c => c.Rnn.Mode == mode && c.Rnn.NumLayers == layers);
    }

    [Fact]
    public void Every_layout_with_equal_and_with_variable_lengths_and_unsorted_lengths_unpacked()
    {
        foreach (var layout in Enum.GetValues<RnnDataLayout>())
        {
            Covered($"{layout}, equal lengths", c => c.XDesc.Layout == layout && c.EqualLengths);
            Covered($"{layout}, variable lengths", c => c.XDesc.Layout == layout && !c.EqualLengths);
        }
        foreach (var layout in new[] { RnnDataLayout.SeqMajorUnpacked, RnnDataLayout.BatchMajorUnpacked })
            Covered($"{layout}, lengths not in descending order", c => c.XDesc.Layout == layout
                && c.XDesc.SeqLengthArray.Zip(c.XDesc.SeqLengthArray.Skip(1)).Any(p => p.First < p.Second));
    }

    [Fact]
    public void Every_bias_mode_for_every_mode()
    {
        foreach (var mode in Modes)
            foreach (var bias in Enum.GetValues<RnnBiasMode>())
                Covered($"{mode} bias {bias}", c => c.Rnn.Mode == mode && c.Rnn.BiasMode == bias);
    }

    [Fact]
    public void Skip_input_for_every_mode_projection_and_clipping_in_both_types()
    {
        foreach (var mode in Modes)
            Covered($"{mode} skip input", c => c.Rnn.Mode == mode && c.Rnn.InputMode == RnnInputMode.Skip);
        foreach (var dt in RecordedTypes)
        {
            foreach (var dir in Enum.GetValues<RnnDirection>())
                Covered($"LSTM projection {dir} {dt}", c => c.Rnn.HasProjection && c.Rnn.Direction == dir && c.Rnn.DataType == dt);
            Covered($"LSTM cell clipping {dt}", c => c.Rnn.CellClip is not null && c.Rnn.DataType == dt);
        }
        Covered("projection with clipping", c => c.Rnn.HasProjection && c.Rnn.CellClip is not null);
        Covered("projection with 3 layers", c => c.Rnn.HasProjection && c.Rnn.NumLayers == 3);
    }

    /// <summary>Both algorithms on identical configurations: each persistent-eligible one recorded as chosen and forced STANDARD.</summary>
    [Fact]
    public void Persistent_and_standard_algorithms_on_the_same_configurations_for_every_mode_and_direction()
    {
        foreach (var mode in Modes)
            foreach (var dir in Enum.GetValues<RnnDirection>())
            {
                var persistent = Set.Where(c => c.Rnn.Mode == mode && c.Rnn.Direction == dir && c.ExpectsPersistent).ToList();
                Assert.True(persistent.Count > 0, $"no persistent-algorithm configuration for {mode} {dir}");
                Assert.All(persistent, p => Assert.Contains(Set, c => c.Algorithm == RecordingAlgorithm.Standard && c.Rnn.Equals(p.Rnn)
                    && c.XDesc.Equals(p.XDesc) && c.Seed != p.Seed));
            }
    }

    [Fact]
    public void Nvidia_sample_configuration_at_reduced_size_for_every_mode()
    {
        foreach (var mode in Modes)
            Covered($"NVIDIA sample {mode}", c => c.Fill == RecordingFill.NvidiaSample && c.Rnn.Mode == mode && c.Rnn.NumLayers == 2
                && c.Rnn.InputSize == c.Rnn.HiddenSize && c.Rnn.DataType == RnnDataType.Float32 && c.XDesc.Layout == RnnDataLayout.SeqMajorPacked
                && c.EqualLengths && c.Rnn.BiasMode == RnnBiasMode.Double && c.Rnn.InputMode == RnnInputMode.Linear
                && c.Algorithm == RecordingAlgorithm.Standard);
    }

    [Fact]
    public void Names_are_unique_and_file_safe_and_the_set_stays_at_its_size()
    {
        Assert.Equal(Set.Count, Set.Select(c => c.Name).Distinct().Count());
        Assert.All(Set, c => Assert.Matches("^[a-z0-9.-]+$", c.Name));
        Assert.True(Set.Count >= 80, $"the set has {Set.Count} configurations; it had 80 when the coverage above was declared");
    }

    /// <summary>
    /// Clipping is exercised, not just configured: the stored cell state stays unclipped (RnnCellClip: c is clipped where it
    /// is read), so some recorded cy beyond each bound shows the clip acts on both sides at the last step.
    /// </summary>
    [Fact]
    public void Clip_configurations_really_clip()
    {
        foreach (var entry in CpuDryRun.Manifest.Configs.Where(c => c.ClipMin is not null))
        {
            var cy = RecordingTensorFile.Read(Path.Combine(CpuDryRun.Folder, entry.File))["cy"].Values;
            var clip = entry.ToDescriptor().CellClip!.Value;
            Assert.True(cy.Any(v => v > clip.EffectiveMax) && cy.Any(v => v < clip.EffectiveMin),
                $"{entry.Name}: no cy element beyond a clip bound ({clip.EffectiveMin}, {clip.EffectiveMax}); cy = [{string.Join(", ", cy.Select(v => v.ToString("G4")))}]");
        }
    }
}
