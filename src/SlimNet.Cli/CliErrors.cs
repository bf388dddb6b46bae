using SlimNet.Compression.Recipes;
using SlimNet.Format;
using SlimNet.Training.Checkpoints;
using SlimNet.Training.Data;
using SlimNet.Training.Trainer;

namespace SlimNet.Cli;

/// <summary>A mistake in what the user asked for (bad option value, missing file); exit code 2.</summary>
public sealed class UserInputException(string message) : Exception(message);

/// <summary>
/// Exit codes of <c>slimnet</c> and the mapping from exceptions to them. Every failure prints exactly one line
/// <c>error: …</c> on stderr (set SLIMNET_DEBUG=1 to also get the stack trace).
/// </summary>
public static class ExitCodes
{
    /// <summary>Success.</summary>
    public const int Ok = 0;
    /// <summary>The work ran but failed (training diverged, a check did not pass).</summary>
    public const int Failed = 1;
    /// <summary>Bad input: usage, options, data, checkpoint, model or recipe files.</summary>
    public const int BadInput = 2;
    /// <summary>An internal error (a bug): please report it.</summary>
    public const int Internal = 3;

    /// <summary>Runs a command body and turns exceptions into one error line and an exit code.</summary>
    public static int Guard(Func<int> body)
    {
        try
        {
            return body();
        }
        catch (Exception e)
        {
            var (code, message) = Classify(e);
            Console.Error.WriteLine($"error: {message}");
            if (Environment.GetEnvironmentVariable("SLIMNET_DEBUG") == "1") Console.Error.WriteLine(e);
            return code;
        }
    }

    /// <summary>The exit code and one-line message for an exception.</summary>
    public static (int Code, string Message) Classify(Exception e) => e switch
    {
        UserInputException or DatasetException or CheckpointException or RecipeException or SlimFormatException
            or FileNotFoundException or DirectoryNotFoundException or UnauthorizedAccessException => (BadInput, OneLine(e.Message)),
        ArgumentException when e.GetType() == typeof(ArgumentException) => (BadInput, OneLine(e.Message)),
        TrainingDivergedException => (Failed, OneLine(e.Message)),
        IOException => (BadInput, OneLine(e.Message)),
        _ => (Internal, $"internal error ({e.GetType().Name}): {OneLine(e.Message)}"),
    };

    private static string OneLine(string s) => s.ReplaceLineEndings(" ").Trim();
}
