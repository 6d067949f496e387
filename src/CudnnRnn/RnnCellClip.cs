namespace CudnnRnn;

/// <summary>
/// LSTM cell clipping (cuDNN <c>cudnnRNNSetClip_v8/_v9</c> with <c>CUDNN_RNN_CLIP_MINMAX</c>).
/// </summary>
/// <remarks>
/// <para>
/// Where exactly cuDNN clips is NOT FOUND in NVIDIA's wording. This library follows
/// the only concrete description available ([VG]): the cell state is clipped where it is read, i.e.
/// <c>c_t = f ⊙ clip(c_{t-1}) + i ⊙ g</c> (cx clipped too) and <c>h_t = o ⊙ tanh(clip(c_t))</c>, while the stored c_t and
/// cy stay unclipped. The gradient of clip is 1 strictly inside [min, max] and at the bounds, 0 outside.
/// </para>
/// <para>
/// Checked against cuDNN 9.19 by the CUDA tests' cell-clipping parity test: the CPU engine and
/// cuDNN agree to float64 rounding on 2-layer LSTMs, one and two directions, with and without projection, on a range
/// tight enough that every step clips. cuDNN applies the bounds rounded to float32 even for float64 data (with
/// min = -0.15 the engines differed by ~6e-9 = |(float)-0.15 + 0.15| until the CPU engine rounded it too), so every engine
/// uses <see cref="EffectiveMin"/> and <see cref="EffectiveMax"/>. The NaN policy of cuDNN 9 (whose <c>_v9</c> call has
/// no NaN option) was not exercised.
/// </para>
/// </remarks>
/// <param name="Min">Lower bound (lclip).</param>
/// <param name="Max">Upper bound (rclip), at least <paramref name="Min"/>.</param>
/// <param name="Nan">NaN policy (cuDNN 8 <c>clipNanOpt</c>; cuDNN 9's <c>_v9</c> has no such option).</param>
public readonly record struct RnnCellClip(double Min, double Max, ClipNanMode Nan = ClipNanMode.Propagate)
{
    /// <summary>The lower bound as the engines apply it: <see cref="Min"/> rounded to float32, as cuDNN does.</summary>
    public double EffectiveMin => (float)Min;

    /// <summary>The upper bound as the engines apply it: <see cref="Max"/> rounded to float32, as cuDNN does.</summary>
    public double EffectiveMax => (float)Max;
}
