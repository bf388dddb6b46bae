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
public sealed class ImportanceFreezer : ITrainingHooks, ICheckpointedHooks, IDisposable
{
    /// <summary>The width reported by <see cref="BitWidths"/> for elements still free (full-precision float32).</summary>
    public const byte FreeWidth = 32;

    private readonly GradientImportanceTracker _tracker;
    private readonly IReadOnlyDictionary<string, Parameter> _parameters;
    private readonly Func<int, double> _splitFraction;
    private readonly List<string> _names;
    private readonly Dictionary<string, bool[]> _frozen = new(StringComparer.Ordinal);
    private readonly Dictionary<string, float[]> _frozenValues = new(StringComparer.Ordinal);
    private readonly Dictionary<string, short[]> _codes = new(StringComparer.Ordinal);
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
    /// <param name="names">The parameters to quantize, each tracked by <paramref name="tracker"/> (default: all it tracks).</param>
    public ImportanceFreezer(GradientImportanceTracker tracker, IReadOnlyDictionary<string, Parameter> parameters, Func<int, double> splitFraction, int bits,
        IEnumerable<string>? names = null)
    {
        ArgumentNullException.ThrowIfNull(tracker);
        ArgumentNullException.ThrowIfNull(parameters);
        ArgumentNullException.ThrowIfNull(splitFraction);
        FixedPointQuantizer.CheckBits(bits);
        _tracker = tracker;
        _parameters = parameters;
        _splitFraction = splitFraction;
        Bits = bits;
        _names = (names ?? tracker.Names).ToList();
        foreach (var name in _names)
        {
            if (!tracker.Names.Contains(name)) throw new ArgumentException($"parameter '{name}' is not tracked by the importance tracker", nameof(names));
            if (!parameters.TryGetValue(name, out var p)) throw new ArgumentException($"no parameter named '{name}'", nameof(parameters));
            int n = checked((int)p.numel());
            _frozen[name] = new bool[n];
            _frozenValues[name] = new float[n];
            _codes[name] = new short[n];
        }
    }

    /// <summary>
    /// When true, each parameter's importances are divided by their mean before the joint ranking
    /// (<see cref="GradientImportanceTracker.RelativeImportance"/>; recipe <c>normalize: parameter-mean</c>); when false (default)
    /// the raw accumulated |gradient| of the whole parameter set is ranked, as in the thesis.
    /// </summary>
    public bool RelativePerParameter { get; init; }

    /// <summary>Width of the frozen fixed-point values.</summary>
    public int Bits { get; }

    /// <summary>The parameters this freezer quantizes.</summary>
    public IReadOnlyList<string> Names => _names;

    /// <summary>Checkpoint prefix of the frozen masks, values and scales (default <c>freezer</c>).</summary>
    public string StateKey { get; init; } = "freezer";

    /// <summary>Which elements of <paramref name="name"/> are frozen, row-major (a copy).</summary>
    public bool[] FrozenMask(string name) => (bool[])_frozen[name].Clone();

    /// <summary>Bit width of each element of <paramref name="name"/>: <see cref="Bits"/> if frozen, else <see cref="FreeWidth"/>.</summary>
    public byte[] BitWidths(string name) => Array.ConvertAll(_frozen[name], f => f ? (byte)Bits : FreeWidth);

    /// <summary>The frozen (dequantized) values of <paramref name="name"/>, row-major; 0 where free (a copy).</summary>
    public float[] FrozenValues(string name) => (float[])_frozenValues[name].Clone();

    /// <summary>
    /// The stored form of <paramref name="name"/> once every element is frozen: one fixed-point tensor at <see cref="Bits"/>
    /// (b = 1 at 2 bits) with the tensor's scale (b = 0: CSR with nothing stored); its
    /// <see cref="Format.SlimTensor.ToDense"/> equals the frozen values exactly. Null while some element is still free.
    /// </summary>
    public Format.SlimTensor? StoredTensor(string name)
    {
        var frozen = _frozen[name];
        if (frozen.Length == 0 || frozen.Contains(false)) return null;
        var shape = _parameters[name].shape.Select(d => checked((int)d)).ToArray();
        var codes = _codes[name];
        if (Bits == 0) return Format.SlimTensor.FixedPoint(name, shape, codes, [0f], 1, sparsity: Format.SparseLayout.Csr);
        return Format.SlimTensor.FixedPoint(name, shape, (short[])codes.Clone(), [_scales[name]], Math.Max(Bits, 2));
    }

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
        var names = _names;
        // One sort key per free element: the importance's float bits (monotone for A >= 0) above a global position
        // (parameter order, then index), so ties break by parameter order, then position, as documented. Sorting
        // primitive keys keeps this fast for models with millions of weights.
        var offsets = new long[names.Count + 1];
        for (int k = 0; k < names.Count; k++) offsets[k + 1] = offsets[k] + _frozen[names[k]].Length;
        var keys = new List<ulong>();
        for (int k = 0; k < names.Count; k++)
        {
            var importance = RelativePerParameter ? _tracker.RelativeImportance(names[k]) : _tracker.Importance(names[k]);
            var frozen = _frozen[names[k]];
            for (int i = 0; i < frozen.Length; i++)
                if (!frozen[i]) keys.Add(((ulong)BitConverter.SingleToUInt32Bits(Math.Max(importance[i], 0f)) << 32) | (ulong)(offsets[k] + i));
        }
        int count = (int)Math.Round(fraction * keys.Count, MidpointRounding.AwayFromZero);
        if (count == 0) return 0;
        var sorted = keys.ToArray();
        Array.Sort(sorted);
        var chosen = new List<(int Parameter, int Index)>(count);
        for (int c = 0; c < count; c++)
        {
            long global = (long)(sorted[c] & 0xFFFFFFFFUL);
            int k = Array.BinarySearch(offsets, global);
            if (k < 0) k = ~k - 1;
            while (k + 1 < offsets.Length && offsets[k + 1] <= global) k++;
            chosen.Add((k, (int)(global - offsets[k])));
        }
        var touched = new HashSet<int>();
        var values = new Dictionary<int, float[]>();
        foreach (var (k, i) in chosen)
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
            _codes[name][i] = q;
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
        using Scalar zero = 0; // held alive across the native calls (see AdamOptimizer)
        foreach (var (name, t) in _tensors)
        {
            var g = _parameters[name].grad;
            if (g is not null) g.masked_fill_(t.Frozen, zero);
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
    public void OnEpochEnd(TrainingContext context)
    {
        if (!_ended) Freeze(_splitFraction(context.Epoch), context.Optimizer);
    }

    /// <summary>Ends the freezing schedule: in later stages (where the session stays registered) frozen elements stay
    /// frozen but no more are frozen.</summary>
    public void OnTrainingEnd(TrainingContext context) => _ended = true;

    private bool _ended;

    /// <inheritdoc />
    public IReadOnlyList<HookStateArray> SaveState()
    {
        var state = new List<HookStateArray>();
        foreach (var name in _names)
        {
            long n = _frozen[name].Length;
            state.Add(new HookStateArray(name + "#frozen", [n], Array.ConvertAll(_frozen[name], f => f ? 1f : 0f)));
            state.Add(new HookStateArray(name + "#values", [n], (float[])_frozenValues[name].Clone()));
            state.Add(new HookStateArray(name + "#scale", [1], [_scales.TryGetValue(name, out var sc) ? sc : float.NaN]));
        }
        return state;
    }

    /// <inheritdoc />
    public void LoadState(IReadOnlyList<HookStateArray> state)
    {
        ArgumentNullException.ThrowIfNull(state);
        var byName = state.ToDictionary(s => s.Name, StringComparer.Ordinal);
        HookStateArray Need(string key, int length) =>
            byName.TryGetValue(key, out var a) && a.Values.Length == length ? a
                : throw new InvalidOperationException($"freezer state lacks '{key}' with {length} values");
        foreach (var name in _names)
        {
            int n = _frozen[name].Length;
            var frozen = Need(name + "#frozen", n).Values;
            var values = Need(name + "#values", n).Values;
            float scale = Need(name + "#scale", 1).Values[0];
            for (int i = 0; i < n; i++) _frozen[name][i] = frozen[i] != 0f;
            values.CopyTo(_frozenValues[name], 0);
            if (float.IsNaN(scale)) _scales.Remove(name); else _scales[name] = scale;
            for (int i = 0; i < n; i++)
                _codes[name][i] = _frozen[name][i] && !float.IsNaN(scale) ? FixedPointQuantizer.QuantizeOne(values[i], scale, Bits) : (short)0;
            if (_frozen[name].Contains(true))
            {
                RebuildTensors(name);
                RestoreFrozen(name);
            }
        }
    }

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
