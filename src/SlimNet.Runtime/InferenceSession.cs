using SlimNet.Format;
using SlimNet.Runtime.Kernels;
using SlimNet.Runtime.Planning;

namespace SlimNet.Runtime;

/// <summary>
/// Runs a <see cref="SlimModel"/> on the CPU in pure C#. <see cref="Load(SlimModel, int)"/> validates the model against its
/// graph, folds each BatchNorm into the Linear/Conv2d before it where that layer feeds only the BatchNorm,
/// picks a kernel per layer from how its weights are stored (dense or CSR; float32, float16 decoded at load,
/// fixed point or codebook decoded inside the kernel) and allocates every activation buffer for
/// <see cref="MaxBatch"/> examples, so <see cref="Run(ReadOnlySpan{float}, int, Span{float})"/> allocates nothing.
/// A session holds mutable buffers: use one session per thread.
/// </summary>
public sealed unsafe class InferenceSession
{
    private readonly PlanStep[] _steps;
    private readonly PinnedBuffer<float> _input;
    private readonly float* _output;
    private readonly object[] _keepAlive;

    private InferenceSession(string modelName, int maxBatch, int[] inputShape, int[] outputShape, PlanStep[] steps,
        PinnedBuffer<float> input, float* output, object[] keepAlive, long bufferBytes)
    {
        ModelName = modelName;
        MaxBatch = maxBatch;
        InputShape = inputShape;
        OutputShape = outputShape;
        InputSize = inputShape.Aggregate(1, (p, d) => p * d);
        OutputSize = outputShape.Aggregate(1, (p, d) => p * d);
        _steps = steps;
        _input = input;
        _output = output;
        _keepAlive = keepAlive;
        ActivationBytes = bufferBytes;
        Plan = steps.Select(s => s.Description).ToArray();
    }

    /// <summary>Builds the execution plan of <paramref name="model"/> for batches of up to <paramref name="maxBatch"/> examples.</summary>
    /// <exception cref="ModelValidationException">A tensor is missing or its shape does not match its node, or a node's input shape is wrong.</exception>
    /// <exception cref="NotSupportedException">The model uses a feature this runtime does not run.</exception>
    public static InferenceSession Load(SlimModel model, int maxBatch)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxBatch, 1);
        var planner = new ExecutionPlanner(model, maxBatch, SimdSupport.Best);
        var plan = planner.Build();
        return new InferenceSession(model.Graph.Name, maxBatch, model.Graph.InputShape.ToArray(), plan.OutputShape, plan.Steps,
            plan.Input, (float*)plan.Output, plan.KeepAlive, plan.BufferBytes);
    }

    /// <summary>Reads a .slim file and builds its plan (see <see cref="Load(SlimModel, int)"/>).</summary>
    /// <exception cref="SlimFormatException">The file is not a valid .slim file.</exception>
    public static InferenceSession Load(string path, int maxBatch) => Load(SlimReader.Read(path), maxBatch);

    /// <summary>Name of the model's graph.</summary>
    public string ModelName { get; }
    /// <summary>Largest batch <see cref="Run(ReadOnlySpan{float}, int, Span{float})"/> accepts.</summary>
    public int MaxBatch { get; }
    /// <summary>Shape of one input example (no batch dimension), e.g. [784] or [1, 28, 28].</summary>
    public int[] InputShape { get; }
    /// <summary>Shape of one output example (no batch dimension), e.g. [10].</summary>
    public int[] OutputShape { get; }
    /// <summary>Floats per input example.</summary>
    public int InputSize { get; }
    /// <summary>Floats per output example.</summary>
    public int OutputSize { get; }
    /// <summary>One line per plan step: node, operation, kernel and weight encoding.</summary>
    public IReadOnlyList<string> Plan { get; }
    /// <summary>Bytes of preallocated activation and scratch buffers.</summary>
    public long ActivationBytes { get; }

    /// <summary>
    /// Runs <paramref name="batch"/> examples: <paramref name="input"/> holds batch × <see cref="InputSize"/> floats
    /// (row-major, NCHW for images), <paramref name="output"/> receives batch × <see cref="OutputSize"/> floats.
    /// </summary>
    public void Run(ReadOnlySpan<float> input, int batch, Span<float> output)
    {
        if (batch < 1 || batch > MaxBatch)
            throw new ArgumentOutOfRangeException(nameof(batch), batch, $"batch must be in 1..{MaxBatch} (the session's maximum batch)");
        if (input.Length < batch * InputSize)
            throw new ArgumentException($"input has {input.Length} floats, a batch of {batch} needs {batch * InputSize}", nameof(input));
        if (output.Length < batch * OutputSize)
            throw new ArgumentException($"output has {output.Length} floats, a batch of {batch} needs {batch * OutputSize}", nameof(output));
        input[..(batch * InputSize)].CopyTo(_input.Span);
        foreach (var step in _steps) step.Run(batch);
        new ReadOnlySpan<float>(_output, batch * OutputSize).CopyTo(output);
        GC.KeepAlive(_keepAlive);
    }

    /// <summary>Whether the model has recurrent nodes (Lstm): each run is then one time step and state carries over between runs.</summary>
    public bool IsRecurrent => _steps.Any(s => s is IStatefulStep);

    /// <summary>Zeroes the state of every recurrent node (the start of new sequences); does nothing for feed-forward models.</summary>
    public void ResetState()
    {
        foreach (var step in _steps)
            if (step is IStatefulStep stateful) stateful.Reset();
    }

    /// <summary>Runs and returns a new array (convenience; <see cref="Run(ReadOnlySpan{float}, int, Span{float})"/> with a caller buffer allocates nothing).</summary>
    public float[] Run(ReadOnlySpan<float> input, int batch)
    {
        var output = new float[batch * OutputSize];
        Run(input, batch, output);
        return output;
    }
}
