using System.Text.Json;
using SlimNet.Training.Data;

namespace SlimNet.Cli.Tests;

/// <summary>
/// The shipped gradient-importance recipes (post-training, in-training, combined) run end to end through
/// <c>slimnet compress</c>: on a small MNIST subset for LeNet-300-100 and on small generated CIFAR-10 files for
/// AlexNet-CIFAR and VGG-16-CIFAR, from a baseline trained with <c>--track-importance</c>, with every stage's fine-tuning
/// capped by <c>--max-epochs</c> (2 on MNIST, 1 on the CIFAR files). The .slim file holds exactly the compressed model: its ratio is the one <c>inspect</c>
/// measures, and the pure C# runtime reproduces the accuracy <c>compress</c> measured with TorchSharp.
/// </summary>
[Collection("torch")]
public class GradientImportanceCliTests : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("slimnet-gi-");
    public void Dispose() => _dir.Delete(true);

    private static string Recipe(string mode, string model)
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !Directory.Exists(Path.Combine(dir.FullName, "recipes"))) dir = dir.Parent;
        return Path.Combine(dir!.FullName, "recipes", $"gradient-importance-{mode}-{model}.yaml");
    }

    private static JsonElement Json(CliRunner.Result r)
    {
        Assert.True(r.ExitCode == 0, r.Stderr);
        return JsonDocument.Parse(r.Stdout).RootElement.Clone();
    }

    private void CompressAllModes(string model, string[] dataArgs, int limit, bool runtimeCheck)
    {
        string baseline = Path.Combine(_dir.FullName, model + ".ckpt");
        Json(CliRunner.Run(_dir.FullName, ["train", "--model", model, "--epochs", "1", "--limit", $"{limit}", "--track-importance", "--out", baseline, "--json", .. dataArgs]));
        foreach (var mode in new[] { "post", "train", "combined" })
        {
            string slim = Path.Combine(_dir.FullName, $"{model}-{mode}.slim");
            var result = CliRunner.Run(_dir.FullName, ["compress", "--recipe", Recipe(mode, model), "--checkpoint", baseline, "--limit", $"{limit}",
                "--max-epochs", dataArgs.Length > 0 ? "1" : "2", "--out", slim, "--json", .. dataArgs]);
            var c = Json(result);
            File.WriteAllText(Path.Combine(_dir.FullName, $"{model}-{mode}.json"), result.Stdout);
            var inspect = Json(CliRunner.Run(_dir.FullName, "inspect", slim, "--json"));
            Assert.Equal(inspect.GetProperty("compression_ratio").GetDouble(), c.GetProperty("compression_ratio").GetDouble(), 9);
            // Capped at 1–2 epochs, the in-training recipe leaves elements free (float32), so only the post-training and
            // combined runs are fully fixed point.
            double minimum = mode == "train" ? 1.0 : 3.0;
            Assert.True(c.GetProperty("compression_ratio").GetDouble() > minimum, $"{model} {mode}: ratio {c.GetProperty("compression_ratio").GetDouble()}");
            var layers = c.GetProperty("layers").EnumerateArray().ToList();
            if (mode != "train") Assert.Contains(layers, l => l.GetProperty("encoding").GetString() == "fixedpoint");
            // Width 0 (pruned) elements are not stored: every post-training recipe prunes its least important cluster.
            if (mode == "post") Assert.Contains(layers, l => l.GetProperty("sparsity").GetDouble() > 0.1);
            if (runtimeCheck)
            {
                var run = Json(CliRunner.Run(_dir.FullName, ["run", slim, "--json", .. dataArgs]));
                Assert.Equal(c.GetProperty("test_accuracy").GetDouble(), run.GetProperty("test_accuracy").GetDouble(), 6);
            }
        }
    }

    [Fact]
    public void LeNet300100RecipesRunOnMnistAndTheSweepPlotsOneLinePerMode()
    {
        CompressAllModes("lenet-300-100", [], 1000, runtimeCheck: true);

        // A two-point post-training sweep of the same baseline, plus the in-training and combined runs as points.
        string sweepDir = Path.Combine(_dir.FullName, "sweep");
        var sweep = Json(CliRunner.Run(_dir.FullName, "importance-sweep", "--checkpoint", Path.Combine(_dir.FullName, "lenet-300-100.ckpt"),
            "--bits", "0,4;0,3", "--fractions", "0.3,0.7;0.5,0.5", "--add", "in-training=" + Path.Combine(_dir.FullName, "lenet-300-100-train.json"),
            "--add", "combined=" + Path.Combine(_dir.FullName, "lenet-300-100-combined.json"), "--out", sweepDir, "--json"));
        var points = sweep.GetProperty("points").EnumerateArray().ToList();
        Assert.Equal(4, points.Count);
        Assert.Equal(["post-training", "post-training", "in-training", "combined"], points.Select(p => p.GetProperty("mode").GetString()));
        // Pruning half (0,3 at 0.5,0.5) stores fewer bytes than pruning 30 % at 4 bits.
        Assert.True(points[1].GetProperty("compression_ratio").GetDouble() > points[0].GetProperty("compression_ratio").GetDouble());
        string csv = File.ReadAllText(Path.Combine(sweepDir, "sweep.csv"));
        Assert.StartsWith("mode,label,test_accuracy,baseline_test_accuracy,file_bytes,compression_ratio,parameter_ratio", csv);

        string reportDir = Path.Combine(_dir.FullName, "curves");
        var report = Json(CliRunner.Run(_dir.FullName, "report", "--curves", Path.Combine(sweepDir, "sweep.csv"), "--out", reportDir, "--json"));
        byte[] png = File.ReadAllBytes(Path.Combine(reportDir, "tradeoff.png"));
        Assert.Equal(new byte[] { 0x89, 0x50, 0x4E, 0x47 }, png[..4]);
        string md = File.ReadAllText(Path.Combine(reportDir, "tradeoff.md"));
        Assert.Contains("| combined |", md);
        Assert.Contains("| in-training |", md);
        Assert.Equal(4, report.GetProperty("points").GetInt32());

        // A checkpoint without importance is refused with one error line.
        var plain = Path.Combine(_dir.FullName, "plain.ckpt");
        Json(CliRunner.Run(_dir.FullName, "train", "--model", "lenet-300-100", "--epochs", "1", "--limit", "300", "--out", plain, "--json"));
        var refused = CliRunner.Run(_dir.FullName, "importance-sweep", "--checkpoint", plain, "--bits", "0,4", "--fractions", "0.5,0.5", "--out", sweepDir);
        Assert.Equal(2, refused.ExitCode);
        Assert.Single(refused.StderrLines);
        Assert.Contains("carries no gradient importance", refused.StderrLines[0]);
    }

    [Theory]
    [InlineData("alexnet-cifar")]
    [InlineData("vgg16-cifar")]
    public void CifarRecipesRunOnGeneratedCifarFiles(string model)
    {
        string data = Path.Combine(_dir.FullName, "cifar");
        if (!Directory.Exists(data)) SyntheticData.WriteCifar10(data, perTrainFile: 8, testCount: 12, seed: 4);
        CompressAllModes(model, ["--data", data], 40, runtimeCheck: model == "alexnet-cifar");
    }
}
