using System.CommandLine;
using SlimNet.Format.Graph;
using SlimNet.Training.Models;
using Spectre.Console;

namespace SlimNet.Cli.Commands;

/// <summary><c>slimnet models</c>: lists the model zoo with parameter counts and multiply-accumulates per input.</summary>
public static class ModelsCommand
{
    /// <summary>Creates the command.</summary>
    public static Command Create()
    {
        var json = CommonOptions.Json();
        var cmd = new Command("models", "List the model zoo: parameters and multiply-accumulates (MACs) per input") { json };
        cmd.SetAction(parse => ExitCodes.Guard(() =>
        {
            var output = new CliOutput(parse.GetValue(json));
            var rows = ModelZoo.Names.Select(ModelZoo.Get).Select(m => new
            {
                name = m.Name,
                description = m.Description,
                dataset = m.Dataset.ToString().ToLowerInvariant(),
                input_shape = m.Graph.InputShape,
                parameters = GraphShapes.TrainableParameterCount(m.Graph),
                macs_per_input = GraphShapes.MultiplyAccumulates(m.Graph),
                flops_per_input = 2 * GraphShapes.MultiplyAccumulates(m.Graph),
            }).ToList();
            output.Result(new { models = rows }, console =>
            {
                var table = new Table().AddColumns("model", "data", "input", "parameters", "MACs / input", "description");
                foreach (var r in rows)
                    table.AddRow(r.name, r.dataset, string.Join("×", r.input_shape), $"{r.parameters:N0}", $"{r.macs_per_input:N0}", Markup.Escape(r.description));
                console.Write(table);
            });
            return ExitCodes.Ok;
        }));
        return cmd;
    }
}
