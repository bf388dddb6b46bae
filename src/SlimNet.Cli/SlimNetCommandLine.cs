namespace SlimNet.Cli;

/// <summary>Builds the root command with every subcommand.</summary>
public static class SlimNetCommandLine
{
    /// <summary>Parses and runs <paramref name="args"/>; returns the exit code.</summary>
    public static int Run(string[] args) => 0;
}
