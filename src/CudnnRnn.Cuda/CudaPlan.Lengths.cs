using CudnnRnn.Interop;

namespace CudnnRnn.Cuda;

// Lengths per call (written against NVIDIA's contract, API.md §5.4 and §8; run only where a GPU is lent).
//
// * cudnnSetRNNDataDescriptor is a host-side call: a call whose lengths differ from the previous call's re-sets the
//   plan's x and y data descriptors in place.
// * cudnnGetRNNTempSpaceSizes takes the x data descriptor, so its sizes may depend on the lengths, and "the RNN temporary
//   buffer sizes are not monotonic" in the data dimensions (API.md §8). The plan allocates what the worst case of its
//   shape needs (every length = maxSeqLength), and a call with new lengths queries the sizes again (host-side, as
//   PyTorch does per call) and refuses, before any work, lengths that would need more than the plan holds.
// * The device copy of the lengths is written with cudaMemcpyAsync from a pinned slot on the engine's stream. A slot is
//   reused only after the copy that read it has run: each slot has an event recorded after its copy; cudaEventQuery
//   tells without blocking, and only when every slot is still in flight (the host 32 length changes ahead of the GPU)
//   does cudaEventSynchronize wait (counted as a synchronizing call). The device buffer itself needs no guard: the stream orders its writes after earlier readers.
public sealed unsafe partial class CudaPlan<T>
{
    private readonly LengthRing _lengthRing;
    private readonly int[] _currentLengths;   // the lengths the data descriptors and the device copy hold
    private bool _lengthsSet;
    private SafeCudnnRNNDescriptor? _checkedDesc;   // the RNN descriptor the temp-space sizes were checked with for them

    /// <summary>
    /// Re-sets the data descriptors and the device lengths for a call whose lengths differ from the last call's, and returns
    /// the RNN descriptor (algorithm) a call with these lengths runs (<see cref="DescriptorFor"/>), its sizes checked.
    /// </summary>
    private SafeCudnnRNNDescriptor UseLengths(RnnDataDescriptor xDesc)
    {
        var desc = DescriptorFor(xDesc);
        ReadOnlySpan<int> lengths = xDesc.SeqLengths;
        if (_lengthsSet && lengths.SequenceEqual(_currentLengths))
        {
            if (!ReferenceEquals(desc, _checkedDesc)) { CheckTempSpace(xDesc, desc); _checkedDesc = desc; }
            return desc;
        }
        _lengthsSet = false;
        _checkedDesc = null;
        SetDataDescriptor(_xDesc, _dataType, xDesc, xDesc.VectorSize);
        SetDataDescriptor(_yDesc, _dataType, xDesc, Rnn.OutputSize);
        CheckTempSpace(xDesc, desc);
        _lengthRing.CopyToDevice(lengths, _devSeqLengths, _engine.Stream);
        lengths.CopyTo(_currentLengths);
        _lengthsSet = true;
        _checkedDesc = desc;
        return desc;
    }

    /// <summary>The sizes cuDNN reports for these lengths must fit in what the plan allocated for the worst case.</summary>
    private void CheckTempSpace(RnnDataDescriptor xDesc, SafeCudnnRNNDescriptor desc)
    {
        CudnnException.ThrowIfFailed(Cudnn.cudnnGetRNNTempSpaceSizes(_engine.CudnnHandle, desc,
            cudnnForwardMode_t.CUDNN_FWD_MODE_TRAINING, _xDesc, out nuint work, out nuint reserve));
        CudnnException.ThrowIfFailed(Cudnn.cudnnGetRNNTempSpaceSizes(_engine.CudnnHandle, desc,
            cudnnForwardMode_t.CUDNN_FWD_MODE_INFERENCE, _xDesc, out nuint workInference, out _));
        if (work > _workBytes || workInference > _workBytes || reserve > _reserveBytes)
            throw new NotSupportedException(
                $"cuDNN needs {Math.Max(work, workInference)} workspace and {reserve} reserve bytes for lengths [{string.Join(",", xDesc.SeqLengthArray)}], " +
                $"more than this plan allocated for the worst case of its shape ({_workBytes} and {_reserveBytes} bytes; API.md §8: sizes are not monotonic). " +
                "Create a plan for these lengths (an engine with its own plan per lengths) instead.");
    }

    /// <summary>Pinned host slots for the lengths, each with the event of the copy that last read it.</summary>
    private sealed class LengthRing : IDisposable
    {
        // How many length changes the host may queue ahead of the GPU before it waits. Small kernels run longer on the
        // GPU than the host takes to queue them, so a shallow ring (4 before) made the host wait after a few steps of a
        // training loop whose lengths change every batch; 32 slots of batch ints are a few KiB of pinned memory.
        private const int Slots = 32;
        private readonly int _batch;
        private readonly SafeCudaHostMemory _pinned;
        private readonly SafeCudaEvent[] _events = new SafeCudaEvent[Slots];
        private readonly bool[] _recorded = new bool[Slots];
        private int _next;

        public LengthRing(int batch)
        {
            _batch = batch;
            _pinned = SafeCudaHostMemory.Allocate((nuint)Slots * (nuint)batch * sizeof(int));
            try
            {
                for (int i = 0; i < Slots; i++) _events[i] = SafeCudaEvent.Create();
            }
            catch
            {
                Dispose();
                throw;
            }
        }

        /// <summary>Writes <paramref name="lengths"/> into the next free slot and enqueues its copy to <paramref name="device"/>.</summary>
        public void CopyToDevice(ReadOnlySpan<int> lengths, SafeCudaDeviceMemory device, SafeCudaStream stream)
        {
            int slot = _next;
            _next = (_next + 1) % Slots;
            var ev = _events[slot];
            if (_recorded[slot])
            {
                var q = Cudart.cudaEventQuery(ev);
                if (q == cudaError_t.cudaErrorNotReady)
                {
                    // Every slot is still in flight (32 length changes queued ahead of the GPU): wait for this one.
                    CudaHandleDiagnostics.RecordSynchronizingCall();
                    CudaException.ThrowIfFailed(Cudart.cudaEventSynchronize(ev));
                }
                else CudaException.ThrowIfFailed(q);
            }
            int* host = (int*)_pinned.DangerousGetHandle() + (long)slot * _batch;
            lengths.CopyTo(new Span<int>(host, _batch));
            _recorded[slot] = false;
            CudaException.ThrowIfFailed(Cudart.cudaMemcpyAsync((void*)device.DangerousGetHandle(), host,
                (nuint)_batch * sizeof(int), cudaMemcpyKind.cudaMemcpyHostToDevice, stream));
            CudaException.ThrowIfFailed(Cudart.cudaEventRecord(ev, stream));
            _recorded[slot] = true;
        }

        public void Dispose()
        {
            foreach (var e in _events) e?.Dispose();
            _pinned.Dispose();
        }
    }
}
