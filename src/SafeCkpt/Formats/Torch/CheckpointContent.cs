using System.Globalization;
using System.Numerics;
using System.Text;
using SafeCkpt.Safety;

namespace SafeCkpt.Formats.Torch;

/// <summary>
/// Finds the state dict in an unpickled checkpoint the way the web UIs do and flattens it into named tensors; the
/// other values (epoch, global_step, versions) are rendered as short strings. All walks are iterative or depth-capped.
/// </summary>
internal static class CheckpointContent
{
    /// <summary>The deepest nesting of dicts flattened into tensor names.</summary>
    public const int MaxFlattenDepth = 32;

    private const int MaxRendered = 200;

    /// <summary>The result: tensors by name (in pickle order), the state dict's path, and the other values rendered.</summary>
    public sealed record Layout(List<(string Name, TensorRef Tensor)> Tensors, string? StateDictPath, Dictionary<string, string> Values);

    public static Layout Locate(object? root, string path)
    {
        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        (PyDict? stateDict, string? where) = FindStateDict(root);
        var tensors = new List<(string, TensorRef)>();
        if (stateDict is not null)
        {
            Flatten(stateDict, "", tensors, values, path);
            values.Clear();
            foreach (KeyValuePair<object, object?> kv in ((PyDict)root!).Items)
            {
                string key = KeyText(kv.Key);
                if (where is not null && (where == key || where.StartsWith(key + ".", StringComparison.Ordinal)))
                {
                    continue;
                }

                values[key] = Render(kv.Value);
            }
        }
        else
        {
            Flatten(root, "", tensors, values, path);
        }

        return new Layout(tensors, where, values);
    }

    /// <summary>
    /// <c>state_dict</c> at the top, or one or two levels down (<c>{"model": {"state_dict": ...}}</c>), or the single
    /// dict a top-level dict holds; null means the top level itself is flattened.
    /// </summary>
    private static (PyDict? Dict, string? Path) FindStateDict(object? root)
    {
        if (root is not PyDict top)
        {
            return (null, null);
        }

        if (Get(top, "state_dict") is PyDict sd)
        {
            return (sd, "state_dict");
        }

        foreach (KeyValuePair<object, object?> kv in top.Items)
        {
            if (kv.Value is PyDict inner)
            {
                if (Get(inner, "state_dict") is PyDict sd1)
                {
                    return (sd1, KeyText(kv.Key) + ".state_dict");
                }

                foreach (KeyValuePair<object, object?> kv2 in inner.Items)
                {
                    if (kv2.Value is PyDict inner2 && Get(inner2, "state_dict") is PyDict sd2)
                    {
                        return (sd2, KeyText(kv.Key) + "." + KeyText(kv2.Key) + ".state_dict");
                    }
                }
            }
        }

        if (top.Count == 1 && top.Items[0].Value is PyDict only && only.Items.Any(kv => kv.Value is TensorRef))
        {
            return (only, KeyText(top.Items[0].Key));
        }

        return (null, null);
    }

    private static object? Get(PyDict d, string key) => d.TryGetValue(key, out object? v) ? v : null;

    /// <summary>Depth-first, in order, with an explicit stack: tensors get '.'-joined names, other leaves go to values.</summary>
    private static void Flatten(object? root, string rootName, List<(string, TensorRef)> tensors, Dictionary<string, string> values, string path)
    {
        var names = new HashSet<string>(StringComparer.Ordinal);
        // A null prefix is the root itself; an empty one is a real key "" (legal in a state dict).
        var stack = new Stack<(string? Prefix, object? Value, int Depth)>();
        stack.Push((rootName.Length == 0 ? null : rootName, root, 0));
        while (stack.Count > 0)
        {
            (string? prefix, object? value, int depth) = stack.Pop();
            List<KeyValuePair<string, object?>>? children = value switch
            {
                PyDict d => d.Items.Select(kv => new KeyValuePair<string, object?>(KeyText(kv.Key), kv.Value)).ToList(),
                PyObject { Type.Kind: GlobalKind.ParameterDict, State: PyDict st } when Get(st, "_parameters") is PyDict ps =>
                    ps.Items.Select(kv => new KeyValuePair<string, object?>(KeyText(kv.Key), kv.Value)).ToList(),
                _ => null,
            };
            if (children is null)
            {
                if (value is TensorRef t)
                {
                    string name = prefix ?? "tensor";
                    if (!names.Add(name))
                    {
                        throw new InvalidCheckpointException(SafeCkptErrorCode.DuplicateKey, path, $"{path}: two tensors get the name '{name}' when nested dicts are joined with '.'.") { TensorName = name };
                    }

                    tensors.Add((name, t));
                }
                else if (prefix is not null)
                {
                    values[prefix] = Render(value);
                }

                continue;
            }

            if (depth >= MaxFlattenDepth)
            {
                values[prefix ?? string.Empty] = "(nested too deep)";
                continue;
            }

            for (int i = children.Count - 1; i >= 0; i--)
            {
                string key = prefix is null ? children[i].Key : prefix + "." + children[i].Key;
                stack.Push((key, children[i].Value, depth + 1));
            }
        }
    }

    private static string KeyText(object key) => key switch
    {
        string s => s,
        _ => Render(key),
    };

    /// <summary>A short Python-like rendering (depth 3, 8 items per container, 200 characters).</summary>
    public static string Render(object? value)
    {
        var sb = new StringBuilder();
        Append(sb, value, 0);
        return sb.Length > MaxRendered ? sb.ToString(0, MaxRendered - 3) + "..." : sb.ToString();
    }

    private static void Append(StringBuilder sb, object? v, int depth)
    {
        if (sb.Length > MaxRendered)
        {
            return;
        }

        switch (v)
        {
            case null:
                sb.Append("None");
                return;
            case bool b:
                sb.Append(b ? "True" : "False");
                return;
            case string s:
                sb.Append(depth == 0 ? s : "'" + s + "'");
                return;
            case long or BigInteger:
                sb.Append(((IFormattable)v).ToString(null, CultureInfo.InvariantCulture));
                return;
            case double d:
                sb.Append(d.ToString("R", CultureInfo.InvariantCulture));
                return;
            case byte[] bytes:
                sb.Append(CultureInfo.InvariantCulture, $"<{bytes.Length} bytes>");
                return;
            case TensorRef t:
                sb.Append(CultureInfo.InvariantCulture, $"tensor({t.DType}, [{string.Join(", ", t.Size)}])");
                return;
            case PyGlobal g:
                sb.Append(g.FullName);
                return;
        }

        if (depth >= 3)
        {
            sb.Append("...");
            return;
        }

        switch (v)
        {
            case PyDict d:
                sb.Append('{');
                AppendItems(sb, d.Items, depth, kv =>
                {
                    Append(sb, kv.Key, depth + 1);
                    sb.Append(": ");
                    Append(sb, kv.Value, depth + 1);
                });
                sb.Append('}');
                break;
            case PyList l:
                sb.Append('[');
                AppendItems(sb, l.Items, depth, x => Append(sb, x, depth + 1));
                sb.Append(']');
                break;
            case PyTuple t:
                sb.Append('(');
                AppendItems(sb, t.Items, depth, x => Append(sb, x, depth + 1));
                sb.Append(')');
                break;
            case PySet s:
                sb.Append(s.Items.Count == 0 ? "set()" : "{");
                if (s.Items.Count > 0)
                {
                    AppendItems(sb, s.Items.ToList(), depth, x => Append(sb, x, depth + 1));
                    sb.Append('}');
                }

                break;
            case PyObject o:
                sb.Append(o.Type.FullName).Append("(...)");
                break;
            default:
                sb.Append(v);
                break;
        }
    }

    private static void AppendItems<T>(StringBuilder sb, IReadOnlyList<T> items, int depth, Action<T> one)
    {
        _ = depth;
        for (int i = 0; i < items.Count && i < 8; i++)
        {
            if (i > 0)
            {
                sb.Append(", ");
            }

            one(items[i]);
        }

        if (items.Count > 8)
        {
            sb.Append(CultureInfo.InvariantCulture, $", ... ({items.Count} items)");
        }
    }
}
