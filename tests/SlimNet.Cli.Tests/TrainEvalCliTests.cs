using System.Text.Json;

namespace SlimNet.Cli.Tests;

public class TrainEvalCliTests : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("slimnet-cli-");
    public void Dispose() => _dir.Delete(true);

    private static void AssertOneLineError(CliRunner.Result r, string mustContain, int code = 2)
    {
        Assert.Equal(code, r.ExitCode);
        Assert.Single(r.StderrLines);
        Assert.StartsWith("error: ", r.StderrLines[0]);
        Assert.Contains(mustContain, r.StderrLines[0]);
    }

    [Fact]
    public void TrainThenEvalReportTheSameAccuracyAsJson()
    {
        var ckpt = Path.Combine(_dir.FullName, "m.ckpt");
        var train = CliRunner.Run(_dir.FullName, "train", "--model", "lenet-300-100", "--epochs", "1", "--limit", "2000", "--batch-size", "32", "--out", ckpt, "--json");
        Assert.True(train.ExitCode == 0, train.Stderr);
        using var t = JsonDocument.Parse(train.Stdout);
        double acc = t.RootElement.GetProperty("test_accuracy").GetDouble();
        Assert.InRange(acc, 0.80, 1.0);
        Assert.Equal(1, t.RootElement.GetProperty("epochs").GetInt32());
        Assert.True(File.Exists(ckpt));
        Assert.Single(File.ReadAllLines(ckpt + ".jsonl"));

        var eval = CliRunner.Run(_dir.FullName, "eval", "--checkpoint", ckpt, "--json");
        Assert.True(eval.ExitCode == 0, eval.Stderr);
        using var e = JsonDocument.Parse(eval.Stdout);
        Assert.Equal(acc, e.RootElement.GetProperty("test_accuracy").GetDouble(), 9);
    }

    [Fact]
    public void ModelsListsTheZooAsJson()
    {
        var r = CliRunner.Run(_dir.FullName, "models", "--json");
        Assert.Equal(0, r.ExitCode);
        using var doc = JsonDocument.Parse(r.Stdout);
        var names = doc.RootElement.GetProperty("models").EnumerateArray().Select(m => m.GetProperty("name").GetString()).ToList();
        Assert.Contains("lenet-5", names);
        Assert.Contains("resnet20", names);
        Assert.Equal(266_610, doc.RootElement.GetProperty("models")[0].GetProperty("parameters").GetInt64());
    }

    [Fact]
    public void UnknownModelIsOneClearError() =>
        AssertOneLineError(CliRunner.Run(_dir.FullName, "train", "--model", "lenet-6", "--epochs", "1"), "unknown model 'lenet-6'");

    [Fact]
    public void NegativeLearningRateIsOneClearError() =>
        AssertOneLineError(CliRunner.Run(_dir.FullName, "train", "--model", "lenet-300-100", "--lr", "-0.1"), "learning rate");

    [Fact]
    public void MissingDataFolderIsOneClearError() =>
        AssertOneLineError(CliRunner.Run(_dir.FullName, "train", "--model", "lenet-300-100", "--data", Path.Combine(_dir.FullName, "nope")), "no such folder");

    [Fact]
    public void CorruptDataIsOneClearError()
    {
        var data = Directory.CreateDirectory(Path.Combine(_dir.FullName, "bad"));
        foreach (var n in new[] { "train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte" })
            File.WriteAllBytes(Path.Combine(data.FullName, n), new byte[] { 0, 0, 8, 3, 0, 0 });
        var r = CliRunner.Run(_dir.FullName, "train", "--model", "lenet-300-100", "--data", data.FullName, "--epochs", "1");
        AssertOneLineError(r, "ubyte");
    }

    [Fact]
    public void UnwritableOutputIsOneClearError() =>
        AssertOneLineError(CliRunner.Run(_dir.FullName, "train", "--model", "lenet-300-100", "--out", Path.Combine(_dir.FullName, "missing-dir", "x.ckpt")), "does not exist");

    [Fact]
    public void CorruptCheckpointIsOneClearError()
    {
        var bad = Path.Combine(_dir.FullName, "bad.ckpt");
        File.WriteAllText(bad, "garbage");
        AssertOneLineError(CliRunner.Run(_dir.FullName, "eval", "--checkpoint", bad), "not a SlimNet checkpoint");
        AssertOneLineError(CliRunner.Run(_dir.FullName, "eval", "--checkpoint", Path.Combine(_dir.FullName, "none.ckpt")), "no such file");
    }

    [Fact]
    public void UnknownOptionIsOneClearError() =>
        AssertOneLineError(CliRunner.Run(_dir.FullName, "train", "--model", "lenet-5", "--epochz", "3"), "--epochz");
}
