using System.Diagnostics;

namespace SlimNet.Distributed;

/// <summary>
/// Averages the gradients of all ranks once per step (a session: it owns the wire buffers and, with error
/// feedback, each tensor's residual). The gradient is one flat float buffer holding every parameter tensor
/// one after another (<see cref="TensorLengths"/>). Rank r's gradient is the mean over its shard of
/// <c>shardCounts[r]</c> examples; the result, identical on every rank, is Σ_r (shardCounts[r]/Σ shardCounts)·g_r
/// — for fp32 exactly the gradient of the whole minibatch.
/// <list type="bullet">
/// <item>fp32: each rank scales its gradient by its weight and MPI_Allreduce sums (4 bytes per value sent).</item>
/// <item>quantized: each rank encodes every tensor (<see cref="StochasticQuantizer"/>, seed from (seed, rank, step,
/// tensor)) into one message, MPI_Allgather delivers all messages to all ranks, and each rank decodes and
/// averages them in rank order — the same float operations in the same order everywhere, so identical results.</item>
/// </list>
/// </summary>
public sealed class GradientExchange
{
    private readonly MpiCommunicator _comm;
    private readonly int[] _offsets;
    private readonly int[] _wireOffsets;
    private readonly byte[] _send = Array.Empty<byte>();
    private readonly byte[] _receive = Array.Empty<byte>();
    private readonly float[]? _residual;
    private readonly float[]? _input;
    private readonly long _seed;

    /// <summary>Prepares the exchange of tensors of the given lengths with <paramref name="codec"/>.</summary>
    public GradientExchange(MpiCommunicator communicator, GradientCodec codec, IReadOnlyList<int> tensorLengths, long seed)
    {
        _comm = communicator ?? throw new ArgumentNullException(nameof(communicator));
        Codec = codec ?? throw new ArgumentNullException(nameof(codec));
        TensorLengths = tensorLengths.ToArray();
        _offsets = new int[TensorLengths.Count + 1];
        _wireOffsets = new int[TensorLengths.Count + 1];
        for (int t = 0; t < TensorLengths.Count; t++)
        {
            if (TensorLengths[t] < 0) throw new ArgumentException($"tensor {t} has a negative length", nameof(tensorLengths));
            _offsets[t + 1] = checked(_offsets[t] + TensorLengths[t]);
            _wireOffsets[t + 1] = checked(_wireOffsets[t] + codec.WireBytes(TensorLengths[t]));
        }
        _seed = seed;
        if (codec.IsQuantized)
        {
            _send = new byte[_wireOffsets[^1]];
            _receive = new byte[checked(_send.Length * communicator.Size)];
            if (codec.ErrorFeedback)
            {
                _residual = new float[Length];
                _input = new float[Length];
            }
        }
    }

    /// <summary>The codec in use.</summary>
    public GradientCodec Codec { get; }

    /// <summary>Lengths of the parameter tensors in the flat gradient.</summary>
    public IReadOnlyList<int> TensorLengths { get; }

    /// <summary>Values in the flat gradient.</summary>
    public int Length => _offsets[^1];

    /// <summary>Bytes one rank's message takes per step (fp32: 4 × <see cref="Length"/>).</summary>
    public int MessageBytes => Codec.IsQuantized ? _send.Length : 4 * Length;

    /// <summary>Seconds spent in MPI calls so far.</summary>
    public double CommunicationSeconds { get; private set; }

    /// <summary>Seconds spent encoding and decoding so far.</summary>
    public double CodecSeconds { get; private set; }

    /// <summary>Steps exchanged so far.</summary>
    public long Steps { get; private set; }

    /// <summary>
    /// Replaces <paramref name="gradient"/> (this rank's flat gradient) by the weighted average over ranks.
    /// <paramref name="shardCounts"/> has one entry per rank (examples each rank used this step; a rank with 0
    /// contributes nothing); <paramref name="step"/> seeds the stochastic rounding together with the rank.
    /// </summary>
    public void Average(Span<float> gradient, ReadOnlySpan<int> shardCounts, long step)
    {
        if (gradient.Length != Length) throw new ArgumentException($"gradient has {gradient.Length} values, expected {Length}", nameof(gradient));
        if (shardCounts.Length != _comm.Size) throw new ArgumentException($"shardCounts has {shardCounts.Length} entries, expected {_comm.Size}", nameof(shardCounts));
        long total = 0;
        foreach (int c in shardCounts) total += c >= 0 ? c : throw new ArgumentException("negative shard count", nameof(shardCounts));
        if (total == 0) throw new ArgumentException("no rank has examples this step", nameof(shardCounts));
        Steps++;
        var clock = Stopwatch.StartNew();
        if (!Codec.IsQuantized)
        {
            float w = (float)(shardCounts[_comm.Rank] / (double)total);
            if (w != 1f) foreach (ref float v in gradient) v *= w;
            CodecSeconds += clock.Elapsed.TotalSeconds;
            clock.Restart();
            _comm.AllReduceSum(gradient);
            CommunicationSeconds += clock.Elapsed.TotalSeconds;
            return;
        }

        ReadOnlySpan<float> source = gradient;
        if (_residual is not null)
        {
            for (int i = 0; i < Length; i++) _input![i] = gradient[i] + _residual[i];
            source = _input;
        }
        for (int t = 0; t < TensorLengths.Count; t++)
        {
            var values = source.Slice(_offsets[t], TensorLengths[t]);
            var wire = _send.AsSpan(_wireOffsets[t], _wireOffsets[t + 1] - _wireOffsets[t]);
            ulong seed = Derive(_seed, _comm.Rank, step, t);
            if (_residual is null) StochasticQuantizer.Encode(values, Codec, seed, wire);
            else
            {
                var decoded = _residual.AsSpan(_offsets[t], TensorLengths[t]);
                StochasticQuantizer.Encode(values, Codec, seed, wire, decoded);
                for (int i = 0; i < values.Length; i++) decoded[i] = values[i] - decoded[i];
            }
        }
        double encodeSeconds = clock.Elapsed.TotalSeconds;
        clock.Restart();
        _comm.AllGather(_send, _receive);
        CommunicationSeconds += clock.Elapsed.TotalSeconds;
        clock.Restart();
        gradient.Clear();
        for (int r = 0; r < _comm.Size; r++)
        {
            if (shardCounts[r] == 0) continue;
            float w = (float)(shardCounts[r] / (double)total);
            var message = _receive.AsSpan(r * _send.Length, _send.Length);
            for (int t = 0; t < TensorLengths.Count; t++)
                StochasticQuantizer.DecodeAdd(message.Slice(_wireOffsets[t], _wireOffsets[t + 1] - _wireOffsets[t]), Codec, w,
                    gradient.Slice(_offsets[t], TensorLengths[t]));
        }
        CodecSeconds += encodeSeconds + clock.Elapsed.TotalSeconds;
    }

    /// <summary>A well-mixed 64-bit seed from (seed, rank, step, tensor) — SplitMix64 finalizer over each part in turn.</summary>
    public static ulong Derive(long seed, int rank, long step, int tensor)
    {
        ulong h = Mix(unchecked((ulong)seed));
        h = Mix(h ^ unchecked((ulong)rank * 0x9E3779B97F4A7C15UL));
        h = Mix(h ^ unchecked((ulong)step * 0xC2B2AE3D27D4EB4FUL));
        return Mix(h ^ unchecked((ulong)tensor * 0x165667B19E3779F9UL));
    }

    private static ulong Mix(ulong z)
    {
        z = unchecked((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL + 0x9E3779B97F4A7C15UL);
        z = unchecked((z ^ (z >> 27)) * 0x94D049BB133111EBUL);
        return z ^ (z >> 31);
    }
}
