using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using SlimNet.Compression.Hooks;
using SlimNet.Compression.Optim;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SlimNet.Compression.Quantization;

/// <summary>
/// Quantized training with full-precision shadow weights (Hou et al.'s loss-aware quantization, and the
/// straight-through baselines under the same training), a session. For every selected parameter:
/// <list type="number">
/// <item>the parameter tensor holds the quantized weights ŵ for the forward and backward passes (and evaluation);</item>
/// <item>after backward the shadow weights w are put back into the parameter, so the optimizer applies the gradient
/// with respect to ŵ to w (the straight-through rule for the baselines, the proximal Newton step for LAB/LAT/LAQ);</item>
/// <item>after the optimizer step w is clipped to [−1, 1] and kept as the new shadow, d = sqrt(v̂) + ε is read from the
/// Adam optimizer's bias-corrected second moment of that parameter (ε = the optimizer's ε; d = 1 before the first step),
/// and ŵ = projection(w, d) is written into the parameter; LAQ's projection starts from the previous ŵ;</item>
/// <item>with a sparsity schedule, before projecting, exactly round(s·n) weights with the smallest d·w² (ties: lower
/// flat index first) get ŵ = 0 and the projection runs on the others (per row with per-channel scales).</item>
/// </list>
/// The shadow weights are never pruned (a weight can come back when its d·w² grows). Use it as trainer hooks, or from any
/// training loop: <see cref="Start"/> once, then per step backward → <see cref="RestoreShadowWeights"/> → optimizer step →
/// <see cref="Requantize"/>. <see cref="Export"/> gives the storable codes and scales. Owns tensors: dispose it.
/// </summary>
public sealed class LossAwareQuantizer : ITrainingHooks, IDisposable
{
    private readonly IReadOnlyDictionary<string, Parameter> _parameters;
    private readonly List<LayerState> _layers = new();
    private ParameterOptimizer? _optimizer;
    // Clip bounds as long-lived scalars: an implicit Scalar per call can be finalized while libtorch still reads it.
    private readonly Scalar _lower = (-1.0).ToScalar(), _upper = 1.0.ToScalar();

    /// <summary>Creates the session; nothing changes until <see cref="Start"/> (or <see cref="OnTrainingStart"/>).</summary>
    /// <param name="parameters">The model's parameters by name.</param>
    /// <param name="layers">The parameters to quantize and how.</param>
    public LossAwareQuantizer(IReadOnlyDictionary<string, Parameter> parameters, IEnumerable<QuantizedLayer> layers)
    {
        _parameters = parameters;
        foreach (var layer in layers)
        {
            if (!parameters.TryGetValue(layer.ParameterName, out var p))
                throw new ArgumentException($"no parameter named '{layer.ParameterName}'", nameof(layers));
            if (_layers.Any(l => l.Definition.ParameterName == layer.ParameterName))
                throw new ArgumentException($"parameter '{layer.ParameterName}' is listed twice", nameof(layers));
            if (p.dtype != ScalarType.Float32 || !p.is_contiguous() || p.device_type != DeviceType.CPU)
                throw new ArgumentException($"'{layer.ParameterName}' is not a contiguous float32 CPU tensor", nameof(layers));
            if (FormOf(layer.Method) is QuantizedForm.Linear or QuantizedForm.Logarithmic && layer.Bits is < 2 or > 8)
                throw new ArgumentOutOfRangeException(nameof(layers), layer.Bits, $"bits of '{layer.ParameterName}' must be in 2..8");
            if (layer.Method == WeightProjection.LaqLog && layer.PerChannel)
                throw new ArgumentException($"'{layer.ParameterName}': logarithmic LAQ has one codebook per tensor in .slim; use per-tensor scales", nameof(layers));
            _layers.Add(new LayerState(layer, p));
        }
        if (_layers.Count == 0) throw new ArgumentException("no parameter to quantize", nameof(layers));
    }

    /// <summary>
    /// Most threads the projections run on (independent layers and blocks of rows in parallel); 0 (the default) means
    /// torch's intra-op thread count, which SLIMNET_THREADS sets. The result does not depend on it.
    /// </summary>
    public int Threads { get; set; }

    /// <summary>The quantized parameters, in the given order.</summary>
    public IReadOnlyList<string> ParameterNames => _layers.Select(l => l.Definition.ParameterName).ToList();

    /// <summary>The layer definitions, in the given order.</summary>
    public IReadOnlyList<QuantizedLayer> Layers => _layers.Select(l => l.Definition).ToList();

    /// <summary>Whether <see cref="Start"/> has run.</summary>
    public bool IsStarted { get; private set; }

    /// <summary>Whether a projection needs the curvature d (the loss-aware ones); BinaryConnect, BWN, TWN and uniform do not.</summary>
    public static bool NeedsCurvature(WeightProjection method) =>
        method is not (WeightProjection.BinaryConnect or WeightProjection.Bwn or WeightProjection.Twn or WeightProjection.Uniform);

    /// <summary>How a projection's codes map to values.</summary>
    public static QuantizedForm FormOf(WeightProjection method) => method switch
    {
        WeightProjection.BinaryConnect or WeightProjection.Bwn or WeightProjection.Lab => QuantizedForm.Binary,
        WeightProjection.Twn or WeightProjection.LatExact or WeightProjection.LatApprox => QuantizedForm.Ternary,
        WeightProjection.Lat2Exact or WeightProjection.Lat2Approx => QuantizedForm.TwoScaleTernary,
        WeightProjection.Uniform or WeightProjection.LaqLinear => QuantizedForm.Linear,
        WeightProjection.LaqLog => QuantizedForm.Logarithmic,
        _ => throw new ArgumentOutOfRangeException(nameof(method), method, "unknown weight projection"),
    };

    /// <summary>
    /// Takes the current parameter values, clipped to [−1, 1], as the shadow weights and writes their projection into the
    /// parameters. <paramref name="optimizer"/> must be an <see cref="AdamOptimizer"/> when a loss-aware method is used;
    /// its second moment is read if it already has one (else d = 1). Later calls (a later recipe stage trains with this session
    /// still registered) only switch to their optimizer; the shadow weights are kept.
    /// </summary>
    public void Start(ParameterOptimizer optimizer)
    {
        ArgumentNullException.ThrowIfNull(optimizer);
        if (optimizer is not AdamOptimizer && _layers.FirstOrDefault(l => l.Definition.IsLossAware) is { } la)
            throw new InvalidOperationException(
                $"'{la.Definition.ParameterName}': {la.Definition.Method} takes its curvature from Adam's second moment; train with the Adam optimizer");
        _optimizer = optimizer;
        if (IsStarted) return; // a later stage's training: keep the shadow weights, take its optimizer
        using var noGrad = torch.no_grad();
        foreach (var layer in _layers)
        {
            layer.Parameter.clamp_(_lower, _upper);
            layer.Shadow = layer.Parameter.detach().clone().DetachFromDisposeScope();
        }
        ProjectAll(optimizer.StepCount);
        IsStarted = true;
    }

    /// <summary>Puts the shadow weights back into the parameters (after backward, before the optimizer step).</summary>
    public void RestoreShadowWeights()
    {
        EnsureStarted();
        using var noGrad = torch.no_grad();
        foreach (var layer in _layers) layer.Parameter.copy_(layer.Shadow!);
    }

    /// <summary>
    /// After the optimizer step: clips the parameters to [−1, 1], keeps them as the shadow weights and writes the projection
    /// (with d from the optimizer's current second moment) into the parameters. <paramref name="step"/> (optimizer steps
    /// done) drives the sparsity schedules; by default the optimizer's step count.
    /// </summary>
    public void Requantize(long? step = null)
    {
        EnsureStarted();
        using var noGrad = torch.no_grad();
        foreach (var layer in _layers)
        {
            layer.Parameter.clamp_(_lower, _upper);
            layer.Shadow!.copy_(layer.Parameter);
        }
        ProjectAll(step ?? _optimizer!.StepCount);
    }

    /// <summary>The shadow (full-precision, clipped) weights of a parameter, row-major (a copy).</summary>
    public float[] ShadowWeights(string parameterName)
    {
        var layer = LayerOf(parameterName);
        EnsureStarted();
        using var flat = layer.Shadow!.detach().flatten().contiguous();
        return flat.data<float>().ToArray();
    }

    /// <summary>The curvature d used by the last projection of a parameter (a copy; all 1 before the first optimizer step).</summary>
    public float[] LastCurvature(string parameterName)
    {
        EnsureStarted();
        return LayerOf(parameterName).DSpan.ToArray();
    }

    /// <summary>The number of weights of a parameter forced to 0 by sparsification at its last projection.</summary>
    public long ForcedZeros(string parameterName)
    {
        EnsureStarted();
        return LayerOf(parameterName).ForcedZeros;
    }

    /// <summary>The storable codes and scales of a parameter (the values the parameter holds now).</summary>
    public QuantizedWeights Export(string parameterName)
    {
        EnsureStarted();
        var l = LayerOf(parameterName);
        var def = l.Definition;
        var form = FormOf(def.Method);
        int bits = form switch { QuantizedForm.Binary => 1, QuantizedForm.Ternary or QuantizedForm.TwoScaleTernary => 2, _ => def.Bits };
        return new QuantizedWeights(def.ParameterName, l.Parameter.shape.Select(d => (int)d).ToArray(), def.Method, form, bits, l.Levels,
            (sbyte[])l.Codes.Clone(), (float[])l.Scales.Clone(), (float[])l.NegativeScales.Clone());
    }

    /// <summary><see cref="Export"/> for every quantized parameter.</summary>
    public IReadOnlyList<QuantizedWeights> ExportAll() => _layers.Select(l => Export(l.Definition.ParameterName)).ToList();

    /// <inheritdoc />
    public void OnTrainingStart(TrainingContext context) => Start(context.Optimizer);

    /// <inheritdoc />
    public void AfterBackward(TrainingContext context) => RestoreShadowWeights();

    /// <inheritdoc />
    public void AfterOptimizerStep(TrainingContext context) => Requantize(context.Step);

    /// <inheritdoc />
    public void Dispose()
    {
        _lower.Dispose();
        _upper.Dispose();
        foreach (var l in _layers)
        {
            l.Shadow?.Dispose();
            l.Shadow = null;
            l.DBuffer?.Dispose();
            l.DBuffer = null;
            l.DTensor = null;
        }
    }

    private LayerState LayerOf(string parameterName) =>
        _layers.FirstOrDefault(l => l.Definition.ParameterName == parameterName)
        ?? throw new ArgumentException($"'{parameterName}' is not quantized by this session", nameof(parameterName));

    private void EnsureStarted()
    {
        if (!IsStarted) throw new InvalidOperationException("the quantizer has not started: call Start(optimizer) (or register it as trainer hooks) first");
    }

    // ---------------------------------------------------------------- one projection

    /// <summary>
    /// Projects every layer: the curvature and sparsity selections per layer first (libtorch parallelises inside), then the
    /// units (one per tensor, or blocks of rows with per-channel scales) in parallel on up to torch's thread count
    /// (SLIMNET_THREADS). Each unit is projected single-threaded in a fixed order, so the result does not depend on the
    /// thread count. w is read from the shadow tensor and ŵ written into the parameter, without managed copies.
    /// </summary>
    private void ProjectAll(long step)
    {
        var units = new List<(LayerState Layer, int FirstRow, int EndRow)>();
        foreach (var layer in _layers)
        {
            Prepare(layer, step);
            int rows = layer.Definition.PerChannel ? layer.Rows : 1;
            int cols = rows == 0 ? 0 : layer.N / rows;
            // Blocks of about 256K weights: enough work per task, enough tasks to balance.
            int block = Math.Max(1, (1 << 18) / Math.Max(1, cols));
            for (int r = 0; r < rows; r += block) units.Add((layer, r, Math.Min(rows, r + block)));
        }
        // Largest first for balance; the order does not change any result.
        units.Sort((a, b) => ((long)(b.EndRow - b.FirstRow) * b.Layer.Cols).CompareTo((long)(a.EndRow - a.FirstRow) * a.Layer.Cols));
        int threads = Threads > 0 ? Threads : Math.Max(1, torch.get_num_threads());
        if (threads == 1 || units.Count == 1)
        {
            foreach (var u in units) ProjectRows(u.Layer, u.FirstRow, u.EndRow);
        }
        else
        {
            Parallel.For(0, units.Count, new ParallelOptions { MaxDegreeOfParallelism = threads },
                k => ProjectRows(units[k].Layer, units[k].FirstRow, units[k].EndRow));
        }
        foreach (var layer in _layers)
        {
            layer.HasSeed = true;
            if (layer.Definition.PerChannel ? layer.Rows > 0 : true) layer.Levels = LevelsOf(layer.Definition);
        }
    }

    private static int LevelsOf(QuantizedLayer def) => FormOf(def.Method) is QuantizedForm.Linear or QuantizedForm.Logarithmic
        ? (1 << (def.Bits - 1)) - 1
        : 1;

    /// <summary>Reads d, updates the sparsity target and flags the forced zeros of one layer; takes the storage addresses.</summary>
    private unsafe void Prepare(LayerState layer, long step)
    {
        var def = layer.Definition;
        ReadCurvature(layer);
        layer.WAddress = (nint)Unsafe.AsPointer(ref MemoryMarshal.GetReference(FloatStorage(layer.Shadow!)));
        layer.OutAddress = (nint)Unsafe.AsPointer(ref MemoryMarshal.GetReference(FloatStorage(layer.Parameter)));
        layer.DAddress = layer.DTensor is null ? 0 : (nint)Unsafe.AsPointer(ref MemoryMarshal.GetReference(FloatStorage(layer.DTensor)));
        // The target never falls: a later stage restarts the step count, and its schedule would start again from 0.
        double target = Math.Max(layer.AppliedSparsity, def.Sparsity?.TargetAt(step) ?? 0.0);
        layer.AppliedSparsity = target;
        long forced = def.Sparsity is null ? 0 : Pruning.MaskSelection.PruneCount(target, layer.N);
        // Fixed after the ramp: once the final target is reached the set is kept, so that late in training, when the
        // learning rate is too small for the weights to follow, drifting curvature cannot churn the support. (Holding it
        // between the ramp's events too was tried: the pruned shadow weights drift unanchored and swap places with kept
        // ones at the next event, which cost far more accuracy.)
        bool choose = !def.FixZerosAfterRamp || !layer.HasPruned || forced != layer.ForcedZeros
            || target < def.Sparsity!.TargetAt(long.MaxValue / 2);
        layer.ForcedZeros = forced;
        layer.HasPruned = forced > 0;
        if (forced > 0 && choose) SmallestImportance(layer.WSpan, layer.DSpan, (int)forced, layer.Importance, layer.Pruned, layer.Counts);
    }

    /// <summary>Projects rows [<paramref name="firstRow"/>, <paramref name="endRow"/>) of the layer's units and writes their ŵ.</summary>
    private static void ProjectRows(LayerState layer, int firstRow, int endRow)
    {
        var def = layer.Definition;
        var form = FormOf(def.Method);
        int cols = layer.Cols;
        ReadOnlySpan<float> wAll = layer.WSpan, dAll = layer.DSpan;
        Span<float> outAll = layer.OutSpan;
        var seedZero = new bool[256];
        bool isLaq = def.Method is WeightProjection.LaqLinear or WeightProjection.LaqLog;
        for (int r = firstRow; r < endRow; r++)
        {
            int o = r * cols;
            // The previous ŵ seeds LAQ: its values are the previous codes decoded with the previous scales.
            float prevScale = layer.Scales[r], prevNegative = layer.NegativeScales[r];
            ProjectionResult result;
            if (!layer.HasPruned)
            {
                ReadOnlySpan<bool> zeroTable = default;
                if (isLaq && layer.HasSeed)
                {
                    for (int c = -128; c < 128; c++) seedZero[c + 128] = ValueOf(form, (sbyte)c, prevScale, prevNegative, layer.Levels) == 0;
                    zeroTable = seedZero;
                }
                result = ProjectionKernels.Project(def.Method, wAll.Slice(o, cols), dAll.Slice(o, cols), layer.Codes.AsSpan(o, cols), def.Bits,
                    default, zeroTable, layer.Scratch.AsSpan(o, cols));
            }
            else
            {
                int m = 0;
                for (int i = o; i < o + cols; i++)
                {
                    if (layer.Pruned[i]) continue;
                    layer.GatherIndex[o + m] = i;
                    layer.GatherW[o + m] = wAll[i];
                    layer.GatherD[o + m] = dAll[i];
                    layer.GatherSeed[o + m] = ValueOf(form, layer.Codes[i], prevScale, prevNegative, layer.Levels);
                    m++;
                }
                result = ProjectionKernels.Project(def.Method, layer.GatherW.AsSpan(o, m), layer.GatherD.AsSpan(o, m), layer.GatherCodes.AsSpan(o, m), def.Bits,
                    layer.HasSeed ? layer.GatherSeed.AsSpan(o, m) : default, default, layer.Scratch.AsSpan(o, m));
                layer.Codes.AsSpan(o, cols).Clear();
                for (int k = 0; k < m; k++) layer.Codes[layer.GatherIndex[o + k]] = layer.GatherCodes[o + k];
            }
            float scale = form == QuantizedForm.Linear ? (float)((double)result.Scale / result.Levels) : result.Scale;
            float negative = form == QuantizedForm.TwoScaleTernary ? result.NegativeScale : scale;
            layer.Scales[r] = scale;
            layer.NegativeScales[r] = negative;
            // ŵ from the codes and scales with the storage formula (QuantizedWeights.ValueOf), so the file holds exactly what was trained.
            WriteValues(form, layer.Codes.AsSpan(o, cols), scale, negative, result.Levels, outAll.Slice(o, cols));
        }
    }

    /// <summary><see cref="QuantizedWeights.ValueOf"/> for one unit's scales.</summary>
    private static float ValueOf(QuantizedForm form, sbyte code, float scale, float negative, int levels)
    {
        if (code == 0) return 0f;
        return form switch
        {
            QuantizedForm.TwoScaleTernary => code > 0 ? scale : -negative,
            QuantizedForm.Logarithmic => code > 0 ? MathF.ScaleB(scale, code - levels) : -MathF.ScaleB(scale, -code - levels),
            _ => scale * code,
        };
    }

    private static void WriteValues(QuantizedForm form, ReadOnlySpan<sbyte> codes, float scale, float negative, int levels, Span<float> values)
    {
        switch (form)
        {
            case QuantizedForm.TwoScaleTernary:
                for (int i = 0; i < codes.Length; i++) values[i] = codes[i] > 0 ? scale : codes[i] < 0 ? -negative : 0f;
                break;
            case QuantizedForm.Logarithmic:
                for (int i = 0; i < codes.Length; i++) values[i] = ValueOf(form, codes[i], scale, negative, levels);
                break;
            default:
                for (int i = 0; i < codes.Length; i++)
                {
                    sbyte c = codes[i];
                    values[i] = c == 0 ? 0f : scale * c;
                }
                break;
        }
    }

    private void ReadCurvature(LayerState layer)
    {
        layer.DTensor = null; // d = 1 (the D array)
        if (!layer.Definition.IsLossAware) return; // the baselines ignore d, sparsification ranks by w²
        var adam = _optimizer as AdamOptimizer;
        var v = adam?.TryGetState(layer.Definition.ParameterName, "exp_avg_sq");
        if (adam is null || v is null || adam.StepCount == 0) return;
        // The same operations as AdamOptimizer.SecondMomentCorrected (in place on a buffer kept across steps: the same
        // kernels, without a fresh 4-bytes-per-weight allocation every step), with scalars held alive until the native
        // calls return (an implicit Scalar can be finalized while libtorch still reads it).
        using var correction = (1 - Math.Pow(adam.Beta2, adam.StepCount)).ToScalar();
        using var epsilon = adam.Epsilon.ToScalar();
        layer.DBuffer ??= torch.empty(layer.Parameter.shape, ScalarType.Float32).DetachFromDisposeScope();
        layer.DBuffer.copy_(v);
        layer.DBuffer.div_(correction).sqrt_().add_(epsilon);
        layer.DTensor = layer.DBuffer;
        GC.KeepAlive(correction);
        GC.KeepAlive(epsilon);
    }

    // TensorAccessor copies element by element (about 1 µs per float here); a contiguous float32 tensor's storage is one span.
    private static Span<float> FloatStorage(Tensor t)
    {
        if (t.dtype != ScalarType.Float32 || !t.is_contiguous() || t.device_type != DeviceType.CPU)
            throw new InvalidOperationException("expected a contiguous float32 CPU tensor");
        return System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(t.bytes);
    }

    /// <summary>Flags the <paramref name="count"/> weights of smallest d·w² (ties: lower index first), as <see cref="Pruning.MaskSelection.KeepFlags"/> ranks.</summary>
    public static bool[] SmallestImportance(float[] w, float[] d, int count)
    {
        var pruned = new bool[w.Length];
        SmallestImportance(w, d, count, new float[w.Length], pruned, new int[1 << 16]);
        return pruned;
    }

    // Allocation-free core (buffers of the layer): importance scratch, the flags, 2^16 histogram counts.
    private static void SmallestImportance(ReadOnlySpan<float> w, ReadOnlySpan<float> d, int count, float[] importance, bool[] pruned, int[] counts)
    {
        int n = w.Length;
        Array.Clear(pruned);
        for (int i = 0; i < n; i++)
        {
            float v = d[i] * w[i] * w[i];
            importance[i] = v > 0 ? v : 0f; // −0 and NaN rank as 0 (the bit-pattern select needs non-negative values)
        }
        if (count <= 0) return;
        if (count >= n)
        {
            Array.Fill(pruned, true);
            return;
        }
        float threshold = KthSmallest(importance, count - 1, counts);
        int taken = 0;
        for (int i = 0; i < n; i++)
            if (importance[i] < threshold) { pruned[i] = true; taken++; }
        for (int i = 0; i < n && taken < count; i++)
            if (importance[i] == threshold) { pruned[i] = true; taken++; }
    }

    /// <summary>
    /// The value of rank <paramref name="rank"/> (0-based, ascending) among non-negative, non-NaN floats, in O(n): a radix
    /// select on the IEEE bit patterns (monotone for non-negative floats), high 16 bits then low 16 bits.
    /// </summary>
    private static float KthSmallest(float[] values, int rank, int[] counts)
    {
        Array.Clear(counts);
        foreach (float v in values) counts[BitConverter.SingleToUInt32Bits(v) >> 16]++;
        int high = 0;
        while (rank >= counts[high]) rank -= counts[high++];
        Array.Clear(counts);
        foreach (float v in values)
        {
            uint bits = BitConverter.SingleToUInt32Bits(v);
            if (bits >> 16 == (uint)high) counts[bits & 0xFFFF]++;
        }
        int low = 0;
        while (rank >= counts[low]) rank -= counts[low++];
        return BitConverter.UInt32BitsToSingle(((uint)high << 16) | (uint)low);
    }

    private sealed unsafe class LayerState
    {
        public LayerState(QuantizedLayer definition, Parameter parameter)
        {
            Definition = definition;
            Parameter = parameter;
            int n = checked((int)parameter.numel());
            N = n;
            Rows = parameter.shape.Length == 0 ? 1 : (int)parameter.shape[0];
            int units = definition.PerChannel ? Rows : 1;
            Cols = units == 0 ? 0 : n / units;
            D = new float[n];
            Array.Fill(D, 1f);
            Scratch = new float[n];
            Codes = new sbyte[n];
            Scales = new float[units];
            NegativeScales = new float[units];
            if (definition.Sparsity is not null)
            {
                GatherIndex = new int[n];
                GatherW = new float[n];
                GatherD = new float[n];
                GatherSeed = new float[n];
                GatherCodes = new sbyte[n];
                Importance = new float[n];
                Pruned = new bool[n];
                Counts = new int[1 << 16];
            }
        }

        public QuantizedLayer Definition { get; }
        public Parameter Parameter { get; }
        public int N { get; }
        public int Rows { get; }
        /// <summary>Weights per projection unit (per row with per-channel scales, else all).</summary>
        public int Cols { get; }
        public Tensor? Shadow { get; set; }
        /// <summary>d of the last projection (<see cref="DBuffer"/>), or null when it was all 1 (<see cref="D"/>).</summary>
        public Tensor? DTensor { get; set; }
        /// <summary>Where d is computed, allocated at the first step that has Adam's second moment.</summary>
        public Tensor? DBuffer { get; set; }
        /// <summary>All 1: d before Adam's first step and for the baselines.</summary>
        public float[] D { get; }
        // Storage addresses of the shadow (w), d and the parameter (ŵ), taken before each projection; the tensors stay alive.
        public nint WAddress { get; set; }
        public nint DAddress { get; set; }
        public nint OutAddress { get; set; }
        public ReadOnlySpan<float> WSpan => new((void*)WAddress, N);
        public ReadOnlySpan<float> DSpan => DTensor is null ? D.AsSpan() : new ReadOnlySpan<float>((void*)DAddress, N);
        public Span<float> OutSpan => new((void*)OutAddress, N);
        public float[] Scratch { get; }
        public sbyte[] Codes { get; }
        public float[] Scales { get; }
        public float[] NegativeScales { get; }
        public int Levels { get; set; } = 1;
        public bool HasSeed { get; set; }
        public bool HasPruned { get; set; }
        public long ForcedZeros { get; set; }
        public double AppliedSparsity { get; set; }
        public int[] GatherIndex { get; } = [];
        public float[] GatherW { get; } = [];
        public float[] GatherD { get; } = [];
        public float[] GatherSeed { get; } = [];
        public sbyte[] GatherCodes { get; } = [];
        public float[] Importance { get; } = [];
        public bool[] Pruned { get; } = [];
        public int[] Counts { get; } = [];
    }
}
