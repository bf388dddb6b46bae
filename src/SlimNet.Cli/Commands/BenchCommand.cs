using System.CommandLine;
using System.Diagnostics;
using SlimNet.Runtime;
using SlimNet.Training.Checkpoints;
using SlimNet.Training.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace SlimNet.Cli.Commands;

/// <summary>
/// <c>slimnet bench FILE.slim</c>: batch-1 latency and batch-64 throughput of the pure C# runtime, side by side with the
/// same model in TorchSharp (a <see cref="GraphModule"/> rebuilt from the file's graph and decoded weights, eval mode,
/// no gradients). Both sides run single-threaded by default (the runtime is single-threaded; TorchSharp gets
/// <c>--torch-threads</c>, default 1), see the same random inputs, warm up first, and report the median of many timed
/// iterations. Ratios: <c>batch1_latency_ratio</c> = runtime / TorchSharp latency (≤ 1: the runtime is no slower);
/// <c>batch64_throughput_ratio</c> = runtime / TorchSharp examples per second (≥ 1: the runtime is no slower).
/// </summary>
public static class BenchCommand
{
    private const int LargeBatch = 64;

    /// <summary>Creates the command.</summary>
    public static Command Create()
    {
        var file = new Argument<string>("file") { Description = "The .slim file" };
        var seconds = new Option<double>("--seconds") { Description = "Time spent measuring each case (after warm-up)", DefaultValueFactory = _ => 2.0 };
        var torchThreads = new Option<int>("--torch-threads") { Description = "TorchSharp compute threads (the runtime uses one)", DefaultValueFactory = _ => 1 };
        var json = CommonOptions.Json();
        var cmd = new Command("bench", "Time the pure C# runtime against TorchSharp on the same model (batch 1 and batch 64)") { file, seconds, torchThreads, json };
        cmd.SetAction(parse => ExitCodes.Guard(() =>
        {
            var output = new CliOutput(parse.GetValue(json));
            double budget = parse.GetValue(seconds);
            if (!(budget > 0 && budget <= 600)) throw new UserInputException($"--seconds must be in (0, 600], got {budget}");
            int threads = parse.GetValue(torchThreads);
            if (threads < 1 || threads > 1024) throw new UserInputException($"--torch-threads must be in 1..1024, got {threads}");
            var slim = SlimModelFile.Open(parse.GetValue(file)!);
            var session = slim.CreateSession(LargeBatch);
            int inSize = session.InputSize, outSize = session.OutputSize;

            var rng = new Random(1);
            var input = new float[LargeBatch * inSize];
            for (int i = 0; i < input.Length; i++) input[i] = (float)(rng.NextDouble() * 2 - 1);
            var runtimeOut = new float[LargeBatch * outSize];

            torch.set_num_threads(threads);
            using var module = new GraphModule(slim.Model.Graph);
            ModelTensors.Restore(module, slim.DenseTensors(), slim.Path);
            module.eval();
            using var noGrad = torch.no_grad();
            long[] shape1 = [1, .. slim.Model.Graph.InputShape.Select(d => (long)d)];
            long[] shape64 = [LargeBatch, .. slim.Model.Graph.InputShape.Select(d => (long)d)];
            using var x64 = torch.tensor(input, shape64);
            using var x1 = torch.tensor(input.AsSpan(0, inSize).ToArray(), shape1);

            // Agreement check on the batch of 64 (same inputs, same weights).
            session.Run(input, LargeBatch, runtimeOut);
            float maxDiff;
            using (var scope = torch.NewDisposeScope())
            {
                var y = module.forward(x64).contiguous().data<float>().ToArray();
                maxDiff = 0;
                for (int i = 0; i < y.Length; i++) maxDiff = Math.Max(maxDiff, Math.Abs(y[i] - runtimeOut[i]));
            }

            var cases = new (string Name, Action Body, int Batch)[]
            {
                ("runtime batch 1", () => session.Run(input.AsSpan(0, inSize), 1, runtimeOut), 1),
                ("torchsharp batch 1", () => { using var s = torch.NewDisposeScope(); module.forward(x1); }, 1),
                ($"runtime batch {LargeBatch}", () => session.Run(input, LargeBatch, runtimeOut), LargeBatch),
                ($"torchsharp batch {LargeBatch}", () => { using var s = torch.NewDisposeScope(); module.forward(x64); }, LargeBatch),
            };
            var medians = RunCommand.Progress(output, $"benchmarking {slim.Model.Graph.Name}", cases.Length, report =>
            {
                var m = new double[cases.Length];
                for (int i = 0; i < cases.Length; i++)
                {
                    m[i] = MedianSeconds(cases[i].Body, budget);
                    report(i + 1);
                }
                return m;
            });
            double rt1 = medians[0], ts1 = medians[1], rt64 = medians[2], ts64 = medians[3];
            var result = new
            {
                file = slim.Path,
                model = slim.Model.Graph.Name,
                runtime_threads = 1,
                torchsharp_threads = threads,
                simd = SimdWidth(),
                max_abs_logit_difference = maxDiff,
                runtime = new { batch1_latency_ms = rt1 * 1e3, batch64_ms = rt64 * 1e3, batch64_examples_per_second = LargeBatch / rt64 },
                torchsharp = new { batch1_latency_ms = ts1 * 1e3, batch64_ms = ts64 * 1e3, batch64_examples_per_second = LargeBatch / ts64 },
                batch1_latency_ratio = rt1 / ts1,
                batch64_throughput_ratio = ts64 / rt64,
            };
            output.Result(result, console =>
            {
                console.MarkupLine($"{Markup.Escape(slim.Model.Graph.Name)}: runtime 1 thread ({Markup.Escape(result.simd)}), TorchSharp {threads} thread(s); " +
                                   $"max |logit difference| {maxDiff:G3}; medians after warm-up");
                var table = new Table().Border(TableBorder.Rounded);
                table.AddColumn("case");
                table.AddColumn(new TableColumn("runtime") { Alignment = Justify.Right });
                table.AddColumn(new TableColumn("TorchSharp") { Alignment = Justify.Right });
                table.AddColumn(new TableColumn("runtime / TorchSharp") { Alignment = Justify.Right });
                table.AddRow("batch 1 latency", $"{rt1 * 1e6:N1} µs", $"{ts1 * 1e6:N1} µs", Ratio(rt1 / ts1, lowerIsBetter: true));
                table.AddRow($"batch {LargeBatch} throughput", $"{LargeBatch / rt64:N0} ex/s", $"{LargeBatch / ts64:N0} ex/s", Ratio(ts64 / rt64, lowerIsBetter: false));
                console.Write(table);
            });
            return ExitCodes.Ok;
        }));
        return cmd;
    }

    private static string SimdWidth() =>
        System.Runtime.Intrinsics.Vector512.IsHardwareAccelerated ? "Vector512"
        : System.Runtime.Intrinsics.Vector256.IsHardwareAccelerated ? "Vector256"
        : System.Runtime.Intrinsics.Vector128.IsHardwareAccelerated ? "Vector128" : "scalar";

    private static string Ratio(double r, bool lowerIsBetter)
    {
        bool good = lowerIsBetter ? r <= 1 : r >= 1;
        return $"[{(good ? "green" : "yellow")}]{r:F2}x[/]";
    }

    /// <summary>Warms <paramref name="body"/> up, then times single calls for about <paramref name="budgetSeconds"/>; returns the median in seconds.</summary>
    private static double MedianSeconds(Action body, double budgetSeconds)
    {
        var warm = Stopwatch.StartNew();
        int warmups = 0;
        while (warmups < 5 || (warm.Elapsed.TotalSeconds < budgetSeconds / 4 && warmups < 1000)) { body(); warmups++; }
        var times = new List<double>();
        var total = Stopwatch.StartNew();
        while (times.Count < 10 || (total.Elapsed.TotalSeconds < budgetSeconds && times.Count < 100_000))
        {
            long t0 = Stopwatch.GetTimestamp();
            body();
            times.Add(Stopwatch.GetElapsedTime(t0).TotalSeconds);
        }
        times.Sort();
        return times[times.Count / 2];
    }
}
