using System.CommandLine;
using SlimNet.Distributed;
using SlimNet.Training.Distributed;

namespace SlimNet.Cli;

/// <summary>
/// The options <c>--distributed</c>, <c>--grad-codec</c> and <c>--weight-checksums</c> shared by <c>train</c> and
/// <c>compress</c>, and the frame of a data-parallel job: MPI is initialised before the command body runs, ranks
/// other than 0 print nothing on stdout, and a failure on any rank ends the whole job (MPI_Abort) after its
/// one-line error, so no rank waits forever in a collective.
/// </summary>
public sealed class DistributedJob
{
    /// <summary><c>--distributed</c>.</summary>
    public Option<bool> Distributed { get; } = new("--distributed")
    {
        Description = "Data-parallel training over MPI: start with 'mpirun -np N slimnet ...'; each rank trains on its shard of every minibatch",
    };

    /// <summary><c>--grad-codec</c>.</summary>
    public Option<string?> Codec { get; } = new("--grad-codec")
    {
        Description = "How ranks exchange gradients with --distributed: fp32 (allreduce, default) or qM[-clip][-ef], M in 2..8 (e.g. q8, q4, q3, q2, q2-clip)",
    };

    /// <summary><c>--weight-checksums DIR</c>.</summary>
    public Option<string?> Checksums { get; } = new("--weight-checksums")
    {
        Description = "With --distributed: every rank writes 'step crc32' of its weights after every step to DIR/rank-R.txt (a diagnostic)",
    };

    /// <summary><c>--step-timeout SECONDS</c>.</summary>
    public Option<double?> StepTimeout { get; } = new("--step-timeout")
    {
        Description = "With --distributed: a rank whose training step takes longer than this many seconds (e.g. because another rank hangs) ends the job with an error",
    };

    /// <summary>Adds the options to <paramref name="command"/>.</summary>
    public void AddTo(Command command)
    {
        command.Add(StepTimeout);
        command.Add(Distributed);
        command.Add(Codec);
        command.Add(Checksums);
    }

    /// <summary>
    /// Runs <paramref name="body"/> (which returns an exit code and reports its own errors, see
    /// <see cref="ExitCodes.Guard"/>) alone, or as one rank of a data-parallel job when <c>--distributed</c> is given.
    /// </summary>
    public int Run(ParseResult parse, int seed, Func<DataParallel?, int> body)
    {
        bool distributed = parse.GetValue(Distributed);
        string? codecName = parse.GetValue(Codec);
        string? checksums = parse.GetValue(Checksums);
        double? timeout = parse.GetValue(StepTimeout);
        if (!distributed)
        {
            if (codecName is not null || checksums is not null || timeout is not null)
                return ExitCodes.Guard(() => throw new UserInputException(
                    $"{(codecName is not null ? "--grad-codec" : checksums is not null ? "--weight-checksums" : "--step-timeout")} needs --distributed"));
            return body(null);
        }
        GradientCodec codec;
        MpiCommunicator world;
        if (timeout is { } t && !(t > 0 && double.IsFinite(t)))
            return ExitCodes.Guard(() => throw new UserInputException($"--step-timeout must be a positive number of seconds, got {t}"));
        try
        {
            codec = codecName is null ? GradientCodec.Fp32 : GradientCodec.Parse(codecName);
            world = MpiCommunicator.InitializeWorld();
        }
        catch (Exception e) when (e is ArgumentException or MpiException)
        {
            return ExitCodes.Guard(() => throw new UserInputException(e is MpiException ? $"--distributed: {e.Message}" : $"--grad-codec: {e.Message}"));
        }
        CliOutput.Silent = !world.IsRoot;
        int code;
        using (var parallel = new DataParallel(world, codec, seed, checksums))
        {
            if (timeout is { } seconds) parallel.StartWatchdog(TimeSpan.FromSeconds(seconds));
            code = body(parallel);
        }
        if (code != ExitCodes.Ok)
        {
            Console.Error.WriteLine($"error: rank {world.Rank} of {world.Size} failed (exit code {code}); ending the whole job");
            world.Abort(code);
        }
        world.Dispose();
        return code;
    }
}
