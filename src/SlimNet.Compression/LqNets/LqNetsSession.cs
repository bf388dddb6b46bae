using SlimNet.Compression.Hooks;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SlimNet.Compression.LqNets;

/// <summary>One layer an LQ-Nets stage quantizes.</summary>
/// <param name="Parameter">The weight parameter (<c>{node}.weight</c> of a Linear or Conv2d node).</param>
/// <param name="WeightBits">K of the weight basis (one per output channel), or null for full-precision weights.</param>
/// <param name="ActivationBits">K of the basis quantizing the node's input, or null for a full-precision input.</param>
public sealed record LqLayer(string Parameter, int? WeightBits, int? ActivationBits)
{
    /// <summary>The graph node the parameter belongs to (the name without <c>.weight</c>).</summary>
    public string NodeName => Parameter.EndsWith(".weight", StringComparison.Ordinal) ? Parameter[..^".weight".Length] : Parameter;
}

/// <summary>
/// The stored form of one LQ-quantized weight: per element a K-bit code (bit k = plane k, 1 → +1, 0 → −1) and per
/// output channel (row) a basis of K floats; value = Σ_k basis[r·K + k]·e_k.
/// </summary>
/// <param name="ParameterName">Parameter name.</param>
/// <param name="Shape">Its shape ([out, in] or [out, in, kh, kw]).</param>
/// <param name="Bits">K.</param>
/// <param name="Basis">Rows × K floats, row-major.</param>
/// <param name="Codes">One code per element, row-major.</param>
public sealed record LqQuantizedWeight(string ParameterName, int[] Shape, int Bits, float[] Basis, ushort[] Codes)
{
    /// <summary>The decoded values (row-major), computed as a .slim BitPlanes tensor decodes them.</summary>
    public float[] ToDense()
    {
        int rows = Shape[0], cols = Codes.Length / Math.Max(rows, 1);
        var result = new float[Codes.Length];
        for (int i = 0; i < result.Length; i++)
            result[i] = LqBasisMath.Level(Basis.AsSpan(i / cols * Bits, Bits), LqDomain.PlusMinusOne, Codes[i]);
        return result;
    }
}

/// <summary>
/// LQ-Nets training (a session of hooks): learned weight quantizers (a K-bit basis per output channel, codes in
/// {−1, 1}^K) and input-activation quantizers (a K-bit basis per layer, codes in {0, 1}^K; see
/// <see cref="InputQuantizers"/>, which the caller wires into the network's forward pass).
/// <para>
/// Weights keep a full-precision master copy. Before each training forward pass the weights are replaced by their
/// quantized values (nearest levels of the current bases) and each basis takes one QEM step towards the least-squares
/// basis for those codes (δ = 1e−4, moving average 0.9). After the backward pass the master values are put back, so the
/// optimizer applies the gradient taken at the quantized weights to the full-precision ones (straight-through
/// estimator, identity). At each epoch end and at the end of training the weights are left quantized, so evaluation,
/// checkpoints and export see the quantized network. Owns tensors: dispose it.
/// </para>
/// </summary>
public sealed class LqNetsSession : ITrainingHooks, IDisposable
{
    private readonly IReadOnlyDictionary<string, Parameter> _parameters;
    private readonly List<(LqLayer Layer, LqQuantizerState State)> _weights = new();
    private readonly Dictionary<string, LqActivationQuantizer> _inputs = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Tensor> _master = new(StringComparer.Ordinal);

    /// <summary>Creates the session; weights are not touched until training starts.</summary>
    /// <param name="parameters">The model's parameters by name.</param>
    /// <param name="layers">The layers to quantize (weights of rank ≥ 2).</param>
    /// <param name="weightDelta">δ of the weight QEM solve.</param>
    /// <param name="momentum">Weight of the old basis in the QEM moving average (weights and activations).</param>
    public LqNetsSession(IReadOnlyDictionary<string, Parameter> parameters, IReadOnlyList<LqLayer> layers,
        float weightDelta = LqBasisMath.WeightDelta, float momentum = LqBasisMath.Momentum)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        ArgumentNullException.ThrowIfNull(layers);
        if (!(weightDelta >= 0)) throw new ArgumentOutOfRangeException(nameof(weightDelta), weightDelta, "delta must be >= 0");
        if (!(momentum >= 0 && momentum <= 1)) throw new ArgumentOutOfRangeException(nameof(momentum), momentum, "momentum must be in [0, 1]");
        foreach (var layer in layers)
        {
            if (!parameters.TryGetValue(layer.Parameter, out var p)) throw new ArgumentException($"no parameter named '{layer.Parameter}'", nameof(layers));
            if (p.dim() < 2) throw new ArgumentException($"'{layer.Parameter}' has rank {p.dim()}: LQ-Nets quantizes Linear and Conv2d weights", nameof(layers));
            if (layer.WeightBits is int wb)
            {
                LqBasisMath.CheckBits(wb);
                int rows = checked((int)p.shape[0]);
                long kernel = p.shape.Skip(2).Aggregate(1L, (a, d) => a * d);
                int fanOut = checked((int)(rows * kernel));
                var init = LqBasisMath.InitialWeightBasis(fanOut, wb);
                var basis = new float[rows * wb];
                for (int r = 0; r < rows; r++) init.CopyTo(basis, r * wb);
                _weights.Add((layer, new LqQuantizerState(rows, wb, LqDomain.PlusMinusOne, basis)));
            }
            if (layer.ActivationBits is int ab)
                _inputs[layer.NodeName] = new LqActivationQuantizer(layer.NodeName, ab, momentum);
        }
        _parameters = parameters;
        Layers = layers.ToList();
        WeightDelta = weightDelta;
        Momentum = momentum;
    }

    /// <summary>The quantized layers, as given.</summary>
    public IReadOnlyList<LqLayer> Layers { get; }
    /// <summary>δ of the weight QEM solve.</summary>
    public float WeightDelta { get; }
    /// <summary>QEM moving-average weight of the old basis.</summary>
    public float Momentum { get; }

    /// <summary>Input-activation quantizers by graph node name; the network must apply each to that node's input.</summary>
    public IReadOnlyDictionary<string, LqActivationQuantizer> InputQuantizers => _inputs;

    /// <summary>The weight quantizer of <paramref name="parameterName"/>.</summary>
    public LqQuantizerState WeightQuantizer(string parameterName) =>
        _weights.FirstOrDefault(w => w.Layer.Parameter == parameterName).State ?? throw new ArgumentException($"'{parameterName}' has no LQ weight quantizer");

    /// <summary>Whether the full-precision master weights have been taken (training started).</summary>
    public bool IsStarted => _started;

    private bool _started;

    /// <inheritdoc />
    public void OnTrainingStart(TrainingContext context) => Start();

    /// <summary>Takes the master copies of the weights and quantizes them (once; later calls do nothing).</summary>
    public void Start()
    {
        if (_started) return;
        _started = true;
        using var noGrad = torch.no_grad();
        foreach (var (layer, _) in _weights)
            _master[layer.Parameter] = _parameters[layer.Parameter].detach().clone().DetachFromDisposeScope();
        Quantize(update: false);
    }

    /// <inheritdoc />
    public void BeforeForward(TrainingContext context)
    {
        Start();
        Quantize(update: true);
    }

    /// <inheritdoc />
    public void AfterBackward(TrainingContext context)
    {
        using var noGrad = torch.no_grad();
        foreach (var (layer, _) in _weights) _parameters[layer.Parameter].copy_(_master[layer.Parameter]);
    }

    /// <inheritdoc />
    public void AfterOptimizerStep(TrainingContext context)
    {
        using var noGrad = torch.no_grad();
        foreach (var (layer, _) in _weights) _master[layer.Parameter].copy_(_parameters[layer.Parameter]);
    }

    /// <inheritdoc />
    public void OnEpochEnd(TrainingContext context) => Quantize(update: false);

    /// <inheritdoc />
    public void OnTrainingEnd(TrainingContext context)
    {
        Start();
        Quantize(update: false);
    }

    /// <summary>The full-precision master copy of <paramref name="parameterName"/> (row-major floats).</summary>
    public float[] MasterValues(string parameterName)
    {
        Start();
        using var flat = _master[parameterName].detach().flatten().contiguous();
        return flat.data<float>().ToArray();
    }

    /// <summary>
    /// The stored form of every quantized weight: codes of the master weights under the current bases (the values the
    /// parameters hold after training ends) and the bases.
    /// </summary>
    public IReadOnlyList<LqQuantizedWeight> ExportWeights()
    {
        Start();
        var result = new List<LqQuantizedWeight>();
        using var scope = NewDisposeScope();
        foreach (var (layer, state) in _weights)
        {
            var master = _master[layer.Parameter];
            var (_, codes) = state.Encode(master.reshape(state.Rows, -1));
            var flat = codes.flatten().data<long>().ToArray();
            result.Add(new LqQuantizedWeight(layer.Parameter, master.shape.Select(d => checked((int)d)).ToArray(), state.Bits, state.Basis,
                Array.ConvertAll(flat, c => checked((ushort)c))));
        }
        return result;
    }

    private void Quantize(bool update)
    {
        using var noGrad = torch.no_grad();
        using var scope = NewDisposeScope();
        foreach (var (layer, state) in _weights)
        {
            var p = _parameters[layer.Parameter];
            var master = _master[layer.Parameter].reshape(state.Rows, -1);
            var (values, codes) = state.Encode(master);
            p.copy_(values.reshape(p.shape));
            if (update) state.QemUpdate(master, codes, WeightDelta, Momentum);
        }
    }

    /// <inheritdoc />
    public void Dispose()
    {
        foreach (var t in _master.Values) t.Dispose();
        _master.Clear();
    }
}
