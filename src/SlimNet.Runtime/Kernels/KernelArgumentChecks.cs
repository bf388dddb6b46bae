namespace SlimNet.Runtime.Kernels;

/// <summary>
/// Argument validation shared by the public kernels, so that a span of the wrong length or an index out
/// of range is an <see cref="ArgumentException"/> naming the argument, never a read outside a buffer (the
/// vector paths use raw pointers and gathers).
/// </summary>
internal static class KernelArgumentChecks
{
    public static void Positive(int value, string name)
    {
        if (value <= 0) throw new ArgumentOutOfRangeException(name, value, $"{name} must be positive");
    }

    public static void NonNegative(int value, string name)
    {
        if (value < 0) throw new ArgumentOutOfRangeException(name, value, $"{name} must not be negative");
    }

    public static void AtLeast(int length, long needed, string name)
    {
        if (length < needed) throw new ArgumentException($"{name} has {length} elements, needs at least {needed}", name);
    }

    public static void Exactly(int length, long needed, string name)
    {
        if (length != needed) throw new ArgumentException($"{name} has {length} elements, expected {needed}", name);
    }

    public static void Bias(int length, int outFeatures)
    {
        if (length != 0 && length != outFeatures)
            throw new ArgumentException($"bias has {length} elements, expected 0 (no bias) or {outFeatures}", "bias");
    }

    public static void RowScales(int length, int outFeatures)
    {
        if (length != 1 && length != outFeatures)
            throw new ArgumentException($"rowScales has {length} elements, expected 1 or {outFeatures}", "rowScales");
    }

    public static void Codes(ReadOnlySpan<byte> codes, int codebookLength)
    {
        if (codebookLength == 0) throw new ArgumentException("codebook is empty", "codebook");
        if (codebookLength < 256 && !codes.IsEmpty && System.Numerics.Tensors.TensorPrimitives.Max(codes) >= codebookLength
            && codes.IndexOfAnyInRange((byte)codebookLength, byte.MaxValue) is int at and >= 0)
            throw new ArgumentException($"code {codes[at]} at {at} is outside the codebook of {codebookLength} entries", "codes");
    }

    public static void Codes(ReadOnlySpan<ushort> codes, int codebookLength)
    {
        if (codebookLength == 0) throw new ArgumentException("codebook is empty", "codebook");
        if (codebookLength < 65536 && !codes.IsEmpty && System.Numerics.Tensors.TensorPrimitives.Max(codes) >= codebookLength
            && codes.IndexOfAnyInRange((ushort)codebookLength, ushort.MaxValue) is int at and >= 0)
            throw new ArgumentException($"code {codes[at]} at {at} is outside the codebook of {codebookLength} entries", "codes");
    }

    /// <summary>Checks a CSR structure of <paramref name="rows"/> rows over <paramref name="columns"/> columns; returns its non-zero count.</summary>
    public static int Csr(ReadOnlySpan<int> rowPtr, ReadOnlySpan<int> colIdx, int valueCount, int rows, int columns)
    {
        Exactly(rowPtr.Length, (long)rows + 1, nameof(rowPtr));
        if (rowPtr[0] != 0) throw new ArgumentException($"rowPtr[0] is {rowPtr[0]}, expected 0", nameof(rowPtr));
        for (int r = 0; r < rows; r++)
            if (rowPtr[r + 1] < rowPtr[r])
                throw new ArgumentException($"rowPtr decreases at row {r} ({rowPtr[r]} > {rowPtr[r + 1]})", nameof(rowPtr));
        int nnz = rowPtr[rows];
        AtLeast(colIdx.Length, nnz, nameof(colIdx));
        AtLeast(valueCount, nnz, "values");
        // One vectorized pass: a negative index is a huge unsigned one, so the unsigned maximum covers both ends.
        var indices = System.Runtime.InteropServices.MemoryMarshal.Cast<int, uint>(colIdx[..nnz]);
        if (nnz > 0 && System.Numerics.Tensors.TensorPrimitives.Max(indices) >= (uint)columns)
        {
            int bad = colIdx[..nnz].IndexOfAnyExceptInRange(0, columns - 1);
            throw new ArgumentException($"colIdx[{bad}] = {colIdx[bad]} is outside [0, {columns})", nameof(colIdx));
        }
        return nnz;
    }
}
