using SlimNet.Format.Codecs;

namespace SlimNet.Format;

/// <summary>
/// One named parameter tensor of a .slim model in its stored (compressed) form: a sparsity layout that says
/// which elements are stored, and a value encoding for the stored entries. Viewed as a matrix, the tensor is
/// [<see cref="Rows"/> = shape[0], <see cref="Columns"/> = product of the other dimensions] (conv kernels
/// flattened), and the stored entries are in row-major order. <see cref="ToDense"/> decodes to floats;
/// the array properties give runtime kernels direct access to the stored form.
/// <para>
/// Immutable by contract: the arrays returned by the properties are shared with the tensor; do not modify them.
/// </para>
/// </summary>
public sealed class SlimTensor
{
    /// <summary>Largest rank a .slim tensor may have.</summary>
    public const int MaxRank = 8;
    /// <summary>Largest name length, in UTF-8 bytes.</summary>
    public const int MaxNameBytes = 1024;

    internal string _name = "";
    internal int[] _shape = [];
    internal int _elementCount, _rows, _columns;
    internal SparseLayout _layout;
    internal int _gapBits;
    internal ValueEncoding _encoding;
    internal HuffmanStreams _huffman;
    internal int _storedCount;
    internal int[]? _rowPointers;      // CSR: always; RelativeGaps: computed lazily from _positions
    internal int[]? _columnIndices;    // sparse layouts
    internal int[]? _positions;        // RelativeGaps: flat position of each stored entry
    internal float[]? _values;         // Float32 and Float16 (decoded)
    internal ushort[]? _halfBits;      // Float16 bit patterns
    internal short[]? _fixedCodes;
    internal float[]? _scales;
    internal FixedPointMode _fixedMode;
    internal int _bits;                // FixedPoint / Codebook code width
    internal ushort[]? _codebookCodes;
    internal float[]? _codebook;
    internal ulong[]? _planeBits;
    internal int[]? _planeRowOffsets;
    internal float[]? _basis;
    internal int _planeCount;
    internal BitPlaneMode _planeMode;

    internal SlimTensor() { }

    /// <summary>Parameter name, e.g. <c>fc1.weight</c> (the graph node name, a dot, the parameter kind).</summary>
    public string Name => _name;
    /// <summary>The dimensions (a copy; rank 1..8, each ≥ 0).</summary>
    public int[] Shape => (int[])_shape.Clone();
    /// <summary>Number of dimensions.</summary>
    public int Rank => _shape.Length;
    /// <summary>Product of the dimensions.</summary>
    public int ElementCount => _elementCount;
    /// <summary>shape[0]: output channels / features, the unit of per-channel scales and bases.</summary>
    public int Rows => _rows;
    /// <summary>Product of all dimensions but the first (1 for a rank-1 tensor).</summary>
    public int Columns => _columns;
    /// <summary>Which elements are stored.</summary>
    public SparseLayout Sparsity => _layout;
    /// <summary>Bits per relative gap (1..16) for <see cref="SparseLayout.RelativeGaps"/>, else 0.</summary>
    public int GapBits => _gapBits;
    /// <summary>How stored values are represented.</summary>
    public ValueEncoding Encoding => _encoding;
    /// <summary>Which streams are Huffman coded in the file.</summary>
    public HuffmanStreams Huffman => _huffman;
    /// <summary>Number of stored entries (= <see cref="ElementCount"/> for dense; nonzeros for sparse layouts).</summary>
    public int StoredCount => _storedCount;
    /// <summary>Fraction of elements not stored (0 for dense layouts).</summary>
    public double SparsityRatio => _elementCount == 0 ? 0 : 1.0 - (double)_storedCount / _elementCount;

    /// <summary>
    /// CSR row pointers (Rows + 1 entries, 0 … StoredCount) for sparse layouts, null for dense. Relative
    /// gaps are expanded to CSR on first access; their fillers are dropped (they never hold values).
    /// </summary>
    public int[]? RowPointers
    {
        get
        {
            if (_layout == SparseLayout.Dense) return null;
            if (_rowPointers == null && _positions != null)
            {
                var rp = new int[_rows + 1];
                foreach (int p in _positions) rp[p / _columns + 1]++;
                for (int r = 0; r < _rows; r++) rp[r + 1] += rp[r];
                _rowPointers = rp;
            }
            return _rowPointers;
        }
    }

    /// <summary>Column index (in the flattened [Rows, Columns] view) of each stored entry for sparse layouts, null for dense.</summary>
    public int[]? ColumnIndices => _columnIndices;

    /// <summary>Stored values as floats for <see cref="ValueEncoding.Float32"/> and <see cref="ValueEncoding.Float16"/> (decoded exactly), else null.</summary>
    public float[]? Values => _values;
    /// <summary>Binary16 bit patterns of the stored values for <see cref="ValueEncoding.Float16"/>, else null.</summary>
    public ushort[]? HalfBits => _halfBits;

    /// <summary>Fixed-point integers q of the stored entries (value = q · scale of its row), else null.</summary>
    public short[]? FixedPointCodes => _fixedCodes;
    /// <summary>Fixed-point scales: length 1 (per tensor) or <see cref="Rows"/> (per output channel), else null.</summary>
    public float[]? Scales => _scales;
    /// <summary>How fixed-point integers are stored as bit patterns.</summary>
    public FixedPointMode FixedPointMode => _fixedMode;
    /// <summary>Code width in bits (1..16) for FixedPoint and Codebook; plane count for BitPlanes; 32/16 for floats.</summary>
    public int Bits => _encoding switch
    {
        ValueEncoding.Float32 => 32,
        ValueEncoding.Float16 => 16,
        ValueEncoding.BitPlanes => _planeCount,
        _ => _bits,
    };

    /// <summary>Codebook index of each stored entry for <see cref="ValueEncoding.Codebook"/>, else null.</summary>
    public ushort[]? CodebookCodes => _codebookCodes;
    /// <summary>The 2^Bits codebook floats for <see cref="ValueEncoding.Codebook"/>, else null.</summary>
    public float[]? CodebookEntries => _codebook;

    /// <summary>
    /// Bit planes, 64 bits per word, LSB-first: row r's plane k occupies <c>W_r</c> words starting at
    /// <c>PlaneRowOffsets[r] + k·W_r</c>, where <c>W_r = (PlaneRowOffsets[r+1] − PlaneRowOffsets[r]) / PlaneCount</c>
    /// = ceil(entries in row r / 64); bit j is the plane bit of the row's j-th stored entry; unused bits are 0.
    /// </summary>
    public ulong[]? PlaneBits => _planeBits;
    /// <summary>Rows + 1 word offsets into <see cref="PlaneBits"/> for <see cref="ValueEncoding.BitPlanes"/>, else null.</summary>
    public int[]? PlaneRowOffsets => _planeRowOffsets;
    /// <summary>Basis floats, <c>Basis[r·PlaneCount + k]</c> for row r and plane k, for <see cref="ValueEncoding.BitPlanes"/>, else null.</summary>
    public float[]? Basis => _basis;
    /// <summary>Number of bit planes K (1..16) for <see cref="ValueEncoding.BitPlanes"/>, else 0.</summary>
    public int PlaneCount => _planeCount;
    /// <summary>Meaning of a plane bit for <see cref="ValueEncoding.BitPlanes"/>.</summary>
    public BitPlaneMode PlaneMode => _planeMode;

    /// <summary>Flat row-major position of every stored entry (a new array).</summary>
    public int[] StoredPositions()
    {
        var pos = new int[_storedCount];
        switch (_layout)
        {
            case SparseLayout.Dense:
                for (int i = 0; i < pos.Length; i++) pos[i] = i;
                break;
            case SparseLayout.RelativeGaps:
                _positions!.CopyTo(pos, 0);
                break;
            default:
                var rp = _rowPointers!;
                for (int r = 0; r < _rows; r++)
                    for (int k = rp[r]; k < rp[r + 1]; k++)
                        pos[k] = r * _columns + _columnIndices![k];
                break;
        }
        return pos;
    }

    /// <summary>The value of every stored entry, decoded to float (a new array of <see cref="StoredCount"/>).</summary>
    public float[] DecodeStoredValues()
    {
        var result = new float[_storedCount];
        switch (_encoding)
        {
            case ValueEncoding.Float32:
            case ValueEncoding.Float16:
                _values!.CopyTo(result, 0);
                break;
            case ValueEncoding.Codebook:
                for (int k = 0; k < result.Length; k++) result[k] = _codebook![_codebookCodes![k]];
                break;
            case ValueEncoding.FixedPoint:
                if (_scales!.Length == 1)
                {
                    float s = _scales[0];
                    for (int k = 0; k < result.Length; k++) result[k] = _fixedCodes![k] * s;
                }
                else
                {
                    int[] rows = EntryRows();
                    for (int k = 0; k < result.Length; k++) result[k] = _fixedCodes![k] * _scales[rows[k]];
                }
                break;
            case ValueEncoding.BitPlanes:
                DecodePlanes(result);
                break;
        }
        return result;
    }

    /// <summary>The tensor decoded to row-major floats (<see cref="ElementCount"/> values, unstored elements 0).</summary>
    public float[] ToDense()
    {
        float[] stored = DecodeStoredValues();
        if (_layout == SparseLayout.Dense) return stored;
        var dense = new float[_elementCount];
        int[] pos = StoredPositions();
        for (int k = 0; k < pos.Length; k++) dense[pos[k]] = stored[k];
        return dense;
    }

    // Row of each stored entry.
    private int[] EntryRows()
    {
        var rows = new int[_storedCount];
        if (_layout == SparseLayout.Dense)
        {
            for (int k = 0; k < rows.Length; k++) rows[k] = k / _columns;
        }
        else if (_layout == SparseLayout.RelativeGaps)
        {
            for (int k = 0; k < rows.Length; k++) rows[k] = _positions![k] / _columns;
        }
        else
        {
            var rp = _rowPointers!;
            for (int r = 0; r < _rows; r++)
                for (int k = rp[r]; k < rp[r + 1]; k++) rows[k] = r;
        }
        return rows;
    }

    private void DecodePlanes(float[] result)
    {
        int K = _planeCount;
        float off = _planeMode == BitPlaneMode.PlusMinusOne ? -1f : 0f;
        int[] rp = RowPointersOrDense();
        for (int r = 0; r < _rows; r++)
        {
            int start = rp[r], len = rp[r + 1] - start;
            if (len == 0) continue;
            int w = (len + 63) >> 6;
            int baseWord = _planeRowOffsets![r];
            for (int j = 0; j < len; j++)
            {
                float v = 0f;
                for (int k = 0; k < K; k++)
                {
                    ulong word = _planeBits![baseWord + k * w + (j >> 6)];
                    float e = ((word >> (j & 63)) & 1) != 0 ? 1f : off;
                    v += _basis![r * K + k] * e;
                }
                result[start + j] = v;
            }
        }
    }

    // Row pointers, with the implicit r·Columns pointers of a dense layout materialised (bit planes only: Rows is bounded by the basis).
    internal int[] RowPointersOrDense()
    {
        if (_layout != SparseLayout.Dense) return RowPointers!;
        var rp = new int[_rows + 1];
        for (int r = 0; r <= _rows; r++) rp[r] = r * _columns;
        return rp;
    }

    // ---------------------------------------------------------------- factories

    /// <summary>A tensor of float32 values (stored bit-exactly). In sparse layouts, elements equal to 0 (+0 or −0) are not stored.</summary>
    /// <param name="name">Parameter name.</param>
    /// <param name="shape">Dimensions (rank 1..8, product ≤ int.MaxValue).</param>
    /// <param name="values">Row-major values, one per element.</param>
    /// <param name="sparsity">Which elements to store.</param>
    /// <param name="gapBits">Bits per relative gap (1..16); used only with <see cref="SparseLayout.RelativeGaps"/>.</param>
    /// <param name="huffman">Streams to Huffman-code (<see cref="HuffmanStreams.Codes"/> is not allowed for float32).</param>
    public static SlimTensor Dense(string name, int[] shape, float[] values, SparseLayout sparsity = SparseLayout.Dense, int gapBits = 8, HuffmanStreams huffman = HuffmanStreams.None)
    {
        var t = Begin(name, shape, values.Length, sparsity, gapBits, huffman, ValueEncoding.Float32);
        t.Place(i => values[i] != 0f);
        t._values = Gather(values, t);
        return t;
    }

    /// <summary>A tensor of binary16 values: each float is rounded to the nearest <see cref="Half"/>. In sparse layouts, elements whose half is 0 are not stored.</summary>
    /// <param name="name">Parameter name.</param>
    /// <param name="shape">Dimensions.</param>
    /// <param name="values">Row-major values, one per element.</param>
    /// <param name="sparsity">Which elements to store.</param>
    /// <param name="gapBits">Bits per relative gap (1..16), for <see cref="SparseLayout.RelativeGaps"/>.</param>
    /// <param name="huffman">Streams to Huffman-code (Codes = the 16-bit patterns).</param>
    public static SlimTensor Float16(string name, int[] shape, float[] values, SparseLayout sparsity = SparseLayout.Dense, int gapBits = 8, HuffmanStreams huffman = HuffmanStreams.None)
    {
        var t = Begin(name, shape, values.Length, sparsity, gapBits, huffman, ValueEncoding.Float16);
        var bits = new ushort[values.Length];
        Codecs.Float16.FromSingle(values, bits);
        t.Place(i => (bits[i] & 0x7FFF) != 0);
        t._halfBits = Gather(bits, t);
        t._values = new float[t._halfBits.Length];
        Codecs.Float16.ToSingle(t._halfBits, t._values);
        return t;
    }

    /// <summary>
    /// A fixed-point tensor: value = q · scale, q an m-bit signed integer in [−2^(m−1), 2^(m−1) − 1]. In sparse
    /// layouts, elements with q = 0 are not stored.
    /// </summary>
    /// <param name="name">Parameter name.</param>
    /// <param name="shape">Dimensions.</param>
    /// <param name="codes">Row-major integers q, one per element.</param>
    /// <param name="scales">One scale (per tensor) or shape[0] scales (per output channel).</param>
    /// <param name="bits">m, 1..16.</param>
    /// <param name="mode">How q is stored as an m-bit pattern.</param>
    /// <param name="sparsity">Which elements to store.</param>
    /// <param name="gapBits">Bits per relative gap (1..16), for <see cref="SparseLayout.RelativeGaps"/>.</param>
    /// <param name="huffman">Streams to Huffman-code.</param>
    public static SlimTensor FixedPoint(string name, int[] shape, short[] codes, float[] scales, int bits, FixedPointMode mode = FixedPointMode.TwosComplement,
        SparseLayout sparsity = SparseLayout.Dense, int gapBits = 8, HuffmanStreams huffman = HuffmanStreams.None)
    {
        var t = Begin(name, shape, codes.Length, sparsity, gapBits, huffman, ValueEncoding.FixedPoint);
        if (bits < 1 || bits > 16) throw new ArgumentOutOfRangeException(nameof(bits), "fixed-point bits must be in 1..16");
        if (!Enum.IsDefined(mode)) throw new ArgumentOutOfRangeException(nameof(mode));
        if (scales.Length != 1 && scales.Length != t._rows) throw new ArgumentException($"need 1 or {t._rows} scales, got {scales.Length}", nameof(scales));
        int lo = -(1 << (bits - 1)), hi = (1 << (bits - 1)) - 1;
        foreach (short q in codes)
            if (q < lo || q > hi) throw new ArgumentOutOfRangeException(nameof(codes), $"code {q} outside {lo}..{hi} for {bits} bits");
        t._bits = bits;
        t._fixedMode = mode;
        t._scales = (float[])scales.Clone();
        t.Place(i => codes[i] != 0);
        t._fixedCodes = Gather(codes, t);
        return t;
    }

    /// <summary>
    /// A weight-shared tensor: b-bit indices into a codebook of exactly 2^b floats. In sparse layouts, elements
    /// whose codebook entry is 0 are not stored.
    /// </summary>
    /// <param name="name">Parameter name.</param>
    /// <param name="shape">Dimensions.</param>
    /// <param name="codes">Row-major codebook indices, one per element.</param>
    /// <param name="codebook">2^bits floats.</param>
    /// <param name="bits">b, 1..16.</param>
    /// <param name="sparsity">Which elements to store.</param>
    /// <param name="gapBits">Bits per relative gap (1..16), for <see cref="SparseLayout.RelativeGaps"/>.</param>
    /// <param name="huffman">Streams to Huffman-code.</param>
    public static SlimTensor Codebook(string name, int[] shape, ushort[] codes, float[] codebook, int bits,
        SparseLayout sparsity = SparseLayout.Dense, int gapBits = 8, HuffmanStreams huffman = HuffmanStreams.None)
    {
        var t = Begin(name, shape, codes.Length, sparsity, gapBits, huffman, ValueEncoding.Codebook);
        if (bits < 1 || bits > 16) throw new ArgumentOutOfRangeException(nameof(bits), "codebook bits must be in 1..16");
        if (codebook.Length != 1 << bits) throw new ArgumentException($"a {bits}-bit codebook has {1 << bits} entries, got {codebook.Length}", nameof(codebook));
        foreach (ushort c in codes)
            if (c >= codebook.Length) throw new ArgumentOutOfRangeException(nameof(codes), $"code {c} outside the codebook");
        t._bits = bits;
        t._codebook = (float[])codebook.Clone();
        t.Place(i => codebook[codes[i]] != 0f);
        t._codebookCodes = Gather(codes, t);
        return t;
    }

    /// <summary>
    /// An LQ-Nets bit-plane tensor: value = Σ_k basis[row, k] · e_k with e_k from bit k of the element's code
    /// (see <see cref="BitPlaneMode"/>). In sparse layouts, elements whose value is exactly 0 are not stored.
    /// </summary>
    /// <param name="name">Parameter name.</param>
    /// <param name="shape">Dimensions.</param>
    /// <param name="codes">Row-major K-bit codes, one per element; bit k is plane k.</param>
    /// <param name="basis">shape[0] × K floats, row-major (basis[r·K + k]).</param>
    /// <param name="planeCount">K, 1..16.</param>
    /// <param name="mode">Meaning of a bit.</param>
    /// <param name="sparsity">Which elements to store.</param>
    /// <param name="gapBits">Bits per relative gap (1..16), for <see cref="SparseLayout.RelativeGaps"/>.</param>
    /// <param name="huffman">Streams to Huffman-code (<see cref="HuffmanStreams.Codes"/> is not allowed for planes).</param>
    public static SlimTensor BitPlanes(string name, int[] shape, ushort[] codes, float[] basis, int planeCount, BitPlaneMode mode = BitPlaneMode.PlusMinusOne,
        SparseLayout sparsity = SparseLayout.Dense, int gapBits = 8, HuffmanStreams huffman = HuffmanStreams.None)
    {
        var t = Begin(name, shape, codes.Length, sparsity, gapBits, huffman, ValueEncoding.BitPlanes);
        if (planeCount < 1 || planeCount > 16) throw new ArgumentOutOfRangeException(nameof(planeCount), "plane count must be in 1..16");
        if (!Enum.IsDefined(mode)) throw new ArgumentOutOfRangeException(nameof(mode));
        if (basis.Length != (long)t._rows * planeCount) throw new ArgumentException($"need {t._rows}×{planeCount} basis floats, got {basis.Length}", nameof(basis));
        foreach (ushort c in codes)
            if (c >> planeCount != 0) throw new ArgumentOutOfRangeException(nameof(codes), $"code {c} has more than {planeCount} bits");
        t._planeCount = planeCount;
        t._planeMode = mode;
        t._basis = (float[])basis.Clone();
        float off = mode == BitPlaneMode.PlusMinusOne ? -1f : 0f;
        int cols = t._columns;
        t.Place(i =>
        {
            int r = i / cols;
            float v = 0f;
            for (int k = 0; k < planeCount; k++) v += basis[r * planeCount + k] * (((codes[i] >> k) & 1) != 0 ? 1f : off);
            return v != 0f;
        });
        ushort[] stored = Gather(codes, t);
        int[] rp = t.RowPointersOrDense();
        t._planeRowOffsets = PlaneOffsets(rp, planeCount);
        t._planeBits = new ulong[t._planeRowOffsets[^1]];
        for (int r = 0; r < t._rows; r++)
        {
            int start = rp[r], len = rp[r + 1] - start, w = (len + 63) >> 6;
            for (int j = 0; j < len; j++)
                for (int k = 0; k < planeCount; k++)
                    if (((stored[start + j] >> k) & 1) != 0)
                        t._planeBits[t._planeRowOffsets[r] + k * w + (j >> 6)] |= 1UL << (j & 63);
        }
        return t;
    }

    /// <summary>The K-bit code (bit k = plane k) of each stored entry of a BitPlanes tensor (a new array).</summary>
    public ushort[] PlaneCodes()
    {
        if (_encoding != ValueEncoding.BitPlanes) throw new InvalidOperationException("not a bit-plane tensor");
        var codes = new ushort[_storedCount];
        int[] rp = RowPointersOrDense();
        for (int r = 0; r < _rows; r++)
        {
            int start = rp[r], len = rp[r + 1] - start, w = (len + 63) >> 6;
            for (int j = 0; j < len; j++)
                for (int k = 0; k < _planeCount; k++)
                    if (((_planeBits![_planeRowOffsets![r] + k * w + (j >> 6)] >> (j & 63)) & 1) != 0)
                        codes[start + j] |= (ushort)(1 << k);
        }
        return codes;
    }

    internal static int[] PlaneOffsets(int[] rowPointers, int planeCount)
    {
        int rows = rowPointers.Length - 1;
        var off = new int[rows + 1];
        long acc = 0;
        for (int r = 0; r < rows; r++)
        {
            off[r] = (int)acc;
            acc += (long)((rowPointers[r + 1] - rowPointers[r] + 63) >> 6) * planeCount;
            if (acc > Array.MaxLength) throw new ArgumentException("bit planes too large");
        }
        off[rows] = (int)acc;
        return off;
    }

    // ---------------------------------------------------------------- construction helpers

    /// <summary>Validates name and shape and returns the row/column view of the tensor.</summary>
    internal static (int elements, int rows, int columns) CheckShape(int[] shape)
    {
        if (shape.Length < 1 || shape.Length > MaxRank) throw new ArgumentException($"rank must be 1..{MaxRank}, got {shape.Length}", nameof(shape));
        long n = 1;
        foreach (int d in shape)
        {
            if (d < 0) throw new ArgumentException("dimensions must be non-negative", nameof(shape));
            n *= d;
            if (n > int.MaxValue) throw new ArgumentException("element count exceeds int.MaxValue", nameof(shape));
        }
        long cols = 1;
        for (int i = 1; i < shape.Length; i++) cols *= shape[i];
        if (cols > int.MaxValue) throw new ArgumentException("columns exceed int.MaxValue", nameof(shape));
        return ((int)n, shape[0], (int)cols);
    }

    /// <summary>Returns null if the combination of layout, gap bits, encoding and Huffman flags is allowed, else the problem.</summary>
    internal static string? CheckCombination(SparseLayout layout, int gapBits, ValueEncoding encoding, HuffmanStreams huffman, int columns)
    {
        if (!Enum.IsDefined(layout)) return $"unknown sparsity layout {(int)layout}";
        if (!Enum.IsDefined(encoding)) return $"unknown value encoding {(int)encoding}";
        if (((int)huffman & ~7) != 0) return $"unknown Huffman flags 0x{(int)huffman:X2}";
        if (layout == SparseLayout.RelativeGaps ? gapBits < 1 || gapBits > 16 : gapBits != 0) return $"gap bits {gapBits} invalid for layout {layout}";
        if ((huffman & HuffmanStreams.Codes) != 0 && (encoding == ValueEncoding.Float32 || encoding == ValueEncoding.BitPlanes))
            return $"Huffman coding of codes is not defined for {encoding}";
        if ((huffman & HuffmanStreams.Indices) != 0 && layout == SparseLayout.Dense) return "Huffman-coded indices need a sparse layout";
        if ((huffman & HuffmanStreams.RowPointers) != 0 && layout != SparseLayout.Csr) return "Huffman-coded row pointers need the CSR layout";
        if (layout == SparseLayout.Csr && (huffman & (HuffmanStreams.Indices | HuffmanStreams.RowPointers)) != 0 && columns >= CanonicalHuffman.MaxAlphabetSize)
            return $"Huffman-coded CSR streams need fewer than {CanonicalHuffman.MaxAlphabetSize} columns";
        return null;
    }

    private static SlimTensor Begin(string name, int[] shape, int length, SparseLayout layout, int gapBits, HuffmanStreams huffman, ValueEncoding encoding)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        if (System.Text.Encoding.UTF8.GetByteCount(name) > MaxNameBytes) throw new ArgumentException($"name longer than {MaxNameBytes} UTF-8 bytes", nameof(name));
        var (n, rows, cols) = CheckShape(shape);
        if (length != n) throw new ArgumentException($"shape has {n} elements, data has {length}");
        if (layout != SparseLayout.RelativeGaps) gapBits = 0;
        string? problem = CheckCombination(layout, gapBits, encoding, huffman, cols);
        if (problem != null) throw new ArgumentException(problem);
        return new SlimTensor
        {
            _name = name, _shape = (int[])shape.Clone(), _elementCount = n, _rows = rows, _columns = cols,
            _layout = layout, _gapBits = gapBits, _encoding = encoding, _huffman = huffman,
        };
    }

    // Decides which elements are stored and fills the structure arrays.
    private void Place(Func<int, bool> isStored)
    {
        if (_layout == SparseLayout.Dense) { _storedCount = _elementCount; return; }
        var pos = new List<int>();
        for (int i = 0; i < _elementCount; i++) if (isStored(i)) pos.Add(i);
        _storedCount = pos.Count;
        _columnIndices = new int[pos.Count];
        for (int k = 0; k < pos.Count; k++) _columnIndices[k] = pos[k] % _columns;
        if (_layout == SparseLayout.RelativeGaps) _positions = pos.ToArray();
        else
        {
            var rp = new int[_rows + 1];
            foreach (int p in pos) rp[p / _columns + 1]++;
            for (int r = 0; r < _rows; r++) rp[r + 1] += rp[r];
            _rowPointers = rp;
        }
    }

    private static T[] Gather<T>(T[] all, SlimTensor t)
    {
        if (t._layout == SparseLayout.Dense) return (T[])all.Clone();
        int[] pos = t.StoredPositions();
        var result = new T[pos.Length];
        for (int k = 0; k < pos.Length; k++) result[k] = all[pos[k]];
        return result;
    }
}
