using SlimNet.Format;

namespace SlimNet.Compression.Quantization;

/// <summary>How the integer codes of <see cref="QuantizedWeights"/> map to values.</summary>
public enum QuantizedForm
{
    /// <summary>Codes ±1 (0 only for weights removed by sparsification): value = scale · code.</summary>
    Binary,
    /// <summary>Codes −1, 0, 1 with one scale: value = scale · code.</summary>
    Ternary,
    /// <summary>Codes −1, 0, 1 with α⁺ for +1 and α⁻ for −1 (LAT2e, LAT2a): value = α⁺, 0 or −α⁻.</summary>
    TwoScaleTernary,
    /// <summary>Codes in [−n, n] on linear levels (LAQ linear, uniform): value = code · step, step = α/n.</summary>
    Linear,
    /// <summary>Codes in [−n, n] on powers of two (LAQ log): value = sign(code) · α · 2^(|code| − n), 0 for code 0.</summary>
    Logarithmic,
}

/// <summary>
/// The storable form of one quantized parameter ("strip": no shadow weights, no optimizer state): one integer code per
/// weight and its scales, per tensor (one entry) or per output row (shape[0] entries). <see cref="Decode()"/> gives the
/// exact float values the network was trained and evaluated with, and every candidate of <see cref="StorageCandidates"/>
/// decodes to exactly those floats (tested).
/// </summary>
/// <param name="ParameterName">Dotted parameter name, e.g. <c>fc1.weight</c>.</param>
/// <param name="Shape">Parameter dimensions.</param>
/// <param name="Method">The projection that produced the codes.</param>
/// <param name="Form">How codes map to values.</param>
/// <param name="Bits">Code width: 1 (binary), 2 (ternary) or m (LAQ, uniform).</param>
/// <param name="Levels">n, the largest code magnitude.</param>
/// <param name="Codes">One code per weight, row-major.</param>
/// <param name="Scales">Per tensor (1) or per row: α for binary/ternary/log, α⁺ for two-scale ternary, the step α/n for linear.</param>
/// <param name="NegativeScales">α⁻ per tensor or row for <see cref="QuantizedForm.TwoScaleTernary"/>, else equal to <paramref name="Scales"/>.</param>
public sealed record QuantizedWeights(string ParameterName, int[] Shape, WeightProjection Method, QuantizedForm Form, int Bits, int Levels,
    sbyte[] Codes, float[] Scales, float[] NegativeScales)
{
    /// <summary>Number of rows (shape[0]).</summary>
    public int Rows => Shape.Length == 0 ? 1 : Shape[0];

    /// <summary>Fraction of weights whose code is 0.</summary>
    public double Sparsity => Codes.Length == 0 ? 0 : (double)Codes.Count(c => c == 0) / Codes.Length;

    /// <summary>The value of one code in row <paramref name="row"/> (the single formula used in training and storage).</summary>
    public float ValueOf(sbyte code, int row)
    {
        int s = Scales.Length == 1 ? 0 : row;
        if (code == 0) return 0f;
        return Form switch
        {
            QuantizedForm.TwoScaleTernary => code > 0 ? Scales[s] : -NegativeScales[s],
            QuantizedForm.Logarithmic => code > 0 ? MathF.ScaleB(Scales[s], code - Levels) : -MathF.ScaleB(Scales[s], -code - Levels),
            _ => Scales[s] * code,
        };
    }

    /// <summary>Decodes every weight into <paramref name="values"/> (row-major, one per code).</summary>
    public void Decode(Span<float> values)
    {
        if (values.Length != Codes.Length) throw new ArgumentException($"expected {Codes.Length} values, got {values.Length}", nameof(values));
        int cols = Rows == 0 ? 0 : Codes.Length / Rows;
        for (int i = 0; i < Codes.Length; i++) values[i] = ValueOf(Codes[i], cols == 0 ? 0 : i / cols);
    }

    /// <summary>The decoded weights (a new array).</summary>
    public float[] Decode()
    {
        var v = new float[Codes.Length];
        Decode(v);
        return v;
    }

    /// <summary>
    /// Every .slim form that stores these values exactly, for the encoder to pick the smallest: binary → BitPlanes
    /// (K = 1, ±1, basis = the scale of each row), or 2-bit FixedPoint when sparsification left zeros; ternary and
    /// linear → FixedPoint codes with the scales; two-scale ternary → a 2-bit Codebook {0, α⁺, −α⁻, 0} (per tensor) or
    /// BitPlanes K = 2 with bits meaning 0/1 and basis [α⁺, −α⁻] per row; logarithmic → an m-bit Codebook (per tensor
    /// only). Each in a dense layout and, when there are zeros, relative gaps (2–10 bits) and CSR, with and without
    /// Huffman-coded streams.
    /// </summary>
    public IEnumerable<SlimTensor> StorageCandidates()
    {
        bool hasZeros = Codes.Any(c => c == 0);
        string name = ParameterName;
        switch (Form)
        {
            case QuantizedForm.Binary when !hasZeros:
                {
                    var codes = Array.ConvertAll(Codes, c => c > 0 ? (ushort)1 : (ushort)0);
                    var basis = new float[Rows];
                    for (int r = 0; r < Rows; r++) basis[r] = Scales[Scales.Length == 1 ? 0 : r];
                    yield return SlimTensor.BitPlanes(name, Shape, codes, basis, 1, BitPlaneMode.PlusMinusOne);
                    break;
                }
            case QuantizedForm.Binary:
            case QuantizedForm.Ternary:
            case QuantizedForm.Linear:
                {
                    var codes = Array.ConvertAll(Codes, c => (short)c);
                    int bits = Math.Max(2, Bits);
                    foreach (var (layout, gap, huff) in Layouts(hasZeros, codesHuffman: true))
                        yield return SlimTensor.FixedPoint(name, Shape, codes, Scales, bits, FixedPointMode.TwosComplement, layout, gap, huff);
                    break;
                }
            case QuantizedForm.TwoScaleTernary:
                {
                    if (Scales.Length == 1)
                    {
                        var book = new[] { 0f, Scales[0], -NegativeScales[0], 0f };
                        var codes = Array.ConvertAll(Codes, c => c > 0 ? (ushort)1 : c < 0 ? (ushort)2 : (ushort)0);
                        foreach (var (layout, gap, huff) in Layouts(hasZeros, codesHuffman: true))
                            yield return SlimTensor.Codebook(name, Shape, codes, book, 2, layout, gap, huff);
                    }
                    var planes = Array.ConvertAll(Codes, c => c > 0 ? (ushort)1 : c < 0 ? (ushort)2 : (ushort)0);
                    var basis = new float[Rows * 2];
                    for (int r = 0; r < Rows; r++)
                    {
                        int s = Scales.Length == 1 ? 0 : r;
                        basis[2 * r] = Scales[s];
                        basis[2 * r + 1] = -NegativeScales[s];
                    }
                    foreach (var (layout, gap, huff) in Layouts(hasZeros, codesHuffman: false))
                        yield return SlimTensor.BitPlanes(name, Shape, planes, basis, 2, BitPlaneMode.ZeroOne, layout, gap, huff);
                    break;
                }
            case QuantizedForm.Logarithmic:
                {
                    if (Scales.Length != 1)
                        throw new InvalidOperationException($"'{name}': logarithmic levels with per-row scales have no .slim form (one codebook per tensor); use per-tensor scales");
                    int size = 1 << Bits;
                    var book = new float[size];
                    for (int c = -Levels; c <= Levels; c++) book[c + Levels] = ValueOf((sbyte)c, 0);
                    var codes = Array.ConvertAll(Codes, c => (ushort)(c + Levels));
                    // A zero code must map to the codebook's 0 entry (index n), which a sparse layout then omits.
                    foreach (var (layout, gap, huff) in Layouts(hasZeros, codesHuffman: true))
                        yield return SlimTensor.Codebook(name, Shape, codes, book, Bits, layout, gap, huff);
                    break;
                }
        }
    }

    private static IEnumerable<(SparseLayout Layout, int Gap, HuffmanStreams Huffman)> Layouts(bool hasZeros, bool codesHuffman)
    {
        var codes = codesHuffman ? HuffmanStreams.Codes : HuffmanStreams.None;
        yield return (SparseLayout.Dense, 8, HuffmanStreams.None);
        if (codesHuffman) yield return (SparseLayout.Dense, 8, codes);
        if (!hasZeros) yield break;
        foreach (var huff in codesHuffman
                     ? new[] { HuffmanStreams.None, HuffmanStreams.Indices, codes | HuffmanStreams.Indices }
                     : new[] { HuffmanStreams.None, HuffmanStreams.Indices })
        {
            for (int gap = 2; gap <= 10; gap++) yield return (SparseLayout.RelativeGaps, gap, huff);
            yield return (SparseLayout.Csr, 8, huff == HuffmanStreams.None ? huff : huff | HuffmanStreams.RowPointers);
        }
    }
}
