using System.Diagnostics;
using System.Text.Json;

namespace SlimNet.Cli.Tests;

/// <summary>
/// Data-parallel training over Open MPI, run as users run it: <c>mpirun -np N dotnet slimnet.dll …</c>. These tests
/// need mpirun (scripts/setup.sh installs openmpi-bin); without it they fail, they do not skip.
/// </summary>
public class DistributedCliTests : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("slimnet-mpi-");
    public void Dispose() => _dir.Delete(true);

    private static string Mpirun()
    {
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries))
        {
            var path = Path.Combine(dir, "mpirun");
            if (File.Exists(path)) return path;
        }
        Assert.Fail("mpirun not found on PATH: data-parallel training needs Open MPI; run scripts/setup.sh (it installs openmpi-bin and libopenmpi-dev)");
        return "";
    }

    private Process Start(int ranks, params string[] args)
    {
        var psi = new ProcessStartInfo(Mpirun()) { WorkingDirectory = _dir.FullName, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { "--allow-run-as-root", "--oversubscribe", "--bind-to", "none", "-np", ranks.ToString(), "dotnet", Path.Combine(AppContext.BaseDirectory, "slimnet.dll") })
            psi.ArgumentList.Add(a);
        foreach (var a in args) psi.ArgumentList.Add(a);
        psi.Environment["SLIMNET_THREADS"] = "1";
        psi.Environment.Remove("SLIMNET_DEBUG");
        return Process.Start(psi)!;
    }

    private CliRunner.Result Run(int ranks, params string[] args)
    {
        using var p = Start(ranks, args);
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(TimeSpan.FromMinutes(3)))
        {
            p.Kill(entireProcessTree: true);
            Assert.Fail($"mpirun -np {ranks} slimnet {string.Join(' ', args)} did not finish in 3 minutes");
        }
        return new CliRunner.Result(p.ExitCode, stdout.Result, stderr.Result);
    }

    [Fact]
    public void MpiCheckPassesOnThreeRanks()
    {
        var r = Run(3, "mpi-check", "--json");
        Assert.True(r.ExitCode == 0, r.Stderr + r.Stdout);
        using var doc = JsonDocument.Parse(r.Stdout);
        Assert.Equal(3, doc.RootElement.GetProperty("ranks").GetInt32());
        Assert.Equal(0, doc.RootElement.GetProperty("failures").GetInt32());
        Assert.Contains("MPI_Bcast failed", doc.RootElement.GetProperty("mpi_error_example").GetString());
    }

    [Theory]
    [InlineData("fp32")]
    [InlineData("q2-clip-ef")]
    public void TwoRanksHoldIdenticalWeightsAfterEveryStep(string codec)
    {
        // 321 examples in batches of 64: five full steps and a last batch of one example, so rank 1's last shard is empty.
        var ckpt = Path.Combine(_dir.FullName, "m.ckpt");
        var r = Run(2, "train", "--model", "lenet-300-100", "--epochs", "1", "--limit", "321", "--batch-size", "64", "--distributed",
            "--grad-codec", codec, "--weight-checksums", "sums", "--out", ckpt, "--json");
        Assert.True(r.ExitCode == 0, r.Stderr);
        using var doc = JsonDocument.Parse(r.Stdout); // one JSON document: only rank 0 writes results
        var d = doc.RootElement.GetProperty("distributed");
        Assert.Equal(2, d.GetProperty("ranks").GetInt32());
        Assert.Equal(6, d.GetProperty("steps").GetInt64());
        double bytes = d.GetProperty("gradient_bytes_per_step").GetDouble(), fp32 = d.GetProperty("fp32_gradient_bytes_per_step").GetDouble();
        Assert.Equal(4.0 * 266_610, fp32);
        if (codec == "fp32") Assert.Equal(fp32, bytes);
        else Assert.True(fp32 / bytes >= 12, $"2-bit gradients send {bytes} bytes per step vs {fp32}");
        Assert.True(File.Exists(ckpt));
        Assert.Single(File.ReadAllLines(ckpt + ".jsonl"));

        var rank0 = File.ReadAllLines(Path.Combine(_dir.FullName, "sums", "rank-0.txt"));
        var rank1 = File.ReadAllLines(Path.Combine(_dir.FullName, "sums", "rank-1.txt"));
        Assert.Equal(Enumerable.Range(1, 6).Select(s => s.ToString()), rank0.Select(l => l.Split(' ')[0]));
        Assert.Equal(rank0, rank1);
        Assert.Equal(6, rank0.Select(l => l.Split(' ')[1]).Distinct().Count()); // the weights really change every step
    }

    [Fact]
    public void ARankKilledMidRunEndsTheWholeJobWithAClearError()
    {
        using var p = Start(2, "train", "--model", "lenet-300-100", "--epochs", "200", "--limit", "640", "--batch-size", "64", "--distributed",
            "--weight-checksums", "sums", "--out", Path.Combine(_dir.FullName, "m.ckpt"));
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        try
        {
            KillRankOneAndWatch(p, stderr);
        }
        finally
        {
            if (!p.HasExited) p.Kill(entireProcessTree: true);
        }
        _ = stdout.Result;
    }

    private void KillRankOneAndWatch(Process p, Task<string> stderr)
    {
        // mpirun starts the ranks as its children; OMPI_COMM_WORLD_RANK in a child's environment names its rank.
        int victim = WaitForRankOne(p, stderr);
        Process.GetProcessById(victim).Kill();
        var killed = Stopwatch.StartNew();
        bool ended = p.WaitForExit(TimeSpan.FromSeconds(60));
        Assert.True(ended, "the job was still running 60 s after rank 1 died");
        Assert.NotEqual(0, p.ExitCode);
        Assert.Contains("rank 1", stderr.Result);
        Assert.True(killed.Elapsed < TimeSpan.FromSeconds(30), $"the job took {killed.Elapsed.TotalSeconds:F0} s to end");
    }

    [Fact]
    public void ARankThatHangsEndsTheJobThroughTheStepTimeout()
    {
        using var p = Start(2, "train", "--model", "lenet-300-100", "--epochs", "200", "--limit", "640", "--batch-size", "64", "--distributed",
            "--step-timeout", "10", "--weight-checksums", "sums", "--out", Path.Combine(_dir.FullName, "m.ckpt"));
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        int victim = -1;
        try
        {
            victim = WaitForRankOne(p, stderr);
            Signal("STOP", victim); // alive but making no progress: rank 0 waits in the gradient allgather
            var stopped = Stopwatch.StartNew();
            bool ended = p.WaitForExit(TimeSpan.FromSeconds(90));
            Assert.True(ended, "the job was still running 90 s after rank 1 stopped");
            Assert.NotEqual(0, p.ExitCode);
            Assert.Contains("error: rank 0 of 2: a training step made no progress for 10 s", stderr.Result);
            Assert.True(stopped.Elapsed < TimeSpan.FromSeconds(60), $"the job took {stopped.Elapsed.TotalSeconds:F0} s to end");
        }
        finally
        {
            if (victim > 0) Signal("CONT", victim);
            if (!p.HasExited) p.Kill(entireProcessTree: true);
        }
        _ = stdout.Result;
    }

    private static void Signal(string signal, int pid)
    {
        using var kill = Process.Start(new ProcessStartInfo("kill") { ArgumentList = { "-" + signal, pid.ToString() } })!;
        kill.WaitForExit();
    }

    /// <summary>Waits until rank 1 has done 3 steps and returns its process id (a child of mpirun with OMPI_COMM_WORLD_RANK=1).</summary>
    private int WaitForRankOne(Process p, Task<string> stderr)
    {
        var sums = Path.Combine(_dir.FullName, "sums", "rank-1.txt");
        var wait = Stopwatch.StartNew();
        while (!(File.Exists(sums) && File.ReadAllLines(sums).Length >= 3))
        {
            if (p.HasExited) Assert.Fail($"the job ended before the test could act: {stderr.Result}");
            Assert.True(wait.Elapsed < TimeSpan.FromMinutes(2), "training did not start within 2 minutes");
            Thread.Sleep(100);
        }
        return Directory.GetDirectories("/proc").Select(d => int.TryParse(Path.GetFileName(d), out var pid) ? pid : -1)
            .Where(pid => pid > 0 && ParentOf(pid) == p.Id && RankOf(pid) == "1").Single();
    }

    private static int ParentOf(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            return int.Parse(fields[1]);
        }
        catch (IOException) { return -1; }
        catch (UnauthorizedAccessException) { return -1; }
    }

    private static string? RankOf(int pid)
    {
        try
        {
            return File.ReadAllText($"/proc/{pid}/environ").Split('\0')
                .FirstOrDefault(e => e.StartsWith("OMPI_COMM_WORLD_RANK=", StringComparison.Ordinal))?.Split('=')[1];
        }
        catch (IOException) { return null; }
        catch (UnauthorizedAccessException) { return null; }
    }

    [Fact]
    public void CompressRunsDataParallelWithALossAwareStage()
    {
        File.WriteAllText(Path.Combine(_dir.FullName, "laq.yaml"), """
            name: tiny-laq3
            stages:
              - method: loss-aware
                layers: { include: ["fc1", "fc2", "fc3"] }
                quantizer: laq-linear
                bits: 3
                fine-tune: { epochs: 1, optimizer: adam, lr: 0.001, batch-size: 64 }
            """);
        var r = Run(2, "compress", "--recipe", "laq.yaml", "--model", "lenet-300-100", "--baseline-epochs", "1", "--limit", "256",
            "--distributed", "--grad-codec", "q4", "--weight-checksums", "sums", "--out", "m.slim", "--json");
        Assert.True(r.ExitCode == 0, r.Stderr);
        using var doc = JsonDocument.Parse(r.Stdout);
        Assert.Equal(2, doc.RootElement.GetProperty("distributed").GetProperty("ranks").GetInt32());
        Assert.Equal(6, doc.RootElement.GetProperty("distributed").GetProperty("steps").GetInt64()); // 2 baseline steps (batch 128) + 4 fine-tuning steps (batch 64)
        Assert.True(File.Exists(Path.Combine(_dir.FullName, "m.slim")));
        Assert.True(File.Exists(Path.Combine(_dir.FullName, "m.slim.baseline.ckpt")));
        var rank0 = File.ReadAllLines(Path.Combine(_dir.FullName, "sums", "rank-0.txt"));
        Assert.Equal(6, rank0.Length);
        Assert.Equal(rank0, File.ReadAllLines(Path.Combine(_dir.FullName, "sums", "rank-1.txt")));
    }

    [Fact]
    public void OneRankWithFp32GradientsTrainsExactlyLikeAPlainRun()
    {
        var plain = CliRunner.Run(_dir.FullName, "train", "--model", "lenet-300-100", "--epochs", "1", "--limit", "300", "--batch-size", "64", "--out", "plain.ckpt", "--json");
        Assert.True(plain.ExitCode == 0, plain.Stderr);
        var one = Run(1, "train", "--model", "lenet-300-100", "--epochs", "1", "--limit", "300", "--batch-size", "64", "--distributed", "--out", "one.ckpt", "--json");
        Assert.True(one.ExitCode == 0, one.Stderr);
        using var a = JsonDocument.Parse(plain.Stdout);
        using var b = JsonDocument.Parse(one.Stdout);
        Assert.Equal(a.RootElement.GetProperty("test_accuracy").GetDouble(), b.RootElement.GetProperty("test_accuracy").GetDouble());
        var eval = CliRunner.Run(_dir.FullName, "export", "--checkpoint", "plain.ckpt", "--out", "plain.slim");
        Assert.True(eval.ExitCode == 0, eval.Stderr);
        eval = CliRunner.Run(_dir.FullName, "export", "--checkpoint", "one.ckpt", "--out", "one.slim");
        Assert.True(eval.ExitCode == 0, eval.Stderr);
        Assert.Equal(File.ReadAllBytes(Path.Combine(_dir.FullName, "plain.slim")), File.ReadAllBytes(Path.Combine(_dir.FullName, "one.slim")));
    }

    [Fact]
    public void GradSweepWritesTheWeightQuantizerByCodecTable()
    {
        var r = Run(2, "grad-sweep", "--epochs", "1", "--limit", "200", "--batch-size", "64", "--weights", "fp,lab", "--codecs", "fp32,q2-clip", "--out", "sweep", "--json");
        Assert.True(r.ExitCode == 0, r.Stderr);
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(_dir.FullName, "sweep", "grad-sweep.json")));
        var cells = doc.RootElement.GetProperty("cells").EnumerateArray().ToList();
        Assert.Equal(new[] { "fp/fp32", "fp/q2-clip", "lab/fp32", "lab/q2-clip" },
            cells.Select(c => c.GetProperty("weights").GetString() + "/" + c.GetProperty("codec").GetString()));
        foreach (var c in cells)
        {
            Assert.Equal(4, c.GetProperty("steps").GetInt64());
            Assert.InRange(c.GetProperty("test_accuracy").GetDouble(), 0.15, 1.0);
            double ratio = c.GetProperty("fp32_bytes_per_step").GetDouble() / c.GetProperty("gradient_bytes_per_step").GetDouble();
            Assert.True(c.GetProperty("codec").GetString() == "fp32" ? ratio == 1 : ratio >= 12, $"ratio {ratio}");
        }
        var table = File.ReadAllText(Path.Combine(_dir.FullName, "sweep", "grad-sweep.md"));
        Assert.Contains("| weights | fp32 | q2-clip |", table);
        Assert.Contains("| lab | ", table);
    }

    [Fact]
    public void CodecOptionsAreCheckedBeforeAnyWork()
    {
        var r = CliRunner.Run(_dir.FullName, "train", "--model", "lenet-300-100", "--grad-codec", "q2");
        Assert.Equal(2, r.ExitCode);
        Assert.Equal("error: --grad-codec needs --distributed", r.StderrLines.Single());
        r = CliRunner.Run(_dir.FullName, "train", "--model", "lenet-300-100", "--step-timeout", "5");
        Assert.Equal("error: --step-timeout needs --distributed", r.StderrLines.Single());
        r = CliRunner.Run(_dir.FullName, "train", "--model", "lenet-300-100", "--distributed", "--grad-codec", "q1");
        Assert.Equal(2, r.ExitCode);
        Assert.StartsWith("error: --grad-codec: gradient codec must be fp32 or qM", r.StderrLines.Single());
        r = CliRunner.Run(_dir.FullName, "grad-sweep", "--weights", "fp,lax", "--out", "x");
        Assert.Equal(2, r.ExitCode);
        Assert.StartsWith("error: --weights: unknown weight quantizer 'lax'", r.StderrLines.Single());
    }
}
