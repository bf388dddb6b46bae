using System.Diagnostics;

namespace SlimNet.Cli.Tests;

/// <summary>
/// Broken recipes given to <c>slimnet compress --model</c>: each is rejected before any training with one line
/// <c>error: FILE:LINE: …</c>, exit code 2, and nothing left in the output folder (no .slim, no baseline checkpoint,
/// no temporary file).
/// </summary>
public class BrokenRecipeCliTests : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("slimnet-badrecipe-");
    public void Dispose() => _dir.Delete(true);

    private const string Prune = "stages:\n  - method: prune\n    layers:\n      include: [\"fc*.weight\"]\n";
    private const string KMeans = "stages:\n  - method: kmeans\n    layers:\n      include: [\"fc*.weight\"]\n";
    private const string Lq = "stages:\n  - method: lq-nets\n    layers:\n      include: [\"fc*.weight\"]\n";

    public static TheoryData<string, string, string> Recipes => new()
    {
        { "unknown-method", "stages:\n  - method: shrink\n    layers:\n      include: [\"fc*.weight\"]\n    sparsity: 0.5\n", ":2: unknown method 'shrink'" },
        { "unknown-key", Prune + "    sparsity: 0.5\n    sparsness: 0.2\n", ":6: unknown key 'sparsness'" },
        { "sparsity-1.5", Prune + "    sparsity: 1.5\n", ":5: sparsity must be in [0, 1), got 1.5" },
        { "bits-0", KMeans + "    bits: 0\n", ":5: bits must be in [1, 16], got 0" },
        { "bits-33", KMeans + "    bits: 33\n", ":5: bits must be in [1, 16], got 33" },
        { "negative-epochs", Prune + "    sparsity: 0.5\n    fine-tune: { epochs: -1, lr: 0.01 }\n", ":6: epochs must be in [0, 100000], got -1" },
        { "malformed-yaml", "stages:\n  - method: prune\n    layers: [unclosed\n    sparsity: 0.5\n", ":3: malformed YAML" },
        { "empty-stages", "name: nothing\nstages: []\n", ":2: 'stages' is empty" },
        { "pattern-matches-nothing", "stages:\n  - method: prune\n    layers:\n      include: [\"conv9*\"]\n    sparsity: 0.5\n", ":4: pattern 'conv9*' matches no layer" },
        { "wrong-type", Prune + "    sparsity: \"lots\"\n", ":5: sparsity must be a number, got 'lots'" },
        { "q-and-sparsity", Prune + "    sparsity: 0.5\n    q: 1.0\n", ":6: give either 'sparsity' or 'q', not both" },
        { "importance-bits-17", "stages:\n  - method: importance-post\n    layers: { include: [\"*\"] }\n    bits: [0, 17]\n", ":4: bits must be in [0, 16] (0 = pruned), got 17" },
        { "importance-fractions", "stages:\n  - method: importance-post\n    layers: { include: [\"*\"] }\n    bits: [0, 4]\n    clustering: quantile\n    fractions: [0.5, 0.6]\n", ":6: fractions must sum to 1, got 1.1" },
        { "importance-split", "stages:\n  - method: importance-train\n    layers: { include: [\"*\"] }\n    split: -0.5\n    fine-tune: { epochs: 2, lr: 0.01 }\n", ":4: split must be in [0, 1]" },
        { "laq-without-bits", "stages:\n  - method: loss-aware\n    quantizer: laq-linear\n    layers:\n      include: [\"fc*.weight\"]\n", ":3: quantizer 'laq-linear' needs 'bits' (2 to 8)" },
        { "lab-with-sgd", "stages:\n  - method: loss-aware\n    quantizer: lab\n    layers:\n      include: [\"fc*.weight\"]\n    fine-tune: { epochs: 1, lr: 0.1 }\n",
            ":3: quantizer 'lab' takes its curvature from Adam's second moment: use fine-tune optimizer 'adam'" },
        { "lq-weight-bits-5", Lq + "    weight-bits: 5\n    activation-bits: 2\n", ":5: weight-bits must be 1, 2, 3, 4 or 32 (full precision), got 5" },
        { "lq-activation-bits-text", Lq + "    weight-bits: 2\n    activation-bits: lots\n", ":6: activation-bits must be an integer, got 'lots'" },
        { "lq-only-first-and-last", Lq.Replace("fc*.weight", "fc1") + "    weight-bits: 2\n    activation-bits: 2\n", ":2: the lq-nets stage selects no Linear or Conv2d weight to quantize" },
        { "lq-negative-input", Lq + "    weight-bits: 2\n    activation-bits: 2\n    quantize-first-last: true\n", ":2: layer 'fc1' gets its input from the network input, which can be negative" },
    };

    [Theory]
    [MemberData(nameof(Recipes))]
    public void BrokenRecipeIsOneLineNamingTheLineAndLeavesNoFile(string name, string yaml, string expected)
    {
        var recipe = Path.Combine(_dir.FullName, name + ".yaml");
        File.WriteAllText(recipe, yaml);
        var r = RunCompress(recipe, out var outDir, out var elapsed);
        Assert.True(r.ExitCode == 2, $"exit {r.ExitCode}: {r.Stderr}");
        Assert.Single(r.StderrLines);
        Assert.StartsWith("error: ", r.StderrLines[0]);
        Assert.Contains(name + ".yaml" + expected, r.StderrLines[0]);
        Assert.Empty(Directory.EnumerateFileSystemEntries(outDir));
        // Validation comes before the baseline training (which alone takes longer than this on a busy machine).
        Assert.True(elapsed < TimeSpan.FromSeconds(20), $"took {elapsed}");
    }

    [Fact]
    public void MissingRecipeFileIsOneLineAndLeavesNoFile()
    {
        var r = RunCompress(Path.Combine(_dir.FullName, "absent.yaml"), out var outDir, out _);
        Assert.Equal(2, r.ExitCode);
        Assert.Single(r.StderrLines);
        Assert.StartsWith("error: --recipe ", r.StderrLines[0]);
        Assert.Contains("absent.yaml: no such file", r.StderrLines[0]);
        Assert.Empty(Directory.EnumerateFileSystemEntries(outDir));
    }

    private CliRunner.Result RunCompress(string recipe, out string outDir, out TimeSpan elapsed)
    {
        outDir = Directory.CreateDirectory(Path.Combine(_dir.FullName, "out-" + Path.GetFileNameWithoutExtension(recipe))).FullName;
        var watch = Stopwatch.StartNew();
        var r = CliRunner.Run(_dir.FullName, "compress", "--recipe", recipe, "--model", "lenet-300-100", "--limit", "500", "--baseline-epochs", "1",
            "--out", Path.Combine(outDir, "x.slim"));
        elapsed = watch.Elapsed;
        return r;
    }
}
