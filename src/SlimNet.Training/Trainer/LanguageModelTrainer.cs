using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using SlimNet.Compression.Hooks;
using SlimNet.Compression.Optim;
using SlimNet.Format.Graph;
using SlimNet.Training.Checkpoints;
using SlimNet.Training.Data;
using SlimNet.Training.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace SlimNet.Training.Trainer;

/// <summary>
/// Options of a character language-model run beyond <see cref="TrainerOptions"/> (an immutable definition).
/// <see cref="TrainerOptions.BatchSize"/> is the number of parallel streams, <see cref="TrainerOptions.Limit"/> the
/// number of training characters used.
/// </summary>
public sealed record LanguageModelOptions
{
    /// <summary>Optimizer, learning rate, schedule, epochs, seed, streams (batch size), limit.</summary>
    public TrainerOptions Training { get; init; } = new();
    /// <summary>Truncated back-propagation through time: characters per window.</summary>
    public int SequenceLength { get; init; } = 100;
    /// <summary>Gradient clipping: the global L2 norm of all gradients is scaled down to at most this (0: no clipping).</summary>
    public double ClipNorm { get; init; } = 1.0;

    /// <summary>Returns the first problem as a sentence, or null when valid.</summary>
    public string? Validate()
    {
        if (Training.Validate() is { } p) return p;
        if (SequenceLength < 1 || SequenceLength > 100_000) return $"sequence length must be in 1..100000, got {SequenceLength}";
        if (!(ClipNorm >= 0) || double.IsInfinity(ClipNorm)) return $"gradient clip norm must be a non-negative number, got {ClipNorm}";
        return null;
    }
}

/// <summary>The figures of one finished language-model epoch (one line of the JSON-lines log).</summary>
/// <param name="Epoch">1-based epoch.</param>
/// <param name="LearningRate">Learning rate of the epoch.</param>
/// <param name="TrainBpc">Mean training loss in bits per character.</param>
/// <param name="ValidationBpc">Validation bits per character (eval mode, state carried over the whole split).</param>
/// <param name="ValidationAccuracy">Fraction of validation characters predicted exactly (arg max).</param>
/// <param name="Seconds">Training seconds of the epoch (without evaluation).</param>
/// <param name="CharactersPerSecond">Training characters per second.</param>
public sealed record LanguageEpochRecord(int Epoch, double LearningRate, double TrainBpc, double ValidationBpc, double ValidationAccuracy, double Seconds, double CharactersPerSecond);

/// <summary>What a finished language-model run returns.</summary>
public sealed record LanguageModelResult(CharLstmModule Module, IReadOnlyList<LanguageEpochRecord> Epochs, double ValidationBpc, double TestBpc, Checkpoint Checkpoint);

/// <summary>A progress sink that also wants the language-model figures of each epoch.</summary>
public interface ILanguageModelProgress : ITrainingProgress
{
    /// <summary>An epoch is done and evaluated on the validation split (called instead of <see cref="ITrainingProgress.EpochDone"/>).</summary>
    void LanguageEpochDone(LanguageEpochRecord record);
}

/// <summary>
/// The training loop of character language models (a session): the training split is cut into
/// <see cref="TrainerOptions.BatchSize"/> contiguous streams read in windows of <see cref="LanguageModelOptions.SequenceLength"/>
/// characters with the LSTM state carried from window to window (truncated back-propagation through time: the state is
/// detached between windows and reset to zero at each epoch); the loss is the mean cross-entropy of the next character;
/// gradients are clipped to a global norm, then the optimizer steps. Compression hooks are called at the same points as
/// <see cref="ModelTrainer"/> (one window = one step). After each epoch the validation split is evaluated in bits per
/// character and a checkpoint is written atomically; the test split is evaluated once at the end. Deterministic for a seed.
/// </summary>
public sealed class LanguageModelTrainer
{
    /// <summary>The checkpoint model name.</summary>
    public const string ModelName = "char-lstm";

    private readonly CharLstmConfig _config;
    private readonly LanguageModelOptions _options;
    private readonly TextCorpus _corpus;
    private readonly IReadOnlyList<ITrainingHooks> _hooks;
    private readonly ITrainingProgress _progress;

    /// <summary>Prepares a run; nothing happens until <see cref="Run"/>.</summary>
    /// <exception cref="ArgumentException">Invalid options, or a vocabulary size that differs from the corpus's.</exception>
    public LanguageModelTrainer(CharLstmConfig config, LanguageModelOptions options, TextCorpus corpus, IReadOnlyList<ITrainingHooks>? hooks = null, ITrainingProgress? progress = null)
    {
        if (options.Validate() is { } problem) throw new ArgumentException(problem, nameof(options));
        if (config.Validate() is { } bad) throw new ArgumentException(bad, nameof(config));
        if (config.VocabularySize != corpus.VocabularySize)
            throw new ArgumentException($"the model has {config.VocabularySize} characters, corpus '{corpus.Name}' {corpus.VocabularySize}");
        long usable = Math.Min(corpus.Train.Length, options.Training.Limit ?? int.MaxValue);
        if ((usable - 1) / options.Training.BatchSize < options.SequenceLength)
            throw new ArgumentException($"{usable:N0} training characters in {options.Training.BatchSize} streams do not fill one window of {options.SequenceLength}; use fewer streams or a shorter sequence");
        _config = config;
        _options = options;
        _corpus = corpus;
        _hooks = hooks ?? Array.Empty<ITrainingHooks>();
        _progress = progress ?? SilentProgress.Instance;
    }

    /// <summary>
    /// A trained char-lstm over the same characters whose next-character distributions the student also learns
    /// (knowledge distillation with <see cref="TrainerOptions.DistillTemperature"/> and <see cref="TrainerOptions.DistillWeight"/>,
    /// the loss of <see cref="ModelTrainer.DistillationLoss"/>): it reads the same windows with its own carried state, in eval
    /// mode, and is never changed. Its size and normalization may differ from the student's. Null: plain cross-entropy.
    /// </summary>
    public CharLstmModule? Teacher { get; init; }

    /// <summary>Windows (optimizer steps) per epoch.</summary>
    public int WindowsPerEpoch => (int)(((Math.Min(_corpus.Train.Length, _options.Training.Limit ?? int.MaxValue) - 1) / _options.Training.BatchSize) / _options.SequenceLength);

    /// <summary>Builds the network with weights initialised from <paramref name="seed"/>.</summary>
    public static CharLstmModule CreateModule(CharLstmConfig config, int seed)
    {
        torch.manual_seed(seed);
        return new CharLstmModule(config);
    }

    /// <summary>
    /// Trains (or continues <paramref name="resumeFrom"/>), writing a checkpoint to <paramref name="checkpointPath"/> and a
    /// line to <paramref name="logPath"/> after every epoch; <paramref name="stopAfterEpochs"/> ends early (resumable).
    /// </summary>
    /// <param name="checkpointPath">Checkpoint written after every epoch (null: none).</param>
    /// <param name="resumeFrom">Checkpoint to continue from.</param>
    /// <param name="logPath">JSON-lines log (null: none).</param>
    /// <param name="stopAfterEpochs">End after this many epochs in total.</param>
    /// <param name="module">Train this module instead of a fresh one (the caller keeps ownership).</param>
    public LanguageModelResult Run(string? checkpointPath = null, Checkpoint? resumeFrom = null, string? logPath = null, int? stopAfterEpochs = null,
        CharLstmModule? module = null)
    {
        ModelTrainer.ConfigureThreads();
        var t = _options.Training;
        if (Teacher is not null && Teacher.Config.VocabularySize != _config.VocabularySize)
            throw new ArgumentException($"the teacher has {Teacher.Config.VocabularySize} characters, the student {_config.VocabularySize}");
        module ??= CreateModule(_config, t.Seed);
        using var optimizer = CreateOptimizer(module, t);
        int startEpoch = 0;
        if (resumeFrom is not null)
        {
            if (resumeFrom.ModelName != ModelName) throw new CheckpointException($"checkpoint is of model '{resumeFrom.ModelName}', not '{ModelName}'");
            var saved = ConfigOf(resumeFrom);
            if (saved != _config) throw new CheckpointException($"checkpoint is a {Describe(saved)}, the run asks for a {Describe(_config)}");
            ModelTensors.Restore(module, resumeFrom.Model, "checkpoint");
            startEpoch = resumeFrom.Header["epochs_done"]?.GetValue<int>() ?? 0;
            long steps = resumeFrom.Header["step"]?.GetValue<long>() ?? 0;
            optimizer.LoadState(resumeFrom.Optimizer.Select(a =>
            {
                int slash = a.Name.LastIndexOf('/');
                return (a.Name[..slash], a.Name[(slash + 1)..], torch.tensor(a.Data, a.Shape));
            }).ToList(), steps);
        }

        int streams = t.BatchSize, seq = _options.SequenceLength;
        int usable = Math.Min(_corpus.Train.Length, t.Limit ?? int.MaxValue);
        int streamLength = (usable - 1) / streams;
        int windows = streamLength / seq;
        // Inputs [streamLength, streams] and targets shifted by one character, laid out time-major once.
        using var inputs = StreamMatrix(_corpus.Train, streams, streamLength, 0);
        using var targets = StreamMatrix(_corpus.Train, streams, streamLength, 1);

        var context = new TrainingContext(module, optimizer, t.Epochs, windows) { Step = optimizer.StepCount };
        foreach (var h in _hooks) h.OnTrainingStart(context);
        var records = new List<LanguageEpochRecord>();
        double validationBpc = resumeFrom?.Header["validation_bpc"]?.GetValue<double>() ?? double.NaN;
        Checkpoint? last = resumeFrom;
        int endEpoch = Math.Min(t.Epochs, stopAfterEpochs ?? int.MaxValue);
        var parameters = module.parameters().ToArray();
        for (int epoch = startEpoch; epoch < endEpoch; epoch++)
        {
            context.Epoch = epoch;
            optimizer.LearningRate = t.LearningRateAt(epoch);
            module.train();
            _progress.EpochStarted(epoch, t.Epochs, windows);
            var clock = Stopwatch.StartNew();
            var state = module.ZeroState(streams);
            var teacherState = Teacher?.ZeroState(streams);
            Teacher?.eval();
            double lossSum = 0;
            long correct = 0, seen = 0;
            for (int w = 0; w < windows; w++)
            {
                using var scope = torch.NewDisposeScope();
                var x = inputs.narrow(0, (long)w * seq, seq);
                var y = targets.narrow(0, (long)w * seq, seq);
                foreach (var h in _hooks) h.BeforeForward(context);
                var (logits, next) = module.Forward(x, state);
                var flat = logits.reshape(-1, _config.VocabularySize);
                var ce = nn.functional.cross_entropy(flat, y.reshape(-1));
                var loss = ce;
                if (Teacher is not null)
                {
                    Tensor soft;
                    using (torch.no_grad())
                    {
                        var (teacherLogits, teacherNext) = Teacher.Forward(x, teacherState!);
                        soft = teacherLogits.reshape(-1, _config.VocabularySize);
                        CarryOver(teacherState!, teacherNext, detach: false);
                    }
                    loss = ModelTrainer.DistillationLoss(flat, soft, y.reshape(-1), t.DistillTemperature, t.DistillWeight);
                }
                // The reported training loss is the student's cross-entropy (bits per character), with or without a teacher.
                double lossValue = ce.item<float>();
                if (!double.IsFinite(lossValue))
                    throw new TrainingDivergedException($"training diverged: loss is {lossValue} at epoch {epoch + 1}, step {context.Step + 1} (try a smaller learning rate)");
                if (Teacher is not null && !double.IsFinite(loss.item<float>()))
                    throw new TrainingDivergedException($"training diverged: the distillation loss is not finite at epoch {epoch + 1}, step {context.Step + 1} (try a smaller learning rate)");
                optimizer.ZeroGrad();
                loss.backward();
                if (_options.ClipNorm > 0) nn.utils.clip_grad_norm_(parameters, _options.ClipNorm);
                context.Loss = lossValue;
                foreach (var h in _hooks) h.AfterBackward(context);
                optimizer.Step();
                context.Step++;
                foreach (var h in _hooks) h.AfterOptimizerStep(context);
                long count = (long)seq * streams;
                lossSum += lossValue * count;
                correct += flat.argmax(1).eq(y.reshape(-1)).sum().item<long>();
                seen += count;
                CarryOver(state, next, detach: true);
                _progress.BatchDone(epoch, w, lossSum / seen / Math.Log(2), (double)correct / seen, seen / Math.Max(clock.Elapsed.TotalSeconds, 1e-9));
            }
            foreach (var s in state) s.Dispose();
            foreach (var s in teacherState ?? Array.Empty<Tensor>()) s.Dispose();
            double trainSeconds = clock.Elapsed.TotalSeconds;
            context.EpochLoss = lossSum / Math.Max(seen, 1);
            foreach (var h in _hooks) h.OnEpochEnd(context);
            var (vBpc, vAcc) = Evaluate(module, _corpus.Validation, streams, seq);
            validationBpc = vBpc;
            var record = new LanguageEpochRecord(epoch + 1, optimizer.LearningRate, context.EpochLoss / Math.Log(2), vBpc, vAcc, trainSeconds, seen / Math.Max(trainSeconds, 1e-9));
            records.Add(record);
            last = CreateCheckpoint(module, optimizer, epoch + 1, context.Step, vBpc, double.NaN);
            if (checkpointPath is not null) last.Save(checkpointPath);
            if (logPath is not null) AppendLog(logPath, record);
            if (_progress is ILanguageModelProgress lp) lp.LanguageEpochDone(record);
            else _progress.EpochDone(new EpochRecord(record.Epoch, record.LearningRate, context.EpochLoss, (double)correct / Math.Max(seen, 1), vAcc, vBpc * Math.Log(2),
                trainSeconds, record.CharactersPerSecond));
        }
        foreach (var h in _hooks) h.OnTrainingEnd(context);
        var (testBpc, _) = Evaluate(module, _corpus.Test, streams, seq);
        last = CreateCheckpoint(module, optimizer, last?.Header["epochs_done"]?.GetValue<int>() ?? startEpoch, context.Step, validationBpc, testBpc);
        if (checkpointPath is not null) last.Save(checkpointPath);
        return new LanguageModelResult(module, records, validationBpc, testBpc, last);
    }

    /// <summary>
    /// Bits per character of <paramref name="module"/> on <paramref name="ids"/> (eval mode, no gradients): the text is cut
    /// into <paramref name="streams"/> contiguous streams (fewer when it is short) read with the state carried over the
    /// whole stream, every character but the first of each stream predicted once. Also returns the arg-max accuracy.
    /// </summary>
    public static (double Bpc, double Accuracy) Evaluate(CharLstmModule module, int[] ids, int streams, int sequenceLength)
    {
        bool wasTraining = module.training;
        module.eval();
        try
        {
            using var noGrad = torch.no_grad();
            (streams, int streamLength) = EvaluationLayout(ids.Length, streams, sequenceLength);
            if (streamLength < 1) throw new ArgumentException($"{ids.Length} characters are too few to evaluate");
            using var inputs = StreamMatrix(ids, streams, streamLength, 0);
            using var targets = StreamMatrix(ids, streams, streamLength, 1);
            var state = module.ZeroState(streams);
            double nats = 0;
            long correct = 0;
            for (int start = 0; start < streamLength; start += sequenceLength)
            {
                using var scope = torch.NewDisposeScope();
                int len = Math.Min(sequenceLength, streamLength - start);
                var x = inputs.narrow(0, start, len);
                var y = targets.narrow(0, start, len).reshape(-1);
                var (logits, next) = module.Forward(x, state);
                var flat = logits.reshape(-1, module.Config.VocabularySize);
                nats += nn.functional.cross_entropy(flat, y, reduction: nn.Reduction.Sum).item<float>();
                correct += flat.argmax(1).eq(y).sum().item<long>();
                CarryOver(state, next, detach: false);
            }
            foreach (var s in state) s.Dispose();
            long total = (long)streams * streamLength;
            return (nats / total / Math.Log(2), (double)correct / total);
        }
        finally
        {
            if (wasTraining) module.train();
        }
    }

    /// <summary>
    /// How <see cref="Evaluate"/> cuts a text of <paramref name="length"/> characters: into <paramref name="streams"/> contiguous
    /// streams (fewer when the text holds less than one <paramref name="sequenceLength"/> window per stream) of
    /// (length − 1) / streams characters each; stream s starts at s · streamLength. The runtime's evaluation uses the same cut.
    /// </summary>
    public static (int Streams, int StreamLength) EvaluationLayout(int length, int streams, int sequenceLength)
    {
        streams = Math.Max(1, Math.Min(streams, (length - 1) / Math.Max(1, sequenceLength)));
        return (streams, (length - 1) / streams);
    }

    /// <summary>Replaces each state tensor by the window's final one, kept beyond the step's dispose scope.</summary>
    private static void CarryOver(Tensor[] state, Tensor[] next, bool detach)
    {
        for (int i = 0; i < state.Length; i++)
        {
            var kept = (detach ? next[i].detach() : next[i]).MoveToOuterDisposeScope();
            state[i].Dispose();
            state[i] = kept;
        }
    }

    /// <summary>[length, streams] int64 with element (t, s) = ids[s·length + t + offset].</summary>
    private static Tensor StreamMatrix(int[] ids, int streams, int length, int offset)
    {
        var data = new long[(long)streams * length];
        for (int s = 0; s < streams; s++)
            for (int t = 0; t < length; t++)
                data[(long)t * streams + s] = ids[(long)s * length + t + offset];
        return torch.tensor(data, new long[] { length, streams });
    }

    /// <summary>The network shape stored in a checkpoint's header.</summary>
    /// <exception cref="CheckpointException">The header lacks it.</exception>
    public static CharLstmConfig ConfigOf(Checkpoint checkpoint)
    {
        var lm = checkpoint.Header["char_lstm"] as JsonObject ?? throw new CheckpointException("checkpoint header has no char_lstm section");
        try
        {
            var vocab = lm["vocabulary"]!.GetValue<string>();
            return new CharLstmConfig(TextCorpus.ParseVocabulary(vocab).Length, lm["hidden"]!.GetValue<int>(), lm["layers"]!.GetValue<int>(),
                CharLstmConfig.ParseNormalization(lm["normalization"]!.GetValue<string>()));
        }
        catch (Exception e) when (e is NullReferenceException or InvalidOperationException or FormatException or ArgumentException)
        {
            throw new CheckpointException($"checkpoint char_lstm section is malformed: {e.Message}");
        }
    }

    /// <summary>The vocabulary string stored in a checkpoint's header.</summary>
    public static string VocabularyOf(Checkpoint checkpoint) =>
        (checkpoint.Header["char_lstm"] as JsonObject)?["vocabulary"]?.GetValue<string>() ?? throw new CheckpointException("checkpoint header has no vocabulary");

    private static string Describe(CharLstmConfig c) =>
        $"{c.Layers}-layer hidden-{c.Hidden} {CharLstmConfig.NormalizationName(c.Normalization)}-normalized LSTM over {c.VocabularySize} characters";

    private static ParameterOptimizer CreateOptimizer(CharLstmModule module, TrainerOptions t)
    {
        var ps = module.named_parameters().Select(p => (p.name, p.parameter)).ToList();
        return t.Optimizer == "sgd"
            ? new SgdOptimizer(ps, t.LearningRate, t.Momentum, t.Nesterov, t.WeightDecay)
            : new AdamOptimizer(ps, t.LearningRate, weightDecay: t.WeightDecay);
    }

    private Checkpoint CreateCheckpoint(CharLstmModule module, ParameterOptimizer optimizer, int epochsDone, long step, double validationBpc, double testBpc)
    {
        var header = new JsonObject
        {
            ["epochs_done"] = epochsDone,
            ["step"] = step,
            ["validation_bpc"] = double.IsNaN(validationBpc) ? null : validationBpc,
            ["test_bpc"] = double.IsNaN(testBpc) ? null : testBpc,
            ["data"] = _corpus.Name,
            ["char_lstm"] = new JsonObject
            {
                ["vocabulary"] = _corpus.Vocabulary,
                ["hidden"] = _config.Hidden,
                ["layers"] = _config.Layers,
                ["normalization"] = CharLstmConfig.NormalizationName(_config.Normalization),
                ["sequence_length"] = _options.SequenceLength,
                ["clip_norm"] = _options.ClipNorm,
            },
            ["options"] = JsonSerializer.SerializeToNode(_options.Training),
            ["distillation"] = Teacher is null ? null : new JsonObject
            {
                ["temperature"] = _options.Training.DistillTemperature,
                ["weight"] = _options.Training.DistillWeight,
                ["teacher"] = Describe(Teacher.Config),
            },
        };
        return new Checkpoint
        {
            ModelName = ModelName,
            Header = header,
            Model = ModelTensors.Capture(module),
            Optimizer = optimizer.StateTensors().Select(s => ModelTensors.ToArray($"{s.Parameter}/{s.Key}", s.Value)).ToList(),
        };
    }

    private static void AppendLog(string path, LanguageEpochRecord r)
    {
        JsonLinesLog.Append(path, new
        {
            epoch = r.Epoch,
            lr = r.LearningRate,
            train_bpc = r.TrainBpc,
            validation_bpc = r.ValidationBpc,
            validation_accuracy = r.ValidationAccuracy,
            seconds = r.Seconds,
            characters_per_second = r.CharactersPerSecond,
        });
    }
}
