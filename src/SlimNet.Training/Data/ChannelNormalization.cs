namespace SlimNet.Training.Data;

/// <summary>
/// Per-channel input normalisation: a pixel byte p of channel c becomes (p / 255 − Mean[c]) / Std[c].
/// Mean and Std are in units of the [0, 1]-scaled pixel, as in torchvision's <c>Normalize</c>.
/// </summary>
/// <remarks>
/// The standard constants below are the widely published training-set statistics; they match what
/// <see cref="Dataset.ComputeNormalization"/> gives on the full training splits (MNIST to 4 digits), so
/// results are comparable with published recipes. A dataset given by folder (e.g. Fashion-MNIST) uses
/// statistics computed from its own training split.
/// </remarks>
public sealed record ChannelNormalization
{
    /// <summary>Creates the normalisation; both arrays have one entry per channel, every Std &gt; 0.</summary>
    /// <exception cref="ArgumentException">Lengths differ, are zero, or a Std is not positive.</exception>
    public ChannelNormalization(float[] mean, float[] std)
    {
        ArgumentNullException.ThrowIfNull(mean);
        ArgumentNullException.ThrowIfNull(std);
        if (mean.Length == 0 || mean.Length != std.Length)
            throw new ArgumentException($"mean has {mean.Length} channels and std {std.Length}; they must agree and be non-zero");
        foreach (var s in std)
            if (!(s > 0) || float.IsInfinity(s)) throw new ArgumentException($"std {s} must be positive and finite", nameof(std));
        Mean = (float[])mean.Clone();
        Std = (float[])std.Clone();
    }

    /// <summary>Mean per channel, in [0, 1] pixel units.</summary>
    public float[] Mean { get; }

    /// <summary>Standard deviation per channel, in [0, 1] pixel units.</summary>
    public float[] Std { get; }

    /// <summary>Number of channels.</summary>
    public int Channels => Mean.Length;

    /// <summary>MNIST training set: mean 0.1307, std 0.3081.</summary>
    public static ChannelNormalization Mnist { get; } = new([0.1307f], [0.3081f]);

    /// <summary>CIFAR-10 training set: mean (0.4914, 0.4822, 0.4465), std (0.2470, 0.2435, 0.2616).</summary>
    public static ChannelNormalization Cifar10 { get; } = new([0.4914f, 0.4822f, 0.4465f], [0.2470f, 0.2435f, 0.2616f]);

    /// <summary>CIFAR-100 training set: mean (0.5071, 0.4865, 0.4409), std (0.2673, 0.2564, 0.2762).</summary>
    public static ChannelNormalization Cifar100 { get; } = new([0.5071f, 0.4865f, 0.4409f], [0.2673f, 0.2564f, 0.2762f]);

    /// <summary>No centring: pixels are only scaled to [0, 1] (mean 0, std 1 for each of <paramref name="channels"/>).</summary>
    public static ChannelNormalization Identity(int channels)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(channels);
        var mean = new float[channels];
        var std = new float[channels];
        Array.Fill(std, 1f);
        return new ChannelNormalization(mean, std);
    }

    /// <summary>
    /// The normalised value of every byte for each channel: entry [c × 256 + p]. The loader maps pixels
    /// through this table, so normalisation is one load per pixel.
    /// </summary>
    public float[] BuildLookupTable()
    {
        var table = new float[Channels * 256];
        for (int c = 0; c < Channels; c++)
            for (int p = 0; p < 256; p++)
                table[c * 256 + p] = (p / 255f - Mean[c]) / Std[c];
        return table;
    }

    /// <inheritdoc />
    public bool Equals(ChannelNormalization? other) =>
        other is not null && Mean.AsSpan().SequenceEqual(other.Mean) && Std.AsSpan().SequenceEqual(other.Std);

    /// <inheritdoc />
    public override int GetHashCode() => HashCode.Combine(Channels, Mean[0], Std[0]);

    /// <inheritdoc />
    public override string ToString() => $"mean ({string.Join(", ", Mean)}), std ({string.Join(", ", Std)})";
}
