namespace SlimNet.Compression.Hooks;

/// <summary>
/// A hook session whose state must survive a checkpoint so that a resumed run equals an uninterrupted one
/// (importance accumulators, frozen masks and values). The trainer stores <see cref="SaveState"/> in the checkpoint's
/// extra section under <c>{StateKey}/{name}</c> and, when resuming, hands the same arrays back to
/// <see cref="LoadState"/> before <see cref="ITrainingHooks.OnTrainingStart"/>.
/// </summary>
public interface ICheckpointedHooks
{
    /// <summary>Prefix of this session's arrays in a checkpoint; unique among the sessions of one run (no '/').</summary>
    string StateKey { get; }

    /// <summary>The session's state as plain float arrays (names without the prefix).</summary>
    IReadOnlyList<HookStateArray> SaveState();

    /// <summary>Restores what <see cref="SaveState"/> gave; throws <see cref="InvalidOperationException"/> naming the problem when it does not fit.</summary>
    void LoadState(IReadOnlyList<HookStateArray> state);
}

/// <summary>One array of a session's checkpointed state.</summary>
/// <param name="Name">Name within the session (e.g. <c>fc1.weight</c>).</param>
/// <param name="Shape">Dimensions.</param>
/// <param name="Values">Row-major float32 values.</param>
public sealed record HookStateArray(string Name, long[] Shape, float[] Values)
{
    /// <summary>A non-negative count stored exactly in two float32 values (high and low 24-bit halves).</summary>
    public static HookStateArray Count(string name, long count) =>
        new(name, [2], [(float)(count >> 24), (float)(count & 0xFFFFFF)]);

    /// <summary>The count of an array made by <see cref="Count"/>.</summary>
    public long AsCount() =>
        Values.Length == 2 && Values[0] >= 0 && Values[1] >= 0 && Values[1] < (1 << 24)
            ? ((long)Values[0] << 24) + (long)Values[1]
            : throw new InvalidOperationException($"state '{Name}' is not a count");
}
