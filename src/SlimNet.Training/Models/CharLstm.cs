using SlimNet.Format.Graph;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SlimNet.Training.Models;

/// <summary>The shape of a <c>char-lstm</c> network (a definition).</summary>
/// <param name="VocabularySize">Characters in the vocabulary (one-hot input size and decoder output size).</param>
/// <param name="Hidden">Hidden size of every LSTM layer.</param>
/// <param name="Layers">Stacked LSTM layers (1 or 2).</param>
/// <param name="Normalization">How every layer normalizes W_ih·x and W_hh·h.</param>
public sealed record CharLstmConfig(int VocabularySize, int Hidden, int Layers, LstmNormalization Normalization)
{
    /// <summary>Returns null when valid, else the problem as a sentence.</summary>
    public string? Validate()
    {
        if (VocabularySize < 1) return $"vocabulary size must be at least 1, got {VocabularySize}";
        if (Hidden < 1 || Hidden > 8192) return $"hidden size must be in 1..8192, got {Hidden}";
        if (Layers is < 1 or > 2) return $"layers must be 1 or 2, got {Layers}";
        if (!Enum.IsDefined(Normalization)) return $"unknown normalization {(int)Normalization}";
        return null;
    }

    /// <summary>
    /// The graph: one-hot characters [V] → <c>lstm1</c> (→ <c>lstm2</c>) → <c>decoder</c> Linear H→V (logits). Each run of
    /// the graph is one time step (docs/FORMAT.md, op 11).
    /// </summary>
    public ModelGraph Graph()
    {
        if (Validate() is { } problem) throw new ArgumentException(problem);
        var b = new GraphBuilder("char-lstm", VocabularySize);
        int inF = VocabularySize;
        for (int l = 1; l <= Layers; l++)
        {
            b.Lstm($"lstm{l}", inF, Hidden, Normalization);
            inF = Hidden;
        }
        b.Linear("decoder", Hidden, VocabularySize);
        return b.Build();
    }

    /// <summary>Parses a normalization name: <c>none</c>, <c>batch</c>, <c>layer</c> or <c>weight</c>.</summary>
    /// <exception cref="ArgumentException">Unknown name.</exception>
    public static LstmNormalization ParseNormalization(string name) => name switch
    {
        "none" => LstmNormalization.None,
        "batch" => LstmNormalization.Batch,
        "layer" => LstmNormalization.Layer,
        "weight" => LstmNormalization.Weight,
        _ => throw new ArgumentException($"normalization must be none, batch, layer or weight, got '{name}'"),
    };

    /// <summary>The name <see cref="ParseNormalization"/> reads.</summary>
    public static string NormalizationName(LstmNormalization n) => n.ToString().ToLowerInvariant();
}

/// <summary>
/// One LSTM layer in TorchSharp with separate input-to-hidden (<c>weight_ih</c>) and hidden-to-hidden (<c>weight_hh</c>)
/// weights, so each can be quantized, and separate normalization of the two products (docs/FORMAT.md, op 11):
/// gates (i, f, g, o) = norm_ih(W_ih·x) + norm_hh(W_hh·h) + b. Batch norm: W_ih·x is normalized with statistics
/// over every position of the window at once (all time steps and streams), W_hh·h with those of the streams at each
/// time step; both keep one running mean/variance shared by all time steps (used at evaluation). Layer norm: over the
/// 4·H pre-activations of each position. Weight norm: each row of W is <c>gain_r · V_r / ‖V_r‖</c>.
/// </summary>
public sealed class LstmLayer : nn.Module
{
    private readonly int _hidden;
    private readonly LstmNormalization _norm;
    private readonly Parameter _weightIh, _weightHh, _bias;
    private readonly Parameter? _gainIh, _gainHh;
    private readonly nn.Module<Tensor, Tensor>? _normIh, _normHh;
    private readonly bool _oneHotInput;

    /// <summary>Creates the layer with PyTorch's LSTM initialisation (uniform ±1/√H; weight-norm gains = the initial row norms).</summary>
    /// <param name="name">Module name (the node name, e.g. <c>lstm1</c>).</param>
    /// <param name="input">Input size (the vocabulary for the first layer).</param>
    /// <param name="hidden">Hidden size H.</param>
    /// <param name="norm">Normalization of the two products.</param>
    /// <param name="oneHotInput">Inputs are character ids (W_ih·x is a column lookup) instead of vectors.</param>
    /// <param name="epsilon">Batch/layer norm epsilon.</param>
    public LstmLayer(string name, int input, int hidden, LstmNormalization norm, bool oneHotInput, float epsilon = 1e-5f) : base(name)
    {
        _hidden = hidden;
        _norm = norm;
        _oneHotInput = oneHotInput;
        double bound = 1.0 / Math.Sqrt(hidden);
        _weightIh = new Parameter(torch.empty(4 * hidden, input).uniform_(-bound, bound));
        _weightHh = new Parameter(torch.empty(4 * hidden, hidden).uniform_(-bound, bound));
        _bias = new Parameter(torch.empty(4 * hidden).uniform_(-bound, bound));
        register_parameter("weight_ih", _weightIh);
        register_parameter("weight_hh", _weightHh);
        register_parameter("bias", _bias);
        switch (norm)
        {
            case LstmNormalization.Layer:
                _normIh = nn.LayerNorm(4 * hidden, eps: epsilon);
                _normHh = nn.LayerNorm(4 * hidden, eps: epsilon);
                break;
            case LstmNormalization.Batch:
                _normIh = nn.BatchNorm1d(4 * hidden, eps: epsilon);
                _normHh = nn.BatchNorm1d(4 * hidden, eps: epsilon);
                break;
            case LstmNormalization.Weight:
                using (torch.no_grad())
                {
                    _gainIh = new Parameter(_weightIh.norm(1, keepdim: false).clone());
                    _gainHh = new Parameter(_weightHh.norm(1, keepdim: false).clone());
                }
                register_parameter("gain_ih", _gainIh);
                register_parameter("gain_hh", _gainHh);
                break;
        }
        if (_normIh is not null)
        {
            register_module("norm_ih", _normIh);
            register_module("norm_hh", _normHh!);
        }
    }

    /// <summary>Hidden size.</summary>
    public int Hidden => _hidden;

    /// <summary>
    /// Runs a window: <paramref name="x"/> is [T, N] character ids (one-hot layer) or [T, N, I] vectors; state (h, c)
    /// [N, H] each. Returns the hidden states [T, N, H] and the final state (still attached to the graph).
    /// </summary>
    public (Tensor Output, Tensor H, Tensor C) Forward(Tensor x, Tensor h, Tensor c)
    {
        long steps = x.shape[0], n = x.shape[1];
        var wIh = Effective(_weightIh, _gainIh);
        var wHh = Effective(_weightHh, _gainHh);
        Tensor gx = _oneHotInput
            ? wIh.t().index_select(0, x.reshape(-1)).reshape(steps, n, 4 * _hidden)
            : torch.matmul(x, wIh.t());
        if (_normIh is not null) gx = _normIh.forward(gx.reshape(steps * n, 4 * _hidden)).reshape(steps, n, 4 * _hidden);
        gx = gx + _bias;
        var outputs = new Tensor[steps];
        var wHhT = wHh.t();
        for (long t = 0; t < steps; t++)
        {
            var gh = torch.matmul(h, wHhT);
            if (_normHh is not null) gh = _normHh.forward(gh);
            var gates = gx[t] + gh;
            var chunks = gates.chunk(4, 1);
            var input = torch.sigmoid(chunks[0]);
            var forget = torch.sigmoid(chunks[1]);
            var output = torch.sigmoid(chunks[3]);
            c = torch.addcmul(forget * c, input, torch.tanh(chunks[2]), 1);
            h = output * torch.tanh(c);
            outputs[t] = h;
        }
        return (torch.stack(outputs), h, c);
    }

    private static readonly Scalar NormFloor = 1e-12; // one long-lived Scalar: an implicit one could be finalized mid-call (see AdamOptimizer)

    private static Tensor Effective(Tensor v, Tensor? gain) =>
        gain is null ? v : v * (gain / v.norm(1, keepdim: false).clamp_min(NormFloor)).unsqueeze(1);
}

/// <summary>
/// The <c>char-lstm</c> network in TorchSharp: stacked <see cref="LstmLayer"/>s named <c>lstm1</c>, <c>lstm2</c> and a
/// Linear <c>decoder</c>, parameter names as in the .slim graph of <see cref="CharLstmConfig.Graph"/>.
/// </summary>
public sealed class CharLstmModule : nn.Module
{
    private readonly LstmLayer[] _layers;
    private readonly Linear _decoder;

    /// <summary>Builds the network with weights initialised from torch's generator (seed it first).</summary>
    public CharLstmModule(CharLstmConfig config) : base("char-lstm")
    {
        if (config.Validate() is { } problem) throw new ArgumentException(problem);
        Config = config;
        _layers = new LstmLayer[config.Layers];
        for (int l = 0; l < config.Layers; l++)
        {
            _layers[l] = new LstmLayer($"lstm{l + 1}", l == 0 ? config.VocabularySize : config.Hidden, config.Hidden, config.Normalization, oneHotInput: l == 0);
            register_module($"lstm{l + 1}", _layers[l]);
        }
        _decoder = nn.Linear(config.Hidden, config.VocabularySize);
        register_module("decoder", _decoder);
    }

    /// <summary>The network's shape.</summary>
    public CharLstmConfig Config { get; }

    /// <summary>A zero state for <paramref name="streams"/> parallel streams: (h, c) per layer.</summary>
    public Tensor[] ZeroState(long streams)
    {
        var s = new Tensor[2 * _layers.Length];
        for (int i = 0; i < s.Length; i++) s[i] = torch.zeros(streams, Config.Hidden);
        return s;
    }

    /// <summary>
    /// Logits [T, N, V] for character ids <paramref name="ids"/> [T, N] (int64) from <paramref name="state"/> (h, c per
    /// layer, as <see cref="ZeroState"/>); returns the final state too (attached; detach it between windows).
    /// </summary>
    public (Tensor Logits, Tensor[] State) Forward(Tensor ids, Tensor[] state)
    {
        var next = new Tensor[state.Length];
        Tensor x = ids;
        for (int l = 0; l < _layers.Length; l++)
        {
            var (output, h, c) = _layers[l].Forward(x, state[2 * l], state[2 * l + 1]);
            next[2 * l] = h;
            next[2 * l + 1] = c;
            x = output;
        }
        return (_decoder.forward(x), next);
    }
}
