using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace SlimNet.Training.Checkpoints;

/// <summary>A named float32 tensor held in managed memory (row-major).</summary>
public sealed record NamedArray(string Name, long[] Shape, float[] Data);

/// <summary>
/// A training checkpoint: the model (by zoo name), its parameters and buffers, the optimizer state, extra state
/// of compression methods (masks, importances), and a JSON header with the run's options and progress.
/// File layout (little-endian): magic <c>SLIMCKPT</c>, u32 version = 1, u32 header length, UTF-8 JSON header,
/// u32 section count, then per section (model, optimizer, extra) u32 tensor count and per tensor: u16 name length,
/// UTF-8 name, u8 rank, i64 dims, float32 data; finally the SHA-256 of every preceding byte.
/// </summary>
public sealed class Checkpoint
{
    private static readonly byte[] Magic = "SLIMCKPT"u8.ToArray();
    private const uint Version = 1;
    private const int MaxRank = 8;

    /// <summary>Zoo name of the model.</summary>
    public required string ModelName { get; init; }
    /// <summary>Free-form header (options, epoch, step, metrics) as JSON.</summary>
    public required JsonObject Header { get; init; }
    /// <summary>Model parameters and float buffers by name.</summary>
    public required IReadOnlyList<NamedArray> Model { get; init; }
    /// <summary>Optimizer state; names are <c>{parameter}/{key}</c>.</summary>
    public IReadOnlyList<NamedArray> Optimizer { get; init; } = Array.Empty<NamedArray>();
    /// <summary>State of compression methods; names are chosen by each method.</summary>
    public IReadOnlyList<NamedArray> Extra { get; init; } = Array.Empty<NamedArray>();

    /// <summary>Writes the checkpoint atomically: a temporary file in the same folder, then a rename.</summary>
    public void Save(string path)
    {
        var full = Path.GetFullPath(path);
        var dir = Path.GetDirectoryName(full)!;
        if (!Directory.Exists(dir)) throw new CheckpointException($"{path}: folder '{dir}' does not exist");
        try
        {
            SlimNet.Format.AtomicFile.WriteAllBytes(full, ToBytes());
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new CheckpointException($"{path}: cannot write checkpoint: {e.Message}");
        }
    }

    /// <summary>The checkpoint as bytes (deterministic for equal contents).</summary>
    public byte[] ToBytes()
    {
        var header = new JsonObject { ["model"] = ModelName, ["header"] = JsonNode.Parse(Header.ToJsonString()) };
        var headerBytes = Encoding.UTF8.GetBytes(header.ToJsonString());
        using var ms = new MemoryStream();
        using var w = new BinaryWriter(ms);
        w.Write(Magic);
        w.Write(Version);
        w.Write((uint)headerBytes.Length);
        w.Write(headerBytes);
        w.Write(3u);
        foreach (var section in new[] { Model, Optimizer, Extra })
        {
            w.Write((uint)section.Count);
            foreach (var t in section)
            {
                var name = Encoding.UTF8.GetBytes(t.Name);
                if (name.Length > ushort.MaxValue) throw new ArgumentException($"tensor name too long: {t.Name}");
                w.Write((ushort)name.Length);
                w.Write(name);
                w.Write((byte)t.Shape.Length);
                foreach (var d in t.Shape) w.Write(d);
                long count = t.Shape.Aggregate(1L, (a, b) => a * b);
                if (count != t.Data.Length) throw new ArgumentException($"tensor '{t.Name}': shape holds {count} values, data has {t.Data.Length}");
                var span = System.Runtime.InteropServices.MemoryMarshal.AsBytes(t.Data.AsSpan());
                if (!BitConverter.IsLittleEndian) throw new PlatformNotSupportedException("big-endian hosts are not supported");
                w.Write(span);
            }
        }
        w.Flush();
        var body = ms.ToArray();
        var hash = SHA256.HashData(body);
        var result = new byte[body.Length + hash.Length];
        body.CopyTo(result, 0);
        hash.CopyTo(result, body.Length);
        return result;
    }

    /// <summary>Reads and validates a checkpoint file.</summary>
    /// <exception cref="CheckpointException">Missing, truncated, corrupt or not a checkpoint (the message names the file and the problem).</exception>
    public static Checkpoint Load(string path)
    {
        byte[] bytes;
        try { bytes = File.ReadAllBytes(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { throw new CheckpointException($"{path}: cannot read checkpoint: {e.Message}"); }
        return Parse(bytes, path);
    }

    /// <summary>Parses checkpoint bytes; <paramref name="source"/> names them in error messages.</summary>
    public static Checkpoint Parse(ReadOnlySpan<byte> bytes, string source)
    {
        if (bytes.Length < Magic.Length + 12 + 32 || !bytes[..Magic.Length].SequenceEqual(Magic))
            throw new CheckpointException($"{source}: not a SlimNet checkpoint (bad magic or too short)");
        var body = bytes[..^32];
        if (!SHA256.HashData(body).AsSpan().SequenceEqual(bytes[^32..]))
            throw new CheckpointException($"{source}: checkpoint is corrupt or truncated (checksum mismatch)");
        int pos = Magic.Length;
        uint version = U32(body, ref pos, source);
        if (version != Version) throw new CheckpointException($"{source}: checkpoint version {version} is not supported (expected {Version})");
        int headerLen = checked((int)U32(body, ref pos, source));
        Need(body, pos, headerLen, source);
        JsonObject header;
        try { header = JsonNode.Parse(body.Slice(pos, headerLen))!.AsObject(); }
        catch (JsonException e) { throw new CheckpointException($"{source}: checkpoint header is not valid JSON: {e.Message}"); }
        pos += headerLen;
        uint sections = U32(body, ref pos, source);
        if (sections != 3) throw new CheckpointException($"{source}: expected 3 sections, found {sections}");
        var lists = new List<NamedArray>[3];
        for (int s = 0; s < 3; s++)
        {
            uint count = U32(body, ref pos, source);
            if (count > body.Length) throw new CheckpointException($"{source}: section {s} declares {count} tensors");
            var list = new List<NamedArray>((int)count);
            for (uint k = 0; k < count; k++)
            {
                Need(body, pos, 2, source);
                int nameLen = BinaryPrimitives.ReadUInt16LittleEndian(body[pos..]); pos += 2;
                Need(body, pos, nameLen + 1, source);
                string name = Encoding.UTF8.GetString(body.Slice(pos, nameLen)); pos += nameLen;
                int rank = body[pos++];
                if (rank > MaxRank) throw new CheckpointException($"{source}: tensor '{name}' has rank {rank}");
                Need(body, pos, rank * 8, source);
                var shape = new long[rank];
                long n = 1;
                for (int r = 0; r < rank; r++)
                {
                    shape[r] = BinaryPrimitives.ReadInt64LittleEndian(body[pos..]); pos += 8;
                    if (shape[r] < 0 || shape[r] > body.Length) throw new CheckpointException($"{source}: tensor '{name}' has a bad dimension {shape[r]}");
                    n *= shape[r];
                    if (n * 4 > body.Length) throw new CheckpointException($"{source}: tensor '{name}' is larger than the file");
                }
                Need(body, pos, checked((int)(n * 4)), source);
                var data = new float[n];
                body.Slice(pos, (int)(n * 4)).CopyTo(System.Runtime.InteropServices.MemoryMarshal.AsBytes(data.AsSpan()));
                pos += (int)(n * 4);
                list.Add(new NamedArray(name, shape, data));
            }
            lists[s] = list;
        }
        if (pos != body.Length) throw new CheckpointException($"{source}: {body.Length - pos} unexpected bytes after the last section");
        var model = header["model"]?.GetValue<string>() ?? throw new CheckpointException($"{source}: header has no model name");
        var inner = header["header"] as JsonObject ?? new JsonObject();
        return new Checkpoint { ModelName = model, Header = (JsonObject)JsonNode.Parse(inner.ToJsonString())!, Model = lists[0], Optimizer = lists[1], Extra = lists[2] };
    }

    private static uint U32(ReadOnlySpan<byte> b, ref int pos, string source)
    {
        Need(b, pos, 4, source);
        uint v = BinaryPrimitives.ReadUInt32LittleEndian(b[pos..]);
        pos += 4;
        return v;
    }

    private static void Need(ReadOnlySpan<byte> b, int pos, int count, string source)
    {
        if (count < 0 || pos > b.Length - count) throw new CheckpointException($"{source}: checkpoint is truncated");
    }
}

/// <summary>A checkpoint file is missing, unreadable, corrupt or does not fit the model.</summary>
public sealed class CheckpointException(string message) : Exception(message);
