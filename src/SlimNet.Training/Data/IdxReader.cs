using System.IO.Compression;
using System.Security.Cryptography;

namespace SlimNet.Training.Data;

/// <summary>
/// One array read from an IDX file: its dimensions (outermost first) and its unsigned-byte elements in
/// row-major order.
/// </summary>
/// <param name="FileName">The file name it came from (no folder), used in messages.</param>
/// <param name="Dimensions">Size of each dimension, outermost first; all &gt; 0.</param>
/// <param name="Data">The elements, row-major; its length is the product of <paramref name="Dimensions"/>.</param>
/// <param name="Sha256">Lower-case hex SHA-256 of the decompressed file (header and payload), or null when not asked for.</param>
public sealed record IdxArray(string FileName, int[] Dimensions, byte[] Data, string? Sha256);

/// <summary>
/// Reads IDX files (the MNIST layout by LeCun et al.): a 4-byte magic <c>00 00 TT RR</c> (TT = element
/// type, RR = rank), RR big-endian 32-bit dimension sizes, then the elements row-major. Only unsigned
/// bytes (TT = 0x08) are supported, as used by MNIST-style datasets: labels have magic 0x00000801 and
/// images 0x00000803. Files may be raw or gzip-compressed; gzip is recognised by its magic bytes 1F 8B,
/// not by the file name. Everything is validated: magic, dimensions &gt; 0, a bounded element count,
/// and an exact payload length (short → "truncated", long → "trailing bytes").
/// </summary>
public static class IdxReader
{
    /// <summary>Magic of an unsigned-byte, rank-1 IDX file (labels).</summary>
    public const uint LabelsMagic = 0x00000801;

    /// <summary>Magic of an unsigned-byte, rank-3 IDX file (images: count × rows × columns).</summary>
    public const uint ImagesMagic = 0x00000803;

    /// <summary>Largest element count accepted (the largest managed byte array).</summary>
    public static long MaxElements => Array.MaxLength;

    private const byte UnsignedByteType = 0x08;

    /// <summary>
    /// Reads an unsigned-byte IDX file of any rank 1..4. <paramref name="expectedMagic"/>, when given,
    /// must match exactly (use <see cref="LabelsMagic"/> or <see cref="ImagesMagic"/>).
    /// </summary>
    /// <param name="path">The file, raw or gzip-compressed.</param>
    /// <param name="expectedMagic">The magic the caller needs, or null to accept any unsigned-byte IDX.</param>
    /// <param name="computeSha256">Also hash the decompressed content (header and payload).</param>
    /// <exception cref="DatasetException">The file is missing, not IDX, of the wrong kind, truncated or too long.</exception>
    public static IdxArray Read(string path, uint? expectedMagic = null, bool computeSha256 = false)
    {
        FileStream file;
        try
        {
            file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new DatasetException($"{Path.GetFileName(path)}: cannot open ({e.Message})", e);
        }
        using (file)
        {
            var gz = IsGzip(file);
            try
            {
                if (gz)
                {
                    using var unzip = new GZipStream(file, CompressionMode.Decompress, leaveOpen: true);
                    return Read(unzip, path, expectedMagic, computeSha256, knownLength: null);
                }
                return Read(file, path, expectedMagic, computeSha256, knownLength: file.Length);
            }
            catch (InvalidDataException e)
            {
                throw new DatasetException($"{Path.GetFileName(path)}: corrupt gzip data ({e.Message})", e);
            }
        }
    }

    /// <summary>Reads an IDX labels file (magic 0x00000801): one byte per example.</summary>
    /// <exception cref="DatasetException">The file is not a valid labels file.</exception>
    public static IdxArray ReadLabels(string path, bool computeSha256 = false) => Read(path, LabelsMagic, computeSha256);

    /// <summary>Reads an IDX images file (magic 0x00000803): count × rows × columns bytes.</summary>
    /// <exception cref="DatasetException">The file is not a valid images file.</exception>
    public static IdxArray ReadImages(string path, bool computeSha256 = false) => Read(path, ImagesMagic, computeSha256);

    /// <summary>
    /// Reads an IDX array from <paramref name="stream"/> (already decompressed). <paramref name="name"/>
    /// is used in messages. Reads to the end of the stream to detect trailing bytes.
    /// </summary>
    /// <exception cref="DatasetException">The content is not a valid unsigned-byte IDX array.</exception>
    public static IdxArray Read(Stream stream, string name, uint? expectedMagic = null, bool computeSha256 = false)
        => Read(stream, name, expectedMagic, computeSha256, knownLength: null);

    private static bool IsGzip(FileStream file)
    {
        Span<byte> two = stackalloc byte[2];
        int n = file.ReadAtLeast(two, 2, throwOnEndOfStream: false);
        file.Position = 0;
        return n == 2 && two[0] == 0x1F && two[1] == 0x8B;
    }

    private static IdxArray Read(Stream s, string path, uint? expectedMagic, bool computeSha256, long? knownLength)
    {
        string file = Path.GetFileName(path);
        using var hash = computeSha256 ? IncrementalHash.CreateHash(HashAlgorithmName.SHA256) : null;

        Span<byte> magicBytes = stackalloc byte[4];
        int got = s.ReadAtLeast(magicBytes, 4, throwOnEndOfStream: false);
        if (got < 4)
            throw DatasetException.For(path, got == 0 ? "empty file; expected an IDX file" : $"truncated: {got} bytes, shorter than the 4-byte IDX magic");
        uint magic = (uint)(magicBytes[0] << 24 | magicBytes[1] << 16 | magicBytes[2] << 8 | magicBytes[3]);
        int rank = magicBytes[3];
        if (magicBytes[0] != 0 || magicBytes[1] != 0 || rank < 1 || rank > 4)
            throw DatasetException.For(path, $"not an IDX file: magic 0x{magic:X8}; expected {Describe(expectedMagic)}");
        if (magicBytes[2] != UnsignedByteType)
            throw DatasetException.For(path, $"IDX element type 0x{magicBytes[2]:X2} ({TypeName(magicBytes[2])}) is not supported; expected {Describe(expectedMagic)}");
        if (expectedMagic is uint want && magic != want)
            throw DatasetException.For(path, $"wrong IDX magic 0x{magic:X8} ({rank} dimension{(rank == 1 ? "" : "s")}); expected {Describe(expectedMagic)}");
        hash?.AppendData(magicBytes);

        Span<byte> dimBytes = stackalloc byte[4 * 4];
        dimBytes = dimBytes[..(4 * rank)];
        got = s.ReadAtLeast(dimBytes, dimBytes.Length, throwOnEndOfStream: false);
        if (got < dimBytes.Length)
            throw DatasetException.For(path, $"truncated: the header needs {4 + dimBytes.Length} bytes for {rank} dimension sizes, file has {4 + got}");
        hash?.AppendData(dimBytes);

        var raw = new uint[rank];
        for (int i = 0; i < rank; i++)
            raw[i] = (uint)(dimBytes[4 * i] << 24 | dimBytes[4 * i + 1] << 16 | dimBytes[4 * i + 2] << 8 | dimBytes[4 * i + 3]);
        var dims = new int[rank];
        long count = 1;
        for (int i = 0; i < rank; i++)
        {
            uint d = raw[i];
            if (d == 0 || d > int.MaxValue)
                throw DatasetException.For(path, $"bad header: dimension {i} has size {d} (header {string.Join("×", raw)}); sizes must be between 1 and {int.MaxValue}");
            dims[i] = (int)d;
            count *= d;
            if (count > MaxElements)
                throw DatasetException.For(path, $"bad header: dimensions {string.Join("×", raw)} exceed the limit of {MaxElements} elements");
        }
        string shape = string.Join("×", dims);
        string what = expectedMagic == LabelsMagic ? "labels" : expectedMagic == ImagesMagic ? "pixels" : "elements";
        int headerLength = 4 + 4 * rank;

        if (knownLength is long total && total - headerLength < count)
            throw DatasetException.For(path, $"truncated: header declares {shape} = {count} bytes of {what}, file has {total - headerLength}");

        // When the length is not known up front (gzip), grow the buffer with what actually arrives, so a
        // forged header cannot make us allocate gigabytes for a small file.
        int target = (int)count;
        var data = new byte[knownLength is null ? Math.Min(target, 1 << 22) : target];
        int filled = 0;
        while (filled < target)
        {
            if (filled == data.Length)
                Array.Resize(ref data, (int)Math.Min(target, 2L * data.Length));
            int n = s.Read(data, filled, data.Length - filled);
            if (n == 0)
                throw DatasetException.For(path, $"truncated: header declares {shape} = {count} bytes of {what}, file has {filled}");
            filled += n;
        }
        hash?.AppendData(data);

        long extra = CountRemaining(s);
        if (extra > 0)
            throw DatasetException.For(path, $"{extra} trailing byte{(extra == 1 ? "" : "s")} after the {shape} = {count} bytes of {what} the header declares");

        return new IdxArray(file, dims, data, hash is null ? null : Convert.ToHexStringLower(hash.GetHashAndReset()));
    }

    private static long CountRemaining(Stream s)
    {
        Span<byte> sink = stackalloc byte[4096];
        long extra = 0;
        int n;
        while ((n = s.Read(sink)) > 0) extra += n;
        return extra;
    }

    private static string Describe(uint? magic) => magic switch
    {
        LabelsMagic => "0x00000801 (IDX labels: unsigned bytes, 1 dimension)",
        ImagesMagic => "0x00000803 (IDX images: unsigned bytes, 3 dimensions)",
        uint m => $"0x{m:X8}",
        null => "0x000008RR (IDX of unsigned bytes with RR = 1..4 dimensions)",
    };

    private static string TypeName(byte type) => type switch
    {
        0x08 => "unsigned byte",
        0x09 => "signed byte",
        0x0B => "int16",
        0x0C => "int32",
        0x0D => "float32",
        0x0E => "float64",
        _ => "unknown",
    };
}
