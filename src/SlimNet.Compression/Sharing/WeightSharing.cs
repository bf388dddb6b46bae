using SlimNet.Compression.Hooks;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SlimNet.Compression.Sharing;

/// <summary>
/// Deep Compression weight sharing, a session (hooks for the trainer). <see cref="Cluster"/> (called at training
/// start if not before) runs <see cref="KMeans1D"/> per parameter over its NONZERO weights with 2^b clusters and snaps
/// every nonzero weight to its centroid. Exact zeros (pruned weights) belong to no cluster and stay exactly 0.
/// During fine-tuning: after backward, gradients of non-members are zeroed (and, for
/// <see cref="CentroidUpdate.GradientSum"/>, each centroid's gradient Σ member gradients is taken); after the
/// optimizer step the centroids are updated by the chosen <see cref="CentroidUpdate"/> rule and every member is
/// snapped to its centroid again, non-members to 0. Assignments (codes) stay fixed after clustering.
/// Owns tensors: dispose it.
/// </summary>
public sealed class WeightSharing : ITrainingHooks, IDisposable
{
    private readonly IReadOnlyDictionary<string, Parameter> _parameters;
    private readonly IReadOnlyList<(string Name, int Bits)> _layers;
    private readonly Dictionary<string, LayerClusters> _clusters = new(StringComparer.Ordinal);

    /// <summary>Creates the session; nothing is clustered yet.</summary>
    /// <param name="parameters">The model's parameters by name.</param>
    /// <param name="bitsByParameter">Parameters to share and their code width b in [1, 16].</param>
    /// <param name="maxIterations">Lloyd iteration cap.</param>
    /// <param name="update">Centroid learning rule.</param>
    /// <param name="learningRate">Step size for <see cref="CentroidUpdate.GradientSum"/> (ignored otherwise).</param>
    public WeightSharing(IReadOnlyDictionary<string, Parameter> parameters, IReadOnlyDictionary<string, int> bitsByParameter,
        int maxIterations = 100, CentroidUpdate update = CentroidUpdate.MemberMean, double learningRate = 0.0)
    {
        foreach (var (name, bits) in bitsByParameter)
        {
            if (!parameters.ContainsKey(name)) throw new ArgumentException($"no parameter named '{name}'", nameof(bitsByParameter));
            if (bits is < 1 or > 16) throw new ArgumentOutOfRangeException(nameof(bitsByParameter), bits, $"bits of '{name}' must be in [1, 16]");
        }
        ArgumentOutOfRangeException.ThrowIfLessThan(maxIterations, 1);
        if (update == CentroidUpdate.GradientSum && !(learningRate > 0))
            throw new ArgumentOutOfRangeException(nameof(learningRate), learningRate, "the gradient-sum rule needs a learning rate > 0");
        _parameters = parameters;
        _layers = bitsByParameter.OrderBy(p => p.Key, StringComparer.Ordinal).Select(p => (p.Key, p.Value)).ToList();
        MaxIterations = maxIterations;
        Update = update;
        LearningRate = learningRate;
    }

    /// <summary>Lloyd iteration cap.</summary>
    public int MaxIterations { get; }
    /// <summary>Centroid learning rule.</summary>
    public CentroidUpdate Update { get; }
    /// <summary>Step size of the gradient-sum rule.</summary>
    public double LearningRate { get; }
    /// <summary>Whether <see cref="Cluster"/> has run.</summary>
    public bool IsClustered => _clusters.Count == _layers.Count;
    /// <summary>The shared parameters, ordinal order.</summary>
    public IReadOnlyList<string> ParameterNames => _layers.Select(l => l.Name).ToList();

    /// <summary>Clusters every parameter's nonzero weights and snaps them to their centroids (once; later calls do nothing).</summary>
    public void Cluster()
    {
        if (IsClustered) return;
        foreach (var (name, bits) in _layers)
        {
            var p = _parameters[name];
            float[] flat;
            using (var f = p.detach().flatten().to_type(ScalarType.Float32).contiguous()) flat = f.data<float>().ToArray();
            var positions = new List<long>();
            var values = new List<float>();
            for (int i = 0; i < flat.Length; i++)
                if (flat[i] != 0f) { positions.Add(i); values.Add(flat[i]); }
            // A layer with zeros (pruned weights) keeps one of its 2^b codes for the value 0, so that the stored
            // codebook of 2^b entries can also encode the filler zeros of relative indexing (Deep Compression).
            int clusters = Math.Max(1, (1 << bits) - (values.Count < flat.Length ? 1 : 0));
            var result = KMeans1D.Cluster(values.ToArray(), clusters, MaxIterations);
            _clusters[name] = new LayerClusters(p, bits, positions.ToArray(), result);
            _clusters[name].Snap(p);
        }
    }

    /// <summary>The current codebook (2^b centroids) of <paramref name="parameterName"/>.</summary>
    public float[] CodebookOf(string parameterName) => ClustersOf(parameterName).CodebookValues();

    /// <summary>The storable form of <paramref name="parameterName"/> (positions, codes, codebook): "strip" for export.</summary>
    public SharedWeights Export(string parameterName)
    {
        var c = ClustersOf(parameterName);
        return new SharedWeights(parameterName, _parameters[parameterName].shape.ToArray(), c.Bits, c.CodebookValues(),
            Array.ConvertAll(c.PositionValues, v => checked((int)v)), Array.ConvertAll(c.CodeValues, v => checked((ushort)v)));
    }

    /// <summary><see cref="Export"/> for every shared parameter.</summary>
    public IReadOnlyList<SharedWeights> ExportAll() => _layers.Select(l => Export(l.Name)).ToList();

    /// <summary>Snaps every shared parameter to its centroids (members) and 0 (others).</summary>
    public void Snap()
    {
        foreach (var (name, _) in _layers) ClustersOf(name).Snap(_parameters[name]);
    }

    /// <inheritdoc />
    public void OnTrainingStart(TrainingContext context) => Cluster();

    /// <inheritdoc />
    public void AfterBackward(TrainingContext context)
    {
        Cluster();
        using var noGrad = torch.no_grad();
        foreach (var (name, _) in _layers)
        {
            var p = _parameters[name];
            var c = _clusters[name];
            if (p.grad is not { } grad) continue;
            grad.mul_(c.MemberMask);
            if (Update == CentroidUpdate.GradientSum) c.TakeGradientSums(grad);
        }
    }

    /// <inheritdoc />
    public void AfterOptimizerStep(TrainingContext context)
    {
        Cluster();
        using var noGrad = torch.no_grad();
        foreach (var (name, _) in _layers)
        {
            var p = _parameters[name];
            var c = _clusters[name];
            if (Update == CentroidUpdate.GradientSum) c.StepOnGradientSums(LearningRate);
            else c.MoveToMemberMeans(p);
            c.Snap(p);
            // Pruned (non-member) weights keep no momentum or Adam moments.
            context.Optimizer.MaskState(name, c.MemberMask);
        }
    }

    /// <inheritdoc />
    public void OnTrainingEnd(TrainingContext context)
    {
        Cluster();
        Snap();
    }

    private LayerClusters ClustersOf(string parameterName)
    {
        if (!IsClustered) throw new InvalidOperationException("weights are not clustered yet: call Cluster() first");
        return _clusters[parameterName];
    }

    /// <inheritdoc />
    public void Dispose()
    {
        foreach (var c in _clusters.Values) c.Dispose();
        _clusters.Clear();
    }

    private sealed class LayerClusters : IDisposable
    {
        private readonly Tensor _positions;   // int64 [members]
        private readonly Tensor _codes;       // int64 [members]
        private readonly Tensor _centroids;   // float32 [2^b]
        private readonly Tensor _counts;      // float32 [2^b]
        private Tensor? _gradientSums;        // float32 [2^b]

        public LayerClusters(Parameter p, int bits, long[] positions, KMeansResult result)
        {
            Bits = bits;
            PositionValues = positions;
            CodeValues = Array.ConvertAll(result.Assignments, a => (long)a);
            // These tensors live across steps: keep them out of any per-batch dispose scope of the trainer.
            _positions = torch.tensor(positions, dtype: ScalarType.Int64).DetachFromDisposeScope();
            _codes = torch.tensor(CodeValues, dtype: ScalarType.Int64).DetachFromDisposeScope();
            _centroids = torch.tensor(result.Centroids, dtype: ScalarType.Float32).DetachFromDisposeScope();
            using var ones = torch.ones(positions.Length, dtype: ScalarType.Float32);
            _counts = torch.zeros(result.Centroids.Length, dtype: ScalarType.Float32).index_add_(0, _codes, ones, 1).DetachFromDisposeScope();
            using var flatMask = torch.zeros(p.numel(), dtype: ScalarType.Float32);
            flatMask.index_fill_(0, _positions, 1f);
            MemberMask = flatMask.reshape(p.shape).to_type(p.dtype).DetachFromDisposeScope();
        }

        public int Bits { get; }
        public long[] PositionValues { get; }
        public long[] CodeValues { get; }
        public Tensor MemberMask { get; }

        public float[] CodebookValues() => _centroids.data<float>().ToArray();

        public void Snap(Parameter p)
        {
            using var noGrad = torch.no_grad();
            using var flat = p.detach().view(-1);
            flat.zero_();
            using var values = _centroids.index_select(0, _codes).to_type(p.dtype);
            flat.index_copy_(0, _positions, values);
        }

        public void MoveToMemberMeans(Parameter p)
        {
            using var flat = p.detach().view(-1);
            using var members = flat.index_select(0, _positions).to_type(ScalarType.Float32);
            using var sums = torch.zeros_like(_centroids).index_add_(0, _codes, members, 1);
            using Scalar zero = 0, one = 1f; // held alive across the native calls (see AdamOptimizer)
            using var occupied = _counts.gt(zero);
            using var safeCounts = _counts.clamp_min(one);
            using var means = sums / safeCounts;
            using var updated = torch.where(occupied, means, _centroids);
            _centroids.copy_(updated);
        }

        public void TakeGradientSums(Tensor grad)
        {
            using var flat = grad.view(-1);
            using var members = flat.index_select(0, _positions).to_type(ScalarType.Float32);
            _gradientSums?.Dispose();
            _gradientSums = torch.zeros_like(_centroids).index_add_(0, _codes, members, 1).DetachFromDisposeScope();
        }

        public void StepOnGradientSums(double learningRate)
        {
            if (_gradientSums is null) return;
            _centroids.add_(_gradientSums, -learningRate);
            _gradientSums.Dispose();
            _gradientSums = null;
        }

        public void Dispose()
        {
            _positions.Dispose();
            _codes.Dispose();
            _centroids.Dispose();
            _counts.Dispose();
            MemberMask.Dispose();
            _gradientSums?.Dispose();
        }
    }
}
