namespace SlimNet.Format;

/// <summary>
/// The one exception <see cref="SlimReader"/> throws for malformed .slim data. <see cref="Exception.Message"/>
/// starts with the section that is wrong ("file header", "graph", "metadata", "tensor table",
/// "tensor 'fc1.weight' values", …) followed by what is wrong.
/// </summary>
public sealed class SlimFormatException : Exception
{
    /// <summary>Creates the exception for <paramref name="section"/>; the message is "section: problem".</summary>
    public SlimFormatException(string section, string problem)
        : base(section + ": " + problem)
    {
        Section = section;
    }

    /// <summary>Name of the section (or stream) in which the problem was found.</summary>
    public string Section { get; }
}
