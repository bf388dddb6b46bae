namespace SlimNet.Cli;

/// <summary>Entry point of the <c>slimnet</c> command.</summary>
public static class Program
{
    /// <summary>Runs the command line and returns the process exit code.</summary>
    public static int Main(string[] args) => SlimNetCommandLine.Run(args);
}
