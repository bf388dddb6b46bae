using SlimNet.Format.Codecs;
using SlimNet.Format.Graph;

namespace SlimNet.Format;

/// <summary>
/// Writes <see cref="SlimModel"/>s as .slim files (docs/FORMAT.md). Deterministic: the same model always
/// gives the same bytes (no timestamps; metadata sorted by key; Huffman ties broken by symbol).
/// </summary>
public static class SlimWriter
{
    /// <summary>
    /// Writes <paramref name="model"/> to <paramref name="path"/> atomically: the bytes go to a temporary file in
    /// the same folder, which is flushed and then renamed over the target, so readers never see a half-written file.
    /// </summary>
    /// <returns>The exact size accounting of the written file.</returns>
    public static SlimSizeReport Write(SlimModel model, string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        byte[] bytes = ToBytes(model);
        AtomicFile.WriteAllBytes(path, bytes);
        return SlimSizeReport.FromBytes(bytes);
    }

    /// <summary>The .slim bytes of <paramref name="model"/>.</summary>
    public static byte[] ToBytes(SlimModel model)
    {
        ArgumentNullException.ThrowIfNull(model);
        var s = new ByteSink();
        s.Bytes(SlimLayout.Magic);
        s.U16(SlimLayout.VersionMajor);
        s.U16(SlimLayout.VersionMinor);
        s.U32(0); // flags, reserved
        s.U32(Crc32.Compute(s.Slice(0, 12)));

        Section(s, SlimLayout.TagGraph, () => WriteGraph(s, model.Graph));
        Section(s, SlimLayout.TagMetadata, () =>
        {
            s.U32((uint)model.Metadata.Count);
            foreach (var (k, v) in model.Metadata.OrderBy(p => p.Key, StringComparer.Ordinal))
            {
                s.String16(k);
                s.String32(v);
            }
        });
        Section(s, SlimLayout.TagTensorTable, () => s.U32((uint)model.Tensors.Count));
        foreach (var t in model.Tensors) Section(s, SlimLayout.TagTensor, () => WriteTensor(s, t));
        return s.ToArray();
    }

    private static void Section(ByteSink s, uint tag, Action body)
    {
        int start = s.Length;
        s.U32(tag);
        s.U32(0);
        body();
        int payload = s.Length - start - 8;
        s.PatchU32(start + 4, (uint)payload);
        s.U32(Crc32.Compute(s.Slice(start, s.Length - start)));
    }

    private static void WriteGraph(ByteSink s, ModelGraph g)
    {
        s.String16(g.Name);
        s.U8(g.InputShape.Count);
        foreach (int d in g.InputShape) s.I32(d);
        s.U32((uint)g.Nodes.Count);
        foreach (var n in g.Nodes)
        {
            s.String16(n.Name);
            s.U8((byte)n.Op);
            s.U8(n.Inputs.Count);
            foreach (int i in n.Inputs) s.I32(i);
            var a = n.Attributes;
            s.I32(a.InFeatures);
            s.I32(a.OutFeatures);
            s.I32(a.KernelH);
            s.I32(a.KernelW);
            s.I32(a.Stride);
            s.I32(a.Padding);
            s.U8(a.HasBias ? 1 : 0);
            s.F32(a.Epsilon);
            var q = a.ActivationQuant;
            if (q == null) { s.U8(0); continue; }
            string? problem = q.Validate();
            if (problem != null) throw new ArgumentException($"node '{n.Name}': {problem}");
            s.U8(1);
            s.U8((byte)q.Kind);
            s.U8(q.Bits);
            s.U8(q.Signed ? 1 : 0);
            s.U16(q.Parameters.Count);
            foreach (float p in q.Parameters) s.F32(p);
        }
    }

    private static void WriteTensor(ByteSink s, SlimTensor t)
    {
        s.String16(t.Name);
        s.U8(t.Rank);
        foreach (int d in t._shape) s.U32((uint)d);
        s.U8((byte)t.Sparsity);
        s.U8(t.GapBits);
        s.U8((byte)t.Encoding);
        s.U8((byte)t.Huffman);
        s.U32((uint)t.StoredCount);
        uint[]? gaps = t.Sparsity == SparseLayout.RelativeGaps ? RelativeIndexCodec.Encode(t._positions, t.GapBits) : null;
        s.U32(t.Sparsity switch
        {
            SparseLayout.Csr => (uint)t.StoredCount,
            SparseLayout.RelativeGaps => (uint)gaps!.Length,
            _ => 0u,
        });
        switch (t.Encoding)
        {
            case ValueEncoding.FixedPoint:
                s.U8(t._bits);
                s.U8((byte)t.FixedPointMode);
                s.U32((uint)t._scales!.Length);
                break;
            case ValueEncoding.Codebook:
                s.U8(t._bits);
                break;
            case ValueEncoding.BitPlanes:
                s.U8(t.PlaneCount);
                s.U8((byte)t.PlaneMode);
                break;
        }

        bool hCodes = (t.Huffman & HuffmanStreams.Codes) != 0, hIdx = (t.Huffman & HuffmanStreams.Indices) != 0;
        if (t.Sparsity == SparseLayout.Csr)
        {
            var rp = t._rowPointers!;
            var counts = new uint[t.Rows];
            for (int r = 0; r < counts.Length; r++) counts[r] = (uint)(rp[r + 1] - rp[r]);
            IntStream(s, counts, SlimStreams.RowCountBits(t.Columns), (t.Huffman & HuffmanStreams.RowPointers) != 0);
            IntStream(s, ToUInt(t._columnIndices!), SlimStreams.ColumnBits(t.Columns), hIdx);
        }
        else if (gaps != null)
        {
            IntStream(s, gaps, t.GapBits, hIdx);
        }

        switch (t.Encoding)
        {
            case ValueEncoding.Float32:
                IntStream(s, FloatBits(t._values!), 32, false);
                break;
            case ValueEncoding.Float16:
                IntStream(s, Array.ConvertAll(t._halfBits!, h => (uint)h), 16, hCodes);
                break;
            case ValueEncoding.FixedPoint:
                IntStream(s, FloatBits(t._scales!), 32, false);
                IntStream(s, Array.ConvertAll(t._fixedCodes!, q => SlimStreams.FixedToPattern(q, t._bits, t.FixedPointMode)), t._bits, hCodes);
                break;
            case ValueEncoding.Codebook:
                IntStream(s, FloatBits(t._codebook!), 32, false);
                IntStream(s, Array.ConvertAll(t._codebookCodes!, c => (uint)c), t._bits, hCodes);
                break;
            case ValueEncoding.BitPlanes:
                IntStream(s, FloatBits(t._basis!), 32, false);
                byte[] planes = SlimStreams.PackPlanes(t);
                s.U32((uint)planes.Length);
                s.Bytes(planes);
                break;
        }
    }

    private static void IntStream(ByteSink s, uint[] symbols, int width, bool huffman)
    {
        byte[] b = huffman ? CanonicalHuffman.EncodeStream(symbols) : BitPacker.Pack(symbols, width);
        s.U32((uint)b.Length);
        s.Bytes(b);
    }

    private static uint[] ToUInt(int[] a) => Array.ConvertAll(a, v => (uint)v);
    private static uint[] FloatBits(float[] a) => Array.ConvertAll(a, BitConverter.SingleToUInt32Bits);
}

/// <summary>Stream conventions shared by the writer and the reader.</summary>
internal static class SlimStreams
{
    /// <summary>Width of a CSR row count (0..columns).</summary>
    public static int RowCountBits(int columns) => BitPacker.BitsFor((uint)columns);
    /// <summary>Width of a CSR column index (0..columns − 1).</summary>
    public static int ColumnBits(int columns) => BitPacker.BitsFor((uint)Math.Max(columns - 1, 0));

    public static uint FixedToPattern(short q, int bits, FixedPointMode mode) =>
        mode == FixedPointMode.TwosComplement ? (uint)q & ((1u << bits) - 1) : (uint)(q + (1 << (bits - 1)));

    public static short PatternToFixed(uint u, int bits, FixedPointMode mode)
    {
        int half = 1 << (bits - 1);
        return mode == FixedPointMode.TwosComplement
            ? (short)(u >= (uint)half ? (int)u - (1 << bits) : (int)u)
            : (short)((int)u - half);
    }

    /// <summary>Planes as stored in the file: for each row, for each plane, the row's entry bits, concatenated LSB-first.</summary>
    public static byte[] PackPlanes(SlimTensor t)
    {
        int K = t.PlaneCount;
        int[] rp = t.RowPointersOrDense();
        var dest = new byte[((long)t.StoredCount * K + 7) / 8];
        long pos = 0;
        for (int r = 0; r < t.Rows; r++)
        {
            int len = rp[r + 1] - rp[r], w = (len + 63) >> 6, baseWord = t._planeRowOffsets![r];
            for (int k = 0; k < K; k++)
                for (int j = 0; j < len; j++, pos++)
                    if (((t._planeBits![baseWord + k * w + (j >> 6)] >> (j & 63)) & 1) != 0)
                        dest[pos >> 3] |= (byte)(1 << (int)(pos & 7));
        }
        return dest;
    }

    /// <summary>Inverse of <see cref="PackPlanes"/> into the word-aligned in-memory layout.</summary>
    public static ulong[] UnpackPlanes(ReadOnlySpan<byte> src, int[] rowPointers, int[] offsets, int K)
    {
        var planes = new ulong[offsets[^1]];
        long pos = 0;
        for (int r = 0; r < rowPointers.Length - 1; r++)
        {
            int len = rowPointers[r + 1] - rowPointers[r], w = (len + 63) >> 6;
            for (int k = 0; k < K; k++)
                for (int j = 0; j < len; j++, pos++)
                    if (((src[(int)(pos >> 3)] >> (int)(pos & 7)) & 1) != 0)
                        planes[offsets[r] + k * w + (j >> 6)] |= 1UL << (j & 63);
        }
        return planes;
    }
}
