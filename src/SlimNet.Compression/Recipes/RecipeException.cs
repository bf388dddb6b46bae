namespace SlimNet.Compression.Recipes;

/// <summary>
/// A recipe is invalid. The message is one line naming the file and line and what is expected,
/// e.g. <c>recipe.yaml:7: sparsity must be in [0, 1), got 1.5</c>.
/// </summary>
public sealed class RecipeException : Exception
{
    /// <summary>Creates the error for <paramref name="source"/> at <paramref name="line"/> (1-based; 0 = the file as a whole).</summary>
    public RecipeException(string source, long line, string problem)
        : base(line > 0 ? $"{source}:{line}: {problem}" : $"{source}: {problem}")
    {
        Source = source;
        Line = line;
        Problem = problem;
    }

    /// <summary>The recipe file (as given to the loader).</summary>
    public new string Source { get; }
    /// <summary>1-based line of the offending YAML node (0 when it concerns the whole file).</summary>
    public long Line { get; }
    /// <summary>The problem without the location prefix.</summary>
    public string Problem { get; }
}
