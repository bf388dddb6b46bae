using System.CommandLine;
using System.Diagnostics;
using SlimNet.Format;

namespace SlimNet.Cli.Commands;

/// <summary>
/// <c>slimnet fuzz</c>: runs <see cref="SlimFuzzer"/> — valid .slim files of every encoding, mutated and truncated —
/// and reports how many cases read, were rejected with a <see cref="SlimFormatException"/>, crashed (any other
/// exception) or were slow. Exit code 1 when any case crashed or was slow.
/// </summary>
public static class FuzzCommand
{
    /// <summary>Creates the command.</summary>
    public static Command Create()
    {
        var cases = new Option<int>("--cases") { Description = "Number of mutated files to read", DefaultValueFactory = _ => 100_000 };
        var seed = new Option<int>("--seed") { Description = "Random seed (same seed, same cases)", DefaultValueFactory = _ => 1 };
        var json = CommonOptions.Json();
        var cmd = new Command("fuzz", "Fuzz the .slim reader with mutated and truncated files") { cases, seed, json };
        cmd.SetAction(parse => ExitCodes.Guard(() =>
        {
            var output = new CliOutput(parse.GetValue(json));
            int n = parse.GetValue(cases);
            if (n < 1) throw new UserInputException($"--cases must be at least 1, got {n}");
            int s = parse.GetValue(seed);
            var sw = Stopwatch.StartNew();
            var result = RunCommand.Progress(output, $"fuzzing {n:N0} cases", n, report =>
                SlimFuzzer.Run(n, s, new InlineProgress(report)));
            sw.Stop();
            output.Result(new
            {
                cases = result.Cases,
                seed = s,
                ok = result.Ok,
                rejected = result.Rejected,
                crashed = result.Crashed,
                slow = result.Slow,
                passed = result.Passed,
                seconds = sw.Elapsed.TotalSeconds,
                failures = result.Failures,
            }, console =>
            {
                console.MarkupLine($"{result.Cases:N0} cases (seed {s}) in {sw.Elapsed.TotalSeconds:F1} s: {result.Ok:N0} ok, {result.Rejected:N0} rejected, " +
                                   $"[{(result.Crashed == 0 ? "green" : "red")}]{result.Crashed:N0} crashed[/], [{(result.Slow == 0 ? "green" : "red")}]{result.Slow:N0} slow[/]");
                foreach (var f in result.Failures) console.MarkupLine($"  [red]{Markup.Escape(f)}[/]");
            });
            if (!result.Passed)
            {
                Console.Error.WriteLine($"error: {result.Crashed} case(s) crashed and {result.Slow} were slow (first: {result.Failures.FirstOrDefault()})");
                return ExitCodes.Failed;
            }
            return ExitCodes.Ok;
        }));
        return cmd;
    }

    // Progress<T> posts to the thread pool; the bar wants the count synchronously.
    private sealed class InlineProgress(Action<int> report) : IProgress<int>
    {
        public void Report(int value) => report(value);
    }
}
