using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using SlimNet.Distributed;
using SlimNet.Format.Codecs;
using TorchSharp;
using static TorchSharp.torch;

namespace SlimNet.Training.Distributed;

/// <summary>Traffic and time of a data-parallel run, for this rank (gradient exchange only, unless named otherwise).</summary>
/// <param name="Steps">Optimizer steps whose gradients were exchanged.</param>
/// <param name="GradientBytes">Payload bytes this rank handed to MPI for gradients (as <see cref="MpiCommunicator.BytesSent"/> counts).</param>
/// <param name="GradientRingModelBytes">The same under the ring model of the collectives.</param>
/// <param name="TotalBytes">Every payload byte this rank handed to MPI (broadcasts, statistics and gradients).</param>
/// <param name="ComputeSeconds">Step time outside the exchange (forward, backward, optimizer, hooks).</param>
/// <param name="CodecSeconds">Encoding and decoding gradients.</param>
/// <param name="CommunicationSeconds">Inside MPI calls of the exchange.</param>
public sealed record DataParallelStats(long Steps, long GradientBytes, double GradientRingModelBytes, long TotalBytes,
    double ComputeSeconds, double CodecSeconds, double CommunicationSeconds)
{
    /// <summary>Gradient payload bytes per step.</summary>
    public double GradientBytesPerStep => Steps == 0 ? 0 : (double)GradientBytes / Steps;
}

/// <summary>
/// Synchronous data-parallel training over MPI (a session, one per training run; the trainer calls it). Rank 0's
/// initial parameters and buffers are broadcast; each minibatch is split into contiguous shards, one per rank;
/// after the backward pass the gradients are averaged over ranks with the <see cref="GradientCodec"/>, so every
/// rank applies the same update and holds identical weights after every step. Float buffers (BatchNorm running
/// statistics) are averaged at every epoch end. Only rank 0 writes checkpoints, logs and progress (the trainer
/// asks <see cref="IsRoot"/>).
/// </summary>
public sealed class DataParallel : IDisposable
{
    private readonly string? _checksumDirectory;
    private StreamWriter? _checksums;
    private GradientExchange? _exchange;
    private IReadOnlyList<Tensor> _parameters = Array.Empty<Tensor>();
    private float[] _flat = Array.Empty<float>();
    private readonly Stopwatch _stepClock = new();
    private double _computeSeconds;
    private long _gradientBytes, _steps;
    private double _gradientRingBytes;

    /// <summary>Creates the session over <paramref name="communicator"/>.</summary>
    /// <param name="communicator">MPI_COMM_WORLD.</param>
    /// <param name="codec">How gradients travel.</param>
    /// <param name="seed">Seed of the stochastic rounding (mixed with rank, step and tensor).</param>
    /// <param name="checksumDirectory">When set, every rank appends <c>step crc32</c> of its parameters after every
    /// step to <c>DIR/rank-R.txt</c> (a diagnostic: the lines of all ranks must be equal).</param>
    public DataParallel(MpiCommunicator communicator, GradientCodec codec, long seed, string? checksumDirectory = null)
    {
        Communicator = communicator ?? throw new ArgumentNullException(nameof(communicator));
        Codec = codec ?? throw new ArgumentNullException(nameof(codec));
        Seed = seed;
        _checksumDirectory = checksumDirectory;
    }

    /// <summary>The world communicator.</summary>
    public MpiCommunicator Communicator { get; }
    /// <summary>The gradient codec.</summary>
    public GradientCodec Codec { get; }
    /// <summary>Seed of the stochastic rounding.</summary>
    public long Seed { get; }
    /// <summary>Gradient values exchanged per step (the trainable parameters of the last started run).</summary>
    public int GradientValues => _flat.Length;

    /// <summary>Whether this process is rank 0.</summary>
    public bool IsRoot => Communicator.IsRoot;

    /// <summary>Totals since this session was created (several training runs may share it, e.g. compress stages).</summary>
    public DataParallelStats Stats => new(_steps, _gradientBytes, _gradientRingBytes, Communicator.BytesSent, _computeSeconds,
        _exchangeCodec + (_exchange?.CodecSeconds ?? 0), _exchangeComm + (_exchange?.CommunicationSeconds ?? 0));

    private double _exchangeCodec, _exchangeComm;

    /// <summary>
    /// Starts a training run on <paramref name="module"/>: copies rank 0's parameters and float buffers to every
    /// rank and prepares the gradient exchange over its parameters (in <c>named_parameters</c> order).
    /// </summary>
    public void Start(nn.Module module)
    {
        if (_exchange is not null) { _exchangeCodec += _exchange.CodecSeconds; _exchangeComm += _exchange.CommunicationSeconds; }
        var parameters = module.named_parameters().Select(p => (Tensor)p.parameter).ToList();
        foreach (var t in parameters.Concat(FloatBuffers(module))) Communicator.Broadcast(Floats(t), 0);
        _parameters = parameters;
        _flat = new float[parameters.Sum(p => checked((int)p.numel()))];
        _exchange = new GradientExchange(Communicator, Codec, parameters.Select(p => (int)p.numel()).ToList(), Seed);
        if (_checksumDirectory is not null && _checksums is null)
        {
            Directory.CreateDirectory(_checksumDirectory);
            _checksums = new StreamWriter(Path.Combine(_checksumDirectory, $"rank-{Communicator.Rank}.txt"), append: false);
        }
    }

    /// <summary>Examples of a minibatch of <paramref name="batchCount"/> each rank trains on (contiguous shards; the first
    /// <c>batchCount mod N</c> ranks get one more).</summary>
    public int[] ShardCounts(int batchCount)
    {
        int n = Communicator.Size;
        var counts = new int[n];
        for (int r = 0; r < n; r++) counts[r] = batchCount / n + (r < batchCount % n ? 1 : 0);
        return counts;
    }

    /// <summary>This rank's shard of a minibatch of <paramref name="batchCount"/>: first index and count.</summary>
    public (int Start, int Count) Shard(int batchCount)
    {
        var counts = ShardCounts(batchCount);
        int start = 0;
        for (int r = 0; r < Communicator.Rank; r++) start += counts[r];
        return (start, counts[Communicator.Rank]);
    }

    /// <summary>Marks the start of a step (for the compute/communication split).</summary>
    public void StepStarted()
    {
        Interlocked.Exchange(ref _stepStartTicks, Stopwatch.GetTimestamp());
        _exchangeAtStepStart = ExchangeSeconds;
        _stepClock.Restart();
    }

    private double _exchangeAtStepStart;
    private double ExchangeSeconds => _exchange is null ? 0 : _exchange.CodecSeconds + _exchange.CommunicationSeconds;

    /// <summary>Replaces every parameter's gradient by its average over ranks for a minibatch of <paramref name="batchCount"/> examples.</summary>
    public void AverageGradients(int batchCount, long step)
    {
        if (_exchange is null) throw new InvalidOperationException("Start was not called");
        using var noGrad = torch.no_grad();
        int o = 0;
        foreach (var p in _parameters)
        {
            int n = (int)p.numel();
            var g = p.grad;
            if (g is null) _flat.AsSpan(o, n).Clear();
            else Floats(g).CopyTo(_flat.AsSpan(o, n));
            o += n;
        }
        long bytes = Communicator.BytesSent;
        double ring = Communicator.RingModelBytesSent;
        _exchange.Average(_flat, ShardCounts(batchCount), step);
        _gradientBytes += Communicator.BytesSent - bytes;
        _gradientRingBytes += Communicator.RingModelBytesSent - ring;
        _steps++;
        o = 0;
        foreach (var p in _parameters)
        {
            int n = (int)p.numel();
            var g = p.grad ?? throw new InvalidOperationException("a parameter has no gradient on this rank but the exchange needs one");
            _flat.AsSpan(o, n).CopyTo(Floats(g));
            o += n;
        }
    }

    /// <summary>Marks the end of a step (after the optimizer and hooks): books its time and, when asked, writes the weight checksum.</summary>
    public void StepDone(long step)
    {
        Interlocked.Exchange(ref _stepStartTicks, 0);
        _computeSeconds += _stepClock.Elapsed.TotalSeconds - (ExchangeSeconds - _exchangeAtStepStart);
        if (_checksums is not null)
        {
            uint crc = 0;
            foreach (var p in _parameters) crc = Crc32.Append(crc, MemoryMarshal.AsBytes(Floats(p)));
            _checksums.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{step} {crc:x8}"));
            _checksums.Flush();
        }
    }

    /// <summary>Sums (loss·count, correct, seen) of an epoch over ranks (float64 allreduce).</summary>
    public (double LossSum, long Correct, long Seen) SumEpochFigures(double lossSum, long correct, long seen)
    {
        Span<double> v = [lossSum, correct, seen];
        Communicator.AllReduceSum(v);
        return (v[0], (long)v[1], (long)v[2]);
    }

    /// <summary>Averages float buffers (BatchNorm running statistics) over ranks, so evaluation and checkpoints agree.</summary>
    public void AverageBuffers(nn.Module module)
    {
        using var noGrad = torch.no_grad();
        foreach (var b in FloatBuffers(module))
        {
            var span = Floats(b);
            Communicator.AllReduceSum(span);
            float inv = 1f / Communicator.Size;
            foreach (ref float v in span) v *= inv;
        }
    }

    /// <summary>
    /// Watchdog: when a step (forward, backward, gradient exchange, update) of this rank takes longer than
    /// <paramref name="timeout"/> — typically because another rank hangs and the collective never completes — the
    /// rank prints one error line and exits with code 1; mpirun then ends every other rank. Off unless started.
    /// </summary>
    public void StartWatchdog(TimeSpan timeout)
    {
        if (timeout <= TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(timeout), "the step timeout must be positive");
        _watchdog?.Dispose();
        _watchdog = new Timer(_ =>
        {
            long start = Interlocked.Read(ref _stepStartTicks);
            if (start == 0 || Stopwatch.GetElapsedTime(start) < timeout) return;
            Console.Error.WriteLine($"error: rank {Communicator.Rank} of {Communicator.Size}: a training step made no progress for " +
                                    $"{timeout.TotalSeconds:G} s (--step-timeout; another rank may hang); ending the job");
            Console.Error.Flush();
            Environment.Exit(1);
        }, null, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(1));
    }

    private long _stepStartTicks;
    private Timer? _watchdog;

    /// <summary>Stops the watchdog and closes the checksum file.</summary>
    public void Dispose()
    {
        _watchdog?.Dispose();
        _watchdog = null;
        _checksums?.Dispose();
        _checksums = null;
    }

    private static IEnumerable<Tensor> FloatBuffers(nn.Module module) =>
        module.named_buffers().Select(b => b.buffer).Where(b => b.dtype == ScalarType.Float32);

    private static Span<float> Floats(Tensor t)
    {
        if (t.dtype != ScalarType.Float32 || !t.is_contiguous() || t.device_type != DeviceType.CPU)
            throw new InvalidOperationException("data-parallel training needs contiguous float32 CPU tensors");
        return MemoryMarshal.Cast<byte, float>(t.bytes);
    }
}
