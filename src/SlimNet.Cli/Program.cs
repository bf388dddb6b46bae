namespace SlimNet.Cli;

/// <summary>Entry point of the <c>slimnet</c> command.</summary>
public static class Program
{
    /// <summary>Runs the command line and returns the process exit code.</summary>
    public static int Main(string[] args)
    {
        // Under mpirun, Open MPI connects each rank's stdout to a pseudo-terminal, so .NET would start it with
        // terminal set-up sequences (keypad mode) that corrupt --json output. Ranks are never interactive.
        if (Environment.GetEnvironmentVariable("OMPI_COMM_WORLD_SIZE") is not null) Environment.SetEnvironmentVariable("TERM", "dumb");
        return SlimNetCommandLine.Run(args);
    }
}
