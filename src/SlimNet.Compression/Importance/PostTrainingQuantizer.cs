using SlimNet.Compression.Hooks;
using SlimNet.Format;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SlimNet.Compression.Importance;

/// <summary>
/// Post-training gradient-importance quantization (Gaopande), a session. At the end of its stage's training (or when
/// <see cref="Quantize"/> is called) it takes the accumulated importance A of every still-free element of the selected
/// parameters together (elements frozen by an earlier <see cref="ImportanceFreezer"/> keep their width and value: this is
/// the combined mode), clusters A (<see cref="ImportanceClustering"/>), gives cluster j the width <c>Bits[j]</c>
/// (cluster 0 = least important, widths non-decreasing, 0 = pruned), and quantizes each tensor with one fixed-point scale
/// per (tensor, width) (<see cref="FixedPointQuantizer.QuantizeGrouped"/>). The parameters then hold exactly the values
/// the .slim file stores (<see cref="StoredTensor"/>), and stay fixed if training continues in later stages.
/// </summary>
public sealed class PostTrainingQuantizer : ITrainingHooks, IDisposable
{
    private readonly GradientImportanceTracker _tracker;
    private readonly IReadOnlyDictionary<string, Parameter> _parameters;
    private readonly List<string> _names;
    private readonly IReadOnlyList<ImportanceFreezer> _earlier;
    private readonly Dictionary<string, SlimTensor> _stored = new(StringComparer.Ordinal);
    private readonly Dictionary<string, byte[]> _widths = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Tensor> _values = new(StringComparer.Ordinal);
    private long[] _clusterSizes = [];

    /// <summary>Prepares the quantizer; nothing changes until <see cref="Quantize"/> (or the end of training).</summary>
    /// <param name="tracker">The importance source; it must track every name.</param>
    /// <param name="parameters">The model's parameters by name.</param>
    /// <param name="names">Parameters to quantize (together: one clustering over all their free elements).</param>
    /// <param name="bits">Width of each cluster, least important first, non-decreasing, each 0..16.</param>
    /// <param name="clustering">How A is grouped.</param>
    /// <param name="fractions">Cluster fractions for <see cref="ImportanceClusteringKind.Quantile"/> (same count as <paramref name="bits"/>).</param>
    /// <param name="earlier">Freezers of earlier stages: their frozen elements are not clustered.</param>
    /// <param name="maxIterations">Lloyd iteration cap of k-means.</param>
    public PostTrainingQuantizer(GradientImportanceTracker tracker, IReadOnlyDictionary<string, Parameter> parameters, IEnumerable<string> names,
        IReadOnlyList<int> bits, ImportanceClusteringKind clustering, IReadOnlyList<double>? fractions = null,
        IReadOnlyList<ImportanceFreezer>? earlier = null, int maxIterations = 100)
    {
        ArgumentNullException.ThrowIfNull(tracker);
        ArgumentNullException.ThrowIfNull(parameters);
        ArgumentNullException.ThrowIfNull(names);
        ArgumentNullException.ThrowIfNull(bits);
        if (bits.Count == 0) throw new ArgumentException("need at least one cluster width", nameof(bits));
        for (int j = 0; j < bits.Count; j++)
        {
            FixedPointQuantizer.CheckBits(bits[j]);
            if (j > 0 && bits[j] < bits[j - 1]) throw new ArgumentException("cluster widths must not decrease (least important first)", nameof(bits));
        }
        if (clustering == ImportanceClusteringKind.Quantile && (fractions is null || fractions.Count != bits.Count))
            throw new ArgumentException($"quantile clustering needs {bits.Count} fractions", nameof(fractions));
        _tracker = tracker;
        _parameters = parameters;
        _names = names.ToList();
        foreach (var name in _names)
        {
            if (!parameters.ContainsKey(name)) throw new ArgumentException($"no parameter named '{name}'", nameof(names));
            if (!tracker.Names.Contains(name)) throw new ArgumentException($"parameter '{name}' is not tracked by the importance tracker", nameof(names));
        }
        Bits = bits.ToArray();
        Clustering = clustering;
        Fractions = fractions?.ToArray();
        MaxIterations = maxIterations;
        _earlier = earlier ?? [];
    }

    /// <summary>
    /// When true, each parameter's importances are divided by their mean before the joint ranking
    /// (<see cref="GradientImportanceTracker.RelativeImportance"/>; recipe <c>normalize: parameter-mean</c>); when false (default)
    /// the raw accumulated |gradient| of the whole parameter set is ranked, as in the thesis.
    /// </summary>
    public bool RelativePerParameter { get; init; }

    /// <summary>Width of each cluster, least important first.</summary>
    public IReadOnlyList<int> Bits { get; }
    /// <summary>How importances are grouped.</summary>
    public ImportanceClusteringKind Clustering { get; }
    /// <summary>Quantile fractions (quantile clustering), else null.</summary>
    public IReadOnlyList<double>? Fractions { get; }
    /// <summary>k-means iteration cap.</summary>
    public int MaxIterations { get; }
    /// <summary>The quantized parameters.</summary>
    public IReadOnlyList<string> Names => _names;
    /// <summary>True once <see cref="Quantize"/> ran.</summary>
    public bool IsQuantized => _stored.Count > 0 || _names.Count == 0;
    /// <summary>Elements per cluster (after <see cref="Quantize"/>).</summary>
    public IReadOnlyList<long> ClusterSizes => _clusterSizes;

    /// <summary>The stored (fixed-point) form of <paramref name="name"/> after <see cref="Quantize"/>; its <see cref="SlimTensor.ToDense"/> equals the parameter.</summary>
    public SlimTensor StoredTensor(string name) => _stored[name];

    /// <summary>Every quantized parameter's stored form, by name.</summary>
    public IReadOnlyDictionary<string, SlimTensor> StoredTensors => _stored;

    /// <summary>Bit width of each element of <paramref name="name"/> (0..16) after <see cref="Quantize"/> (a copy).</summary>
    public byte[] BitWidths(string name) => (byte[])_widths[name].Clone();

    /// <summary>
    /// Clusters, quantizes and writes the stored values into the parameters; zeroes the optimizer state of every
    /// quantized parameter when <paramref name="optimizer"/> is given. Idempotent: a second call does nothing.
    /// </summary>
    public void Quantize(Optim.ParameterOptimizer? optimizer = null)
    {
        if (IsQuantized) return;
        var frozenWidth = new Dictionary<string, byte[]>(StringComparer.Ordinal);
        var importance = new List<float>();
        var owners = new List<(int Parameter, int Index)>();
        var widths = new List<byte[]>();
        for (int k = 0; k < _names.Count; k++)
        {
            string name = _names[k];
            var a = (RelativePerParameter ? _tracker.RelativeImportance(name) : _tracker.Importance(name));
            var w = new byte[a.Length];
            Array.Fill(w, byte.MaxValue);
            foreach (var f in _earlier.Where(f => f.Names.Contains(name)))
            {
                var mask = f.FrozenMask(name);
                for (int i = 0; i < mask.Length; i++) if (mask[i] && w[i] == byte.MaxValue) w[i] = (byte)f.Bits;
            }
            for (int i = 0; i < a.Length; i++)
                if (w[i] == byte.MaxValue) { importance.Add(a[i]); owners.Add((k, i)); }
            widths.Add(w);
        }
        int[] clusters = Clustering == ImportanceClusteringKind.Quantile
            ? ImportanceClustering.Quantiles(importance.ToArray(), Fractions!)
            : ImportanceClustering.KMeansOnLog(importance.ToArray(), Bits.Count, MaxIterations);
        var sizes = new long[Bits.Count];
        for (int e = 0; e < clusters.Length; e++)
        {
            var (k, i) = owners[e];
            widths[k][i] = (byte)Bits[clusters[e]];
            sizes[clusters[e]]++;
        }
        _clusterSizes = sizes;
        using var noGrad = torch.no_grad();
        for (int k = 0; k < _names.Count; k++)
        {
            string name = _names[k];
            var p = _parameters[name];
            using var flat = p.detach().flatten().to_type(ScalarType.Float32).contiguous();
            var values = flat.data<float>().ToArray();
            var grouped = FixedPointQuantizer.QuantizeGrouped(values, widths[k]);
            var shape = p.shape.Select(d => checked((int)d)).ToArray();
            var stored = FixedPointQuantizer.ToSlimTensor(name, shape, grouped);
            _stored[name] = stored;
            _widths[name] = widths[k];
            using var t = torch.tensor(stored.ToDense(), dtype: ScalarType.Float32);
            var shaped = t.reshape(p.shape).to_type(p.dtype).DetachFromDisposeScope();
            p.detach().copy_(shaped);
            _values[name] = shaped;
            if (optimizer is not null)
            {
                using var zero = torch.zeros_like(p);
                optimizer.MaskState(name, zero);
            }
        }
    }

    /// <inheritdoc />
    public void AfterBackward(TrainingContext context)
    {
        foreach (var name in _values.Keys)
            if (_parameters[name].grad is { } g) g.zero_();
    }

    /// <inheritdoc />
    public void AfterOptimizerStep(TrainingContext context)
    {
        using var noGrad = torch.no_grad();
        foreach (var (name, v) in _values)
        {
            _parameters[name].detach().copy_(v);
            using var zero = torch.zeros_like(v);
            context.Optimizer.MaskState(name, zero);
        }
    }

    /// <inheritdoc />
    public void OnTrainingEnd(TrainingContext context) => Quantize(context.Optimizer);

    /// <inheritdoc />
    public void Dispose()
    {
        foreach (var v in _values.Values) v.Dispose();
        _values.Clear();
    }
}
