namespace SlimNet.Cli.Reports;

/// <summary>Checks and creates the output folders of report commands before any work starts (files inside are
/// written with <see cref="SlimNet.Format.AtomicFile"/>).</summary>
public static class OutputFolder
{
    /// <summary>
    /// Makes sure <paramref name="directory"/> exists (creating it, but not its parent) and is writable, before any work
    /// starts; <paramref name="option"/> names the option in the error.
    /// </summary>
    /// <exception cref="UserInputException">The parent folder is missing, the path is a file, or the folder cannot be written.</exception>
    public static void Prepare(string directory, string option)
    {
        string full = Path.GetFullPath(directory);
        if (File.Exists(full)) throw new UserInputException($"{option} {directory}: is a file, expected a folder");
        string parent = Path.GetDirectoryName(full.TrimEnd(Path.DirectorySeparatorChar)) ?? full;
        if (!Directory.Exists(full) && !Directory.Exists(parent))
            throw new UserInputException($"{option} {directory}: folder '{parent}' does not exist");
        try
        {
            Directory.CreateDirectory(full);
            string probe = Path.Combine(full, $".slimnet-write-test-{Environment.ProcessId}");
            File.WriteAllBytes(probe, Array.Empty<byte>());
            File.Delete(probe);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new UserInputException($"{option} {directory}: cannot write there: {e.Message}");
        }
    }
}
