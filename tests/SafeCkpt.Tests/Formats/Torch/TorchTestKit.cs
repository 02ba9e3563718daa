using System.Buffers.Binary;
using System.Globalization;
using System.Numerics;
using System.Text;
using System.Text.Json;
using SafeCkpt.Safety;

namespace SafeCkpt.Tests.Formats.Torch;

/// <summary>Fixture paths and the manifest written by make_fixtures.py.</summary>
internal static class TorchFixtures
{
    public static string Root { get; } = Path.Combine(AppContext.BaseDirectory, "Fixtures");

    public static string PathOf(string relative) => Path.Combine(Root, relative);

    private static readonly Lazy<JsonDocument> ManifestDoc = new(() => JsonDocument.Parse(File.ReadAllBytes(PathOf("manifest.json"))));

    public static JsonElement Manifest(string relative) => ManifestDoc.Value.RootElement.GetProperty("fixtures").GetProperty(relative);

    public static IEnumerable<(string File, JsonElement Entry)> OfKind(string kind) =>
        ManifestDoc.Value.RootElement.GetProperty("fixtures").EnumerateObject()
            .Where(p => p.Value.TryGetProperty("kind", out JsonElement k) && k.GetString() == kind)
            .Select(p => (p.Name, p.Value));
}

/// <summary>A small protocol-2 pickle writer for tests: ints, floats, strings, bools, None, lists, tuples, dicts, globals.</summary>
internal sealed class PickleWriter
{
    private readonly List<byte> _b = [0x80, 0x02];
    private int _memo;

    public static byte[] Dump(object? value, bool memoize = true)
    {
        var w = new PickleWriter();
        w.Write(value, memoize);
        w._b.Add((byte)'.');
        return [.. w._b];
    }

    public static byte[] Raw(params object[] parts)
    {
        var b = new List<byte>();
        foreach (object p in parts)
        {
            switch (p)
            {
                case byte x:
                    b.Add(x);
                    break;
                case int x:
                    b.Add((byte)x);
                    break;
                case char c:
                    b.Add((byte)c);
                    break;
                case string s:
                    b.AddRange(Encoding.Latin1.GetBytes(s));
                    break;
                case byte[] bytes:
                    b.AddRange(bytes);
                    break;
            }
        }

        return [.. b];
    }

    private void Write(object? v, bool memoize)
    {
        switch (v)
        {
            case null:
                _b.Add((byte)'N');
                break;
            case bool x:
                _b.Add(x ? (byte)0x88 : (byte)0x89);
                break;
            case long x when x is >= int.MinValue and <= int.MaxValue:
                _b.Add((byte)'J');
                _b.AddRange(BitConverter.GetBytes((int)x));
                break;
            case long x:
                _b.Add(0x8a);
                _b.Add(8);
                _b.AddRange(BitConverter.GetBytes(x));
                break;
            case double x:
                _b.Add((byte)'G');
                var d = new byte[8];
                BinaryPrimitives.WriteDoubleBigEndian(d, x);
                _b.AddRange(d);
                break;
            case string s:
                byte[] u = Encoding.UTF8.GetBytes(s);
                _b.Add((byte)'X');
                _b.AddRange(BitConverter.GetBytes(u.Length));
                _b.AddRange(u);
                break;
            case List<object?> list:
                _b.Add((byte)']');
                Memo(memoize);
                if (list.Count > 0)
                {
                    _b.Add((byte)'(');
                    foreach (object? x in list)
                    {
                        Write(x, memoize);
                    }

                    _b.Add((byte)'e');
                }

                break;
            case object?[] tuple:
                _b.Add((byte)'(');
                foreach (object? x in tuple)
                {
                    Write(x, memoize);
                }

                _b.Add((byte)'t');
                break;
            case List<KeyValuePair<string, object?>> dict:
                _b.Add((byte)'}');
                Memo(memoize);
                if (dict.Count > 0)
                {
                    _b.Add((byte)'(');
                    foreach (var kv in dict)
                    {
                        Write(kv.Key, memoize);
                        Write(kv.Value, memoize);
                    }

                    _b.Add((byte)'u');
                }

                break;
            default:
                throw new ArgumentException($"cannot pickle {v.GetType()}");
        }
    }

    private void Memo(bool memoize)
    {
        if (memoize && _memo < 256)
        {
            _b.Add((byte)'q');
            _b.Add((byte)_memo++);
        }
    }

    /// <summary>A canonical text for a test model value (the writer's input).</summary>
    public static string Canon(object? v) => v switch
    {
        null => "None",
        bool b => b ? "True" : "False",
        long l => l.ToString(CultureInfo.InvariantCulture),
        BigInteger bi => bi.ToString(CultureInfo.InvariantCulture),
        double d => BitConverter.DoubleToInt64Bits(d).ToString(CultureInfo.InvariantCulture) + "d",
        string s => "'" + s + "'",
        List<object?> l => "[" + string.Join(",", l.Select(Canon)) + "]",
        object?[] t => "(" + string.Join(",", t.Select(Canon)) + ")",
        List<KeyValuePair<string, object?>> d => "{" + string.Join(",", d.GroupBy(kv => kv.Key).Select(g => Canon(g.Key) + ":" + Canon(g.Last().Value))) + "}",
        PyList l => "[" + string.Join(",", l.Items.Select(Canon)) + "]",
        PyTuple t => "(" + string.Join(",", t.Items.Select(Canon)) + ")",
        PyDict d => "{" + string.Join(",", d.Items.Select(kv => Canon(kv.Key) + ":" + Canon(kv.Value))) + "}",
        _ => "?" + v.GetType().Name,
    };
}

/// <summary>Builds stored zip archives byte by byte, with optional ZIP64 extras, for zip-parser tests.</summary>
internal sealed class ZipBuilder
{
    private readonly List<(string Name, byte[] Data, bool Zip64, string? LocalName)> _entries = [];

    public ZipBuilder Add(string name, byte[] data, bool zip64 = false, string? localName = null)
    {
        _entries.Add((name, data, zip64, localName));
        return this;
    }

    public ZipBuilder Add(string name, string text) => Add(name, Encoding.ASCII.GetBytes(text));

    public byte[] Build()
    {
        var o = new MemoryStream();
        var central = new MemoryStream();
        foreach (var (name, data, zip64, localName) in _entries)
        {
            long lho = o.Position;
            byte[] ln = Encoding.UTF8.GetBytes(localName ?? name);
            W32(o, 0x04034b50);
            W16(o, 20);
            W16(o, 0);
            W16(o, 0);
            W16(o, 0);
            W16(o, 0);
            W32(o, 0);
            W32(o, (uint)data.Length);
            W32(o, (uint)data.Length);
            W16(o, (ushort)ln.Length);
            W16(o, 0);
            o.Write(ln);
            o.Write(data);

            byte[] n = Encoding.UTF8.GetBytes(name);
            W32(central, 0x02014b50);
            W16(central, 45);
            W16(central, 45);
            W16(central, 0);
            W16(central, 0);
            W16(central, 0);
            W16(central, 0);
            W32(central, 0);
            W32(central, zip64 ? 0xFFFFFFFF : (uint)data.Length);
            W32(central, zip64 ? 0xFFFFFFFF : (uint)data.Length);
            W16(central, (ushort)n.Length);
            W16(central, (ushort)(zip64 ? 28 : 0));
            W16(central, 0);
            W16(central, 0);
            W16(central, 0);
            W32(central, 0);
            W32(central, zip64 ? 0xFFFFFFFF : (uint)lho);
            central.Write(n);
            if (zip64)
            {
                W16(central, 1);
                W16(central, 24);
                W64(central, (ulong)data.Length);
                W64(central, (ulong)data.Length);
                W64(central, (ulong)lho);
            }
        }

        long cdOffset = o.Position;
        central.Position = 0;
        central.CopyTo(o);
        long cdSize = o.Position - cdOffset;
        W32(o, 0x06054b50);
        W16(o, 0);
        W16(o, 0);
        W16(o, (ushort)_entries.Count);
        W16(o, (ushort)_entries.Count);
        W32(o, (uint)cdSize);
        W32(o, (uint)cdOffset);
        W16(o, 0);
        return o.ToArray();
    }

    private static void W16(Stream s, ushort v) => s.Write(BitConverter.GetBytes(v));

    private static void W32(Stream s, uint v) => s.Write(BitConverter.GetBytes(v));

    private static void W64(Stream s, ulong v) => s.Write(BitConverter.GetBytes(v));
}
