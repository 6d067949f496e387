// Launched by CudnnRnn.Distributed.Tests under mpirun. Prints one "key=value" line per fact on stdout, prefixed with the
// rank; the tests parse and assert them (this program asserts nothing itself).
using System.Globalization;
using CudnnRnn;
using CudnnRnn.Cpu;
using CudnnRnn.Distributed;
using CudnnRnn.Training;

var comm = MpiCommunicator.Initialize();
int rank = comm.Rank;
void Say(string key, string value) => Console.WriteLine($"R{rank} {key}={value}");
string Bits(double d) => BitConverter.DoubleToInt64Bits(d).ToString("X16", CultureInfo.InvariantCulture);
try
{
    Say("size", comm.WorldSize.ToString(CultureInfo.InvariantCulture));
    Say("local", comm.LocalRank.ToString(CultureInfo.InvariantCulture));

    // All-reduce: rank r contributes (r + 1)·(i + 1); sum and average in double and float.
    var d = Enumerable.Range(0, 5).Select(i => (double)(rank + 1) * (i + 1)).ToArray();
    comm.AllReduce<double>(d, ReduceOperation.Sum);
    Say("sum", string.Join(",", d.Select(v => v.ToString("R", CultureInfo.InvariantCulture))));
    var f = Enumerable.Range(0, 5).Select(i => (float)((rank + 1) * (i + 1))).ToArray();
    comm.AllReduce<float>(f, ReduceOperation.Average);
    Say("avg", string.Join(",", f.Select(v => v.ToString("R", CultureInfo.InvariantCulture))));

    // Broadcast: each rank initialises its tagger with a different seed; after the DDP broadcast all hold rank 0's.
    var data = SyntheticTask.Generate(16, 5);
    using var engine = CpuEngine.Create(1);
    using var tagger = Tagger<double>.Create(engine, SyntheticTask.HyperParameters(true, 8), data, TagColumn.Upos, 100 + (ulong)rank);
    double Checksum() => tagger.Parameters.Sum(p => p.Value.Select((v, i) => v * (1 + i % 7)).Sum());
    Say("before", Bits(Checksum()));
    new GradientSynchronizer<double>(tagger.Parameters, comm).BroadcastParameters();
    Say("after", Bits(Checksum()));
    // MPI_ERRORS_RETURN is set: an invalid root comes back as a status, thrown with MPI's own text.
    var h = CudnnRnn.Distributed.Native.MpiHandles.Get();
    double one = 1;
    try
    {
        unsafe { CudnnRnn.Distributed.Native.MpiException.ThrowIfFailed(CudnnRnn.Distributed.Native.Mpi.MPI_Bcast(&one, 1, h.Double, comm.WorldSize + 3, h.CommWorld)); }
        Say("error", "none");
    }
    catch (CudnnRnn.Distributed.Native.MpiException e) { Say("error", e.Message); }
    comm.Barrier();
    Say("done", "1");
    comm.Dispose();
    return 0;
}
catch (Exception e)
{
    comm.Abort(1, $"error: rank {rank} failed: {e}");
    return 1;
}
