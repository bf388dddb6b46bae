namespace SlimNet.Format.Codecs;

/// <summary>
/// A compressed sparse row matrix of floats: for row r the stored entries are
/// <c>[RowPointers[r], RowPointers[r + 1])</c>, with strictly increasing column indices. Conv kernels are
/// flattened to 2-D first (rows = out_channels, columns = in·kh·kw).
/// </summary>
public sealed class CsrMatrix
{
    /// <summary>Creates a CSR matrix after checking its structure (see <see cref="ValidateStructure"/>).</summary>
    /// <exception cref="ArgumentException">The structure is invalid or the arrays disagree in length.</exception>
    public CsrMatrix(int rows, int columns, int[] rowPointers, int[] columnIndices, float[] values)
    {
        string? problem = ValidateStructure(rows, columns, rowPointers, columnIndices);
        if (problem != null) throw new ArgumentException(problem);
        if (values.Length != columnIndices.Length) throw new ArgumentException("values and column indices differ in length", nameof(values));
        Rows = rows;
        Columns = columns;
        RowPointers = rowPointers;
        ColumnIndices = columnIndices;
        Values = values;
    }

    /// <summary>Number of rows.</summary>
    public int Rows { get; }
    /// <summary>Number of columns.</summary>
    public int Columns { get; }
    /// <summary>Rows + 1 offsets into <see cref="ColumnIndices"/> and <see cref="Values"/>; starts at 0, ends at the nonzero count.</summary>
    public int[] RowPointers { get; }
    /// <summary>Column of each stored entry.</summary>
    public int[] ColumnIndices { get; }
    /// <summary>Value of each stored entry.</summary>
    public float[] Values { get; }
    /// <summary>Number of stored entries.</summary>
    public int NonzeroCount => Values.Length;

    /// <summary>The CSR form of a row-major dense matrix; entries equal to 0 (+0 and −0) are dropped.</summary>
    public static CsrMatrix FromDense(ReadOnlySpan<float> dense, int rows, int columns)
    {
        if (rows < 0 || columns < 0 || (long)rows * columns != dense.Length) throw new ArgumentException("dense length must equal rows × columns");
        int nnz = 0;
        foreach (float v in dense) if (v != 0f) nnz++;
        var rp = new int[rows + 1];
        var ci = new int[nnz];
        var vals = new float[nnz];
        int k = 0;
        for (int r = 0; r < rows; r++)
        {
            for (int c = 0; c < columns; c++)
            {
                float v = dense[r * columns + c];
                if (v != 0f) { ci[k] = c; vals[k] = v; k++; }
            }
            rp[r + 1] = k;
        }
        return new CsrMatrix(rows, columns, rp, ci, vals);
    }

    /// <summary>The row-major dense matrix (rows × columns).</summary>
    public float[] ToDense()
    {
        var dense = new float[(long)Rows * Columns];
        for (int r = 0; r < Rows; r++)
            for (int k = RowPointers[r]; k < RowPointers[r + 1]; k++)
                dense[(long)r * Columns + ColumnIndices[k]] = Values[k];
        return dense;
    }

    /// <summary>
    /// Checks a CSR structure: rows + 1 pointers starting at 0, non-decreasing, ending at the number of
    /// column indices; every column index below <paramref name="columns"/> and strictly increasing within its row.
    /// Returns null when valid, else a description of the first problem.
    /// </summary>
    public static string? ValidateStructure(int rows, int columns, ReadOnlySpan<int> rowPointers, ReadOnlySpan<int> columnIndices)
    {
        if (rows < 0 || columns < 0) return "negative dimensions";
        if (rowPointers.Length != rows + 1) return $"{rowPointers.Length} row pointers for {rows} rows";
        if (rowPointers[0] != 0) return "first row pointer is not 0";
        for (int r = 0; r < rows; r++)
        {
            int a = rowPointers[r], b = rowPointers[r + 1];
            if (b < a) return $"row pointers decrease at row {r}";
            if (b > columnIndices.Length) return $"row pointer {b} exceeds the {columnIndices.Length} entries";
            for (int k = a; k < b; k++)
            {
                int c = columnIndices[k];
                if (c < 0 || c >= columns) return $"column index {c} in row {r} outside 0..{columns - 1}";
                if (k > a && c <= columnIndices[k - 1]) return $"column indices not strictly increasing in row {r}";
            }
        }
        if (rowPointers[rows] != columnIndices.Length) return $"last row pointer {rowPointers[rows]} differs from the {columnIndices.Length} entries";
        return null;
    }
}
