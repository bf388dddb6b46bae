using SlimNet.Compression.Hooks;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SlimNet.Compression.Importance;

/// <summary>
/// In-training gradient-importance quantization (Gaopande), a session. At the end of every epoch it ranks the
/// still-free elements of all tracked parameters together by accumulated importance (ascending; ties by parameter
/// order, then position), takes the <c>splitFraction(epoch)</c> share with the lowest importance
/// (round(fraction · free count) elements), quantizes them to fixed point at <see cref="Bits"/> and freezes them.
/// <para>
/// Scale: one per parameter, fixed when that parameter first freezes elements, from the whole tensor at that moment
/// (<see cref="FixedPointQuantizer.ScaleFor"/>); later freezes reuse it (codes clamp), so the frozen values of a
/// tensor share one grid and store as one fixed-point tensor.
/// </para>
/// <para>
/// Frozen elements never change: after every backward their gradients are set to 0, after every optimizer step their
/// values are written back bit-exactly, and their optimizer state (momentum, Adam moments) is zeroed at freezing and
/// after every step. Register it after the <see cref="GradientImportanceTracker"/> it reads.
/// </para>
/// </summary>
public sealed class ImportanceFreezer : ITrainingHooks, IDisposable
{
    /// <summary>The width reported by <see cref="BitWidths"/> for elements still free (full-precision float32).</summary>
    public const byte FreeWidth = 32;

    private readonly GradientImportanceTracker _tracker;
    private readonly IReadOnlyDictionary<string, Parameter> _parameters;
    private readonly Func<int, double> _splitFraction;
    private readonly Dictionary<string, bool[]> _frozen = new(StringComparer.Ordinal);
    private readonly Dictionary<string, float[]> _frozenValues = new(StringComparer.Ordinal);
    private readonly Dictionary<string, float> _scales = new(StringComparer.Ordinal);
    private readonly Dictionary<string, (Tensor Frozen, Tensor FreeMask, Tensor Values)> _tensors = new(StringComparer.Ordinal);

    /// <summary>Freezes the same <paramref name="splitFraction"/> of the free elements every epoch.</summary>
    public ImportanceFreezer(GradientImportanceTracker tracker, IReadOnlyDictionary<string, Parameter> parameters, double splitFraction, int bits)
        : this(tracker, parameters, _ => splitFraction, bits) { }

    /// <summary>Freezes <c>splitFraction(epoch)</c> (0..1) of the free elements at the end of each zero-based epoch.</summary>
    /// <param name="tracker">The importance source; its names are the parameters this freezer quantizes.</param>
    /// <param name="parameters">The model's parameters by name.</param>
    /// <param name="splitFraction">Share of the still-free elements to freeze at the end of an epoch (a schedule).</param>
    /// <param name="bits">Fixed-point width of frozen elements, 0..16 (0 = pruned to exactly 0).</param>
    public ImportanceFreezer(GradientImportanceTracker tracker, IReadOnlyDictionary<string, Parameter> parameters, Func<int, double> splitFraction, int bits)
    {
        ArgumentNullException.ThrowIfNull(tracker);
        ArgumentNullException.ThrowIfNull(parameters);
        ArgumentNullException.ThrowIfNull(splitFraction);
        FixedPointQuantizer.CheckBits(bits);
        _tracker = tracker;
        _parameters = parameters;
        _splitFraction = splitFraction;
        Bits = bits;
        foreach (var name in tracker.Names)
        {
            if (!parameters.TryGetValue(name, out var p)) throw new ArgumentException($"no parameter named '{name}'", nameof(parameters));
            int n = checked((int)p.numel());
            _frozen[name] = new bool[n];
            _frozenValues[name] = new float[n];
        }
    }

    /// <summary>Width of the frozen fixed-point values.</summary>
    public int Bits { get; }

    /// <summary>The parameters this freezer quantizes.</summary>
    public IReadOnlyList<string> Names => _tracker.Names;

    /// <summary>Which elements of <paramref name="name"/> are frozen, row-major (a copy).</summary>
    public bool[] FrozenMask(string name) => (bool[])_frozen[name].Clone();

    /// <summary>Bit width of each element of <paramref name="name"/>: <see cref="Bits"/> if frozen, else <see cref="FreeWidth"/>.</summary>
    public byte[] BitWidths(string name) => Array.ConvertAll(_frozen[name], f => f ? (byte)Bits : FreeWidth);

    /// <summary>The frozen (dequantized) values of <paramref name="name"/>, row-major; 0 where free (a copy).</summary>
    public float[] FrozenValues(string name) => (float[])_frozenValues[name].Clone();

    /// <summary>The fixed-point scale of <paramref name="name"/>, or null before it froze anything.</summary>
    public float? Scale(string name) => _scales.TryGetValue(name, out var s) ? s : null;

    /// <summary>Number of frozen elements over all tracked parameters.</summary>
    public long FrozenCount => _frozen.Values.Sum(f => (long)f.Count(x => x));

    /// <summary>Number of tracked elements.</summary>
    public long ElementCount => _frozen.Values.Sum(f => (long)f.Length);

    /// <summary>
    /// Freezes round(<paramref name="fraction"/> · free count) of the least important free elements now, writes their
    /// quantized values into the parameters and zeroes their optimizer state (when <paramref name="optimizer"/> is given).
    /// </summary>
    /// <returns>How many elements were frozen.</returns>
    public long Freeze(double fraction, Optim.ParameterOptimizer? optimizer)
    {
        if (!(fraction >= 0 && fraction <= 1)) throw new ArgumentOutOfRangeException(nameof(fraction), $"split fraction {fraction} outside 0..1");
        var names = _tracker.Names;
        var candidates = new List<(float Importance, int Parameter, int Index)>();
        for (int k = 0; k < names.Count; k++)
        {
            var importance = _tracker.Importance(names[k]);
            var frozen = _frozen[names[k]];
            for (int i = 0; i < frozen.Length; i++)
                if (!frozen[i]) candidates.Add((importance[i], k, i));
        }
        int count = (int)Math.Round(fraction * candidates.Count, MidpointRounding.AwayFromZero);
        if (count == 0) return 0;
        candidates.Sort((a, b) =>
        {
            int c = a.Importance.CompareTo(b.Importance);
            if (c != 0) return c;
            c = a.Parameter.CompareTo(b.Parameter);
            return c != 0 ? c : a.Index.CompareTo(b.Index);
        });
        var touched = new HashSet<int>();
        var values = new Dictionary<int, float[]>();
        foreach (var (_, k, i) in candidates.Take(count))
        {
            string name = names[k];
            if (!values.TryGetValue(k, out var w))
            {
                values[k] = w = ValuesOf(_parameters[name]);
                if (!_scales.ContainsKey(name)) _scales[name] = FixedPointQuantizer.ScaleFor(w, Bits);
            }
            float scale = _scales[name];
            short q = FixedPointQuantizer.QuantizeOne(w[i], scale, Bits);
            _frozenValues[name][i] = (float)(q * (double)scale);
            _frozen[name][i] = true;
            touched.Add(k);
        }
        foreach (int k in touched)
        {
            string name = names[k];
            RebuildTensors(name);
            RestoreFrozen(name);
            if (optimizer is not null) optimizer.MaskState(name, _tensors[name].FreeMask);
        }
        return count;
    }

    /// <inheritdoc />
    public void AfterBackward(TrainingContext context)
    {
        using var noGrad = torch.no_grad();
        foreach (var (name, t) in _tensors)
        {
            var g = _parameters[name].grad;
            if (g is not null) g.masked_fill_(t.Frozen, 0);
        }
    }

    /// <inheritdoc />
    public void AfterOptimizerStep(TrainingContext context)
    {
        foreach (var (name, t) in _tensors)
        {
            RestoreFrozen(name);
            context.Optimizer.MaskState(name, t.FreeMask);
        }
    }

    /// <inheritdoc />
    public void OnEpochEnd(TrainingContext context) => Freeze(_splitFraction(context.Epoch), context.Optimizer);

    private void RestoreFrozen(string name)
    {
        var t = _tensors[name];
        using var noGrad = torch.no_grad();
        var p = _parameters[name];
        using var restored = torch.where(t.Frozen, t.Values, p.detach());
        p.detach().copy_(restored);
    }

    private void RebuildTensors(string name)
    {
        var shape = _parameters[name].shape;
        if (_tensors.TryGetValue(name, out var old))
        {
            old.Frozen.Dispose();
            old.FreeMask.Dispose();
            old.Values.Dispose();
        }
        var frozen = _frozen[name];
        using var frozenFlat = torch.tensor(frozen, dtype: ScalarType.Bool);
        using var freeFlat = torch.tensor(Array.ConvertAll(frozen, f => f ? 0f : 1f), dtype: ScalarType.Float32);
        using var valuesFlat = torch.tensor(_frozenValues[name], dtype: ScalarType.Float32);
        var p = _parameters[name];
        _tensors[name] = (
            frozenFlat.reshape(shape).DetachFromDisposeScope(),
            freeFlat.reshape(shape).DetachFromDisposeScope(),
            valuesFlat.reshape(shape).to_type(p.dtype).DetachFromDisposeScope());
    }

    private static float[] ValuesOf(Parameter p)
    {
        using var flat = p.detach().flatten().to_type(ScalarType.Float32).contiguous();
        return flat.data<float>().ToArray();
    }

    /// <inheritdoc />
    public void Dispose()
    {
        foreach (var t in _tensors.Values)
        {
            t.Frozen.Dispose();
            t.FreeMask.Dispose();
            t.Values.Dispose();
        }
        _tensors.Clear();
    }
}
