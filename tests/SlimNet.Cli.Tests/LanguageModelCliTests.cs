using System.Text;
using System.Text.Json;

namespace SlimNet.Cli.Tests;

public class LanguageModelCliTests : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("slimnet-lm-");
    public void Dispose() => _dir.Delete(true);

    private string Write(string name, byte[] bytes)
    {
        var path = Path.Combine(_dir.FullName, name);
        File.WriteAllBytes(path, bytes);
        return path;
    }

    /// <summary>The repository's recipes folder (found upwards from the test binaries).</summary>
    private static string Recipes
    {
        get
        {
            var dir = new DirectoryInfo(AppContext.BaseDirectory);
            while (!Directory.Exists(Path.Combine(dir.FullName, "recipes"))) dir = dir.Parent!;
            return Path.Combine(dir.FullName, "recipes");
        }
    }

    /// <summary>A small, fast sweep (fp and LAQ 2-bit, hidden 8, one epoch) over <paramref name="data"/>.</summary>
    private static string[] SweepArgs(string dir, string data, string norms) =>
        ["lstm-sweep", "--out", dir, "--data", data, "--quantizers", "fp,laq2", "--norms", norms, "--hidden", "8", "--epochs", "1",
         "--bptt", "10", "--batch-size", "4", "--recipes", Recipes, "--json"];

    private static void AssertOneLineError(CliRunner.Result r, string mustContain)
    {
        Assert.Equal(2, r.ExitCode);
        Assert.Single(r.StderrLines);
        Assert.StartsWith("error: ", r.StderrLines[0]);
        Assert.Contains(mustContain, r.StderrLines[0]);
    }

    [Fact]
    public void EmptyBinaryAndShortTextFilesAreOneLineErrors()
    {
        string[] Train(string data) => ["train", "--model", "char-lstm", "--data", data, "--out", Path.Combine(_dir.FullName, "x.ckpt")];
        AssertOneLineError(CliRunner.Run(_dir.FullName, Train(Write("empty.txt", []))), "empty.txt: the file is empty");
        AssertOneLineError(CliRunner.Run(_dir.FullName, Train(Write("zeros.bin", new byte[4096]))), "not a text file");
        AssertOneLineError(CliRunner.Run(_dir.FullName, Train(Write("bad.txt", [.. Encoding.UTF8.GetBytes(new string('a', 4000)), 0xFF, 0xFE]))), "not a UTF-8 text file");
        AssertOneLineError(CliRunner.Run(_dir.FullName, Train(Write("short.txt", Encoding.UTF8.GetBytes("call me Ishmael")))), "too short for one sequence of 100");
        AssertOneLineError(CliRunner.Run(_dir.FullName, Train(_dir.FullName)), "is a folder");
        AssertOneLineError(CliRunner.Run(_dir.FullName, [.. Train(Path.Combine(_dir.FullName, "missing.txt"))]), "no such file");
        AssertOneLineError(CliRunner.Run(_dir.FullName, ["train", "--model", "char-lstm", "--norm", "group", "--out", Path.Combine(_dir.FullName, "x.ckpt")]), "--norm");
        AssertOneLineError(CliRunner.Run(_dir.FullName, ["train", "--model", "lenet-5", "--hidden", "8"]), "--hidden applies to char-lstm only");
        Assert.False(File.Exists(Path.Combine(_dir.FullName, "x.ckpt")));
    }

    [Fact]
    public void TrainsOnAnyTextFileAndReportsBitsPerCharacter()
    {
        var text = string.Concat(Enumerable.Repeat("a stitch in time saves nine. ", 300));
        var data = Write("proverb.txt", Encoding.UTF8.GetBytes(text));
        var ckpt = Path.Combine(_dir.FullName, "lm.ckpt");
        var r = CliRunner.Run(_dir.FullName, "train", "--model", "char-lstm", "--data", data, "--hidden", "16", "--norm", "layer", "--bptt", "20",
            "--batch-size", "8", "--epochs", "2", "--lr", "0.01", "--out", ckpt, "--json");
        Assert.True(r.ExitCode == 0, r.Stderr);
        using var doc = JsonDocument.Parse(r.Stdout);
        double bpc = doc.RootElement.GetProperty("test_bpc").GetDouble();
        Assert.Equal(2, doc.RootElement.GetProperty("epochs").GetInt32());
        Assert.InRange(bpc, 0.0, 0.5 * Math.Log2(12)); // well below a uniform guess over the 12 characters
        Assert.Equal(2, File.ReadAllLines(ckpt + ".jsonl").Length);
    }

    [Fact]
    public void RunMeasuresTheTestBpcWithTheRuntimeAsTrainingDid()
    {
        var data = Write("proverb.txt", Encoding.UTF8.GetBytes(string.Concat(Enumerable.Repeat("a stitch in time saves nine; many hands make light work. ", 120))));
        var slim = Path.Combine(_dir.FullName, "lm.slim");
        var r = CliRunner.Run(_dir.FullName, "train", "--model", "char-lstm", "--data", data, "--hidden", "16", "--norm", "layer", "--bptt", "10",
            "--batch-size", "6", "--epochs", "1", "--lr", "0.01", "--recipe", Path.Combine(Recipes, "char-lstm-laq2.yaml"), "--out", Path.Combine(_dir.FullName, "lm.ckpt"),
            "--slim", slim, "--json");
        Assert.True(r.ExitCode == 0, r.Stderr);
        double trained;
        using (var doc = JsonDocument.Parse(r.Stdout)) trained = doc.RootElement.GetProperty("test_bpc").GetDouble();

        var run = CliRunner.Run(_dir.FullName, "run", slim, "--data", data, "--json");
        Assert.True(run.ExitCode == 0, run.Stderr);
        using (var doc = JsonDocument.Parse(run.Stdout))
        {
            var root = doc.RootElement;
            Assert.Equal(6, root.GetProperty("streams").GetInt32()); // the streams training measured with, read from the file
            Assert.Equal(trained, root.GetProperty("source_test_bpc").GetDouble());
            Assert.InRange(Math.Abs(root.GetProperty("test_bpc").GetDouble() - trained), 0, 1e-5);
        }
        // Other streams cut the text elsewhere: a different (but valid) figure.
        var one = CliRunner.Run(_dir.FullName, "run", slim, "--data", data, "--batch-size", "1", "--json");
        Assert.True(one.ExitCode == 0, one.Stderr);
        using (var doc = JsonDocument.Parse(one.Stdout))
        {
            Assert.Equal(1, doc.RootElement.GetProperty("streams").GetInt32());
            Assert.NotEqual(trained, doc.RootElement.GetProperty("test_bpc").GetDouble(), 6);
        }
        AssertOneLineError(CliRunner.Run(_dir.FullName, "run", slim, "--data", Write("other.txt", Encoding.UTF8.GetBytes(string.Concat(Enumerable.Repeat("xyz qrs. ", 400))))),
            "measure it on the text it was trained on");
        AssertOneLineError(CliRunner.Run(_dir.FullName, "run", slim, "--data", data, "--torch-check"), "--torch-check is for image models");
    }

    [Theory]
    [InlineData("char-lstm-lab.yaml", "Lab", 2)]
    [InlineData("char-lstm-late.yaml", "LatExact", 2)]
    [InlineData("char-lstm-laq2.yaml", "LaqLinear", 2)]
    [InlineData("char-lstm-laq3.yaml", "LaqLinear", 3)]
    [InlineData("char-lstm-laq4.yaml", "LaqLinear", 4)]
    public void ShippedCharLstmRecipesSelectTheLstmWeightsOnly(string file, string quantizer, int bits)
    {
        var recipe = SlimNet.Cli.Commands.LanguageModelTraining.LoadRecipe(Path.Combine(Recipes, file));
        var stage = Assert.IsType<SlimNet.Compression.Recipes.LossAwareStage>(Assert.Single(recipe.Stages));
        Assert.Equal(quantizer, stage.Quantizer.ToString());
        Assert.Equal(bits, stage.Bits);
        var names = SlimNet.Format.Graph.GraphShapes.Parameters(new SlimNet.Training.Models.CharLstmConfig(83, 8, 2, SlimNet.Format.Graph.LstmNormalization.Layer).Graph())
            .Select(p => p.Name).ToList();
        recipe.ValidateAgainst(names);
        Assert.Equal(new[] { "lstm1.weight_ih", "lstm1.weight_hh", "lstm2.weight_ih", "lstm2.weight_hh" }, stage.Layers.Select(names, file));
    }

    [Fact]
    public void SweepTrainsEachConfigurationOnceAndWritesTheTable()
    {
        var data = Write("rhyme.txt", Encoding.UTF8.GetBytes(string.Concat(Enumerable.Repeat("twinkle twinkle little star. ", 200))));
        var dir = Path.Combine(_dir.FullName, "sweep");
        string[] args = SweepArgs(dir, data, "none,layer");
        var r = CliRunner.Run(_dir.FullName, args);
        Assert.True(r.ExitCode == 0, r.Stderr);
        // A long sweep reports every epoch of every configuration (4 configurations x 1 epoch), not only each finished row.
        Assert.Equal(4, r.Stderr.Split('\n').Count(l => l.StartsWith("epoch 1: lr", StringComparison.Ordinal)));
        foreach (var name in new[] { "fp-none", "fp-layer", "laq2-none", "laq2-layer" })
        {
            Assert.True(File.Exists(Path.Combine(dir, name + ".json")), name);
            Assert.True(File.Exists(Path.Combine(dir, name + ".slim")), name);
        }
        var table = File.ReadAllText(Path.Combine(dir, "bpc.md"));
        Assert.Contains("| weights | none | layer | none − best normalized |", table);
        Assert.Contains("| LAQ2 |", table);
        Assert.Equal(5, File.ReadAllLines(Path.Combine(dir, "bpc.csv")).Length);
        // A second run reuses every result (and so is fast and writes the same table).
        var again = CliRunner.Run(_dir.FullName, args);
        Assert.True(again.ExitCode == 0, again.Stderr);
        Assert.Contains("reused", again.Stderr);
        Assert.Equal(table, File.ReadAllText(Path.Combine(dir, "bpc.md")));
        AssertOneLineError(CliRunner.Run(_dir.FullName, ["lstm-sweep", "--out", dir, "--quantizers", "fp,laq9"]), "unknown 'laq9'");
        // The same folder with other options stops at the first stale result instead of mixing it into the table.
        string[] otherEpochs = [.. args.Select(a => a == "1" ? "2" : a)];
        AssertOneLineError(CliRunner.Run(_dir.FullName, otherEpochs), "fp-none.json: trained with other options (epochs 1 there, 2 now)");
        // A missing recipe is found before any configuration trains.
        var fresh = Path.Combine(_dir.FullName, "fresh");
        string[] noRecipes = [.. args.Select((a, i) => a == dir ? fresh : i > 0 && args[i - 1] == "--recipes" ? _dir.FullName : a)];
        AssertOneLineError(CliRunner.Run(_dir.FullName, noRecipes), "char-lstm-laq2.yaml: no such file");
        Assert.False(Directory.Exists(fresh), "a sweep refused for a missing recipe leaves no --out folder");

        // inspect groups every tensor of an Lstm node (normalization tensors included) under the node, shown by its W_ih.
        var inspect = CliRunner.Run(_dir.FullName, "inspect", Path.Combine(dir, "laq2-layer.slim"), "--json");
        Assert.True(inspect.ExitCode == 0, inspect.Stderr);
        using var doc = JsonDocument.Parse(inspect.Stdout);
        var layers = doc.RootElement.GetProperty("layers").EnumerateArray().ToList();
        Assert.Equal(new[] { "lstm1", "decoder" }, layers.Select(l => l.GetProperty("name").GetString()));
        Assert.Equal("Lstm", layers[0].GetProperty("op").GetString());
    }

    [Fact]
    public void DistillsFromATeacherCheckpointAndRefusesBadTeachers()
    {
        var data = Write("proverb.txt", Encoding.UTF8.GetBytes(string.Concat(Enumerable.Repeat("a stitch in time saves nine. ", 300))));
        string[] Train(string outFile, params string[] more) =>
            ["train", "--model", "char-lstm", "--data", data, "--hidden", "16", "--norm", "layer", "--bptt", "20", "--batch-size", "8", "--epochs", "1",
             "--lr", "0.01", "--out", Path.Combine(_dir.FullName, outFile), "--json", .. more];
        var teacher = CliRunner.Run(_dir.FullName, Train("teacher.ckpt"));
        Assert.True(teacher.ExitCode == 0, teacher.Stderr);
        var r = CliRunner.Run(_dir.FullName, Train("student.ckpt", "--recipe", Path.Combine(Recipes, "char-lstm-laq2.yaml"),
            "--teacher", Path.Combine(_dir.FullName, "teacher.ckpt"), "--distill-temperature", "2", "--distill-weight", "0.7"));
        Assert.True(r.ExitCode == 0, r.Stderr);
        using (var doc = JsonDocument.Parse(r.Stdout))
            Assert.Equal("char-lstm-laq2, distilled from teacher.ckpt (T 2, weight 0.7)", doc.RootElement.GetProperty("method").GetString());

        AssertOneLineError(CliRunner.Run(_dir.FullName, Train("x.ckpt", "--distill-weight", "0.5")), "--distill-weight needs --teacher");
        AssertOneLineError(CliRunner.Run(_dir.FullName, Train("x.ckpt", "--teacher", Path.Combine(_dir.FullName, "none.ckpt"))), "--teacher");
        AssertOneLineError(CliRunner.Run(_dir.FullName, Train("x.ckpt", "--teacher", data)), "not a SlimNet checkpoint");
        AssertOneLineError(CliRunner.Run(_dir.FullName, Train("x.ckpt", "--teacher", Path.Combine(_dir.FullName, "teacher.ckpt"), "--distill-weight", "1.5")),
            "distillation weight must be in [0, 1]");
        // A teacher trained on other characters.
        var other = Write("other.txt", Encoding.UTF8.GetBytes(string.Concat(Enumerable.Repeat("twinkle twinkle little star. ", 300))));
        string[] otherTeacher = [.. Train("other.ckpt").Select(a => a == data ? other : a)];
        Assert.Equal(0, CliRunner.Run(_dir.FullName, otherTeacher).ExitCode);
        AssertOneLineError(CliRunner.Run(_dir.FullName, Train("x.ckpt", "--teacher", Path.Combine(_dir.FullName, "other.ckpt"))), "trained on other characters");
        Assert.False(File.Exists(Path.Combine(_dir.FullName, "x.ckpt")));
    }

    [Fact]
    public void SweepDistilsQuantizedRowsFromTheFullPrecisionRow()
    {
        var data = Write("rhyme.txt", Encoding.UTF8.GetBytes(string.Concat(Enumerable.Repeat("twinkle twinkle little star. ", 200))));
        var dir = Path.Combine(_dir.FullName, "sweep");
        string[] args = SweepArgs(dir, data, "layer");
        var plain = CliRunner.Run(_dir.FullName, args);
        Assert.True(plain.ExitCode == 0, plain.Stderr);
        // The undistilled quantized row is not reused by a distilled sweep; the full-precision row is.
        var stale = CliRunner.Run(_dir.FullName, [.. args, "--distill"]);
        Assert.Equal(2, stale.ExitCode);
        Assert.StartsWith("error: ", stale.StderrLines[^1]);
        Assert.Contains("laq2-layer.json: trained with other options (distill none there", stale.StderrLines[^1]);
        File.Delete(Path.Combine(dir, "laq2-layer.json"));
        var distilled = CliRunner.Run(_dir.FullName, [.. args, "--distill", "--distill-weight", "0.7"]);
        Assert.True(distilled.ExitCode == 0, distilled.Stderr);
        Assert.Contains("fp-layer, seed 1: result present, reused", distilled.Stderr);
        using (var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "laq2-layer.json"))))
        {
            Assert.StartsWith("char-lstm-laq2, distilled from fp-layer.ckpt", doc.RootElement.GetProperty("method").GetString());
            Assert.Equal(0.7, doc.RootElement.GetProperty("options").GetProperty("distill").GetProperty("weight").GetDouble());
        }
        AssertOneLineError(CliRunner.Run(_dir.FullName, [.. args, "--distill-temperature", "2"]), "--distill-temperature needs --distill");
        var fresh = Path.Combine(_dir.FullName, "fresh");
        string[] noTeacher = [.. args.Select(a => a == dir ? fresh : a == "fp,laq2" ? "laq2" : a), "--distill"];
        AssertOneLineError(CliRunner.Run(_dir.FullName, noTeacher), "add fp to --quantizers");
        Assert.False(Directory.Exists(fresh)); // bad options leave no output folder behind
    }

    [Fact]
    public void SweepOverSeedsTrainsEachSeedInItsOwnFolderAndAveragesThem()
    {
        var data = Write("rhyme.txt", Encoding.UTF8.GetBytes(string.Concat(Enumerable.Repeat("twinkle twinkle little star. ", 200))));
        var dir = Path.Combine(_dir.FullName, "seeds");
        string[] args = [.. SweepArgs(dir, data, "layer"), "--seeds", "3,5"];
        var r = CliRunner.Run(_dir.FullName, args);
        Assert.True(r.ExitCode == 0, r.Stderr);
        double Test(int seed, string row)
        {
            using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, $"seed-{seed}", row + ".json")));
            Assert.Equal(seed, doc.RootElement.GetProperty("options").GetProperty("seed").GetInt32());
            return doc.RootElement.GetProperty("test_bpc").GetDouble();
        }
        double fp3 = Test(3, "fp-layer"), fp5 = Test(5, "fp-layer"), q3 = Test(3, "laq2-layer"), q5 = Test(5, "laq2-layer");
        Assert.NotEqual(fp3, fp5); // the seed reaches the training
        var ci = System.Globalization.CultureInfo.InvariantCulture;
        var table = File.ReadAllText(Path.Combine(dir, "bpc.md"));
        Assert.Contains(string.Format(ci, "| full precision | {0:F3} |", (fp3 + fp5) / 2), table);
        Assert.Contains(string.Format(ci, "| LAQ2 | {0:F3} ({1:+0.000;-0.000}) |", (q3 + q5) / 2, (q3 - fp3 + q5 - fp5) / 2), table);
        Assert.Contains(string.Format(ci, "| LAQ2 | layer | {0:F3} ({1:+0.000;-0.000}) | {2:F3} ({3:+0.000;-0.000}) |", q3, q3 - fp3, q5, q5 - fp5), table);
        Assert.Equal(5, File.ReadAllLines(Path.Combine(dir, "bpc.csv")).Length); // header + 2 seeds x 2 rows
        // Each seed's folder is an ordinary single-seed sweep: `--seed 3 --out DIR/seed-3` reuses it as it is.
        var single = CliRunner.Run(_dir.FullName, [.. SweepArgs(Path.Combine(dir, "seed-3"), data, "layer"), "--seed", "3"]);
        Assert.True(single.ExitCode == 0, single.Stderr);
        Assert.Contains("laq2-layer, seed 3: result present, reused", single.Stderr);
        // A seed added later trains only that seed; until then its cells say how many seeds ran.
        var partial = CliRunner.Run(_dir.FullName, [.. SweepArgs(dir, data, "layer"), "--seeds", "3,5,7", "--table-only"]);
        Assert.True(partial.ExitCode == 0, partial.Stderr);
        Assert.Contains("| full precision | 2 of 3 seeds |", File.ReadAllText(Path.Combine(dir, "bpc.md")));
        // Printed to a pipe, the table's lines stay whole (no wrapping at 80 columns), so it can be pasted as markdown.
        var printed = CliRunner.Run(_dir.FullName, [.. SweepArgs(dir, data, "layer").Where(a => a != "--json"), "--seeds", "3,5", "--table-only"]);
        Assert.True(printed.ExitCode == 0, printed.Stderr);
        Assert.Contains("Mean test bits per character over seeds 3, 5; in brackets the mean difference to full precision with the same normalization and seed.\n",
            printed.Stdout.ReplaceLineEndings("\n"));
        AssertOneLineError(CliRunner.Run(_dir.FullName, [.. args, "--seed", "2"]), "--seed and --seeds: give one of them");
        AssertOneLineError(CliRunner.Run(_dir.FullName, [.. SweepArgs(dir, data, "layer"), "--seeds", "1,x"]), "--seeds: 'x' is not an integer");
        AssertOneLineError(CliRunner.Run(_dir.FullName, [.. SweepArgs(dir, data, "layer"), "--seeds", "4,4"]), "--seeds: 4 is given twice");
    }
}
