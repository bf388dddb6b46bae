namespace SlimNet.Compression.Recipes;

/// <summary>
/// A glob over dotted parameter names, as written in a recipe: <c>*</c> matches any run of characters (dots
/// included), <c>?</c> one character, everything else itself (case-sensitive). A pattern selects a parameter if it
/// matches the full name (<c>fc1.weight</c>) or the parameter's module name (<c>fc1</c>: the name without its last
/// <c>.part</c>), so <c>conv1</c> selects <c>conv1.weight</c> and <c>conv1.bias</c>.
/// </summary>
/// <param name="Glob">The pattern text.</param>
/// <param name="Line">1-based line in the recipe, for error messages.</param>
public sealed record LayerPattern(string Glob, long Line)
{
    /// <summary>Whether this pattern selects <paramref name="parameterName"/>.</summary>
    public bool Matches(string parameterName)
    {
        if (GlobMatches(Glob, parameterName)) return true;
        int dot = parameterName.LastIndexOf('.');
        return dot > 0 && GlobMatches(Glob, parameterName[..dot]);
    }

    /// <summary>Whole-string glob match with <c>*</c> and <c>?</c> (iterative, linear backtracking).</summary>
    public static bool GlobMatches(string pattern, string text)
    {
        int p = 0, t = 0, starP = -1, starT = 0;
        while (t < text.Length)
        {
            if (p < pattern.Length && (pattern[p] == '?' || pattern[p] == text[t])) { p++; t++; }
            else if (p < pattern.Length && pattern[p] == '*') { starP = p++; starT = t; }
            else if (starP >= 0) { p = starP + 1; t = ++starT; }
            else return false;
        }
        while (p < pattern.Length && pattern[p] == '*') p++;
        return p == pattern.Length;
    }

    /// <inheritdoc />
    public override string ToString() => Glob;
}
