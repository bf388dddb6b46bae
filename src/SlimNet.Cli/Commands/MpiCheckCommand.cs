using System.CommandLine;
using SlimNet.Distributed;

namespace SlimNet.Cli.Commands;

/// <summary>
/// <c>slimnet mpi-check</c>: under <c>mpirun</c>, runs every call of the MPI binding across the ranks with values
/// each rank can predict and checks the results (broadcast, allreduce, allgather, allgatherv on bytes, floats and
/// doubles; an invalid call must come back as an error, not abort). Exit code 1 when a result is wrong.
/// </summary>
public static class MpiCheckCommand
{
    /// <summary>Creates the command.</summary>
    public static Command Create()
    {
        var json = CommonOptions.Json();
        var cmd = new Command("mpi-check", "Check the MPI binding across the ranks (run as 'mpirun -np N slimnet mpi-check')") { json };
        cmd.SetAction(parse => ExitCodes.Guard(() =>
        {
            var output = new CliOutput(parse.GetValue(json));
            MpiCommunicator world;
            try { world = MpiCommunicator.InitializeWorld(); }
            catch (MpiException e) { throw new UserInputException(e.Message); }
            int rank = world.Rank, size = world.Size;
            var failures = new List<string>();
            void Expect(bool ok, string what) { if (!ok) failures.Add($"rank {rank}: {what}"); }

            world.Barrier();
            var bytes = new byte[5];
            if (rank == size - 1) for (int i = 0; i < bytes.Length; i++) bytes[i] = (byte)(200 + i);
            world.Broadcast(bytes, size - 1);
            Expect(bytes.Select((b, i) => b == 200 + i).All(x => x), "broadcast of bytes from the last rank");

            var floats = Enumerable.Range(0, 7).Select(i => rank == 0 ? i * 0.5f : -1f).ToArray();
            world.Broadcast(floats, 0);
            Expect(floats.Select((f, i) => f == i * 0.5f).All(x => x), "broadcast of floats from rank 0");

            var sum = Enumerable.Range(0, 9).Select(i => (float)(rank + 1) * i).ToArray();
            world.AllReduceSum(sum);
            float ranks = size * (size + 1) / 2f;
            Expect(sum.Select((f, i) => f == ranks * i).All(x => x), "allreduce sum of floats");

            Span<double> dsum = [rank + 0.25, 1e300 / size];
            world.AllReduceSum(dsum);
            Expect(dsum[0] == size * (size - 1) / 2.0 + 0.25 * size && Math.Abs(dsum[1] - 1e300) < 1e288, "allreduce sum of doubles");

            var mine = new[] { (byte)rank, (byte)(rank * 3), (byte)255 };
            var all = new byte[3 * size];
            world.AllGather(mine, all);
            Expect(Enumerable.Range(0, size).All(r => all[3 * r] == r && all[3 * r + 1] == (byte)(3 * r) && all[3 * r + 2] == 255), "allgather of bytes");

            var fmine = new[] { rank * 1.5f, -rank };
            var fall = new float[2 * size];
            world.AllGather(fmine, fall);
            Expect(Enumerable.Range(0, size).All(r => fall[2 * r] == r * 1.5f && fall[2 * r + 1] == -r), "allgather of floats");

            // Rank r sends r + 1 values (r, r, …): different counts per rank.
            var counts = Enumerable.Range(0, size).Select(r => r + 1).ToArray();
            var vsend = Enumerable.Repeat((float)rank, rank + 1).ToArray();
            var vall = new float[counts.Sum()];
            world.AllGatherV(vsend, vall, counts);
            var expected = Enumerable.Range(0, size).SelectMany(r => Enumerable.Repeat((float)r, r + 1));
            Expect(vall.SequenceEqual(expected), "allgatherv of floats with per-rank counts");
            var bsend = Enumerable.Repeat((byte)(rank + 10), rank + 1).ToArray();
            var ball = new byte[counts.Sum()];
            world.AllGatherV(bsend, ball, counts);
            Expect(ball.SequenceEqual(Enumerable.Range(0, size).SelectMany(r => Enumerable.Repeat((byte)(r + 10), r + 1))), "allgatherv of bytes");

            // An unknown root is rejected by the binding; an invalid count reaches MPI, which must return an error code
            // (MPI_ERRORS_RETURN) that becomes an MpiException, instead of aborting the job.
            bool threw = false;
            try { world.Broadcast(bytes, size); }
            catch (ArgumentOutOfRangeException) { threw = true; }
            Expect(threw, "an invalid root is rejected");
            string? mpiError = world.ProbeErrorHandler()?.Message;
            Expect(mpiError is not null && mpiError.Contains("MPI_Bcast"), "an invalid count comes back from MPI as MpiException");

            world.Barrier();
            var failed = new float[] { failures.Count };
            world.AllReduceSum(failed);
            foreach (var f in failures) Console.Error.WriteLine($"mpi-check: {f}");
            if (rank == 0)
                output.Result(new { ranks = size, failures = (int)failed[0], bytes_sent_rank0 = world.BytesSent, mpi_error_example = mpiError },
                    c => c.MarkupLine(failed[0] == 0 ? $"[green]ok[/]: every MPI call gave the expected result on {size} rank(s)" : $"[red]{failed[0]} check(s) failed[/]"));
            world.Dispose();
            return failed[0] == 0 ? ExitCodes.Ok : ExitCodes.Failed;
        }));
        return cmd;
    }
}
