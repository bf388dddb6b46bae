using System.Text.Json;

namespace SlimNet.Training.Trainer;

/// <summary>The JSON-lines training logs (<c>FILE.jsonl</c>) of both trainers: one object per line, appended.</summary>
internal static class JsonLinesLog
{
    // A diverging evaluation can produce an infinite loss; the log must still be written.
    private static readonly JsonSerializerOptions Options = new() { NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals };

    /// <summary>Appends <paramref name="record"/> (an object with snake_case members) as one line to <paramref name="path"/>.</summary>
    public static void Append(string path, object record) => File.AppendAllText(path, JsonSerializer.Serialize(record, Options) + "\n");
}
