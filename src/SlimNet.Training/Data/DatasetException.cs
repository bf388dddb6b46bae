namespace SlimNet.Training.Data;

/// <summary>
/// A dataset file or folder is missing, malformed or inconsistent. The message names the file and the
/// problem in one line (for example
/// <c>train-images-idx3-ubyte.gz: truncated: header declares 60000×28×28 = 47040000 bytes of pixels, file has 1234</c>),
/// so the command line can print it as is.
/// </summary>
public sealed class DatasetException : Exception
{
    /// <summary>Creates the exception with a one-line message that names the file and the problem.</summary>
    public DatasetException(string message) : base(message) { }

    /// <summary>Creates the exception with a one-line message and the underlying cause.</summary>
    public DatasetException(string message, Exception innerException) : base(message, innerException) { }

    /// <summary>Creates the exception for <paramref name="path"/> (only its file name is shown) and <paramref name="problem"/>.</summary>
    internal static DatasetException For(string path, string problem) => new($"{Path.GetFileName(path)}: {problem}");
}
