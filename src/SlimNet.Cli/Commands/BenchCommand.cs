using System.CommandLine;
using System.Diagnostics;
using SlimNet.Format;
using SlimNet.Runtime;
using SlimNet.Runtime.Benchmarks;
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
/// The same run also times the runtime on the model with every tensor decoded to dense float32 (what compression
/// saves at run time): <c>sparse_speedup_batch1</c> = dense runtime / runtime latency, <c>sparse_speedup_batch64</c> likewise
/// for the batch of 64 (≥ 1: the compressed model runs faster). Cases of one batch size run interleaved, call by
/// call, so drifting machine load touches every side alike.
/// </summary>
public static class BenchCommand
{
    private const int LargeBatch = 64;

    /// <summary>Creates the command.</summary>
    public static Command Create()
    {
        var file = new Argument<string?>("file") { Description = "The .slim file (not with --kernels)", Arity = ArgumentArity.ZeroOrOne };
        var kernels = new Option<bool>("--kernels")
        {
            Description = "Instead of a model: time the low-bit kernels (LQ bit-op W1/A2, W2/A2, W3/A3; binary and ternary sign-mask) " +
                          "against the fp32 dense kernel of the same shape, batch 1 and 64, in one run, and print the speed-ups",
        };
        var shape = new Option<string>("--shape") { Description = "With --kernels: the layer as OUTxIN", DefaultValueFactory = _ => "1024x1024" };
        var seconds = new Option<double>("--seconds") { Description = "Time spent measuring each case (after warm-up)", DefaultValueFactory = _ => 2.0 };
        var torchThreads = new Option<int>("--torch-threads") { Description = "TorchSharp compute threads (the runtime uses one)", DefaultValueFactory = _ => 1 };
        var json = CommonOptions.Json();
        var cmd = new Command("bench", "Time the pure C# runtime against TorchSharp on the same model (batch 1 and batch 64), or the low-bit kernels against fp32 dense (--kernels)")
            { file, seconds, torchThreads, kernels, shape, json };
        cmd.SetAction(parse => ExitCodes.Guard(() =>
        {
            var output = new CliOutput(parse.GetValue(json));
            double budget = parse.GetValue(seconds);
            if (!(budget > 0 && budget <= 600)) throw new UserInputException($"--seconds must be in (0, 600], got {budget}");
            if (parse.GetValue(kernels))
            {
                if (parse.GetValue(file) != null) throw new UserInputException("--kernels times synthetic layers: give no .slim file with it");
                return KernelBench(output, parse.GetValue(shape)!, budget);
            }
            if (parse.GetValue(file) == null) throw new UserInputException("a .slim file is required (or --kernels)");
            int threads = parse.GetValue(torchThreads);
            if (threads < 1 || threads > 1024) throw new UserInputException($"--torch-threads must be in 1..1024, got {threads}");
            var slim = SlimModelFile.Open(parse.GetValue(file)!);
            var session = slim.CreateSession(LargeBatch);
            // The same model with every tensor decoded to dense float32: what the runtime does without compression.
            var denseModel = new SlimModel(slim.Model.Graph,
                slim.Model.Tensors.Select(t => SlimTensor.Dense(t.Name, t.Shape, t.ToDense())).ToArray(), slim.Model.Metadata);
            var denseSession = InferenceSession.Load(denseModel, LargeBatch);
            var denseOut = new float[LargeBatch * session.OutputSize];
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

            // Agreement checks (same inputs, same weights): TorchSharp on the batch of 64; the dense runtime at batch 1 and 64.
            session.Run(input.AsSpan(0, inSize), 1, runtimeOut);
            denseSession.Run(input.AsSpan(0, inSize), 1, denseOut);
            float denseDiff = 0;
            for (int i = 0; i < outSize; i++) denseDiff = Math.Max(denseDiff, Math.Abs(denseOut[i] - runtimeOut[i]));
            denseSession.Run(input, LargeBatch, denseOut);
            session.Run(input, LargeBatch, runtimeOut);
            for (int i = 0; i < denseOut.Length; i++) denseDiff = Math.Max(denseDiff, Math.Abs(denseOut[i] - runtimeOut[i]));
            float maxDiff;
            using (var scope = torch.NewDisposeScope())
            {
                var y = module.forward(x64).contiguous().data<float>().ToArray();
                maxDiff = 0;
                for (int i = 0; i < y.Length; i++) maxDiff = Math.Max(maxDiff, Math.Abs(y[i] - runtimeOut[i]));
            }

            // Each group's cases run interleaved, call by call, so drifting load on a shared machine touches them alike.
            var groups = new Action[][]
            {
                [
                    () => session.Run(input.AsSpan(0, inSize), 1, runtimeOut),
                    () => denseSession.Run(input.AsSpan(0, inSize), 1, denseOut),
                    () => { using var s = torch.NewDisposeScope(); module.forward(x1); },
                ],
                [
                    () => session.Run(input, LargeBatch, runtimeOut),
                    () => denseSession.Run(input, LargeBatch, denseOut),
                    () => { using var s = torch.NewDisposeScope(); module.forward(x64); },
                ],
            };
            var medians = RunCommand.Progress(output, $"benchmarking {slim.Model.Graph.Name}", groups.Length, report =>
            {
                var m = new List<double>();
                for (int i = 0; i < groups.Length; i++)
                {
                    m.AddRange(MedianSeconds(groups[i], budget * groups[i].Length));
                    report(i + 1);
                }
                return m;
            });
            double rt1 = medians[0], dn1 = medians[1], ts1 = medians[2], rt64 = medians[3], dn64 = medians[4], ts64 = medians[5];
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
                dense_runtime = new { batch1_latency_ms = dn1 * 1e3, batch64_ms = dn64 * 1e3, batch64_examples_per_second = LargeBatch / dn64 },
                max_abs_dense_logit_difference = denseDiff,
                sparse_speedup_batch1 = dn1 / rt1,
                sparse_speedup_batch64 = dn64 / rt64,
                plan = session.Plan,
                batch1_latency_ratio = rt1 / ts1,
                batch64_throughput_ratio = ts64 / rt64,
            };
            output.Result(result, console =>
            {
                console.MarkupLine($"{Markup.Escape(slim.Model.Graph.Name)}: runtime 1 thread ({Markup.Escape(result.simd)}), TorchSharp {threads} thread(s); " +
                                   $"max |logit difference| {maxDiff:G3} (vs dense runtime {denseDiff:G3}); medians after warm-up");
                var table = new Table().Border(TableBorder.Rounded);
                table.AddColumn("case");
                table.AddColumn(new TableColumn("runtime") { Alignment = Justify.Right });
                table.AddColumn(new TableColumn("TorchSharp") { Alignment = Justify.Right });
                table.AddColumn(new TableColumn("runtime / TorchSharp") { Alignment = Justify.Right });
                table.AddColumn(new TableColumn("dense runtime") { Alignment = Justify.Right });
                table.AddColumn(new TableColumn("speed-up over dense runtime") { Alignment = Justify.Right });
                table.AddRow("batch 1 latency", $"{rt1 * 1e6:N1} µs", $"{ts1 * 1e6:N1} µs", Ratio(rt1 / ts1, lowerIsBetter: true),
                    $"{dn1 * 1e6:N1} µs", Ratio(dn1 / rt1, lowerIsBetter: false));
                table.AddRow($"batch {LargeBatch} throughput", $"{LargeBatch / rt64:N0} ex/s", $"{LargeBatch / ts64:N0} ex/s", Ratio(ts64 / rt64, lowerIsBetter: false),
                    $"{LargeBatch / dn64:N0} ex/s", Ratio(dn64 / rt64, lowerIsBetter: false));
                console.Write(table);
            });
            return ExitCodes.Ok;
        }));
        return cmd;
    }

    /// <summary>
    /// <c>bench --kernels</c>: every low-bit kernel on a random OUT×IN layer next to <c>DenseKernels.Gemm</c> (the runtime's
    /// fp32 kernel) on the same values as float32, rounds interleaved, fastest round of each; speed-up = dense / kernel.
    /// </summary>
    private static int KernelBench(CliOutput output, string shapeText, double budget)
    {
        var parts = shapeText.Split('x', 'X');
        if (parts.Length != 2 || !int.TryParse(parts[0], out int rows) || !int.TryParse(parts[1], out int cols) || rows < 1 || cols < 1
            || rows > 16384 || cols > 16384)
            throw new UserInputException($"--shape must be OUTxIN with each in 1..16384, got '{shapeText}'");
        double each = Math.Max(0.05, budget / 8);
        var rowsOut = new List<KernelRow>();
        var cases = new List<Func<KernelRow>>();
        foreach (int batch in new[] { 1, LargeBatch })
        {
            foreach (var (kw, ka) in new[] { (1, 2), (2, 2), (3, 3) })
                cases.Add(() =>
                {
                    var t = KernelBenchmarks.MeasureBitOp(rows, cols, batch, kw, ka, each);
                    return new KernelRow($"bit-op W{kw}/A{ka}", batch, t.BitOpNanoseconds / 1e3, t.DenseNanoseconds / 1e3, t.BitOpSpeedup,
                        t.BitOpWithPackingNanoseconds / 1e3, t.WithPackingSpeedup);
                });
            foreach (bool binary in new[] { true, false })
                cases.Add(() =>
                {
                    var t = KernelBenchmarks.MeasureSignMask(rows, cols, batch, binary, each);
                    return new KernelRow(binary ? "sign-mask binary" : "sign-mask ternary", batch, t.SignMaskNanoseconds / 1e3, t.DenseNanoseconds / 1e3,
                        t.Speedup, null, null);
                });
        }
        RunCommand.Progress(output, $"timing low-bit kernels on {rows}x{cols}", cases.Count, report =>
        {
            for (int i = 0; i < cases.Count; i++)
            {
                rowsOut.Add(cases[i]());
                report(i + 1);
            }
            return 0;
        });
        var result = new
        {
            rows,
            cols,
            threads = 1,
            simd = SimdWidth(),
            dense_kernel = "DenseKernels.Gemm (fp32, 4x4 register tiles from batch 2, 4-row GEMV at batch 1)",
            kernels = rowsOut.Select(r => new
            {
                kernel = r.Kernel, batch = r.Batch, microseconds = r.Microseconds, dense_fp32_microseconds = r.DenseMicroseconds, speedup = r.Speedup,
                with_quantize_and_pack_microseconds = r.WithPackingMicroseconds, speedup_with_quantize_and_pack = r.WithPackingSpeedup,
            }).ToArray(),
        };
        output.Result(result, console =>
        {
            console.MarkupLine($"{rows}x{cols} layer, 1 thread ({Markup.Escape(result.simd)}); fastest of interleaved rounds; speed-up = fp32 dense time / kernel time");
            var table = new Table().Border(TableBorder.Rounded);
            table.AddColumn("kernel");
            table.AddColumn(new TableColumn("batch") { Alignment = Justify.Right });
            table.AddColumn(new TableColumn("kernel") { Alignment = Justify.Right });
            table.AddColumn(new TableColumn("fp32 dense") { Alignment = Justify.Right });
            table.AddColumn(new TableColumn("speed-up") { Alignment = Justify.Right });
            table.AddColumn(new TableColumn("with quantize + pack") { Alignment = Justify.Right });
            table.AddColumn(new TableColumn("speed-up (with)") { Alignment = Justify.Right });
            foreach (var r in rowsOut)
                table.AddRow(Markup.Escape(r.Kernel), r.Batch.ToString(), $"{r.Microseconds:N1} µs", $"{r.DenseMicroseconds:N1} µs", Ratio(r.Speedup, lowerIsBetter: false),
                    r.WithPackingMicroseconds is { } p ? $"{p:N1} µs" : "–", r.WithPackingSpeedup is { } s ? Ratio(s, lowerIsBetter: false) : "–");
            console.Write(table);
        });
        return ExitCodes.Ok;
    }

    private sealed record KernelRow(string Kernel, int Batch, double Microseconds, double DenseMicroseconds, double Speedup,
        double? WithPackingMicroseconds, double? WithPackingSpeedup);

    private static string SimdWidth() =>
        System.Runtime.Intrinsics.Vector512.IsHardwareAccelerated ? "Vector512"
        : System.Runtime.Intrinsics.Vector256.IsHardwareAccelerated ? "Vector256"
        : System.Runtime.Intrinsics.Vector128.IsHardwareAccelerated ? "Vector128" : "scalar";

    private static string Ratio(double r, bool lowerIsBetter)
    {
        bool good = lowerIsBetter ? r <= 1 : r >= 1;
        return $"[{(good ? "green" : "yellow")}]{r:F2}x[/]";
    }

    /// <summary>Warms the <paramref name="bodies"/> up, then times single calls of each in turn for about
    /// <paramref name="budgetSeconds"/> in all; returns each body's median in seconds.</summary>
    private static double[] MedianSeconds(Action[] bodies, double budgetSeconds)
    {
        var warm = Stopwatch.StartNew();
        int warmups = 0;
        while (warmups < 5 || (warm.Elapsed.TotalSeconds < budgetSeconds / 4 && warmups < 1000))
        {
            foreach (var body in bodies) body();
            warmups++;
        }
        var times = bodies.Select(_ => new List<double>()).ToArray();
        var total = Stopwatch.StartNew();
        while (times[0].Count < 10 || (total.Elapsed.TotalSeconds < budgetSeconds && times[0].Count < 100_000))
            for (int i = 0; i < bodies.Length; i++)
            {
                long t0 = Stopwatch.GetTimestamp();
                bodies[i]();
                times[i].Add(Stopwatch.GetElapsedTime(t0).TotalSeconds);
            }
        return times.Select(t =>
        {
            t.Sort();
            return t[t.Count / 2];
        }).ToArray();
    }
}
