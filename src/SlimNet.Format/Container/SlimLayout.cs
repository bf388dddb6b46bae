using System.Buffers.Binary;
using System.Text;

namespace SlimNet.Format;

/// <summary>Constants of the .slim byte layout (docs/FORMAT.md), in one place.</summary>
internal static class SlimLayout
{
    public static ReadOnlySpan<byte> Magic => "SLIM"u8;
    public const ushort VersionMajor = 1;
    public const ushort VersionMinor = 0;
    public const int FileHeaderSize = 16;
    /// <summary>Tag (4) + payload length (4) + CRC-32 (4).</summary>
    public const int SectionOverhead = 12;

    public static readonly uint TagGraph = Tag("GRPH");
    public static readonly uint TagMetadata = Tag("META");
    public static readonly uint TagTensorTable = Tag("TTBL");
    public static readonly uint TagTensor = Tag("TNSR");

    private static uint Tag(string s) => BinaryPrimitives.ReadUInt32LittleEndian(Encoding.ASCII.GetBytes(s));

    public static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);
}

/// <summary>A growable little-endian byte buffer for the writer.</summary>
internal sealed class ByteSink
{
    private byte[] _buf = new byte[256];
    public int Length { get; private set; }

    private Span<byte> Grow(int n)
    {
        if (Length + n > _buf.Length)
        {
            long want = Math.Max((long)_buf.Length * 2, (long)Length + n);
            if (want > Array.MaxLength) want = Array.MaxLength;
            if (Length + (long)n > want) throw new InvalidOperationException("model too large for a .slim file (2 GiB)");
            Array.Resize(ref _buf, (int)want);
        }
        var s = _buf.AsSpan(Length, n);
        Length += n;
        return s;
    }

    public void U8(int v) => Grow(1)[0] = checked((byte)v);
    public void U16(int v) => BinaryPrimitives.WriteUInt16LittleEndian(Grow(2), checked((ushort)v));
    public void U32(uint v) => BinaryPrimitives.WriteUInt32LittleEndian(Grow(4), v);
    public void I32(int v) => BinaryPrimitives.WriteInt32LittleEndian(Grow(4), v);
    public void F32(float v) => BinaryPrimitives.WriteSingleLittleEndian(Grow(4), v);
    public void Bytes(ReadOnlySpan<byte> b) => b.CopyTo(Grow(b.Length));

    public void String16(string s)
    {
        byte[] b = SlimLayout.StrictUtf8.GetBytes(s);
        if (b.Length > ushort.MaxValue) throw new ArgumentException($"string longer than {ushort.MaxValue} UTF-8 bytes");
        U16(b.Length);
        Bytes(b);
    }

    public void String32(string s)
    {
        byte[] b = SlimLayout.StrictUtf8.GetBytes(s);
        U32((uint)b.Length);
        Bytes(b);
    }

    public void PatchU32(int offset, uint v) => BinaryPrimitives.WriteUInt32LittleEndian(_buf.AsSpan(offset, 4), v);
    public ReadOnlySpan<byte> Slice(int offset, int length) => _buf.AsSpan(offset, length);
    public byte[] ToArray() => _buf.AsSpan(0, Length).ToArray();
}

/// <summary>A bounds-checked little-endian reader over a span; every failure is a <see cref="SlimFormatException"/> naming <see cref="Section"/>.</summary>
internal ref struct SpanCursor
{
    public ReadOnlySpan<byte> Data;
    public int Pos;
    public string Section;

    public SpanCursor(ReadOnlySpan<byte> data, string section)
    {
        Data = data;
        Pos = 0;
        Section = section;
    }

    public readonly int Remaining => Data.Length - Pos;

    public readonly SlimFormatException Fail(string problem) => new(Section, problem);

    public ReadOnlySpan<byte> Take(long n, string what)
    {
        if (n < 0 || n > Remaining) throw Fail($"{what} needs {n} bytes at offset {Pos}, only {Remaining} remain");
        var s = Data.Slice(Pos, (int)n);
        Pos += (int)n;
        return s;
    }

    public byte U8(string what) => Take(1, what)[0];
    public ushort U16(string what) => BinaryPrimitives.ReadUInt16LittleEndian(Take(2, what));
    public uint U32(string what) => BinaryPrimitives.ReadUInt32LittleEndian(Take(4, what));
    public int I32(string what) => BinaryPrimitives.ReadInt32LittleEndian(Take(4, what));
    public float F32(string what) => BinaryPrimitives.ReadSingleLittleEndian(Take(4, what));

    /// <summary>A u32 count or size that must be at most <paramref name="max"/>.</summary>
    public int Count(string what, long max)
    {
        uint v = U32(what);
        if (v > max || v > int.MaxValue) throw Fail($"{what} {v} exceeds the limit {Math.Min(max, int.MaxValue)}");
        return (int)v;
    }

    public string String16(string what) => Utf8(Take(U16(what + " length"), what), what);
    public string String32(string what) => Utf8(Take(U32(what + " length"), what), what);

    private readonly string Utf8(ReadOnlySpan<byte> b, string what)
    {
        try { return SlimLayout.StrictUtf8.GetString(b); }
        catch (DecoderFallbackException) { throw Fail($"{what} is not valid UTF-8"); }
    }

    public readonly void ExpectEnd()
    {
        if (Remaining != 0) throw Fail($"{Remaining} unexpected bytes at the end");
    }
}
