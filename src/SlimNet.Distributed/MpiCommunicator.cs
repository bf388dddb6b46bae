namespace SlimNet.Distributed;

/// <summary>
/// MPI_COMM_WORLD of Open MPI through a thin P/Invoke binding (a session: one per process). Collectives on byte,
/// float and double buffers; the communicator's error handler is MPI_ERRORS_RETURN, so a failing call throws
/// <see cref="MpiException"/> instead of aborting the process. Every rank must make the same collective calls
/// in the same order with matching sizes, as MPI requires.
/// </summary>
/// <remarks>
/// <para>Traffic accounting (<see cref="BytesSent"/>): the payload bytes this rank hands to MPI — the whole
/// buffer for an allreduce, the send buffer for an allgather(v), the buffer for a broadcast on the root (0 on
/// the others), 0 for a barrier. That is what a codec controls; what the transport moves on the wire depends on
/// its algorithm, so <see cref="RingModelBytesSent"/> adds the bytes a rank sends under the textbook ring
/// algorithms (allreduce 2(N−1)/N·S, allgather (N−1)·S, broadcast S on the root), a model, not a measurement.</para>
/// <para>Lifetime: <see cref="InitializeWorld"/> calls MPI_Init_thread once per process; <see cref="Dispose"/>
/// calls MPI_Finalize (MPI cannot be initialised again in that process).</para>
/// </remarks>
public sealed unsafe class MpiCommunicator : IDisposable
{
    private static MpiCommunicator? _world;
    private static readonly object Gate = new();
    private readonly MpiLibrary.Api _api;
    private bool _finalized;

    private MpiCommunicator(MpiLibrary.Api api, int rank, int size)
    {
        _api = api;
        Rank = rank;
        Size = size;
    }

    /// <summary>This process's rank in MPI_COMM_WORLD, from 0.</summary>
    public int Rank { get; }

    /// <summary>Number of ranks in MPI_COMM_WORLD.</summary>
    public int Size { get; }

    /// <summary>Whether this is rank 0 (the one that writes checkpoints, logs and progress).</summary>
    public bool IsRoot => Rank == 0;

    /// <summary>Payload bytes this rank has handed to MPI collectives so far (see remarks).</summary>
    public long BytesSent { get; private set; }

    /// <summary>Bytes this rank sends under the ring model of each collective (see remarks).</summary>
    public double RingModelBytesSent { get; private set; }

    /// <summary>Collective calls made so far.</summary>
    public long Calls { get; private set; }

    /// <summary>
    /// Initialises MPI (MPI_Init_thread, MPI_THREAD_SERIALIZED) on first call and returns the world communicator
    /// with MPI_ERRORS_RETURN set; later calls return the same object. Without mpirun the process is a
    /// singleton (size 1).
    /// </summary>
    /// <exception cref="MpiException">Open MPI cannot be loaded or initialised, or was already finalised.</exception>
    public static MpiCommunicator InitializeWorld()
    {
        lock (Gate)
        {
            if (_world is not null)
            {
                if (_world._finalized) throw new MpiException("MPI was already finalized in this process");
                return _world;
            }
            var api = MpiLibrary.Get();
            int flag = 0;
            MpiLibrary.Check(api.Initialized(&flag), "MPI_Initialized");
            if (flag == 0)
            {
                int finalized = 0;
                MpiLibrary.Check(api.Finalized(&finalized), "MPI_Finalized");
                if (finalized != 0) throw new MpiException("MPI was already finalized in this process");
                int provided = 0;
                int code = api.InitThread(null, IntPtr.Zero, MpiLibrary.ThreadSerialized, &provided);
                if (code != MpiLibrary.Success) throw new MpiException($"MPI_Init_thread failed (MPI error {code})", code);
            }
            MpiLibrary.Check(api.CommSetErrhandler(api.CommWorld, api.ErrorsReturn), "MPI_Comm_set_errhandler");
            int rank = 0, size = 0;
            MpiLibrary.Check(api.CommRank(api.CommWorld, &rank), "MPI_Comm_rank");
            MpiLibrary.Check(api.CommSize(api.CommWorld, &size), "MPI_Comm_size");
            return _world = new MpiCommunicator(api, rank, size);
        }
    }

    /// <summary>True when this process was started by Open MPI's mpirun/mpiexec (its environment says so).</summary>
    public static bool LaunchedByMpirun =>
        Environment.GetEnvironmentVariable("OMPI_COMM_WORLD_SIZE") is not null || Environment.GetEnvironmentVariable("PMIX_RANK") is not null;

    /// <summary>Waits until every rank has called it (MPI_Barrier).</summary>
    public void Barrier()
    {
        CheckOpen();
        Calls++;
        MpiLibrary.Check(_api.Barrier(_api.CommWorld), "MPI_Barrier");
    }

    /// <summary>Copies <paramref name="buffer"/> of rank <paramref name="root"/> into every rank's buffer (MPI_Bcast, bytes).</summary>
    public void Broadcast(Span<byte> buffer, int root) => Broadcast<byte>(buffer, root, _api.Byte, "MPI_Bcast");

    /// <summary>Copies <paramref name="buffer"/> of rank <paramref name="root"/> into every rank's buffer (MPI_Bcast, float).</summary>
    public void Broadcast(Span<float> buffer, int root) => Broadcast<float>(buffer, root, _api.Float, "MPI_Bcast");

    /// <summary>Copies <paramref name="buffer"/> of rank <paramref name="root"/> into every rank's buffer (MPI_Bcast, double).</summary>
    public void Broadcast(Span<double> buffer, int root) => Broadcast<double>(buffer, root, _api.Double, "MPI_Bcast");

    /// <summary>Replaces <paramref name="buffer"/> on every rank by the element-wise sum over ranks (MPI_Allreduce, MPI_SUM, in place, float).</summary>
    public void AllReduceSum(Span<float> buffer) => AllReduceSum<float>(buffer, _api.Float);

    /// <summary>Replaces <paramref name="buffer"/> on every rank by the element-wise sum over ranks (MPI_Allreduce, MPI_SUM, in place, double).</summary>
    public void AllReduceSum(Span<double> buffer) => AllReduceSum<double>(buffer, _api.Double);

    /// <summary>Gathers equal-sized blocks: rank r's <paramref name="send"/> lands at <c>receive[r·send.Length ..]</c> on every rank (MPI_Allgather, bytes).</summary>
    public void AllGather(ReadOnlySpan<byte> send, Span<byte> receive) => AllGather<byte>(send, receive, _api.Byte);

    /// <summary>Gathers equal-sized blocks: rank r's <paramref name="send"/> lands at <c>receive[r·send.Length ..]</c> on every rank (MPI_Allgather, float).</summary>
    public void AllGather(ReadOnlySpan<float> send, Span<float> receive) => AllGather<float>(send, receive, _api.Float);

    /// <summary>
    /// Gathers blocks of different sizes (MPI_Allgatherv, bytes): rank r sends <c>counts[r]</c> elements, which land
    /// one after another in rank order in <paramref name="receive"/> on every rank.
    /// </summary>
    public void AllGatherV(ReadOnlySpan<byte> send, Span<byte> receive, ReadOnlySpan<int> counts) => AllGatherV<byte>(send, receive, counts, _api.Byte);

    /// <summary>
    /// Gathers blocks of different sizes (MPI_Allgatherv, float): rank r sends <c>counts[r]</c> elements, which land
    /// one after another in rank order in <paramref name="receive"/> on every rank.
    /// </summary>
    public void AllGatherV(ReadOnlySpan<float> send, Span<float> receive, ReadOnlySpan<int> counts) => AllGatherV<float>(send, receive, counts, _api.Float);

    /// <summary>
    /// Makes one invalid MPI call (MPI_Bcast with count −1, which MPI rejects before any communication) and returns
    /// the <see cref="MpiException"/> it produced, or null if MPI accepted it. A diagnostic: with MPI_ERRORS_RETURN in
    /// effect the call returns an error code instead of aborting the job.
    /// </summary>
    public MpiException? ProbeErrorHandler()
    {
        CheckOpen();
        byte b = 0;
        try
        {
            MpiLibrary.Check(_api.Bcast(&b, -1, _api.Byte, 0, _api.CommWorld), "MPI_Bcast");
            return null;
        }
        catch (MpiException e)
        {
            return e;
        }
    }

    /// <summary>
    /// Ends every rank of the job (MPI_Abort on MPI_COMM_WORLD with <paramref name="errorCode"/>); mpirun then exits
    /// with a non-zero code. Used when one rank fails, so the others do not wait forever in a collective.
    /// </summary>
    public void Abort(int errorCode)
    {
        if (_finalized) Environment.Exit(errorCode);
        Console.Out.Flush();
        Console.Error.Flush();
        _api.Abort(_api.CommWorld, errorCode);
    }

    /// <summary>Calls MPI_Finalize (once). Every rank must do it before exiting normally.</summary>
    public void Dispose()
    {
        lock (Gate)
        {
            if (_finalized) return;
            _finalized = true;
            MpiLibrary.Check(_api.Finalize(), "MPI_Finalize");
        }
    }

    private void Broadcast<T>(Span<T> buffer, int root, IntPtr type, string call) where T : unmanaged
    {
        CheckOpen();
        if ((uint)root >= (uint)Size) throw new ArgumentOutOfRangeException(nameof(root), $"root {root} is not a rank (size {Size})");
        Count(Rank == root ? (long)buffer.Length * sizeof(T) : 0, Rank == root ? (double)buffer.Length * sizeof(T) : 0);
        fixed (T* p = buffer) MpiLibrary.Check(_api.Bcast(p, buffer.Length, type, root, _api.CommWorld), call);
    }

    private void AllReduceSum<T>(Span<T> buffer, IntPtr type) where T : unmanaged
    {
        CheckOpen();
        long bytes = (long)buffer.Length * sizeof(T);
        Count(bytes, 2.0 * (Size - 1) / Size * bytes);
        fixed (T* p = buffer) MpiLibrary.Check(_api.Allreduce((void*)MpiLibrary.InPlace, p, buffer.Length, type, _api.OpSum, _api.CommWorld), "MPI_Allreduce");
    }

    private void AllGather<T>(ReadOnlySpan<T> send, Span<T> receive, IntPtr type) where T : unmanaged
    {
        CheckOpen();
        if (receive.Length != (long)send.Length * Size)
            throw new ArgumentException($"receive buffer holds {receive.Length} elements, expected {Size} × {send.Length}", nameof(receive));
        long bytes = (long)send.Length * sizeof(T);
        Count(bytes, (double)(Size - 1) * bytes);
        fixed (T* s = send)
        fixed (T* r = receive)
            MpiLibrary.Check(_api.Allgather(s, send.Length, type, r, send.Length, type, _api.CommWorld), "MPI_Allgather");
    }

    private void AllGatherV<T>(ReadOnlySpan<T> send, Span<T> receive, ReadOnlySpan<int> counts, IntPtr type) where T : unmanaged
    {
        CheckOpen();
        if (counts.Length != Size) throw new ArgumentException($"counts has {counts.Length} entries, expected one per rank ({Size})", nameof(counts));
        if (counts[Rank] != send.Length) throw new ArgumentException($"counts[{Rank}] = {counts[Rank]} but this rank sends {send.Length} elements", nameof(counts));
        var displacements = new int[Size];
        long total = 0;
        for (int r = 0; r < Size; r++)
        {
            if (counts[r] < 0) throw new ArgumentException($"counts[{r}] is negative", nameof(counts));
            displacements[r] = checked((int)total);
            total += counts[r];
        }
        if (receive.Length != total) throw new ArgumentException($"receive buffer holds {receive.Length} elements, expected {total}", nameof(receive));
        long bytes = (long)send.Length * sizeof(T);
        Count(bytes, (double)(Size - 1) * bytes);
        fixed (T* s = send)
        fixed (T* r = receive)
        fixed (int* c = counts)
        fixed (int* d = displacements)
            MpiLibrary.Check(_api.Allgatherv(s, send.Length, type, r, c, d, type, _api.CommWorld), "MPI_Allgatherv");
    }

    private void Count(long bytes, double ringBytes)
    {
        Calls++;
        BytesSent += bytes;
        RingModelBytesSent += ringBytes;
    }

    private void CheckOpen()
    {
        if (_finalized) throw new MpiException("MPI was already finalized in this process");
    }
}
