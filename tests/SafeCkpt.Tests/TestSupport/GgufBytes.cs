using System.Text;

namespace SafeCkpt.Tests.TestSupport;

/// <summary>
/// Hand-made GGUF bytes, field by field as the spec lays them out (not with SafeCkpt's reader): any count, type,
/// offset or length can be set to a wrong value. <see cref="Build"/> pads to the alignment and appends the data.
/// </summary>
public sealed class GgufBytes
{
    private readonly List<byte> _kv = [];
    private readonly List<byte> _infos = [];
    private long _kvCount;
    private long _tensorCount;

    public uint Version { get; set; } = 3;

    public ulong? TensorCountOverride { get; set; }

    public ulong? KvCountOverride { get; set; }

    public uint Alignment { get; set; } = 32;

    public byte[] Data { get; set; } = [];

    public static byte[] Str(string s) => [.. BitConverter.GetBytes((ulong)Encoding.UTF8.GetByteCount(s)), .. Encoding.UTF8.GetBytes(s)];

    /// <summary>A KV pair with raw value bytes after the type.</summary>
    public GgufBytes Kv(string key, uint type, byte[] value)
    {
        _kv.AddRange(Str(key));
        _kv.AddRange(BitConverter.GetBytes(type));
        _kv.AddRange(value);
        _kvCount++;
        return this;
    }

    public GgufBytes KvString(string key, string value) => Kv(key, 8, Str(value));

    public GgufBytes KvU32(string key, uint value) => Kv(key, 4, BitConverter.GetBytes(value));

    public GgufBytes KvI32Array(string key, params int[] values) =>
        Kv(key, 9, [.. BitConverter.GetBytes(5u), .. BitConverter.GetBytes((ulong)values.Length), .. values.SelectMany(BitConverter.GetBytes)]);

    /// <summary>A tensor info: dims innermost first, ggml type id, data offset.</summary>
    public GgufBytes Tensor(string name, uint type, ulong offset, params long[] ne)
    {
        _infos.AddRange(Str(name));
        _infos.AddRange(BitConverter.GetBytes((uint)ne.Length));
        foreach (long d in ne)
        {
            _infos.AddRange(BitConverter.GetBytes(d));
        }

        _infos.AddRange(BitConverter.GetBytes(type));
        _infos.AddRange(BitConverter.GetBytes(offset));
        _tensorCount++;
        return this;
    }

    public byte[] Build()
    {
        var o = new MemoryStream();
        o.Write("GGUF"u8);
        o.Write(BitConverter.GetBytes(Version));
        o.Write(BitConverter.GetBytes(TensorCountOverride ?? (ulong)_tensorCount));
        o.Write(BitConverter.GetBytes(KvCountOverride ?? (ulong)_kvCount));
        o.Write(_kv.ToArray());
        o.Write(_infos.ToArray());
        while (o.Length % Alignment != 0)
        {
            o.WriteByte(0);
        }

        o.Write(Data);
        return o.ToArray();
    }
}
