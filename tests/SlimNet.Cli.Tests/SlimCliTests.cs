using System.Text.Json;

namespace SlimNet.Cli.Tests;

/// <summary>Trains a tiny LeNet-300-100 once (1 epoch on 2,000 examples) and exports it, for the .slim command tests.</summary>
public sealed class TinyExportedModel : IDisposable
{
    public TinyExportedModel()
    {
        Dir = Directory.CreateTempSubdirectory("slimnet-slim-");
        Checkpoint = Path.Combine(Dir.FullName, "m.ckpt");
        Slim = Path.Combine(Dir.FullName, "m.slim");
        var train = CliRunner.Run(Dir.FullName, "train", "--model", "lenet-300-100", "--epochs", "1", "--limit", "2000", "--batch-size", "32", "--out", Checkpoint, "--json");
        Assert.True(train.ExitCode == 0, train.Stderr);
        var export = CliRunner.Run(Dir.FullName, "export", "--checkpoint", Checkpoint, "--out", Slim, "--json");
        Assert.True(export.ExitCode == 0, export.Stderr);
        ExportJson = export.Stdout;
    }

    public DirectoryInfo Dir { get; }
    public string Checkpoint { get; }
    public string Slim { get; }
    public string ExportJson { get; }

    public void Dispose() => Dir.Delete(true);
}

public class SlimCliTests(TinyExportedModel tiny) : IClassFixture<TinyExportedModel>
{
    private static readonly string[] Sections = ["file header", "graph", "metadata", "tensor table", "tensor #"];

    private static void AssertOneLineError(CliRunner.Result r, string mustContain, int code = 2)
    {
        Assert.True(code == r.ExitCode, $"exit {r.ExitCode}, stderr: {r.Stderr}");
        Assert.Single(r.StderrLines);
        Assert.StartsWith("error: ", r.StderrLines[0]);
        Assert.Contains(mustContain, r.StderrLines[0]);
    }

    private static JsonElement Json(CliRunner.Result r)
    {
        Assert.True(r.ExitCode == 0, r.Stderr);
        using var doc = JsonDocument.Parse(r.Stdout);
        return doc.RootElement.Clone();
    }

    [Fact]
    public void InspectAccountsForEveryByteAndDenseLeNetIsFourBytesPerParameter()
    {
        var j = Json(CliRunner.Run(tiny.Dir.FullName, "inspect", tiny.Slim, "--json"));
        long fileBytes = j.GetProperty("file_bytes").GetInt64();
        Assert.Equal(new FileInfo(tiny.Slim).Length, fileBytes);
        long sum = j.GetProperty("header_bytes").GetInt64() + j.GetProperty("graph_bytes").GetInt64()
                   + j.GetProperty("layers").EnumerateArray().Sum(l => l.GetProperty("bytes").GetInt64());
        Assert.Equal(fileBytes, sum);
        foreach (var l in j.GetProperty("layers").EnumerateArray())
        {
            var s = l.GetProperty("streams");
            long streams = s.EnumerateObject().Sum(p => p.Value.GetInt64());
            Assert.Equal(l.GetProperty("bytes").GetInt64(), streams);
            Assert.Equal(l.GetProperty("bytes").GetInt64(), l.GetProperty("tensors").EnumerateArray().Sum(t => t.GetProperty("bytes").GetInt64()));
        }

        const long parameters = 266_610;
        Assert.Equal(parameters, j.GetProperty("parameters").GetInt64());
        Assert.Equal(4 * parameters, j.GetProperty("dense_fp32_bytes").GetInt64());
        Assert.InRange(fileBytes, 4 * parameters, (long)(4 * parameters * 1.01) + 4096);
        Assert.Equal(4.0 * parameters / fileBytes, j.GetProperty("compression_ratio").GetDouble(), 12);
        Assert.Equal("0.1307", j.GetProperty("metadata").GetProperty("input_mean").GetString());
    }

    [Fact]
    public void RunGivesTheSameAccuracyAsEvalOfTheCheckpoint()
    {
        var eval = Json(CliRunner.Run(tiny.Dir.FullName, "eval", "--checkpoint", tiny.Checkpoint, "--json"));
        var run = Json(CliRunner.Run(tiny.Dir.FullName, "run", tiny.Slim, "--json"));
        double expected = eval.GetProperty("test_accuracy").GetDouble();
        double actual = run.GetProperty("test_accuracy").GetDouble();
        Assert.InRange(expected, 0.8, 1.0);
        Assert.True(Math.Abs(expected - actual) <= 0.0005, $"eval {expected}, run {actual}");
        Assert.Equal(10_000, run.GetProperty("test_examples").GetInt32());
        Assert.Equal(expected, run.GetProperty("source_test_accuracy").GetDouble(), 9);
    }

    [Fact]
    public void TorchCheckAgreesWithTheRuntime()
    {
        var run = Json(CliRunner.Run(tiny.Dir.FullName, "run", tiny.Slim, "--torch-check", "--json"));
        double runtime = run.GetProperty("test_accuracy").GetDouble();
        Assert.InRange(runtime, 0.8, 1.0);
        Assert.Equal(runtime, run.GetProperty("torch_test_accuracy").GetDouble(), 9);
        Assert.Equal(1.0, run.GetProperty("torch_agreement").GetDouble(), 9);
        Assert.InRange(run.GetProperty("torch_max_logit_difference").GetDouble(), 0, 1e-4);
        Assert.Equal(0, run.GetProperty("torch_examples_logits_over_1e4").GetInt32());
    }

    [Fact]
    public void Fp16ExportIsAboutHalfAndKeepsTheAccuracy()
    {
        var half = Path.Combine(tiny.Dir.FullName, "half.slim");
        var export = Json(CliRunner.Run(tiny.Dir.FullName, "export", "--checkpoint", tiny.Checkpoint, "--out", half, "--fp16", "--json"));
        long denseBytes = new FileInfo(tiny.Slim).Length, halfBytes = new FileInfo(half).Length;
        Assert.Equal(halfBytes, export.GetProperty("file_bytes").GetInt64());
        Assert.InRange(halfBytes, denseBytes / 2, denseBytes / 2 + 4096);
        var inspect = Json(CliRunner.Run(tiny.Dir.FullName, "inspect", half, "--json"));
        Assert.All(inspect.GetProperty("layers").EnumerateArray(), l => Assert.Equal("dense fp16", l.GetProperty("encoding").GetString()));
        var run = Json(CliRunner.Run(tiny.Dir.FullName, "run", half, "--json"));
        var dense = Json(CliRunner.Run(tiny.Dir.FullName, "run", tiny.Slim, "--json"));
        Assert.True(Math.Abs(run.GetProperty("test_accuracy").GetDouble() - dense.GetProperty("test_accuracy").GetDouble()) <= 0.003);
    }

    [Fact]
    public void TruncatedFilesFailWithOneLineNamingTheSection()
    {
        var j = Json(CliRunner.Run(tiny.Dir.FullName, "inspect", tiny.Slim, "--json"));
        long graphStart = j.GetProperty("header").GetProperty("file_header_bytes").GetInt64();
        long metadataStart = graphStart + j.GetProperty("graph_bytes").GetInt64();
        long tensorsStart = metadataStart + j.GetProperty("header").GetProperty("metadata_bytes").GetInt64()
                            + j.GetProperty("header").GetProperty("tensor_table_bytes").GetInt64();
        byte[] bytes = File.ReadAllBytes(tiny.Slim);
        var cuts = new (long Offset, string Section)[]
        {
            (0, "file header"), (9, "file header"), (graphStart, "graph"), (graphStart + 40, "graph"),
            (metadataStart + 20, "metadata"), (tensorsStart + 100_000, "tensor #0"), (bytes.Length - 1, "tensor #5"),
        };
        for (int i = 0; i < cuts.Length; i++)
        {
            var (offset, section) = cuts[i];
            var cut = Path.Combine(tiny.Dir.FullName, $"cut{offset}.slim");
            File.WriteAllBytes(cut, bytes.AsSpan(0, (int)offset).ToArray());
            // run on every cut; inspect on a few (each is a process start).
            AssertOneLineError(CliRunner.Run(tiny.Dir.FullName, "run", cut), $"not a valid .slim file: {section}");
            if (i % 3 == 0) AssertOneLineError(CliRunner.Run(tiny.Dir.FullName, "inspect", cut, "--json"), $"not a valid .slim file: {section}");
        }
    }

    [Fact]
    public void BrokenChecksumsFailWithOneLineNamingTheSection()
    {
        var j = Json(CliRunner.Run(tiny.Dir.FullName, "inspect", tiny.Slim, "--json"));
        long graphStart = j.GetProperty("header").GetProperty("file_header_bytes").GetInt64();
        long metadataStart = graphStart + j.GetProperty("graph_bytes").GetInt64();
        long tensorsStart = metadataStart + j.GetProperty("header").GetProperty("metadata_bytes").GetInt64()
                            + j.GetProperty("header").GetProperty("tensor_table_bytes").GetInt64();
        byte[] original = File.ReadAllBytes(tiny.Slim);
        var flips = new (long Offset, string Section, string Command)[]
        {
            (graphStart + 30, "graph", "run"), (metadataStart + 30, "metadata", "inspect"), (tensorsStart + 5000, "tensor #0 ('fc1.weight')", "run"),
            (original.Length - 10, "tensor #5 ('fc3.bias')", "inspect"),
        };
        foreach (var (offset, section, command) in flips)
        {
            var bytes = (byte[])original.Clone();
            bytes[offset] ^= 0x10;
            var bad = Path.Combine(tiny.Dir.FullName, $"flip{offset}.slim");
            File.WriteAllBytes(bad, bytes);
            var r = CliRunner.Run(tiny.Dir.FullName, command, bad);
            AssertOneLineError(r, $"{section}: checksum mismatch");
        }
    }

    [Fact]
    public void BenchReportsBothEnginesAndTheirRatios()
    {
        // No timing assertions: only that both sides ran on the same model and agree.
        var j = Json(CliRunner.Run(tiny.Dir.FullName, "bench", tiny.Slim, "--seconds", "0.05", "--json"));
        Assert.True(j.GetProperty("runtime").GetProperty("batch1_latency_ms").GetDouble() > 0);
        Assert.True(j.GetProperty("torchsharp").GetProperty("batch64_examples_per_second").GetDouble() > 0);
        Assert.True(j.GetProperty("batch1_latency_ratio").GetDouble() > 0);
        Assert.True(j.GetProperty("batch64_throughput_ratio").GetDouble() > 0);
        Assert.Equal(1, j.GetProperty("torchsharp_threads").GetInt32());
        Assert.InRange(j.GetProperty("max_abs_logit_difference").GetDouble(), 0, 1e-4);
        // The same model decoded to dense float32 runs in the same session of measurements and agrees.
        Assert.True(j.GetProperty("dense_runtime").GetProperty("batch1_latency_ms").GetDouble() > 0);
        Assert.True(j.GetProperty("dense_runtime").GetProperty("batch64_examples_per_second").GetDouble() > 0);
        Assert.True(j.GetProperty("sparse_speedup_batch1").GetDouble() > 0);
        Assert.True(j.GetProperty("sparse_speedup_batch64").GetDouble() > 0);
        Assert.InRange(j.GetProperty("max_abs_dense_logit_difference").GetDouble(), 0, 1e-4);
        Assert.True(j.GetProperty("plan").GetArrayLength() > 0);
    }

    [Fact]
    public void BenchKernelsTimesEveryLowBitKernelAgainstDense()
    {
        // No timing assertions: every kernel and its fp32 dense peer ran, at batch 1 and 64, and the ratio is theirs.
        var j = Json(CliRunner.Run(tiny.Dir.FullName, "bench", "--kernels", "--shape", "24x100", "--seconds", "0.05", "--json"));
        Assert.Equal(24, j.GetProperty("rows").GetInt32());
        var kernels = j.GetProperty("kernels").EnumerateArray().ToArray();
        Assert.Equal(10, kernels.Length);
        foreach (string name in new[] { "bit-op W1/A2", "bit-op W2/A2", "sign-mask binary", "sign-mask ternary" })
            foreach (int batch in new[] { 1, 64 })
                Assert.Contains(kernels, k => k.GetProperty("kernel").GetString() == name && k.GetProperty("batch").GetInt32() == batch);
        foreach (var k in kernels)
        {
            double t = k.GetProperty("microseconds").GetDouble(), d = k.GetProperty("dense_fp32_microseconds").GetDouble();
            Assert.True(t > 0 && d > 0);
            Assert.Equal(d / t, k.GetProperty("speedup").GetDouble(), 1e-9);
        }
        AssertOneLineError(CliRunner.Run(tiny.Dir.FullName, "bench", "--kernels", "--shape", "0x5"), "--shape");
        AssertOneLineError(CliRunner.Run(tiny.Dir.FullName, "bench"), "a .slim file is required");
        AssertOneLineError(CliRunner.Run(tiny.Dir.FullName, "bench", "--kernels", tiny.Slim), "give no .slim file");
    }

    [Fact]
    public void FuzzFiveThousandCasesHasNoCrashOrHang()
    {
        var j = Json(CliRunner.Run(tiny.Dir.FullName, "fuzz", "--cases", "5000", "--seed", "11", "--json"));
        Assert.Equal(5000, j.GetProperty("cases").GetInt32());
        Assert.Equal(0, j.GetProperty("crashed").GetInt32());
        Assert.Equal(0, j.GetProperty("slow").GetInt32());
        Assert.True(j.GetProperty("passed").GetBoolean());
        Assert.Equal(5000, j.GetProperty("ok").GetInt32() + j.GetProperty("rejected").GetInt32());
        Assert.True(j.GetProperty("rejected").GetInt32() > 0);
    }

    [Fact]
    public void ExportCheckpointErrorsAreOneLine()
    {
        AssertOneLineError(CliRunner.Run(tiny.Dir.FullName, "export", "--checkpoint", Path.Combine(tiny.Dir.FullName, "none.ckpt"), "--out", "x.slim"), "no such file");
        AssertOneLineError(CliRunner.Run(tiny.Dir.FullName, "export", "--checkpoint", tiny.Checkpoint, "--out", Path.Combine(tiny.Dir.FullName, "no-dir", "x.slim")), "does not exist");
        AssertOneLineError(CliRunner.Run(tiny.Dir.FullName, "export", "--checkpoint", tiny.Checkpoint, "--out", "x.slim", "--sparse-above", "2"), "--sparse-above");
        AssertOneLineError(CliRunner.Run(tiny.Dir.FullName, "run", Path.Combine(tiny.Dir.FullName, "none.slim")), "no such file");
        var garbage = Path.Combine(tiny.Dir.FullName, "garbage.slim");
        File.WriteAllText(garbage, "this is not a slim file at all");
        AssertOneLineError(CliRunner.Run(tiny.Dir.FullName, "inspect", garbage), "file header");
    }
}
