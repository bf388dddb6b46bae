using SlimNet.Training.Data;

namespace SlimNet.Training.Tests.Data;

/// <summary>A temp folder deleted on dispose.</summary>
internal sealed class TempDirectory : IDisposable
{
    public TempDirectory() => Path = SyntheticData.CreateTempDirectory("slimnet-data-test");

    public string Path { get; }

    public string File(string name) => System.IO.Path.Combine(Path, name);

    public void Dispose()
    {
        try { Directory.Delete(Path, recursive: true); } catch (IOException) { }
    }
}
