using System.Collections;
using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace SafeCkpt.Models;

/// <summary>An ordered YAML mapping for <see cref="YamlWriter"/>; values are strings, numbers, bools, null, lists or maps.</summary>
internal sealed class YamlMap : IEnumerable<KeyValuePair<string, object?>>
{
    private readonly List<KeyValuePair<string, object?>> _entries = [];

    public int Count => _entries.Count;

    public void Add(string key, object? value) => _entries.Add(new(key, value));

    /// <summary>Sets a key, replacing its value in place or appending it.</summary>
    public void Set(string key, object? value)
    {
        int i = _entries.FindIndex(e => e.Key == key);
        if (i >= 0)
        {
            _entries[i] = new(key, value);
        }
        else
        {
            _entries.Add(new(key, value));
        }
    }

    public object? this[string key] => _entries.First(e => e.Key == key).Value;

    public IEnumerator<KeyValuePair<string, object?>> GetEnumerator() => _entries.GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();
}

/// <summary>
/// Writes a <see cref="YamlMap"/> as block YAML with two-space indentation: nested maps as blocks, lists of
/// scalars in flow style (<c>[1, 2, 4]</c>), lists of maps as <c>- key: value</c> blocks. Strings are plain when
/// YAML would read them back as the same string, else double-quoted; floats always carry a decimal point so
/// YAML 1.1 loaders (PyYAML, OmegaConf) read them as floats.
/// </summary>
internal static partial class YamlWriter
{
    public static string Write(YamlMap map, IEnumerable<string> comments)
    {
        var sb = new StringBuilder();
        foreach (string c in comments)
        {
            sb.Append("# ").Append(c.ReplaceLineEndings(" ")).Append('\n');
        }

        WriteMap(sb, map, 0, firstInline: false);
        return sb.ToString();
    }

    private static void WriteMap(StringBuilder sb, YamlMap map, int indent, bool firstInline)
    {
        bool first = true;
        foreach ((string key, object? value) in map)
        {
            if (!(first && firstInline))
            {
                sb.Append(' ', indent);
            }

            first = false;
            sb.Append(Scalar(key)).Append(':');
            switch (value)
            {
                case YamlMap { Count: 0 }:
                    sb.Append(" {}\n");
                    break;
                case YamlMap m:
                    sb.Append('\n');
                    WriteMap(sb, m, indent + 2, firstInline: false);
                    break;
                case IList list when list.Cast<object?>().Any(x => x is YamlMap):
                    sb.Append('\n');
                    foreach (YamlMap item in list)
                    {
                        sb.Append(' ', indent + 2).Append("- ");
                        WriteMap(sb, item, indent + 4, firstInline: true);
                    }

                    break;
                case IList list:
                    sb.Append(" [").Append(string.Join(", ", list.Cast<object?>().Select(Scalar))).Append("]\n");
                    break;
                default:
                    sb.Append(' ').Append(Scalar(value)).Append('\n');
                    break;
            }
        }
    }

    internal static string Scalar(object? value) => value switch
    {
        null => "null",
        bool b => b ? "true" : "false",
        int or long => Convert.ToString(value, CultureInfo.InvariantCulture)!,
        double d => Float(d),
        string s => PlainSafe().IsMatch(s) && !Reserved().IsMatch(s) ? s : Quote(s),
        _ => Quote(Convert.ToString(value, CultureInfo.InvariantCulture) ?? string.Empty),
    };

    private static string Float(double d)
    {
        string s = d.ToString("0.0###############", CultureInfo.InvariantCulture);
        return s;
    }

    private static string Quote(string s)
    {
        var sb = new StringBuilder("\"");
        foreach (char c in s)
        {
            sb.Append(c switch
            {
                '"' => "\\\"",
                '\\' => "\\\\",
                '\n' => "\\n",
                '\t' => "\\t",
                < ' ' => $"\\x{(int)c:x2}",
                _ => c.ToString(),
            });
        }

        return sb.Append('"').ToString();
    }

    [GeneratedRegex("^[A-Za-z_][A-Za-z0-9_./\\-]*$")]
    private static partial Regex PlainSafe();

    [GeneratedRegex("^(true|false|yes|no|on|off|null|y|n)$", RegexOptions.IgnoreCase)]
    private static partial Regex Reserved();
}
