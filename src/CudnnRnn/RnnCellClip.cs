namespace CudnnRnn;

/// <summary>
/// LSTM cell clipping (cuDNN <c>cudnnRNNSetClip_v8/_v9</c> with <c>CUDNN_RNN_CLIP_MINMAX</c>).
/// </summary>
/// <remarks>
/// Where exactly cuDNN clips is NOT FOUND in NVIDIA's wording (../shared/cudnn/API.md §7.8, §12.3). This library follows
/// the only concrete description available, an UNVERIFIED third-party claim ([VG]): the cell state is clipped where it is
/// read, i.e. <c>c_t = f ⊙ clip(c_{t-1}) + i ⊙ g</c> (cx clipped too) and <c>h_t = o ⊙ tanh(clip(c_t))</c>, while the
/// stored c_t and cy stay unclipped. The gradient of clip is 1 strictly inside [min, max] and at the bounds, 0 outside.
/// This needs a GPU check against real cuDNN.
/// </remarks>
/// <param name="Min">Lower bound (lclip).</param>
/// <param name="Max">Upper bound (rclip), at least <paramref name="Min"/>.</param>
/// <param name="Nan">NaN policy (cuDNN 8 <c>clipNanOpt</c>; cuDNN 9's <c>_v9</c> has no such option).</param>
public readonly record struct RnnCellClip(double Min, double Max, ClipNanMode Nan = ClipNanMode.Propagate);
