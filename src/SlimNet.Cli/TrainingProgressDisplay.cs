using SlimNet.Training.Trainer;
using Spectre.Console;

namespace SlimNet.Cli;

/// <summary>
/// Shows training progress: a Spectre progress bar per epoch (loss, accuracy, examples/s) on a terminal, or one
/// plain line per epoch when output is redirected or in JSON mode (then on stderr).
/// </summary>
public sealed class TrainingProgressDisplay : ILanguageModelProgress
{
    private readonly CliOutput _output;
    private ProgressContext? _live;
    private ProgressTask? _task;

    /// <summary>Creates a display writing to <paramref name="output"/>.</summary>
    public TrainingProgressDisplay(CliOutput output) => _output = output;

    /// <summary>Runs <paramref name="body"/> inside a live progress display when the console is interactive.</summary>
    public T Run<T>(Func<T> body)
    {
        if (!_output.Interactive) return body();
        return _output.Human.Progress()
            .AutoClear(false)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn())
            .Start(ctx =>
            {
                _live = ctx;
                try { return body(); }
                finally { _live = null; }
            });
    }

    /// <inheritdoc />
    public void EpochStarted(int epoch, int totalEpochs, int batches)
    {
        if (_live is null) return;
        _task = _live.AddTask($"epoch {epoch + 1}/{totalEpochs}", maxValue: batches);
    }

    /// <inheritdoc />
    public void BatchDone(int epoch, int batch, double loss, double accuracy, double examplesPerSecond)
    {
        if (_task is null) return;
        _task.Value = batch + 1;
        if (batch % 20 == 0)
            _task.Description = $"epoch {epoch + 1}: loss {loss:F4} acc {accuracy:P1} {examplesPerSecond:N0} ex/s";
    }

    /// <inheritdoc />
    public void EpochDone(EpochRecord r) =>
        Finish($"epoch {r.Epoch}: lr {r.LearningRate:G3}  train loss {r.TrainLoss:F4}  train acc {r.TrainAccuracy:P2}  test acc {r.TestAccuracy:P2}  {r.Seconds:F1}s ({r.ExamplesPerSecond:N0} ex/s)");

    /// <inheritdoc />
    public void LanguageEpochDone(LanguageEpochRecord r) =>
        Finish($"epoch {r.Epoch}: lr {r.LearningRate:G3}  train {r.TrainBpc:F4} bpc  validation {r.ValidationBpc:F4} bpc ({r.ValidationAccuracy:P1} exact)  {r.Seconds:F1}s ({r.CharactersPerSecond:N0} chars/s)");

    private void Finish(string line)
    {
        if (_task is not null)
        {
            _task.Description = line;
            _task.Value = _task.MaxValue;
            _task.StopTask();
            _task = null;
        }
        else
        {
            _output.Info(line);
        }
    }
}
