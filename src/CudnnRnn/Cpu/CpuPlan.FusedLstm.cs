namespace CudnnRnn.Cpu;

// The fused float LSTM path (no clipping; backward also without projection), on AVX-512: see LstmFused.
internal sealed partial class CpuPlan<T>
{
    /// <summary>
    /// One time step of the fused LSTM path (float, no clipping), split into row blocks that run on the pool: a block does
    /// its rows' recurrent GEMM and cell (forward), or cell and dh_{t-1} GEMM (backward). A row's values depend on its
    /// own row only and the GEMM's bits never depend on the tiling, so the split changes nothing in the results; it puts
    /// the otherwise serial cell work on every thread and needs one barrier per step instead of a GEMM barrier plus a
    /// serial cell pass. Inside a per-direction job (both directions already busy) the blocks run inline.
    /// Pointers are pinned by the caller for the duration of <see cref="Run"/>.
    /// </summary>
    private sealed unsafe class FusedStepJob(CpuPlan<T> plan, int direction) : TileJob
    {
        public bool Backward;
        public int Layer, Step, NCont, PrevRow0, FirstStart, Ldh, RowsPerBlock;
        public float* Gates, Aux, Out, Cx, M, HPrev, DOut, Dhy, Dcy, Dhx, Dcx;

        protected override void RunTile(int k)
        {
            int n = plan._sched.BatchSize(Step), i0 = k * RowsPerBlock, i1 = Math.Min(n, i0 + RowsPerBlock);
            if (i0 >= i1) return;
            if (Backward) plan.FusedBackwardRows(this, direction, i0, i1);
            else plan.FusedForwardRows(this, direction, i0, i1);
        }

        /// <summary>Runs the step: on the pool when it is worth a barrier and free, else inline (same bits either way).</summary>
        public void Run()
        {
            int n = plan._sched.BatchSize(Step);
            // Worth splitting: at least a micro-panel (8 rows) per thread and ~1 MFLOP of recurrent GEMM.
            int blocks = plan._threads > 1 && 2L * n * plan._gh * plan._state >= 1 << 20 ? Math.Min(plan._threads, n / 8) : 1;
            blocks = Math.Max(blocks, 1);
            RowsPerBlock = (n + blocks - 1) / blocks;
            if (blocks > 1) RowsPerBlock = (RowsPerBlock + 7) / 8 * 8;
            if (blocks > 1 && GemmPool.TryRun(this, blocks, plan._threads)) return;
            for (int k = 0; k < blocks; k++) RunTile(k);
        }
    }

    /// <summary>
    /// Step t of direction d with the fused float LSTM kernel: h_{t-1}·R^T onto the gate rows, then the cell with
    /// c_{t-1} read in place from the saved cell states (or cx, or zeros where a sequence starts), c_t into aux, h_t
    /// straight into the layer output (or m into <paramref name="m"/> for the projection).
    /// </summary>
    private unsafe void FusedLstmForwardStep(int l, int d, int t, int nCont, int prevRow0, ReadOnlySpan<T> hPrev, int ldh,
        Span<T> gates, Span<T> aux, Span<T> outp, ReadOnlySpan<T> cx, Span<T> m)
    {
        fixed (T* pg = gates)
        fixed (T* pa = aux)
        fixed (T* po = outp)
        fixed (T* pcx = cx)
        fixed (T* pm = m)
        fixed (T* ph = hPrev)
        {
            var job = _stepJobs[d];
            job.Backward = false; job.Layer = l; job.Step = t; job.NCont = nCont; job.PrevRow0 = prevRow0; job.Ldh = ldh;
            job.Gates = AsFloat(pg); job.Aux = AsFloat(pa); job.Out = AsFloat(po); job.Cx = AsFloat(pcx); job.M = AsFloat(pm);
            job.HPrev = AsFloat(ph);
            job.Run();
        }
    }

    private unsafe void FusedForwardRows(FusedStepJob j, int d, int i0, int i1)
    {
        int t = j.Step, r0 = _sched.RowOffset(t), rows = i1 - i0, H = _hidden, GH = _gh, O = _output, S = _state, pl = j.Layer * _dirs + d;
        Gemm.Multiply(false, rows, new ReadOnlySpan<T>(j.HPrev + (long)i0 * j.Ldh, (rows - 1) * j.Ldh + S), j.Ldh,
            _scratch[d].PackedR, new Span<T>(j.Gates + (long)(r0 + i0) * GH, rows * GH), GH, accumulate: true, maxThreads: 1);
        bool proj = Rnn.HasProjection;
        float* g = j.Gates, c = j.Aux, cx = j.Cx;
        for (int i = i0; i < i1; i++)
        {
            int row = r0 + i;
            float* cPrev = i < j.NCont ? c + (long)(j.PrevRow0 + i) * H : cx == null ? null : cx + (long)(pl * _batch + _sched.BatchIndex(i)) * H;
            float* h = proj ? j.M + (long)i * H : j.Out + (long)row * O + d * S;
            LstmFused.Forward(g + (long)row * GH, cPrev, c + (long)row * H, h, H);
        }
    }

    /// <summary>
    /// <see cref="BackwardDirection"/> for LSTM without clipping or projection, with the fused float kernel: dL/dh_t is
    /// summed inside the kernel (carry + output gradient), c_{t−1} is read in place, and the step's dh_{t−1} GEMM writes
    /// straight into the carry buffer (rows that do not continue are routed to dhx from there).
    /// </summary>
    private unsafe void FusedLstmBackward(int l, int d, ReadOnlySpan<T> dOut, Span<T> gates, Span<T> aux,
        ReadOnlySpan<T> dhy, Span<T> dhx, ReadOnlySpan<T> cx, ReadOnlySpan<T> dcy, Span<T> dcx)
    {
        var job = _stepJobs[d];
        fixed (T* pg = gates)
        fixed (T* pa = aux)
        fixed (T* pdy = dOut)
        fixed (T* pcx = cx)
        fixed (T* pdhy = dhy)
        fixed (T* pdcy = dcy)
        fixed (T* pdhx = dhx)
        fixed (T* pdcx = dcx)
        {
            job.Backward = true; job.Layer = l;
            job.Gates = AsFloat(pg); job.Aux = AsFloat(pa); job.DOut = AsFloat(pdy); job.Cx = AsFloat(pcx);
            job.Dhy = AsFloat(pdhy); job.Dcy = AsFloat(pdcy); job.Dhx = AsFloat(pdhx); job.Dcx = AsFloat(pdcx);
            for (int step = _seqLength - 1; step >= 0; step--)
            {
                int t = _sched.StepAt(d, step);
                if (_sched.BatchSize(t) == 0) continue;
                job.Step = t;
                job.NCont = _sched.ContinuingRows(d, t);
                job.PrevRow0 = _sched.PreviousRowOffset(d, t);
                // Rows whose backward pass starts here take dhy/dcy; the others carry dh/dc from the step processed before.
                job.FirstStart = _sched.FirstFinalRow(d, t);
                job.Run();
            }
        }
    }

    /// <summary>Rows i0..i1 of one backward step: the cell, then dh_{t-1} = dG·R straight into the carry buffer.</summary>
    private unsafe void FusedBackwardRows(FusedStepJob j, int d, int i0, int i1)
    {
        var sc = _scratch[d];
        int t = j.Step, r0 = _sched.RowOffset(t), rows = i1 - i0, H = _hidden, GH = _gh, O = _output, S = _state, pl = j.Layer * _dirs + d;
        fixed (T* pdhT = sc.Dh)
        fixed (T* pdcT = sc.Dc)
        {
            float* dh = AsFloat(pdhT), dc = AsFloat(pdcT), g = j.Gates, c = j.Aux;
            for (int i = Math.Max(i0, j.FirstStart); i < i1; i++)
            {
                var dst = new Span<float>(dh + (long)i * S, S);
                if (j.Dhy != null) new ReadOnlySpan<float>(j.Dhy + (long)(pl * _batch + _sched.BatchIndex(i)) * S, S).CopyTo(dst);
                else dst.Clear();
                new Span<float>(dc + (long)i * H, H).Clear();
            }
            for (int i = i0; i < i1; i++)
            {
                int row = r0 + i;
                float* cPrev = i < j.NCont ? c + (long)(j.PrevRow0 + i) * H : j.Cx == null ? null : j.Cx + (long)(pl * _batch + _sched.BatchIndex(i)) * H;
                float* dcyRow = i >= j.FirstStart && j.Dcy != null ? j.Dcy + (long)(pl * _batch + _sched.BatchIndex(i)) * H : null;
                LstmFused.Backward(g + (long)row * GH, c + (long)row * H, cPrev, dh + (long)i * S, j.DOut + (long)row * O + d * S,
                    dc + (long)i * H, dcyRow, H);
            }

            // dh_{t-1} = dG · R, straight into the carry: the kernel above has consumed it.
            Gemm.Multiply(false, rows, new ReadOnlySpan<T>(j.Gates + (long)(r0 + i0) * GH, rows * GH), GH, sc.PackedRT,
                sc.Dh.AsSpan(i0 * S, rows * S), S, accumulate: false, maxThreads: 1);

            // Rows whose previous state was hx/cx: their gradients go to dhx/dcx.
            for (int i = Math.Max(i0, j.NCont); i < i1; i++)
            {
                int b = _sched.BatchIndex(i);
                if (j.Dhx != null) new ReadOnlySpan<float>(dh + (long)i * S, S).CopyTo(new Span<float>(j.Dhx + (long)(pl * _batch + b) * S, S));
                if (j.Dcx != null) new ReadOnlySpan<float>(dc + (long)i * H, H).CopyTo(new Span<float>(j.Dcx + (long)(pl * _batch + b) * H, H));
            }
        }
    }
}
