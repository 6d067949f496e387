namespace CudnnRnn.OpenCL;

// Lengths per call: the schedule is re-set for each call's lengths (no allocation), and the index tables the kernels read
// (row slots, batch order, previous rows per direction) are re-uploaded when the lengths change. The uploads are
// non-blocking clEnqueueWriteBuffer calls on the plan's in-order queue, so the kernels of the call see them; their host
// source is a set of pinned arrays the plan owns, which are not written again before the writes have completed. Calls do
// not wait for the queue: the plan takes a ticket from the engine after the uploads, and the next change of lengths waits
// (clFinish) only when no synchronising call of the engine has covered that ticket since (a read of the results has).
internal sealed partial class OpenClPlan<T>
{
    private int _N;                               // packed rows of the current call's lengths
    private readonly HostTables _hostTables;
    private bool _tablesUploaded;                 // the device tables hold the schedule's current lengths
    private bool _writesPending;                  // table writes enqueued and not yet known to be complete
    private long _uploadTicket;                   // the engine's ticket of the last of them

    /// <summary>Pinned host copies of the index tables (the source of the non-blocking writes), sized for the shape.</summary>
    private sealed class HostTables(int maxRows, int batch, int directions)
    {
        public readonly int[] Slot = GC.AllocateUninitializedArray<int>(Math.Max(maxRows, 1), pinned: true);
        public readonly int[] Perm = GC.AllocateUninitializedArray<int>(Math.Max(batch, 1), pinned: true);
        public readonly int[][] Prev = MakePrev(maxRows, directions);

        private static int[][] MakePrev(int rows, int directions)
        {
            var a = new int[directions][];
            for (int d = 0; d < directions; d++) a[d] = GC.AllocateUninitializedArray<int>(Math.Max(rows, 1), pinned: true);
            return a;
        }
    }

    /// <summary>Sets the schedule and, when the lengths changed, enqueues the table uploads (RnnPlan checked the shape).</summary>
    private void UseLengths(RnnDataDescriptor xDesc)
    {
        if (_tablesUploaded && _sched.HasLengths(xDesc)) return;
        WaitForTableWrites();
        _tablesUploaded = false;
        _sched.SetLengths(xDesc);
        _N = _sched.Rows;
        var h = _hostTables;
        _sched.RowSlots.CopyTo(h.Slot);
        _sched.BatchOrder.CopyTo(h.Perm);
        Upload(_slot, h.Slot, _N);
        Upload(_perm, h.Perm, _B);
        for (int d = 0; d < _D; d++)
        {
            _sched.FillPreviousRows(d, h.Prev[d]);
            Upload(_prevSrc[d], h.Prev[d], _N);
        }
        _tablesUploaded = true;
    }

    /// <summary>A non-blocking write of the first <paramref name="count"/> entries of a pinned array.</summary>
    private unsafe void Upload(Interop.SafeClMem mem, int[] pinnedSource, int count)
    {
        if (count == 0) return;
        _writesPending = true;
        fixed (int* p = pinnedSource)   // the array lives on the pinned heap: the address stays valid after this block
            OpenClException.ThrowIfFailed(_engine.Api.EnqueueWriteBuffer(_engine.Queue, mem.DangerousGetHandle(), false,
                0, (nuint)((long)count * sizeof(int)), p, 0, null, null));
        _uploadTicket = _engine.TakeTicket();
        _engine.CountHostTransfer();
    }

    /// <summary>Before the host tables are written again (or freed): wait for their last upload, unless a synchronising
    /// call of the engine since then already has.</summary>
    private void WaitForTableWrites()
    {
        if (!_writesPending || _engine.IsDisposed) return;
        if (!_engine.IsComplete(_uploadTicket)) _engine.Finish();
        _writesPending = false;
    }
}
