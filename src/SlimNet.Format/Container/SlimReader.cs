using SlimNet.Format.Codecs;
using SlimNet.Format.Graph;

namespace SlimNet.Format;

/// <summary>
/// Reads .slim files (docs/FORMAT.md). Every count and length is checked against the bytes that remain
/// before anything is allocated, and every malformed input ends in a <see cref="SlimFormatException"/> whose
/// message names the section; no other exception escapes for bad data.
/// </summary>
public static class SlimReader
{
    /// <summary>Reads the .slim file at <paramref name="path"/>.</summary>
    /// <exception cref="SlimFormatException">The file is not a valid .slim file.</exception>
    /// <exception cref="IOException">The file cannot be read.</exception>
    public static SlimModel Read(string path) => Read(File.ReadAllBytes(path));

    /// <summary>Reads a .slim model from its bytes.</summary>
    /// <exception cref="SlimFormatException">The bytes are not a valid .slim file.</exception>
    public static SlimModel Read(ReadOnlySpan<byte> data) => Parse(data, null);

    internal sealed class TensorBytes
    {
        public string Name = "";
        public int Elements, Stored, Bits;
        public SparseLayout Layout;
        public ValueEncoding Encoding;
        public long Section, Values, Indices, RowPointers, Codebook, Scales;
    }

    internal sealed class Accounting
    {
        public long File, Header, Graph, Metadata, TensorTable;
        public readonly List<TensorBytes> Tensors = new();
        public ModelGraph? GraphObject;
    }

    internal static SlimModel Parse(ReadOnlySpan<byte> data, Accounting? acc)
    {
        var c = new SpanCursor(data, "file header");
        var magic = c.Take(4, "magic");
        if (!magic.SequenceEqual(SlimLayout.Magic)) throw c.Fail("not a .slim file (magic is not 'SLIM')");
        ushort major = c.U16("major version"), minor = c.U16("minor version");
        if (major != SlimLayout.VersionMajor) throw c.Fail($"unsupported version {major}.{minor} (this reader reads {SlimLayout.VersionMajor}.x)");
        uint flags = c.U32("flags");
        uint crc = c.U32("checksum");
        if (crc != Crc32.Compute(data[..12])) throw c.Fail("checksum mismatch");
        if (flags != 0) throw c.Fail($"unknown flags 0x{flags:X8}");
        if (acc != null) { acc.File = data.Length; acc.Header = SlimLayout.FileHeaderSize; }

        var graphPayload = ReadSection(ref c, SlimLayout.TagGraph, "graph");
        if (acc != null) acc.Graph = graphPayload.Length + SlimLayout.SectionOverhead;
        var graph = ParseGraph(graphPayload);
        if (acc != null) acc.GraphObject = graph;

        var metaPayload = ReadSection(ref c, SlimLayout.TagMetadata, "metadata");
        if (acc != null) acc.Metadata = metaPayload.Length + SlimLayout.SectionOverhead;
        var metadata = ParseMetadata(metaPayload);

        var tablePayload = ReadSection(ref c, SlimLayout.TagTensorTable, "tensor table");
        if (acc != null) acc.TensorTable = tablePayload.Length + SlimLayout.SectionOverhead;
        var tc = new SpanCursor(tablePayload, "tensor table");
        int count = tc.Count("tensor count", c.Remaining / (SlimLayout.SectionOverhead + 16));
        tc.ExpectEnd();

        var tensors = new List<SlimTensor>(count);
        var names = new HashSet<string>(StringComparer.Ordinal);
        for (int i = 0; i < count; i++)
        {
            string section = $"tensor #{i}";
            var payload = ReadSection(ref c, SlimLayout.TagTensor, section);
            var tb = acc != null ? new TensorBytes { Section = payload.Length + SlimLayout.SectionOverhead } : null;
            var t = ParseTensor(payload, section, tb);
            if (!names.Add(t.Name)) throw new SlimFormatException($"tensor '{t.Name}'", "name appears twice");
            tensors.Add(t);
            acc?.Tensors.Add(tb!);
        }
        if (c.Remaining != 0)
        {
            c.Section = "end of file";
            throw c.Fail($"{c.Remaining} bytes after the last tensor");
        }
        return new SlimModel(graph, tensors, metadata);
    }

    // Frames a section: tag, payload length, payload, CRC-32 over tag..payload. Returns the verified payload.
    private static ReadOnlySpan<byte> ReadSection(ref SpanCursor c, uint tag, string section)
    {
        c.Section = section;
        int start = c.Pos;
        uint actual = c.U32("section tag");
        if (actual != tag)
            throw c.Fail($"expected section tag '{TagText(tag)}', found '{TagText(actual)}'");
        uint length = c.U32("section length");
        if (length > (uint)Math.Max(c.Remaining - 4, 0)) throw c.Fail($"section length {length} exceeds the {Math.Max(c.Remaining - 4, 0)} bytes that remain");
        var payload = c.Take(length, "section payload");
        uint stored = c.U32("section checksum");
        uint computed = Crc32.Compute(c.Data.Slice(start, 8 + (int)length));
        if (stored != computed)
        {
            string name = section;
            if (tag == SlimLayout.TagTensor) name = section + TryName(payload);
            throw new SlimFormatException(name, $"checksum mismatch (stored 0x{stored:X8}, computed 0x{computed:X8})");
        }
        return payload;
    }

    private static string TryName(ReadOnlySpan<byte> payload)
    {
        try
        {
            var c = new SpanCursor(payload, "");
            return $" ('{c.String16("name")}')";
        }
        catch (SlimFormatException) { return ""; }
    }

    private static string TagText(uint tag)
    {
        Span<char> s = stackalloc char[4];
        for (int i = 0; i < 4; i++)
        {
            char ch = (char)((tag >> (8 * i)) & 0xFF);
            s[i] = ch >= ' ' && ch < 127 ? ch : '?';
        }
        return new string(s);
    }

    private static ModelGraph ParseGraph(ReadOnlySpan<byte> payload)
    {
        var c = new SpanCursor(payload, "graph");
        string name = c.String16("model name");
        int rank = c.U8("input rank");
        if (rank < 1 || rank > SlimTensor.MaxRank) throw c.Fail($"input rank {rank} outside 1..{SlimTensor.MaxRank}");
        var input = new int[rank];
        for (int i = 0; i < rank; i++)
        {
            input[i] = c.I32("input dimension");
            if (input[i] <= 0) throw c.Fail($"input dimension {input[i]} is not positive");
        }
        const int minNodeBytes = 2 + 1 + 1 + 4 + 24 + 1 + 4 + 1;
        int nodeCount = c.Count("node count", c.Remaining / minNodeBytes);
        var nodes = new List<GraphNode>(nodeCount);
        for (int n = 0; n < nodeCount; n++)
        {
            string nodeName = c.String16($"node {n} name");
            byte op = c.U8("op");
            if (!Enum.IsDefined((OpKind)op)) throw c.Fail($"node '{nodeName}' has unknown op id {op}");
            int inputCount = c.U8("input count");
            if (inputCount > 2) throw c.Fail($"node '{nodeName}' has {inputCount} inputs");
            var inputs = new int[inputCount];
            for (int i = 0; i < inputCount; i++) inputs[i] = c.I32("input index");
            int inF = NonNeg(ref c, "in features"), outF = NonNeg(ref c, "out features"),
                kh = NonNeg(ref c, "kernel height"), kw = NonNeg(ref c, "kernel width"),
                stride = NonNeg(ref c, "stride"), pad = NonNeg(ref c, "padding");
            byte hasBias = c.U8("has-bias flag");
            if (hasBias > 1) throw c.Fail($"node '{nodeName}' has-bias flag {hasBias} is not 0 or 1");
            float eps = c.F32("epsilon");
            byte hasQuant = c.U8("activation-quantization flag");
            ActivationQuantization? aq = null;
            if (hasQuant == 1)
            {
                byte kind = c.U8("activation quantizer kind");
                int bits = c.U8("activation bits");
                byte signed = c.U8("activation signed flag");
                if (signed > 1) throw c.Fail($"node '{nodeName}' activation signed flag {signed} is not 0 or 1");
                int pc = c.U16("activation parameter count");
                var span = c.Take(4L * pc, "activation parameters");
                var ps = new float[pc];
                for (int i = 0; i < pc; i++) ps[i] = BitConverter.ToSingle(span.Slice(4 * i, 4));
                aq = new ActivationQuantization((ActivationQuantKind)kind, bits, signed == 1, ps);
                string? problem = aq.Validate();
                if (problem != null) throw c.Fail($"node '{nodeName}': {problem}");
            }
            else if (hasQuant != 0) throw c.Fail($"node '{nodeName}' activation-quantization flag {hasQuant} is not 0 or 1");
            nodes.Add(new GraphNode(nodeName, (OpKind)op, inputs, new NodeAttributes
            {
                InFeatures = inF, OutFeatures = outF, KernelH = kh, KernelW = kw, Stride = stride, Padding = pad,
                HasBias = hasBias == 1, Epsilon = eps, ActivationQuant = aq,
            }));
        }
        c.ExpectEnd();
        try { return new ModelGraph(name, input, nodes); }
        catch (ArgumentException e) { throw c.Fail(e.Message); }
    }

    private static int NonNeg(ref SpanCursor c, string what)
    {
        int v = c.I32(what);
        if (v < 0) throw c.Fail($"{what} {v} is negative");
        return v;
    }

    private static Dictionary<string, string> ParseMetadata(ReadOnlySpan<byte> payload)
    {
        var c = new SpanCursor(payload, "metadata");
        int count = c.Count("entry count", c.Remaining / 7);
        var result = new Dictionary<string, string>(count, StringComparer.Ordinal);
        string? previous = null;
        for (int i = 0; i < count; i++)
        {
            string key = c.String16("key");
            if (key.Length == 0) throw c.Fail($"entry {i} has an empty key");
            if (previous != null && string.CompareOrdinal(previous, key) >= 0) throw c.Fail($"key '{key}' is not after '{previous}' (keys must be unique and sorted)");
            result[key] = c.String32($"value of '{key}'");
            previous = key;
        }
        c.ExpectEnd();
        return result;
    }

    private static SlimTensor ParseTensor(ReadOnlySpan<byte> payload, string section, TensorBytes? tb)
    {
        var c = new SpanCursor(payload, section);
        string name = c.String16("name");
        if (name.Length == 0 || System.Text.Encoding.UTF8.GetByteCount(name) > SlimTensor.MaxNameBytes)
            throw c.Fail($"name must have 1..{SlimTensor.MaxNameBytes} bytes");
        c.Section = $"tensor '{name}'";
        int rank = c.U8("rank");
        if (rank < 1 || rank > SlimTensor.MaxRank) throw c.Fail($"rank {rank} outside 1..{SlimTensor.MaxRank}");
        var shape = new int[rank];
        for (int i = 0; i < rank; i++) shape[i] = c.Count("dimension", int.MaxValue);
        int elements, rows, cols;
        try { (elements, rows, cols) = SlimTensor.CheckShape(shape); }
        catch (ArgumentException e) { throw c.Fail(e.Message); }
        var layout = (SparseLayout)c.U8("sparsity layout");
        int gapBits = c.U8("gap bits");
        var encoding = (ValueEncoding)c.U8("value encoding");
        var huffman = (HuffmanStreams)c.U8("Huffman flags");
        string? problem = SlimTensor.CheckCombination(layout, gapBits, encoding, huffman, cols);
        if (problem != null) throw c.Fail(problem);
        int stored = c.Count("stored count", elements);
        int indexCount = c.Count("index count", int.MaxValue);
        if (layout == SparseLayout.Dense && (stored != elements || indexCount != 0)) throw c.Fail($"dense layout needs stored count {elements} and index count 0, has {stored} and {indexCount}");
        if (layout == SparseLayout.Csr && indexCount != stored) throw c.Fail($"CSR index count {indexCount} differs from stored count {stored}");
        if (layout == SparseLayout.RelativeGaps && indexCount < stored) throw c.Fail($"gap count {indexCount} is below the stored count {stored}");

        var t = new SlimTensor
        {
            _name = name, _shape = shape, _elementCount = elements, _rows = rows, _columns = cols,
            _layout = layout, _gapBits = gapBits, _encoding = encoding, _huffman = huffman, _storedCount = stored,
        };
        int scaleCount = 0;
        switch (encoding)
        {
            case ValueEncoding.FixedPoint:
                t._bits = c.U8("bits");
                if (t._bits < 1 || t._bits > 16) throw c.Fail($"fixed-point bits {t._bits} outside 1..16");
                byte mode = c.U8("fixed-point mode");
                if (mode > 1) throw c.Fail($"unknown fixed-point mode {mode}");
                t._fixedMode = (FixedPointMode)mode;
                scaleCount = c.Count("scale count", int.MaxValue);
                if (scaleCount != 1 && scaleCount != rows) throw c.Fail($"scale count {scaleCount} is neither 1 nor {rows} (shape[0])");
                break;
            case ValueEncoding.Codebook:
                t._bits = c.U8("bits");
                if (t._bits < 1 || t._bits > 16) throw c.Fail($"codebook bits {t._bits} outside 1..16");
                break;
            case ValueEncoding.BitPlanes:
                t._planeCount = c.U8("plane count");
                if (t._planeCount < 1 || t._planeCount > 16) throw c.Fail($"plane count {t._planeCount} outside 1..16");
                byte pm = c.U8("plane mode");
                if (pm > 1) throw c.Fail($"unknown bit-plane mode {pm}");
                t._planeMode = (BitPlaneMode)pm;
                break;
        }

        bool hCodes = (huffman & HuffmanStreams.Codes) != 0, hIdx = (huffman & HuffmanStreams.Indices) != 0;
        if (layout == SparseLayout.Csr)
        {
            uint[] counts = IntStream(ref c, name, "row pointers", rows, SlimStreams.RowCountBits(cols), (huffman & HuffmanStreams.RowPointers) != 0, out long rpBytes);
            var rp = new int[rows + 1];
            long sum = 0;
            for (int r = 0; r < rows; r++)
            {
                if (counts[r] > (uint)cols) throw new SlimFormatException($"tensor '{name}' row pointers", $"row {r} has {counts[r]} entries, more than the {cols} columns");
                sum += counts[r];
                if (sum > stored) throw new SlimFormatException($"tensor '{name}' row pointers", $"entries exceed the stored count {stored}");
                rp[r + 1] = (int)sum;
            }
            if (sum != stored) throw new SlimFormatException($"tensor '{name}' row pointers", $"rows hold {sum} entries, stored count is {stored}");
            uint[] ci = IntStream(ref c, name, "column indices", stored, SlimStreams.ColumnBits(cols), hIdx, out long ciBytes);
            var colIdx = Array.ConvertAll(ci, v => v > int.MaxValue ? -1 : (int)v);
            string? bad = CsrMatrix.ValidateStructure(rows, cols, rp, colIdx);
            if (bad != null) throw new SlimFormatException($"tensor '{name}' column indices", bad);
            t._rowPointers = rp;
            t._columnIndices = colIdx;
            if (tb != null) { tb.RowPointers = rpBytes; tb.Indices = ciBytes; }
        }
        else if (layout == SparseLayout.RelativeGaps)
        {
            uint[] gaps = IntStream(ref c, name, "gaps", indexCount, gapBits, hIdx, out long gBytes);
            int[] positions;
            try { positions = RelativeIndexCodec.Decode(gaps, gapBits, elements); }
            catch (InvalidDataException e) { throw new SlimFormatException($"tensor '{name}' gaps", e.Message); }
            if (positions.Length != stored) throw new SlimFormatException($"tensor '{name}' gaps", $"gaps give {positions.Length} entries, stored count is {stored}");
            t._positions = positions;
            t._columnIndices = new int[stored];
            for (int k = 0; k < stored; k++) t._columnIndices[k] = positions[k] % cols;
            if (tb != null) tb.Indices = gBytes;
        }

        long valueBytes, extraBytes = 0;
        switch (encoding)
        {
            case ValueEncoding.Float32:
                t._values = ToFloats(IntStream(ref c, name, "values", stored, 32, false, out valueBytes));
                break;
            case ValueEncoding.Float16:
                t._halfBits = Array.ConvertAll(IntStream(ref c, name, "values", stored, 16, hCodes, out valueBytes), u => (ushort)u);
                t._values = new float[stored];
                Codecs.Float16.ToSingle(t._halfBits, t._values);
                break;
            case ValueEncoding.FixedPoint:
                t._scales = ToFloats(IntStream(ref c, name, "scales", scaleCount, 32, false, out extraBytes));
                int bits = t._bits;
                var mode = t._fixedMode;
                t._fixedCodes = Array.ConvertAll(IntStream(ref c, name, "values", stored, bits, hCodes, out valueBytes), u => SlimStreams.PatternToFixed(u, bits, mode));
                if (tb != null) tb.Scales = extraBytes;
                break;
            case ValueEncoding.Codebook:
                t._codebook = ToFloats(IntStream(ref c, name, "codebook", 1 << t._bits, 32, false, out extraBytes));
                t._codebookCodes = Array.ConvertAll(IntStream(ref c, name, "values", stored, t._bits, hCodes, out valueBytes), u => (ushort)u);
                if (tb != null) tb.Codebook = extraBytes;
                break;
            default: // BitPlanes
                long basisCount = (long)rows * t._planeCount;
                if (basisCount > int.MaxValue) throw new SlimFormatException($"tensor '{name}' basis", "too many basis floats");
                t._basis = ToFloats(IntStream(ref c, name, "basis", (int)basisCount, 32, false, out extraBytes));
                int[] rpd = t.RowPointersOrDense();
                long planeBytes = ((long)stored * t._planeCount + 7) / 8;
                uint len = c.U32("planes length");
                if (len != planeBytes) throw new SlimFormatException($"tensor '{name}' values", $"planes need {planeBytes} bytes, length field says {len}");
                var src = c.Take(len, "planes");
                try { t._planeRowOffsets = SlimTensor.PlaneOffsets(rpd, t._planeCount); }
                catch (ArgumentException e) { throw new SlimFormatException($"tensor '{name}' values", e.Message); }
                t._planeBits = SlimStreams.UnpackPlanes(src, rpd, t._planeRowOffsets, t._planeCount);
                valueBytes = len;
                if (tb != null) tb.Scales = extraBytes;
                break;
        }
        c.ExpectEnd();
        if (tb != null)
        {
            tb.Name = name; tb.Elements = elements; tb.Stored = stored; tb.Layout = layout; tb.Encoding = encoding; tb.Bits = t.Bits;
            tb.Values = valueBytes;
        }
        return t;
    }

    // One integer stream: u32 byte length, then either `count` values bit-packed at `width` bits, or a Huffman stream.
    private static uint[] IntStream(ref SpanCursor c, string tensor, string stream, int count, int width, bool huffman, out long bytes)
    {
        string section = $"tensor '{tensor}' {stream}";
        uint len = c.U32(stream + " length");
        if (len > c.Remaining) throw new SlimFormatException(section, $"length {len} exceeds the {c.Remaining} bytes that remain");
        var src = c.Take(len, stream);
        bytes = len;
        if (!huffman)
        {
            long expected = BitPacker.PackedByteCount(count, width);
            if (len != expected) throw new SlimFormatException(section, $"{count} values of {width} bits need {expected} bytes, length field says {len}");
            return BitPacker.Unpack(src, count, width);
        }
        if ((long)count > 8L * len) throw new SlimFormatException(section, $"{count} Huffman symbols cannot fit in {len} bytes");
        var dest = new uint[count];
        int limit = width >= 17 ? CanonicalHuffman.MaxAlphabetSize : 1 << width;
        try { CanonicalHuffman.DecodeStream(src, limit, dest); }
        catch (InvalidDataException e) { throw new SlimFormatException(section, e.Message); }
        return dest;
    }

    private static float[] ToFloats(uint[] bits) => Array.ConvertAll(bits, BitConverter.UInt32BitsToSingle);
}
