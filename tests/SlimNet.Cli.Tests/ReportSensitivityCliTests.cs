using System.Buffers.Binary;
using System.Text.Json;

namespace SlimNet.Cli.Tests;

/// <summary>
/// End to end: <c>slimnet compress</c> with a tiny recipe (prune 0.5 then k-means 4 bits, one fine-tuning epoch each,
/// on 2,000 training examples, baseline trained for one epoch), then <c>report</c> on the .slim file and
/// <c>sensitivity</c> on the baseline checkpoint it wrote.
/// </summary>
public class ReportSensitivityCliTests : IDisposable
{
    private static readonly byte[] PngSignature = { 0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A };
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("slimnet-report-");
    public void Dispose() => _dir.Delete(true);

    private const string TinyRecipe = """
        name: tiny
        stages:
          - method: prune
            layers:
              include: ["fc*.weight"]
            sparsity: 0.5
            fine-tune: { epochs: 1, optimizer: adam, lr: 0.001 }
          - method: kmeans
            layers:
              include: ["fc*.weight"]
            bits: 4
            fine-tune: { epochs: 1, optimizer: sgd, lr: 0.001 }
        """;

    [Fact]
    public void CompressThenReportAndSensitivityWriteTheirFiles()
    {
        var recipe = Path.Combine(_dir.FullName, "tiny.yaml");
        File.WriteAllText(recipe, TinyRecipe);
        var slim = Path.Combine(_dir.FullName, "tiny.slim");
        var compress = CliRunner.Run(_dir.FullName, "compress", "--recipe", recipe, "--model", "lenet-300-100", "--baseline-epochs", "1",
            "--limit", "2000", "--out", slim, "--json");
        Assert.True(compress.ExitCode == 0, compress.Stderr);
        string baseline = slim + ".baseline.ckpt";
        Assert.True(File.Exists(slim) && File.Exists(baseline));
        using var c = JsonDocument.Parse(compress.Stdout);
        double accuracy = c.RootElement.GetProperty("test_accuracy").GetDouble();

        // report: Markdown with the numbers from the file, and readable PNGs.
        var reportDir = Path.Combine(_dir.FullName, "report");
        var report = CliRunner.Run(_dir.FullName, "report", slim, "--baseline", baseline, "--out", reportDir, "--json");
        Assert.True(report.ExitCode == 0, report.Stderr);
        using var r = JsonDocument.Parse(report.Stdout);
        var file = r.RootElement.GetProperty("files")[0];
        Assert.Equal(accuracy, file.GetProperty("test_accuracy").GetDouble(), 9);
        Assert.Equal(c.RootElement.GetProperty("compression_ratio").GetDouble(), file.GetProperty("compression_ratio").GetDouble(), 9);
        string md = File.ReadAllText(Path.Combine(reportDir, "report.md"));
        Assert.Contains("lenet-300-100", md);
        Assert.Contains("recipe tiny", md);
        Assert.Contains("| fc1.weight | 300×784 |", md);
        Assert.Contains("codebook", md);
        var plots = r.RootElement.GetProperty("plots").EnumerateArray().Select(p => p.GetString()!).ToArray();
        Assert.Contains(plots, p => p.EndsWith("tiny-sparsity.png"));
        Assert.Contains(plots, p => p.EndsWith("tiny-bits.png"));
        Assert.Contains(plots, p => p.EndsWith("tiny-weights-fc1.weight.png"));
        foreach (var p in plots)
        {
            AssertPng(p, 800, 500);
            Assert.Contains($"]({Path.GetFileName(p)})", md);
        }
        Assert.Empty(Directory.EnumerateFiles(reportDir, "*.tmp", SearchOption.AllDirectories).Concat(Directory.EnumerateFiles(reportDir, ".*")));

        // Two files: the accuracy-versus-ratio plot as well.
        var copy = Path.Combine(_dir.FullName, "copy.slim");
        File.Copy(slim, copy);
        var sweep = CliRunner.Run(_dir.FullName, "report", slim, copy, "--out", Path.Combine(_dir.FullName, "sweep"));
        Assert.True(sweep.ExitCode == 0, sweep.Stderr);
        AssertPng(Path.Combine(_dir.FullName, "sweep", "accuracy-vs-ratio.png"), 800, 500);
        AssertPng(Path.Combine(_dir.FullName, "sweep", "copy-sparsity.png"), 800, 500);

        // sensitivity on the 1-epoch baseline: 2 sparsities, 500 test examples.
        var sensDir = Path.Combine(_dir.FullName, "sens");
        var sens = CliRunner.Run(_dir.FullName, "sensitivity", "--checkpoint", baseline, "--sparsities", "0.5,0.9", "--test-limit", "500", "--out", sensDir, "--json");
        Assert.True(sens.ExitCode == 0, sens.Stderr);
        using var s = JsonDocument.Parse(sens.Stdout);
        Assert.Equal(500, s.RootElement.GetProperty("test_examples").GetInt32());
        var layers = s.RootElement.GetProperty("layers").EnumerateArray().ToArray();
        Assert.Equal(new[] { "fc1.weight", "fc2.weight", "fc3.weight" }, layers.Select(l => l.GetProperty("name").GetString()));
        foreach (var l in layers)
        {
            Assert.Equal(2, l.GetProperty("points").GetArrayLength());
            Assert.Contains(l.GetProperty("suggested_sparsity").GetDouble(), new[] { 0, 0.5, 0.9 });
        }
        var csv = File.ReadAllLines(Path.Combine(sensDir, "sensitivity.csv"));
        Assert.Equal("layer,sparsity,accuracy", csv[0]);
        Assert.Equal(1 + 3 * 2, csv.Length);
        Assert.StartsWith("fc1.weight,0.5,", csv[1]);
        Assert.Contains("| fc3.weight | 1,000 |", File.ReadAllText(Path.Combine(sensDir, "sensitivity.md")));
        AssertPng(Path.Combine(sensDir, "sensitivity.png"), 800, 500);
    }

    [Fact]
    public void SensitivityRejectsBadOptionsInOneLine()
    {
        var bad = CliRunner.Run(_dir.FullName, "sensitivity", "--checkpoint", "none.ckpt", "--sparsities", "0.5,1.5");
        Assert.Equal(2, bad.ExitCode);
        Assert.Equal("error: --sparsities: '1.5' is not a sparsity in (0, 1); expected e.g. 0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8,0.9,0.95", Assert.Single(bad.StderrLines));
        var missing = CliRunner.Run(_dir.FullName, "sensitivity", "--checkpoint", "none.ckpt");
        Assert.Equal(2, missing.ExitCode);
        Assert.Equal("error: --checkpoint none.ckpt: no such file", Assert.Single(missing.StderrLines));
    }

    [Fact]
    public void ReportRejectsAFileThatIsNotSlimInOneLineAndWritesNothing()
    {
        var junk = Path.Combine(_dir.FullName, "junk.slim");
        File.WriteAllText(junk, "not a slim file");
        var outDir = Path.Combine(_dir.FullName, "out");
        var r = CliRunner.Run(_dir.FullName, "report", junk, "--out", outDir);
        Assert.Equal(2, r.ExitCode);
        Assert.StartsWith("error: ", Assert.Single(r.StderrLines));
        Assert.Contains("junk.slim: not a valid .slim file", r.StderrLines[0]);
        Assert.False(Directory.Exists(outDir));
    }

    private static void AssertPng(string path, int width, int height)
    {
        var bytes = File.ReadAllBytes(path);
        Assert.True(bytes.Length > 5000, $"{path}: only {bytes.Length} bytes");
        Assert.Equal(PngSignature, bytes[..8]);
        Assert.Equal(width, BinaryPrimitives.ReadInt32BigEndian(bytes.AsSpan(16)));
        Assert.Equal(height, BinaryPrimitives.ReadInt32BigEndian(bytes.AsSpan(20)));
    }
}
