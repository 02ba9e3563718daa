using System.Globalization;
using System.Numerics;
using SafeCkpt.Safety;

namespace SafeCkpt.Formats.Torch;

/// <summary>
/// Where a checkpoint's tensors sat in its pickle, as inert data: the dict/list/tuple tree from the root, each tensor
/// as a <see cref="TensorSlot"/> carrying its name in the <see cref="Tensors.TensorStore"/>, each other leaf as a
/// typed value (None, bool, int, float, str, bytes). Anything else (a class, a numpy object, a set, a container
/// reached twice) is an <see cref="OpaqueValue"/>: described, never re-emitted. The ckpt writer re-emits this tree
/// with the planned tensors in their slots, so a <c>.pt</c> keeps its shape through a conversion.
/// </summary>
internal sealed class PickleLayout
{
    /// <summary>The most leaves recorded one by one; past it, every further non-tensor leaf is one shared opaque value (no allocation).</summary>
    public const int MaxNodes = 2_000_000;

    private static readonly OpaqueValue TooMany = new("a value past the layout's limit of " + MaxNodes.ToString("N0", CultureInfo.InvariantCulture) + " values");

    private PickleLayout(LayoutNode root, LayoutNode? home, int tensorsOutside, List<string> outsidePaths)
    {
        Root = root;
        Home = home;
        TensorsOutside = tensorsOutside;
        OutsidePaths = outsidePaths;
    }

    /// <summary>The tree from the pickle's root.</summary>
    public LayoutNode Root { get; }

    /// <summary>The container tensor names are relative to: the state dict, or the root itself.</summary>
    public LayoutNode? Home { get; }

    /// <summary>Tensors the pickle holds outside the state dict (optimizer states beside it): not read, not written.</summary>
    public int TensorsOutside { get; }

    /// <summary>The top-level keys (or paths) that hold the tensors outside the state dict.</summary>
    public IReadOnlyList<string> OutsidePaths { get; }

    /// <summary>
    /// Records the tree of an unpickled checkpoint. <paramref name="stateDict"/> is the container the tensor names were
    /// flattened from (null: the root); names are joined as <see cref="CheckpointContent"/> joins them.
    /// </summary>
    public static PickleLayout Read(object? root, object? stateDict, IReadOnlySet<string> tensorNames)
    {
        var b = new Builder(stateDict ?? root, tensorNames);
        LayoutNode node = b.Walk(root, stateDict is null ? null : "\0outside", 0);
        return new PickleLayout(node, b.Home, b.Outside, b.OutsidePaths);
    }

    /// <summary>Builds a layout in code (tests, the embedding forms): <paramref name="root"/> with tensor names relative to <paramref name="home"/>.</summary>
    public static PickleLayout Of(LayoutNode root, LayoutNode? home = null) => new(root, home ?? root, 0, []);

    /// <summary>Walks the unpickled values once; shared containers are not expanded (a crafted pickle nests 2^24 paths in a kilobyte).</summary>
    private sealed class Builder(object? home, IReadOnlySet<string> tensorNames)
    {
        private readonly Dictionary<object, string> _visited = new(ReferenceEqualityComparer.Instance);
        private int _nodes;

        public LayoutNode? Home { get; private set; }

        public int Outside { get; private set; }

        public List<string> OutsidePaths { get; } = [];

        /// <summary>
        /// One value. <paramref name="prefix"/> is its tensor name so far: null at the home container, a string
        /// starting with NUL outside it (tensors there are not in the store).
        /// </summary>
        public LayoutNode Walk(object? value, string? prefix, int depth)
        {
            _nodes++;
            bool atHome = ReferenceEquals(value, home) && value is not null;
            if (atHome)
            {
                prefix = null;
            }

            switch (value)
            {
                case null or bool or long or BigInteger or double or string or byte[]:
                    return _nodes > MaxNodes ? TooMany : new ScalarValue(value);
                case TensorRef:
                    string name = prefix ?? "tensor";
                    if (!name.StartsWith('\0') && tensorNames.Contains(name))
                    {
                        return new TensorSlot(name);
                    }

                    Outside++;
                    AddOutside(name);
                    return new OpaqueValue("a tensor outside the state dict", isTensor: true);
            }

            if (depth > PickleLimits.Default.MaxNesting)
            {
                return new OpaqueValue("a container nested too deep");
            }

            // Only a small tuple of plain values may be written out at each use: nested ones could double per level.
            bool shareable = value is not PyTuple t0 || t0.Count > 16 || t0.Items.Any(x => x is not (null or bool or long or BigInteger or double or string));
            if (shareable && _visited.TryGetValue(value, out string? first))
            {
                return new OpaqueValue($"the same object as {(first.Length == 0 ? "the top level" : "'" + first.TrimStart('\0') + "'")}");
            }

            if (shareable)
            {
                _visited.Add(value, prefix ?? string.Empty);
            }

            LayoutNode result;
            switch (value)
            {
                case PyDict d:
                {
                    var node = new DictNode(d.IsOrderedDict, wasParameterDict: false);
                    foreach (KeyValuePair<object, object?> kv in d.Items)
                    {
                        node.Items.Add((Key(kv.Key), Walk(kv.Value, Join(prefix, KeyText(kv.Key)), depth + 1)));
                    }

                    if (d.Attributes is { } attrs)
                    {
                        node.Attributes = Walk(attrs, Join(prefix, "\0attributes"), depth + 1) as DictNode;
                    }

                    result = node;
                    break;
                }

                case PyObject { Type.Kind: GlobalKind.ParameterDict, State: PyDict st } when st.TryGetValue("_parameters", out object? ps) && ps is PyDict parameters:
                {
                    // Recorded as the dict of its parameters: the class itself is not something weights_only loads.
                    var node = new DictNode(ordered: true, wasParameterDict: true);
                    foreach (KeyValuePair<object, object?> kv in parameters.Items)
                    {
                        node.Items.Add((Key(kv.Key), Walk(kv.Value, Join(prefix, KeyText(kv.Key)), depth + 1)));
                    }

                    result = node;
                    break;
                }

                case PyList l:
                    result = new SequenceNode(isTuple: false, l.Items.Select((x, i) => Walk(x, Join(prefix, Index(i)), depth + 1)));
                    break;
                case PyTuple t:
                    result = new SequenceNode(isTuple: true, t.Items.Select((x, i) => Walk(x, Join(prefix, Index(i)), depth + 1)));
                    break;
                default:
                    result = new OpaqueValue(PickleMachine.TypeName(value));
                    break;
            }

            if (atHome)
            {
                Home = result;
            }

            return result;
        }

        private void AddOutside(string name)
        {
            string top = name.TrimStart('\0');
            top = top.StartsWith("outside.", StringComparison.Ordinal) ? top["outside.".Length..] : top;
            int dot = top.IndexOf('.', StringComparison.Ordinal);
            top = dot < 0 ? top : top[..dot];
            if (OutsidePaths.Count < 8 && !OutsidePaths.Contains(top))
            {
                OutsidePaths.Add(top);
            }
        }

        private static string Index(int i) => i.ToString(CultureInfo.InvariantCulture);

        private static string Join(string? prefix, string key) => prefix is null ? key : prefix + "." + key;

        private static string KeyText(object key) => key is string s ? s : CheckpointContent.Render(key);

        /// <summary>A dict key: a scalar or a tuple of scalars; anything else (a class used as a key) is opaque.</summary>
        private static LayoutNode Key(object key) => key switch
        {
            bool or long or BigInteger or double or string or byte[] => new ScalarValue(key),
            PyTuple t when t.Items.All(x => x is null or bool or long or BigInteger or double or string) => new SequenceNode(isTuple: true, t.Items.Select(x => (LayoutNode)new ScalarValue(x))),
            _ => new OpaqueValue(CheckpointContent.Render(key)),
        };
    }
}

/// <summary>One node of a <see cref="PickleLayout"/>.</summary>
internal abstract class LayoutNode;

/// <summary>Where a tensor sat; <see cref="Name"/> is its name in the store (relative to the state dict).</summary>
internal sealed class TensorSlot(string name) : LayoutNode
{
    public string Name { get; } = name;
}

/// <summary>A plain value: null, bool, long, BigInteger, double, string or byte[].</summary>
internal sealed class ScalarValue(object? value) : LayoutNode
{
    public object? Value { get; } = value;
}

/// <summary>A value kept only as a description (a class, a numpy object, a set, a shared container): never re-emitted.</summary>
internal sealed class OpaqueValue(string what, bool isTensor = false) : LayoutNode
{
    public string What { get; } = what;

    /// <summary>A tensor outside the state dict (not in the store).</summary>
    public bool IsTensor { get; } = isTensor;
}

/// <summary>A dict or OrderedDict, in insertion order; an OrderedDict's attributes (<c>_metadata</c>) kept beside.</summary>
internal sealed class DictNode(bool ordered, bool wasParameterDict) : LayoutNode
{
    public bool Ordered { get; } = ordered;

    /// <summary>Read from a torch.nn.ParameterDict (written back as a plain dict).</summary>
    public bool WasParameterDict { get; } = wasParameterDict;

    public List<(LayoutNode Key, LayoutNode Value)> Items { get; } = [];

    public DictNode? Attributes { get; set; }

    public DictNode Add(string key, LayoutNode value)
    {
        Items.Add((new ScalarValue(key), value));
        return this;
    }
}

/// <summary>A list or tuple.</summary>
internal sealed class SequenceNode(bool isTuple, IEnumerable<LayoutNode> items) : LayoutNode
{
    public bool IsTuple { get; } = isTuple;

    public List<LayoutNode> Items { get; } = items.ToList();
}
