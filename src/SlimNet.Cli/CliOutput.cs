using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;
using Spectre.Console;

namespace SlimNet.Cli;

/// <summary>
/// Where a command's results go: machine-readable JSON on stdout (snake_case keys) with <c>--json</c>, otherwise
/// human output through Spectre.Console. Progress and notes go to stderr in JSON mode so stdout stays parseable.
/// </summary>
public sealed class CliOutput
{
    private static readonly JsonSerializerOptions JsonOptions = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DictionaryKeyPolicy = JsonNamingPolicy.SnakeCaseLower,
        WriteIndented = true,
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    /// <summary>Creates the output for one command invocation.</summary>
    public CliOutput(bool json)
    {
        Json = json;
        Console.OutputEncoding = System.Text.Encoding.UTF8;
        Human = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Out = new AnsiConsoleOutput(Silent ? TextWriter.Null : json ? Console.Error : Console.Out),
        });
        // Written to a file or a pipe there is no terminal width: keep lines whole (a markdown table or a log line cut at
        // 80 columns cannot be pasted or grepped) instead of Spectre's default of 80.
        if (json ? Console.IsErrorRedirected : Console.IsOutputRedirected) Human.Profile.Width = 1000;
    }

    /// <summary>Set on MPI ranks other than 0: results, notes and progress are dropped (errors still reach stderr).</summary>
    public static bool Silent { get; set; }

    /// <summary>Whether results are written as JSON.</summary>
    public bool Json { get; }

    /// <summary>The console for human output (stderr in JSON mode).</summary>
    public IAnsiConsole Human { get; }

    /// <summary>True when a live progress bar can be drawn (an interactive terminal, not JSON, not CI).</summary>
    public bool Interactive => !Silent && !Json && !Console.IsOutputRedirected && Environment.GetEnvironmentVariable("CI") is null
        && Human.Profile.Capabilities.Interactive;

    /// <summary>Writes <paramref name="result"/> as JSON (JSON mode) or calls <paramref name="human"/>.</summary>
    public void Result(object result, Action<IAnsiConsole> human)
    {
        if (Silent) return;
        if (Json) Console.Out.WriteLine(ToJson(result));
        else human(Human);
    }

    /// <summary>A line of information (stdout for humans, stderr in JSON mode). Markup is escaped.</summary>
    public void Info(string line)
    {
        if (!Silent) Human.MarkupLine(Markup.Escape(line));
    }

    /// <summary>Serialises with the CLI's JSON conventions.</summary>
    public static string ToJson(object value) => value is JsonNode node ? node.ToJsonString(JsonOptions) : JsonSerializer.Serialize(value, value.GetType(), JsonOptions);
}
