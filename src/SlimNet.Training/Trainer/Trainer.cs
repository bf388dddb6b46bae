using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using SlimNet.Compression.Hooks;
using SlimNet.Compression.Optim;
using SlimNet.Training.Checkpoints;
using SlimNet.Training.Data;
using SlimNet.Training.Distributed;
using SlimNet.Training.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace SlimNet.Training.Trainer;

/// <summary>Training diverged: the loss became NaN or infinite.</summary>
public sealed class TrainingDivergedException(string message) : Exception(message);

/// <summary>What a finished training run returns.</summary>
public sealed record TrainResult(GraphModule Module, IReadOnlyList<EpochRecord> Epochs, double TestAccuracy, Checkpoint Checkpoint);

/// <summary>
/// The training loop (a session): builds the optimizer, runs epochs of minibatches, calls the compression hooks
/// at the points DESIGN.md names, evaluates after each epoch, writes a checkpoint atomically after each epoch,
/// and can resume from one. Deterministic for a seed: weights are initialised from <see cref="TrainerOptions.Seed"/>,
/// epoch e shuffles with a seed derived from (seed, e).
/// </summary>
public sealed class ModelTrainer
{
    private readonly ZooModel _model;
    private readonly TrainerOptions _options;
    private readonly DataSplits _data;
    private readonly IReadOnlyList<ITrainingHooks> _hooks;
    private readonly ITrainingProgress _progress;
    private readonly DataParallel? _parallel;

    /// <summary>Prepares a run; nothing happens until <see cref="Run"/>. With <paramref name="parallel"/>, this process is one
    /// rank of a data-parallel run (every rank calls <see cref="Run"/> with the same arguments); only rank 0 reports
    /// progress and writes checkpoints and logs.</summary>
    public ModelTrainer(ZooModel model, TrainerOptions options, DataSplits data, IReadOnlyList<ITrainingHooks>? hooks = null, ITrainingProgress? progress = null,
        DataParallel? parallel = null)
    {
        if (options.Validate() is { } problem) throw new ArgumentException(problem, nameof(options));
        var shape = model.Graph.InputShape;
        if (data.Train.Channels != shape[0] || data.Train.Height != shape[1] || data.Train.Width != shape[2])
            throw new ArgumentException($"model '{model.Name}' expects inputs {string.Join("×", shape)}, data '{data.Name}' has {data.Train.Channels}×{data.Train.Height}×{data.Train.Width}");
        _model = model;
        _options = options;
        _data = data.WithTrainLimit(options.Limit);
        _hooks = hooks ?? Array.Empty<ITrainingHooks>();
        _parallel = parallel;
        _progress = parallel is { IsRoot: false } ? SilentProgress.Instance : progress ?? SilentProgress.Instance;
    }

    /// <summary>A trained model whose outputs the student also learns (knowledge distillation with
    /// <see cref="TrainerOptions.DistillTemperature"/> and <see cref="TrainerOptions.DistillWeight"/>); run in eval mode,
    /// never changed. Null: plain cross-entropy.</summary>
    public GraphModule? Teacher { get; init; }

    /// <summary>
    /// The distillation loss, averaged over the batch: (1 − a)·CE(student, y) + a·T²·Σ_c p_c (log p_c − log q_c), where
    /// p = softmax(teacher/T) and q = softmax(student/T) (Hinton et al.; T² keeps the gradient scale of the soft term
    /// independent of T).
    /// </summary>
    public static Tensor DistillationLoss(Tensor student, Tensor teacher, Tensor labels, double temperature, double weight)
    {
        using var t = torch.tensor(temperature, dtype: student.dtype);
        var logQ = nn.functional.log_softmax(student / t, 1);
        var logP = nn.functional.log_softmax(teacher / t, 1);
        var kl = (logP.exp() * (logP - logQ)).sum(1).mean();
        var ce = nn.functional.cross_entropy(student, labels);
        using var a = torch.tensor(weight, dtype: student.dtype);
        using var b = torch.tensor(1 - weight, dtype: student.dtype);
        using var tt = torch.tensor(temperature * temperature, dtype: student.dtype);
        return ce * b + kl * a * tt;
    }

    /// <summary>Sets TorchSharp's thread count once per process (all cores unless SLIMNET_THREADS says otherwise).</summary>
    public static void ConfigureThreads()
    {
        int threads = int.TryParse(Environment.GetEnvironmentVariable("SLIMNET_THREADS"), out var t) && t > 0 ? t : Environment.ProcessorCount;
        if (torch.get_num_threads() != threads) torch.set_num_threads(threads);
    }

    /// <summary>Builds the zoo model's module with weights initialised from <paramref name="seed"/>.</summary>
    public static GraphModule CreateModule(ZooModel model, int seed)
    {
        torch.manual_seed(seed);
        return new GraphModule(model.Graph);
    }

    /// <summary>
    /// Trains. With <paramref name="resumeFrom"/>, the model, optimizer state and epoch counter are restored from
    /// it and training continues to <see cref="TrainerOptions.Epochs"/>. After every epoch a checkpoint goes to
    /// <paramref name="checkpointPath"/> (when given) and a line to <paramref name="logPath"/> (JSON lines).
    /// <paramref name="stopAfterEpochs"/> ends the run early after that many epochs in total (the checkpoint can be resumed).
    /// </summary>
    /// <param name="checkpointPath">Where to write a checkpoint after every epoch (null: none).</param>
    /// <param name="resumeFrom">Checkpoint to continue from.</param>
    /// <param name="logPath">JSON-lines log of epochs (null: none).</param>
    /// <param name="stopAfterEpochs">End after this many epochs in total.</param>
    /// <param name="module">Train this module (e.g. a trained model being fine-tuned by a compression stage) instead of a
    /// freshly initialised one; the caller keeps ownership.</param>
    public TrainResult Run(string? checkpointPath = null, Checkpoint? resumeFrom = null, string? logPath = null, int? stopAfterEpochs = null,
        GraphModule? module = null)
    {
        ConfigureThreads();
        if (_parallel is { IsRoot: false })
        {
            checkpointPath = null;
            logPath = null;
        }
        module ??= CreateModule(_model, _options.Seed);
        using var optimizer = CreateOptimizer(module);
        int startEpoch = 0;
        if (resumeFrom is not null)
        {
            if (resumeFrom.ModelName != _model.Name)
                throw new CheckpointException($"checkpoint is of model '{resumeFrom.ModelName}', not '{_model.Name}'");
            ModelTensors.Restore(module, resumeFrom.Model, "checkpoint");
            startEpoch = resumeFrom.Header["epochs_done"]?.GetValue<int>() ?? 0;
            long steps = resumeFrom.Header["step"]?.GetValue<long>() ?? 0;
            optimizer.LoadState(resumeFrom.Optimizer.Select(a =>
            {
                int slash = a.Name.LastIndexOf('/');
                return (a.Name[..slash], a.Name[(slash + 1)..], torch.tensor(a.Data, a.Shape));
            }).ToList(), steps);
            LoadHookState(resumeFrom);
        }

        _parallel?.Start(module);
        var loader = new DataLoader(_data.Train, _options.BatchSize, shuffle: true, seed: _options.Seed, _data.Normalization,
            _options.Augment ? CifarAugmentation.Standard : null);
        var context = new TrainingContext(module, optimizer, _options.Epochs, loader.BatchesPerEpoch) { Step = optimizer.StepCount };
        foreach (var h in _hooks) h.OnTrainingStart(context);

        var records = new List<EpochRecord>();
        double testAccuracy = resumeFrom?.Header["test_accuracy"]?.GetValue<double>() ?? double.NaN;
        Checkpoint? last = resumeFrom;
        int endEpoch = Math.Min(_options.Epochs, stopAfterEpochs ?? int.MaxValue);
        for (int epoch = startEpoch; epoch < endEpoch; epoch++)
        {
            context.Epoch = epoch;
            optimizer.LearningRate = _options.LearningRateAt(epoch);
            module.train();
            Teacher?.eval();
            _progress.EpochStarted(epoch, _options.Epochs, loader.BatchesPerEpoch);
            var clock = Stopwatch.StartNew();
            double lossSum = 0;
            long correct = 0, seen = 0;
            foreach (var batch in loader.Batches(epoch))
            {
                using var scope = torch.NewDisposeScope();
                using (batch)
                {
                    _parallel?.StepStarted();
                    // Data-parallel: this rank trains on its shard; a rank whose shard is empty (a last batch smaller
                    // than the number of ranks) runs one example with weight 0 so that its gradients exist.
                    var (x, y, count) = (batch.X, batch.Y, batch.Count);
                    if (_parallel is not null)
                    {
                        var (start, n) = _parallel.Shard(batch.Count);
                        count = n;
                        x = batch.X.narrow(0, Math.Min(start, batch.Count - 1), Math.Max(n, 1));
                        y = batch.Y.narrow(0, Math.Min(start, batch.Count - 1), Math.Max(n, 1));
                    }
                    foreach (var h in _hooks) h.BeforeForward(context);
                    var logits = module.forward(x);
                    Tensor loss;
                    if (Teacher is null) loss = nn.functional.cross_entropy(logits, y);
                    else
                    {
                        Tensor soft;
                        using (torch.no_grad()) soft = Teacher.forward(x);
                        loss = DistillationLoss(logits, soft, y, _options.DistillTemperature, _options.DistillWeight);
                    }
                    double lossValue = loss.item<float>();
                    if (!double.IsFinite(lossValue))
                        throw new TrainingDivergedException($"training diverged: loss is {lossValue} at epoch {epoch + 1}, step {context.Step + 1} (try a smaller learning rate)");
                    optimizer.ZeroGrad();
                    loss.backward();
                    _parallel?.AverageGradients(batch.Count, context.Step);
                    context.Loss = lossValue;
                    foreach (var h in _hooks) h.AfterBackward(context);
                    optimizer.Step();
                    context.Step++;
                    foreach (var h in _hooks) h.AfterOptimizerStep(context);
                    _parallel?.StepDone(context.Step);
                    if (count > 0)
                    {
                        lossSum += lossValue * count;
                        correct += logits.argmax(1).eq(y).sum().item<long>();
                        seen += count;
                    }
                    _progress.BatchDone(epoch, batch.Index, lossSum / Math.Max(seen, 1), (double)correct / Math.Max(seen, 1), seen / Math.Max(clock.Elapsed.TotalSeconds, 1e-9));
                }
            }
            double trainSeconds = clock.Elapsed.TotalSeconds;
            if (_parallel is not null)
            {
                (lossSum, correct, seen) = _parallel.SumEpochFigures(lossSum, correct, seen);
                _parallel.AverageBuffers(module);
            }
            context.EpochLoss = lossSum / Math.Max(seen, 1);
            foreach (var h in _hooks) h.OnEpochEnd(context);
            var (testAcc, testLoss) = Evaluator.Evaluate(module, _data.Test, _data.Normalization);
            testAccuracy = testAcc;
            var record = new EpochRecord(epoch + 1, optimizer.LearningRate, context.EpochLoss, (double)correct / Math.Max(seen, 1), testAcc, testLoss,
                trainSeconds, seen / Math.Max(trainSeconds, 1e-9));
            records.Add(record);
            last = CreateCheckpoint(module, optimizer, epoch + 1, context.Step, testAcc);
            if (checkpointPath is not null) last.Save(checkpointPath);
            if (logPath is not null) AppendLog(logPath, record);
            _progress.EpochDone(record);
        }
        foreach (var h in _hooks) h.OnTrainingEnd(context);
        last ??= CreateCheckpoint(module, optimizer, startEpoch, context.Step, testAccuracy);
        return new TrainResult(module, records, testAccuracy, last);
    }

    // Hands each checkpointed session the arrays saved under its key; a session with nothing saved is an error
    // (the checkpoint was written by a run without it, so resuming would silently start it from scratch).
    private void LoadHookState(Checkpoint checkpoint)
    {
        foreach (var h in _hooks.OfType<ICheckpointedHooks>())
        {
            string prefix = h.StateKey + "/";
            var state = checkpoint.Extra.Where(a => a.Name.StartsWith(prefix, StringComparison.Ordinal))
                .Select(a => new HookStateArray(a.Name[prefix.Length..], a.Shape, a.Data)).ToList();
            if (state.Count == 0) throw new CheckpointException($"checkpoint has no state for '{h.StateKey}' (it was written by a run without that method)");
            try { h.LoadState(state); }
            catch (InvalidOperationException e) { throw new CheckpointException($"checkpoint state '{h.StateKey}': {e.Message}"); }
        }
    }

    /// <summary>The checkpointed state of every <see cref="ICheckpointedHooks"/> session, named <c>{key}/{name}</c>.</summary>
    /// <exception cref="InvalidOperationException">Two sessions share a state key.</exception>
    public static List<NamedArray> HookState(IEnumerable<ITrainingHooks> hooks)
    {
        var result = new List<NamedArray>();
        var keys = new HashSet<string>(StringComparer.Ordinal);
        foreach (var h in hooks.OfType<ICheckpointedHooks>())
        {
            if (!keys.Add(h.StateKey)) throw new InvalidOperationException($"two training hooks use the checkpoint state key '{h.StateKey}'");
            foreach (var a in h.SaveState()) result.Add(new NamedArray($"{h.StateKey}/{a.Name}", a.Shape, a.Values));
        }
        return result;
    }

    private ParameterOptimizer CreateOptimizer(GraphModule module)
    {
        var ps = module.named_parameters().Select(p => (p.name, p.parameter)).ToList();
        return _options.Optimizer == "sgd"
            ? new SgdOptimizer(ps, _options.LearningRate, _options.Momentum, _options.Nesterov, _options.WeightDecay)
            : new AdamOptimizer(ps, _options.LearningRate, weightDecay: _options.WeightDecay);
    }

    private Checkpoint CreateCheckpoint(GraphModule module, ParameterOptimizer optimizer, int epochsDone, long step, double testAccuracy)
    {
        var header = new JsonObject
        {
            ["epochs_done"] = epochsDone,
            ["step"] = step,
            ["test_accuracy"] = double.IsNaN(testAccuracy) ? null : testAccuracy,
            ["data"] = _data.Name,
            ["options"] = JsonSerializer.SerializeToNode(_options),
        };
        return new Checkpoint
        {
            ModelName = _model.Name,
            Header = header,
            Model = ModelTensors.Capture(module),
            Optimizer = optimizer.StateTensors().Select(s => ModelTensors.ToArray($"{s.Parameter}/{s.Key}", s.Value)).ToList(),
            Extra = HookState(_hooks),
        };
    }

    private static void AppendLog(string path, EpochRecord record)
    {
        JsonLinesLog.Append(path, new
        {
            epoch = record.Epoch,
            lr = record.LearningRate,
            train_loss = record.TrainLoss,
            train_accuracy = record.TrainAccuracy,
            test_loss = record.TestLoss,
            test_accuracy = record.TestAccuracy,
            seconds = record.Seconds,
            examples_per_second = record.ExamplesPerSecond,
        });
    }
}
