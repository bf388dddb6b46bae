using System.CommandLine;
using SlimNet.Cli.Commands;

namespace SlimNet.Cli;

/// <summary>Builds the root command with every subcommand and runs it.</summary>
public static class SlimNetCommandLine
{
    /// <summary>The <c>slimnet</c> root command.</summary>
    public static RootCommand Create()
    {
        var root = new RootCommand("SlimNet: train, compress, inspect and run small deep networks.");
        root.Add(ModelsCommand.Create());
        root.Add(TrainCommand.Create());
        root.Add(EvalCommand.Create());
        root.Add(CompressCommand.Create());
        root.Add(ExportCommand.Create());
        root.Add(InspectCommand.Create());
        root.Add(RunCommand.Create());
        root.Add(BenchCommand.Create());
        root.Add(FuzzCommand.Create());
        root.Add(SensitivityCommand.Create());
        root.Add(ReportCommand.Create());
        root.Add(MpiCheckCommand.Create());
        root.Add(GradSweepCommand.Create());
        root.Add(ImportanceSweepCommand.Create());
        root.Add(GenerateCommand.Create());
        root.Add(LstmSweepCommand.Create());
        return root;
    }

    /// <summary>Parses and runs <paramref name="args"/>; returns the exit code (see <see cref="ExitCodes"/>).</summary>
    public static int Run(string[] args)
    {
        var root = Create();
        var parse = root.Parse(args);
        if (parse.Errors.Count > 0)
        {
            Console.Error.WriteLine($"error: {parse.Errors[0].Message} (see 'slimnet {string.Join(' ', CommandPath(parse))} --help')");
            return ExitCodes.BadInput;
        }
        return parse.Invoke();
    }

    private static IEnumerable<string> CommandPath(ParseResult parse)
    {
        var names = new List<string>();
        for (var r = parse.CommandResult; r is not null; r = r.Parent as System.CommandLine.Parsing.CommandResult)
            if (r.Command is not RootCommand) names.Insert(0, r.Command.Name);
        return names;
    }
}
