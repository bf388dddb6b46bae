using TorchSharp;
using static TorchSharp.torch;

namespace SlimNet.Compression.LqNets;

/// <summary>
/// The bases of one LQ-Nets quantizer and the tensor work on them: <see cref="Rows"/> independent bases of
/// <see cref="Bits"/> values each (one per output channel for weights, a single row for activations). A tensor is
/// viewed as [Rows, N]; row r is quantized with basis r to its nearest level (<see cref="Encode"/>), and
/// <see cref="QemUpdate"/> moves each basis towards the QEM solution for the codes it produced.
/// </summary>
public sealed class LqQuantizerState
{
    private readonly float[] _basis;

    /// <summary>Creates the quantizer with the given initial bases (row-major, Rows × Bits; copied).</summary>
    public LqQuantizerState(int rows, int bits, LqDomain domain, float[] basis)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(rows, 1);
        LqBasisMath.CheckBits(bits);
        ArgumentNullException.ThrowIfNull(basis);
        if (basis.Length != rows * bits) throw new ArgumentException($"need {rows}×{bits} basis values, got {basis.Length}", nameof(basis));
        Rows = rows;
        Bits = bits;
        Domain = domain;
        _basis = (float[])basis.Clone();
    }

    /// <summary>Number of independent bases.</summary>
    public int Rows { get; }
    /// <summary>K: values per basis, bits per code.</summary>
    public int Bits { get; }
    /// <summary>Meaning of a code bit.</summary>
    public LqDomain Domain { get; }

    /// <summary>A copy of the bases, row-major (basis[r·K + k]).</summary>
    public float[] Basis => (float[])_basis.Clone();

    /// <summary>The basis of row <paramref name="row"/> (a view of the live values; do not keep it across updates).</summary>
    public ReadOnlySpan<float> RowBasis(int row) => _basis.AsSpan(row * Bits, Bits);

    /// <summary>Highest level of row <paramref name="row"/>'s basis.</summary>
    public float TopLevel(int row)
    {
        int n = 1 << Bits;
        Span<float> levels = stackalloc float[n];
        Span<int> codes = stackalloc int[n];
        Span<float> thresholds = stackalloc float[n - 1];
        LqBasisMath.SortedLevels(RowBasis(row), Domain, levels, codes, thresholds);
        return levels[n - 1];
    }

    /// <summary>
    /// Quantizes <paramref name="x"/> ([Rows, N], float32) to the nearest level of each row's basis (x goes to the
    /// level above a midpoint threshold when x ≥ it). Returns the quantized values (float32, [Rows, N]) and the
    /// K-bit codes (int64, [Rows, N]); the caller disposes both.
    /// </summary>
    public (Tensor Values, Tensor Codes) Encode(Tensor x)
    {
        ArgumentNullException.ThrowIfNull(x);
        if (x.dim() != 2 || x.shape[0] != Rows) throw new ArgumentException($"expected a [{Rows}, N] tensor, got [{string.Join(", ", x.shape)}]", nameof(x));
        int n = 1 << Bits;
        var levels = new float[Rows * n];
        var codes = new long[Rows * n];
        var thresholds = new float[Rows * (n - 1)];
        Span<int> rowCodes = stackalloc int[n];
        for (int r = 0; r < Rows; r++)
        {
            LqBasisMath.SortedLevels(RowBasis(r), Domain, levels.AsSpan(r * n, n), rowCodes, thresholds.AsSpan(r * (n - 1), n - 1));
            for (int c = 0; c < n; c++) codes[r * n + c] = rowCodes[c];
        }
        using var scope = NewDisposeScope();
        var levelT = torch.tensor(levels, new long[] { Rows, n });
        var codeT = torch.tensor(codes, new long[] { Rows, n });
        var thresholdT = torch.tensor(thresholds, new long[] { Rows, n - 1 });
        var input = x.detach().to_type(ScalarType.Float32).contiguous();
        var index = torch.searchsorted(thresholdT, input, right: true);
        var values = levelT.gather(1, index);
        var chosen = codeT.gather(1, index);
        return (values.MoveToOuterDisposeScope(), chosen.MoveToOuterDisposeScope());
    }

    /// <summary>
    /// One QEM step per row for fixed <paramref name="codes"/> (from <see cref="Encode"/> on the same
    /// <paramref name="x"/>): v* = (B Bᵀ + δI)⁻¹ (B x + δ v), then v ← momentum·v + (1 − momentum)·v*.
    /// </summary>
    public void QemUpdate(Tensor x, Tensor codes, float delta, float momentum)
    {
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(codes);
        if (!(momentum >= 0 && momentum <= 1)) throw new ArgumentOutOfRangeException(nameof(momentum), momentum, "momentum must be in [0, 1]");
        int n = 1 << Bits;
        double[] counts, sums;
        using (var scope = NewDisposeScope())
        {
            var offsets = torch.arange(Rows, dtype: ScalarType.Int64).mul(n).unsqueeze(1);
            var flat = codes.to_type(ScalarType.Int64).add(offsets).flatten();
            var values = x.detach().to_type(ScalarType.Float64).flatten();
            counts = torch.zeros(Rows * n, dtype: ScalarType.Float64).index_add_(0, flat, torch.ones_like(values), 1).data<double>().ToArray();
            sums = torch.zeros(Rows * n, dtype: ScalarType.Float64).index_add_(0, flat, values, 1).data<double>().ToArray();
        }
        Span<float> solved = stackalloc float[Bits];
        for (int r = 0; r < Rows; r++)
        {
            var basis = _basis.AsSpan(r * Bits, Bits);
            LqBasisMath.SolveBasis(counts.AsSpan(r * n, n), sums.AsSpan(r * n, n), Domain, delta, basis, solved);
            LqBasisMath.MovingAverage(basis, solved, momentum);
        }
    }

    /// <summary>Σ (x − Q(x))² over the whole tensor (nearest levels of the current bases), in double.</summary>
    public double QuantizationError(Tensor x)
    {
        var (values, codes) = Encode(x);
        using (values)
        using (codes)
        using (var d = x.detach().to_type(ScalarType.Float64).sub(values.to_type(ScalarType.Float64)))
        using (var s = d.square().sum())
            return s.item<double>();
    }
}
