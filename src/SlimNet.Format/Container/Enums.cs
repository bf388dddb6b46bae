namespace SlimNet.Format;

/// <summary>
/// How a tensor's stored entries are located. The numeric values are the ids written to .slim files
/// (docs/FORMAT.md) and never change meaning.
/// </summary>
public enum SparseLayout : byte
{
    /// <summary>Every element is stored, in row-major order.</summary>
    Dense = 0,
    /// <summary>Compressed sparse rows over the tensor flattened to [shape[0], product of the rest]; exact zeros are not stored.</summary>
    Csr = 1,
    /// <summary>Deep Compression relative indices: b-bit gaps over the flattened tensor, with filler codes for long runs of zeros.</summary>
    RelativeGaps = 2,
}

/// <summary>How the values of a tensor's stored entries are represented. Numeric values are file ids.</summary>
public enum ValueEncoding : byte
{
    /// <summary>IEEE 754 binary32, 4 bytes per value.</summary>
    Float32 = 1,
    /// <summary>IEEE 754 binary16, 2 bytes per value (or Huffman-coded 16-bit patterns).</summary>
    Float16 = 2,
    /// <summary>m-bit integers (1..16) times a scale per tensor or per output channel.</summary>
    FixedPoint = 3,
    /// <summary>b-bit indices (1..16) into a codebook of exactly 2^b floats.</summary>
    Codebook = 4,
    /// <summary>LQ-Nets: K bit planes per output channel and K basis floats per output channel.</summary>
    BitPlanes = 5,
}

/// <summary>How an m-bit fixed-point integer q in [−2^(m−1), 2^(m−1) − 1] is stored as an unsigned m-bit pattern u.</summary>
public enum FixedPointMode : byte
{
    /// <summary>u = q mod 2^m (two's complement).</summary>
    TwosComplement = 0,
    /// <summary>u = q + 2^(m−1) (offset binary, excess-2^(m−1)).</summary>
    Offset = 1,
}

/// <summary>What a bit of a bit plane stands for in <c>value = Σ_k basis[k] · e_k</c>.</summary>
public enum BitPlaneMode : byte
{
    /// <summary>Bit 1 → e = +1, bit 0 → e = −1 (LQ-Nets weights).</summary>
    PlusMinusOne = 0,
    /// <summary>Bit 1 → e = 1, bit 0 → e = 0 (LQ-Nets activations style).</summary>
    ZeroOne = 1,
}

/// <summary>Which integer streams of a tensor are canonical-Huffman coded instead of plainly bit-packed.</summary>
[Flags]
public enum HuffmanStreams : byte
{
    /// <summary>All streams bit-packed.</summary>
    None = 0,
    /// <summary>The value codes: fixed-point codes, codebook indices or binary16 patterns (not Float32, not BitPlanes).</summary>
    Codes = 1,
    /// <summary>The index stream: CSR column indices or relative gaps.</summary>
    Indices = 2,
    /// <summary>The CSR row stream (per-row entry counts).</summary>
    RowPointers = 4,
}
