using TorchSharp;
using static TorchSharp.torch;

namespace SlimNet.Compression.LqNets;

/// <summary>
/// The LQ-Nets activation quantizer of one layer's input: one basis of K values, codes in {0, 1}^K, so the levels are
/// non-negative (it follows a ReLU). <see cref="Forward"/> returns the nearest level of every element; in training it
/// also fits the basis to the batch (QEM without δ, moving average 0.9, after the quantized values are taken). The
/// gradient passes straight through below the top level and is zero above it.
/// </summary>
public sealed class LqActivationQuantizer
{
    private readonly LqQuantizerState _state;

    /// <summary>Creates the quantizer for the input of <paramref name="nodeName"/> with the initial basis of METHODS.md §7.</summary>
    public LqActivationQuantizer(string nodeName, int bits, float momentum = LqBasisMath.Momentum)
    {
        ArgumentException.ThrowIfNullOrEmpty(nodeName);
        if (!(momentum >= 0 && momentum <= 1)) throw new ArgumentOutOfRangeException(nameof(momentum), momentum, "momentum must be in [0, 1]");
        NodeName = nodeName;
        Momentum = momentum;
        _state = new LqQuantizerState(1, bits, LqDomain.ZeroOne, LqBasisMath.InitialActivationBasis(bits));
    }

    /// <summary>A quantizer with a given basis (e.g. read back from a .slim file's <c>ActivationQuant</c>).</summary>
    public LqActivationQuantizer(string nodeName, float[] basis, float momentum = LqBasisMath.Momentum)
    {
        ArgumentException.ThrowIfNullOrEmpty(nodeName);
        ArgumentNullException.ThrowIfNull(basis);
        if (!(momentum >= 0 && momentum <= 1)) throw new ArgumentOutOfRangeException(nameof(momentum), momentum, "momentum must be in [0, 1]");
        NodeName = nodeName;
        Momentum = momentum;
        _state = new LqQuantizerState(1, basis.Length, LqDomain.ZeroOne, basis);
    }

    /// <summary>The graph node whose input this quantizes.</summary>
    public string NodeName { get; }
    /// <summary>K, bits per activation.</summary>
    public int Bits => _state.Bits;
    /// <summary>The QEM moving-average weight of the old basis.</summary>
    public float Momentum { get; }
    /// <summary>A copy of the current basis (K values).</summary>
    public float[] Basis => _state.Basis;
    /// <summary>The underlying quantizer (bases and encoding).</summary>
    public LqQuantizerState State => _state;
    /// <summary>Number of basis updates so far.</summary>
    public long Updates { get; private set; }

    /// <summary>
    /// Quantizes <paramref name="x"/> (any shape). With <paramref name="training"/> the basis is then updated from this
    /// batch (the returned values use the basis from before the update).
    /// </summary>
    public Tensor Forward(Tensor x, bool training)
    {
        ArgumentNullException.ThrowIfNull(x);
        using var scope = NewDisposeScope();
        var flat = x.detach().reshape(1, -1);
        var (values, codes) = _state.Encode(flat);
        float top = _state.TopLevel(0);
        if (training)
        {
            _state.QemUpdate(flat, codes, 0f, Momentum);
            Updates++;
        }
        var q = values.reshape(x.shape).to_type(x.dtype);
        Tensor result;
        if (x.requires_grad)
        {
            // Straight through below the top level: d y / d x = 1 where x ≤ top, 0 above.
            var pass = x.le(top).to_type(x.dtype);
            var through = x.mul(pass);
            result = through.add(q.sub(through).detach());
        }
        else
        {
            result = q;
        }
        return result.MoveToOuterDisposeScope();
    }
}
