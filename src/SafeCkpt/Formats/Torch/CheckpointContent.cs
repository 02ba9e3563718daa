using System.Globalization;
using System.Numerics;
using System.Text;
using SafeCkpt.Safety;

namespace SafeCkpt.Formats.Torch;

/// <summary>
/// Finds the state dict in an unpickled checkpoint the way the web UIs do and flattens it into named tensors; the
/// other values (epoch, global_step, versions) are rendered as short strings. Every tensor reachable from the root is
/// named by its path (dict keys, list and tuple indexes, ParameterDict names), or the file is refused: none is
/// dropped silently. Shared containers (one dict reached through two paths, as a crafted pickle can nest 2^24 paths
/// in a kilobyte) are walked once and reported as aliases. Walks are iterative, and names are bounded.
/// </summary>
internal static class CheckpointContent
{
    /// <summary>The longest tensor or value name (state-dict keys are well under 300 characters).</summary>
    public const int MaxNameLength = 4096;

    /// <summary>The most characters of all names together.</summary>
    public const long MaxTotalNameChars = 64L << 20;

    /// <summary>The most non-tensor values kept (rendered) from one checkpoint.</summary>
    public const int MaxValues = 10_000;

    private const int MaxRendered = 200;

    /// <summary>The result: tensors by name (in pickle order), the state dict's path, the other values rendered, and the pickle's tree.</summary>
    public sealed record Layout(List<(string Name, TensorRef Tensor)> Tensors, string? StateDictPath, Dictionary<string, string> Values, PickleLayout Structure);

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

        PickleLayout structure = PickleLayout.Read(root, stateDict, tensors.Select(t => t.Item1).ToHashSet(StringComparer.Ordinal));
        return new Layout(tensors, where, values, structure);
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

    /// <summary>
    /// Depth-first, in order, with an explicit stack: tensors get '.'-joined names, other leaves go to values. A
    /// container reached a second time is not walked again; its path is recorded as an alias of the first.
    /// </summary>
    private static void Flatten(object? root, string rootName, List<(string, TensorRef)> tensors, Dictionary<string, string> values, string path)
    {
        var names = new HashSet<string>(StringComparer.Ordinal);
        var visited = new Dictionary<object, string>(ReferenceEqualityComparer.Instance);
        long nameChars = 0;

        // A null prefix is the root itself; an empty one is a real key "" (legal in a state dict).
        var stack = new Stack<(string? Prefix, object? Value)>();
        stack.Push((rootName.Length == 0 ? null : rootName, root));
        while (stack.Count > 0)
        {
            (string? prefix, object? value) = stack.Pop();
            if (prefix is not null)
            {
                nameChars += prefix.Length;
                if (prefix.Length > MaxNameLength || nameChars > MaxTotalNameChars)
                {
                    throw new InvalidCheckpointException(SafeCkptErrorCode.ResourceLimitExceeded, path, $"{path}: refused: the checkpoint's nested keys make names longer than {MaxNameLength:N0} characters (or {MaxTotalNameChars:N0} in all), at '{Short(prefix)}'. Real state-dict keys are a few hundred characters; this file is crafted.") { TensorName = Short(prefix) };
                }
            }

            List<KeyValuePair<string, object?>>? children = Children(value);
            if (children is null)
            {
                if (value is TensorRef t)
                {
                    string name = prefix ?? "tensor";
                    if (!names.Add(name))
                    {
                        throw new InvalidCheckpointException(SafeCkptErrorCode.DuplicateKey, path, $"{path}: two tensors get the name '{name}' when nested keys are joined with '.'.") { TensorName = name };
                    }

                    tensors.Add((name, t));
                }
                else
                {
                    RefuseHiddenTensor(value, prefix, path);
                    if (prefix is not null)
                    {
                        AddValue(values, prefix, Render(value));
                    }
                }

                continue;
            }

            if (value is PyDict { Attributes: { } attributes })
            {
                RefuseHiddenTensor(attributes, prefix, path);
            }

            if (visited.TryGetValue(value!, out string? first))
            {
                AddValue(values, prefix ?? string.Empty, $"(the same object as {(first.Length == 0 ? "the top level" : "'" + first + "'")})");
                continue;
            }

            visited.Add(value!, prefix ?? string.Empty);
            for (int i = children.Count - 1; i >= 0; i--)
            {
                string key = prefix is null ? children[i].Key : prefix + "." + children[i].Key;
                stack.Push((key, children[i].Value));
            }
        }
    }

    /// <summary>
    /// The named children of a container that can hold tensors: dicts by key, ParameterDicts by parameter name, lists
    /// and tuples by index when they hold a tensor or a container (a list of plain numbers stays one value). Null for
    /// a leaf. A tensor anywhere else (inside an object's state) is refused rather than dropped.
    /// </summary>
    private static List<KeyValuePair<string, object?>>? Children(object? value)
    {
        switch (value)
        {
            case PyDict d:
                return d.Items.Select(kv => new KeyValuePair<string, object?>(KeyText(kv.Key), kv.Value)).ToList();
            case PyObject { Type.Kind: GlobalKind.ParameterDict, State: PyDict st } when Get(st, "_parameters") is PyDict ps:
                return ps.Items.Select(kv => new KeyValuePair<string, object?>(KeyText(kv.Key), kv.Value)).ToList();
            case PyList l when l.Items.Any(IsStructured):
                return l.Items.Select((x, i) => new KeyValuePair<string, object?>(i.ToString(CultureInfo.InvariantCulture), x)).ToList();
            case PyTuple t when t.Items.Any(IsStructured):
                return t.Items.Select((x, i) => new KeyValuePair<string, object?>(i.ToString(CultureInfo.InvariantCulture), x)).ToList();
            default:
                return null;
        }
    }

    private static bool IsStructured(object? v) => v is TensorRef or PyDict or PyList or PyTuple or PyObject;

    /// <summary>A tensor inside an object's state or a dict's attributes would be dropped by the flattening: refuse instead.</summary>
    private static void RefuseHiddenTensor(object? value, string? prefix, string path)
    {
        if (value is not (PyObject or NumpyArrayValue or PyDict or PyList or PyTuple))
        {
            return;
        }

        var seen = new HashSet<object>(ReferenceEqualityComparer.Instance);
        var pending = new Stack<object?>();
        pending.Push(value);
        while (pending.Count > 0)
        {
            object? v = pending.Pop();
            if (v is null || v is string || !seen.Add(v))
            {
                continue;
            }

            IEnumerable<object?> inner = v switch
            {
                TensorRef => throw new InvalidCheckpointException(SafeCkptErrorCode.UnsupportedConstruct, path, $"{path}: not supported: a tensor inside a {PickleMachine.TypeName(value)} at '{prefix ?? "(top level)"}'; SafeCkpt reads tensors held in dicts, lists and tuples only, and does not drop any silently.") { TensorName = prefix },
                PyDict d => d.Items.Select(kv => kv.Value).Append(d.Attributes),
                PyList l => l.Items,
                PyTuple t => t.Items,
                PyObject o => [o.State],
                NumpyArrayValue a => [a.State],
                _ => [],
            };
            foreach (object? x in inner)
            {
                pending.Push(x);
            }
        }
    }

    private static void AddValue(Dictionary<string, string> values, string key, string rendered)
    {
        if (values.Count < MaxValues)
        {
            values[key] = rendered;
        }
    }

    private static string Short(string s) => s.Length > 80 ? s[..80] + "..." : s;

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
