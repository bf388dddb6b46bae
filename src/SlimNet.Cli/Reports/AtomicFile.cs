using System.Text;

namespace SlimNet.Cli.Reports;

/// <summary>
/// Writes report files atomically: the bytes go to a hidden temporary file in the target's folder, which is flushed
/// and renamed over the target, so a reader (or a crash) never sees a half-written CSV, Markdown file or PNG.
/// </summary>
public static class AtomicFile
{
    /// <summary>Writes <paramref name="bytes"/> to <paramref name="path"/> atomically.</summary>
    public static void WriteAllBytes(string path, ReadOnlySpan<byte> bytes)
    {
        string full = Path.GetFullPath(path);
        string dir = Path.GetDirectoryName(full) ?? ".";
        string tmp = Path.Combine(dir, "." + Path.GetFileName(full) + "." + Guid.NewGuid().ToString("N") + ".tmp");
        try
        {
            using (var fs = new FileStream(tmp, FileMode.CreateNew, FileAccess.Write, FileShare.None))
            {
                fs.Write(bytes);
                fs.Flush(flushToDisk: true);
            }
            File.Move(tmp, full, overwrite: true);
        }
        catch
        {
            try { File.Delete(tmp); } catch (IOException) { } catch (UnauthorizedAccessException) { }
            throw;
        }
    }

    /// <summary>Writes <paramref name="text"/> as UTF-8 (no BOM) to <paramref name="path"/> atomically.</summary>
    public static void WriteAllText(string path, string text) => WriteAllBytes(path, new UTF8Encoding(false).GetBytes(text));

    /// <summary>
    /// Makes sure <paramref name="directory"/> exists (creating it, but not its parent) and is writable, before any work
    /// starts; <paramref name="option"/> names the option in the error.
    /// </summary>
    /// <exception cref="UserInputException">The parent folder is missing, the path is a file, or the folder cannot be written.</exception>
    public static void PrepareOutputFolder(string directory, string option)
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
