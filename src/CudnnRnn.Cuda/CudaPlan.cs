using System.Numerics;
using System.Runtime.InteropServices;
using CudnnRnn.Interop;

namespace CudnnRnn.Cuda;

/// <summary>
/// One network on one data shape on cuDNN: the RNN descriptor (with its dropout descriptor), x/y data descriptors,
/// h/c tensor descriptors, a device copy of the sequence lengths and one workspace, all created once. The plan serves
/// every set of lengths of its shape: workspace and reserve are sized for the worst case (every length = maxSeqLength),
/// and a call with other lengths re-sets the data descriptors and copies its lengths from pinned memory
/// (CudaPlan.Lengths.cs). Where the plan's own lengths qualify for a persistent algorithm it holds a second RNN
/// descriptor with it, run only by calls whose every sequence has the full length; every other call runs STANDARD
/// (persistent algorithms reject varying lengths), and workspace and reserve fit both. Forward and backward allocate nothing, synchronize nothing, and only enqueue cuDNN work on the
/// engine's stream.
/// </summary>
/// <remarks>
/// Semantics are cuDNN's own; two of them are documented only indirectly and are checked by the GPU conformance tests:
/// hy/cy of a sequence shorter than maxSeqLength (its own last valid step) and the reverse direction starting at len−1
/// (NVIDIA wording NOT FOUND), and the forward half first in bidirectional y (no NVIDIA sentence,
/// evidence only, §7.3).
/// </remarks>
public sealed unsafe partial class CudaPlan<T> : RnnPlan<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly CudaEngine _engine;
    private readonly SafeCudnnDropoutDescriptor _dropout;
    private readonly SafeCudnnRNNDescriptor _rnnDesc;          // STANDARD: every call that cannot run the persistent algorithm
    private readonly SafeCudnnRNNDescriptor? _persistentDesc;  // the plan's persistent algorithm, for full-length calls (or null)
    private readonly cudnnRNNAlgo_t _persistentAlgorithm;      // its algorithm (STANDARD when there is none)
    private bool _persistentRefused;                           // cuDNN refused it in a call before it ever ran (see ForwardCore)
    private bool _persistentRan;                               // a call ran it (then a refusal can no longer fall back)
    private readonly SafeCudnnRNNDataDescriptor _xDesc, _yDesc;
    private readonly SafeCudnnTensorDescriptor _hDesc, _cDesc;
    private readonly SafeCudaDeviceMemory _devSeqLengths;
    private readonly cudnnDataType_t _dataType;
    private readonly SafeCudaDeviceMemory _workspace;
    private readonly nuint _weightBytes, _workBytes, _reserveBytes;
    private readonly SafeHandle?[] _leases = new SafeHandle?[16];
    private int _leaseCount;
    private readonly SafeHandleLease _engineLease;

    internal CudaPlan(CudaEngine engine, RnnDescriptor rnn, RnnDataDescriptor xDesc, RnnWeightLayout layout)
        : base(engine, rnn, xDesc, layout)
    {
        _engine = engine;
        var owned = new List<IDisposable>();
        try
        {
            // Every native object below is a SafeHandle, and so is this lease on the engine: a plan that is never disposed
            // gives all of them back when the runtime finalizes them, with no finalizer on the plan itself.
            _engineLease = Own(owned, engine.Lease());
            using var scope = engine.EnterDevice();
            var (dataType, _, _) = CudnnMapping.Math(rnn.DataType);
            _dataType = dataType;

            _dropout = Own(owned, engine.CreateDropoutDescriptor(rnn.Dropout, rnn.DropoutSeed, out long stateBytes));
            DropoutStateBytes = stateBytes;
            // The sizes are queried on the worst case the shape allows (every length = maxSeqLength; see
            // CudaPlan.Lengths.cs), then the descriptors are re-set for the plan's own lengths below.
            var worst = RnnDataDescriptor.Uniform(xDesc.Layout, xDesc.MaxSeqLength, xDesc.Batch, xDesc.VectorSize);
            _xDesc = Own(owned, DataDescriptor(dataType, worst));
            _yDesc = Own(owned, DataDescriptor(dataType, worst.WithVectorSize(rnn.OutputSize)));
            _hDesc = Own(owned, StateDescriptor(dataType, CudnnMapping.StateTensor(rnn, xDesc.Batch, cell: false)));
            // cDesc is created for every mode: cuDNN ignores it for non-LSTM cells ([RC]), and a SafeHandle argument cannot be NULL.
            _cDesc = Own(owned, StateDescriptor(dataType, CudnnMapping.StateTensor(rnn, xDesc.Batch, cell: true)));

            // PADDED_IO_ENABLED for the unpacked layouts, DISABLED for packed (API.md §7.10). Two descriptors where the plan's
            // own lengths qualify for a persistent algorithm: that one for calls whose every sequence has the full length,
            // and STANDARD for calls with other lengths (a plan serves every set of lengths of its shape, and persistent
            // algorithms reject varying lengths: PyTorch #73211). Workspace and reserve fit both. A persistent descriptor
            // that cuDNN refuses here (on this GPU) is dropped before any call can fail.
            var candidate = engine.ForceStandardAlgorithm ? cudnnRNNAlgo_t.CUDNN_RNN_ALGO_STANDARD : CudnnMapping.Algorithm(rnn, xDesc, engine.DeviceTraits);
            _rnnDesc = Own(owned, CreateDescriptor(engine, rnn, cudnnRNNAlgo_t.CUDNN_RNN_ALGO_STANDARD,
                out nuint workTraining, out nuint workInference, out _reserveBytes));
            _persistentAlgorithm = cudnnRNNAlgo_t.CUDNN_RNN_ALGO_STANDARD;
            if (candidate != cudnnRNNAlgo_t.CUDNN_RNN_ALGO_STANDARD)
            {
                try
                {
                    _persistentDesc = Own(owned, CreateDescriptor(engine, rnn, candidate, out nuint pTraining, out nuint pInference, out nuint pReserve));
                    _persistentAlgorithm = candidate;
                    workTraining = Math.Max(workTraining, pTraining);
                    workInference = Math.Max(workInference, pInference);
                    _reserveBytes = Math.Max(_reserveBytes, pReserve);
                }
                catch (CudnnException) { _persistentDesc = null; }
            }

            long expected = layout.TotalElements * sizeof(T);
            foreach (var d in (ReadOnlySpan<SafeCudnnRNNDescriptor?>)[_rnnDesc, _persistentDesc])
            {
                if (d is null) continue;
                CudnnException.ThrowIfFailed(Cudnn.cudnnGetRNNWeightSpaceSize(engine.CudnnHandle, d, out _weightBytes));
                if ((long)_weightBytes != expected)
                    throw new InvalidOperationException(
                        $"cudnnGetRNNWeightSpaceSize reports {_weightBytes} bytes for this plan's descriptor, but the weight layout has {expected} " +
                        "(auxFlags/dropout/algorithm are not expected to change the weight space; this is a cuDNN behaviour we did not anticipate).");
            }
            _workBytes = Math.Max(workTraining, workInference);
            _workspace = Own(owned, engine.AllocateDevice(_workBytes));

            // Always a device copy of the lengths (API.md §10.1: whether cuDNN reads it is a disagreement between sources;
            // a device int32[batch] works on every version), written on the engine's stream from a ring of pinned slots
            // whenever a call's lengths differ from the previous call's (CudaPlan.Lengths.cs). Seen on cuDNN 9.19
            // (H100, 2026-11-23): passing NULL instead, as PyTorch does, also passed every GPU test and was no faster.
            int batch = xDesc.Batch;
            _devSeqLengths = Own(owned, engine.AllocateDevice((nuint)batch * sizeof(int)));
            _lengthRing = Own(owned, new LengthRing(batch));
            _currentLengths = new int[batch];
            UseLengths(xDesc);
        }
        catch
        {
            for (int i = owned.Count - 1; i >= 0; i--) owned[i].Dispose();
            throw;
        }
    }

    // The RNN descriptor and the sizes it implies. Backward needs the TRAINING workspace; INFERENCE may differ and sizes
    // are not monotonic (API.md §8), so the plan keeps one buffer of the larger size.
    private SafeCudnnRNNDescriptor CreateDescriptor(CudaEngine engine, RnnDescriptor rnn, cudnnRNNAlgo_t algo,
        out nuint workTraining, out nuint workInference, out nuint reserveBytes)
    {
        var desc = engine.CreateRnnDescriptor(rnn, CudnnMapping.AuxFlags(XDesc.Layout), _dropout, algo);
        try
        {
            CudnnException.ThrowIfFailed(Cudnn.cudnnGetRNNTempSpaceSizes(engine.CudnnHandle, desc,
                cudnnForwardMode_t.CUDNN_FWD_MODE_TRAINING, _xDesc, out workTraining, out reserveBytes));
            CudnnException.ThrowIfFailed(Cudnn.cudnnGetRNNTempSpaceSizes(engine.CudnnHandle, desc,
                cudnnForwardMode_t.CUDNN_FWD_MODE_INFERENCE, _xDesc, out workInference, out _));
            return desc;
        }
        catch
        {
            desc.Dispose();
            throw;
        }
    }

    private static TH Own<TH>(List<IDisposable> owned, TH h) where TH : IDisposable
    {
        owned.Add(h);
        return h;
    }

    /// <inheritdoc/>
    public override long WorkspaceBytes => (long)_workBytes;

    /// <inheritdoc/>
    public override long ReserveBytes => (long)_reserveBytes;

    /// <summary>
    /// The cuDNN algorithm a call with the plan's own lengths runs (see <see cref="CudnnMapping.Algorithm"/> for when it is
    /// not STANDARD). Calls with other lengths run <see cref="CudnnMapping.CallAlgorithm"/>'s choice: the persistent
    /// algorithm only when every sequence has the full length, else STANDARD. STANDARD when cuDNN refused the persistent one.
    /// </summary>
    public cudnnRNNAlgo_t Algorithm => _persistentDesc is null || _persistentRefused
        ? cudnnRNNAlgo_t.CUDNN_RNN_ALGO_STANDARD : CudnnMapping.CallAlgorithm(_persistentAlgorithm, XDesc);

    /// <summary>The descriptor a call with these lengths runs (see <see cref="Algorithm"/>).</summary>
    private SafeCudnnRNNDescriptor DescriptorFor(RnnDataDescriptor call) =>
        _persistentDesc is not null && !_persistentRefused
        && CudnnMapping.CallAlgorithm(_persistentAlgorithm, call) != cudnnRNNAlgo_t.CUDNN_RNN_ALGO_STANDARD
            ? _persistentDesc : _rnnDesc;

    private static bool IsNotSupported(cudnnStatus_t status) =>
        status is >= cudnnStatus_t.CUDNN_STATUS_NOT_SUPPORTED and < (cudnnStatus_t)4000;

    /// <summary>Bytes of the dropout RNG state this plan holds (0 without dropout).</summary>
    public long DropoutStateBytes { get; }

    /// <summary>cudnnGetRNNWeightSpaceSize for this plan's descriptor.</summary>
    public long WeightSpaceBytes => (long)_weightBytes;

    private SafeCudnnRNNDataDescriptor DataDescriptor(cudnnDataType_t dataType, RnnDataDescriptor d)
    {
        var desc = SafeCudnnRNNDataDescriptor.Create();
        try
        {
            SetDataDescriptor(desc, dataType, d, d.VectorSize);
            return desc;
        }
        catch
        {
            desc.Dispose();
            throw;
        }
    }

    /// <summary>cudnnSetRNNDataDescriptor (host-side) with d's layout and lengths and the given vector size.</summary>
    private static void SetDataDescriptor(SafeCudnnRNNDataDescriptor desc, cudnnDataType_t dataType, RnnDataDescriptor d, int vectorSize)
    {
        // paddingFill: a host pointer to ONE value of the data type (API.md §7.10); only read for unpacked output.
        T fill = T.CreateChecked(d.PaddingFill);
        // Packed data: cuDNN 9.19 rejects maxSeqLength > the longest sequence with BAD_PARAM "maxSeqLengthInArray !=
        // maxSeqLength" (seen on an H100, 2026-11-23; API.md does not list this rule). Packed memory holds only the
        // valid steps, so its layout does not depend on maxSeqLength: pass the longest length, which always works.
        int maxSeqLength = d.Layout == RnnDataLayout.SeqMajorPacked ? d.LongestSequence : d.MaxSeqLength;
        fixed (int* lengths = d.SeqLengths)
            CudnnException.ThrowIfFailed(Cudnn.cudnnSetRNNDataDescriptor(desc, dataType, CudnnMapping.Layout(d.Layout),
                maxSeqLength, d.Batch, vectorSize, lengths, &fill));
    }

    private static SafeCudnnTensorDescriptor StateDescriptor(cudnnDataType_t dataType, (int[] Dims, int[] Strides) shape)
    {
        var desc = SafeCudnnTensorDescriptor.Create();
        try
        {
            fixed (int* dims = shape.Dims)
            fixed (int* strides = shape.Strides)
                CudnnException.ThrowIfFailed(Cudnn.cudnnSetTensorNdDescriptor(desc, dataType, shape.Dims.Length, dims, strides));
            return desc;
        }
        catch
        {
            desc.Dispose();
            throw;
        }
    }

    /// <inheritdoc/>
    protected override bool Accepts(RnnBuffer<T> buffer) => buffer is CudaBuffer<T> && ReferenceEquals(buffer.Engine, _engine);

    /// <inheritdoc/>
    protected override RnnBuffer<T> AllocateReserveStorage() =>
        _engine.Allocate<T>(((long)_reserveBytes + sizeof(T) - 1) / sizeof(T));

    /// <inheritdoc/>
    protected override void ForwardCore(RnnForwardMode mode, RnnDataDescriptor xDesc, RnnBuffer<T> x, RnnBuffer<T> y, RnnBuffer<T>? hx, RnnBuffer<T>? hy,
        RnnBuffer<T>? cx, RnnBuffer<T>? cy, RnnBuffer<T> weights, RnnReserve<T>? reserve)
    {
        bool training = mode == RnnForwardMode.Training;
        try
        {
            using var scope = _engine.EnterDevice();
            var desc = UseLengths(xDesc);
            // INFERENCE: reserve size 0 and NULL, as PyTorch passes a 0-byte reserve (API.md §8).
            int* lengths = (int*)Lease(_devSeqLengths);
            void* px = Lease(x), py = Lease(y), phx = Lease(hx), phy = Lease(hy), pcx = Lease(cx), pcy = Lease(cy), pw = Lease(weights);
            void* pwork = Lease(_workspace), preserve = training ? Lease(reserve!.Storage) : null;
            cudnnStatus_t Run(SafeCudnnRNNDescriptor d) => Cudnn.cudnnRNNForward(_engine.CudnnHandle, d, CudnnMapping.ForwardMode(mode),
                lengths, _xDesc, px, _yDesc, py, _hDesc, phx, phy, _cDesc, pcx, pcy,
                _weightBytes, pw, _workBytes, pwork, training ? _reserveBytes : 0, preserve);
            var status = Run(desc);
            if (ReferenceEquals(desc, _persistentDesc) && IsNotSupported(status) && !_persistentRan)
            {
                // cuDNN took the persistent descriptor when the plan was made but refuses to run it (it validates some
                // combinations only per call). It never ran on this plan, so no reserve holds its layout: drop it for good
                // and run STANDARD, which workspace and reserve were sized for too.
                _persistentRefused = true;
                desc = UseLengths(xDesc);
                status = Run(desc);
            }
            CudnnException.ThrowIfFailed(status, "cudnnRNNForward");
            if (ReferenceEquals(desc, _persistentDesc)) _persistentRan = true;
        }
        finally
        {
            ReleaseLeases();
        }
    }

    /// <inheritdoc/>
    protected override void BackwardDataCore(RnnDataDescriptor xDesc, RnnBuffer<T> y, RnnBuffer<T> dy, RnnBuffer<T> dx, RnnBuffer<T>? hx, RnnBuffer<T>? dhy,
        RnnBuffer<T>? dhx, RnnBuffer<T>? cx, RnnBuffer<T>? dcy, RnnBuffer<T>? dcx, RnnBuffer<T> weights, RnnReserve<T> reserve)
    {
        // The engine contract (and the CPU reference) has dx = 0 at padded positions of unpacked layouts. Whether cuDNN
        // writes them is not documented (paddingFill applies to outputs of forward), so clear dx first: one async memset
        // on the plan's stream, no host synchronisation.
        if (xDesc.IsUnpacked && xDesc.TotalSteps < (long)xDesc.MaxSeqLength * xDesc.Batch) dx.Clear();
        try
        {
            using var scope = _engine.EnterDevice();
            // The lengths of the reserve's forward (RnnPlan checked), so the same descriptor (algorithm) as that forward.
            var desc = UseLengths(xDesc);
            ThrowIfRefused(Cudnn.cudnnRNNBackwardData_v8(_engine.CudnnHandle, desc,
                (int*)Lease(_devSeqLengths), _yDesc, Lease(y), Lease(dy), _xDesc, Lease(dx),
                _hDesc, Lease(hx), Lease(dhy), Lease(dhx), _cDesc, Lease(cx), Lease(dcy), Lease(dcx),
                _weightBytes, Lease(weights), _workBytes, Lease(_workspace), _reserveBytes, Lease(reserve.Storage)), desc, "cudnnRNNBackwardData_v8");
        }
        finally
        {
            ReleaseLeases();
        }
    }

    /// <inheritdoc/>
    protected override void BackwardWeightsCore(RnnDataDescriptor xDesc, RnnBuffer<T> x, RnnBuffer<T>? hx, RnnBuffer<T> y, RnnBuffer<T> dweights, RnnReserve<T> reserve)
    {
        try
        {
            using var scope = _engine.EnterDevice();
            var desc = UseLengths(xDesc);   // the lengths (and so the algorithm) of the reserve's forward (RnnPlan checked)
            // Always ADD: the base class has cleared dweights for Set (cuDNN's SET on 9.x is NOT VERIFIED, API.md §8).
            ThrowIfRefused(Cudnn.cudnnRNNBackwardWeights_v8(_engine.CudnnHandle, desc,
                cudnnWgradMode_t.CUDNN_WGRAD_MODE_ADD, (int*)Lease(_devSeqLengths), _xDesc, Lease(x), _hDesc, Lease(hx),
                _yDesc, Lease(y), _weightBytes, Lease(dweights), _workBytes, Lease(_workspace), _reserveBytes, Lease(reserve.Storage)),
                desc, "cudnnRNNBackwardWeights_v8");
        }
        finally
        {
            ReleaseLeases();
        }
    }

    /// <summary>
    /// A backward call must run the algorithm of the forward that filled the reserve, so a persistent descriptor refused
    /// here cannot fall back: say so plainly (the status and cuDNN's message are inside).
    /// </summary>
    private void ThrowIfRefused(cudnnStatus_t status, SafeCudnnRNNDescriptor desc, string call)
    {
        if (status == cudnnStatus_t.CUDNN_STATUS_SUCCESS) return;
        if (ReferenceEquals(desc, _persistentDesc) && IsNotSupported(status))
        {
            var inner = CudnnException.Create((int)status, call);
            throw new NotSupportedException(
                $"cuDNN ran this plan's forward with {_persistentAlgorithm} but refuses {call} with it ({inner.StatusName}). " +
                "The reserve space holds that algorithm's layout, so this backward cannot switch to STANDARD. Set " +
                "CudaEngine.ForceStandardAlgorithm = true before creating plans for this configuration.", inner);
        }
        CudnnException.ThrowIfFailed(status, call);
    }

    // Device pointers are borrowed with DangerousAddRef for the duration of one call, so a buffer disposed on another
    // thread cannot be freed under cuDNN; the slots are reused (no allocation per call).
    private void* Lease(RnnBuffer<T>? buffer) => buffer is null ? null : Lease(((CudaBuffer<T>)buffer).Memory);

    private void* Lease(SafeCudaDeviceMemory memory)
    {
        bool added = false;
        memory.DangerousAddRef(ref added);
        _leases[_leaseCount++] = memory;
        return (void*)memory.DangerousGetHandle();
    }

    private void ReleaseLeases()
    {
        for (int i = 0; i < _leaseCount; i++)
        {
            _leases[i]!.DangerousRelease();
            _leases[i] = null;
        }
        _leaseCount = 0;
    }

    /// <inheritdoc/>
    protected override void DisposeCore()
    {
        using var scope = _engine.TryEnterForRelease();
        _workspace.Dispose();
        _lengthRing.Dispose();   // cudaFreeHost waits for the copies still reading the pinned slots
        _devSeqLengths.Dispose();
        _cDesc.Dispose();
        _hDesc.Dispose();
        _yDesc.Dispose();
        _xDesc.Dispose();
        _persistentDesc?.Dispose();
        _rnnDesc.Dispose();  // releases its reference on the dropout descriptor
        _dropout.Dispose();  // releases the RNG states after the descriptor
        _engineLease.Dispose();
    }
}
