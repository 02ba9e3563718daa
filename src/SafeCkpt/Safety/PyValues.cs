using System.Numerics;
using SafeCkpt.Tensors;

namespace SafeCkpt.Safety;

// Inert values built by the restricted pickle machine. None of them has behaviour: Python None is C# null, bool is
// bool, int is long (or BigInteger when wider), float is double, str is string, bytes/bytearray are byte[].

/// <summary>A Python dict or OrderedDict: insertion-ordered, keys compared like Python (strings, ints, tuples, globals).</summary>
internal sealed class PyDict
{
    private readonly List<KeyValuePair<object, object?>> _items = [];
    private readonly Dictionary<object, int> _index = new(PyKeyComparer.Instance);

    public PyDict(bool ordered) => IsOrderedDict = ordered;

    /// <summary>Made by <c>collections.OrderedDict</c> (the only dict type BUILD may set attributes on).</summary>
    public bool IsOrderedDict { get; }

    /// <summary>How deeply containers nest below this one (bounded by the machine).</summary>
    public int Depth { get; set; }

    /// <summary>Attributes set by BUILD (a state dict's <c>_metadata</c>); null when none.</summary>
    public PyDict? Attributes { get; set; }

    public int Count => _items.Count;

    public IReadOnlyList<KeyValuePair<object, object?>> Items => _items;

    /// <summary>Sets a key like Python: a new key goes last, an existing key keeps its place and takes the new value.</summary>
    public void Set(object key, object? value)
    {
        if (_index.TryGetValue(key, out int i))
        {
            _items[i] = new KeyValuePair<object, object?>(_items[i].Key, value);
        }
        else
        {
            _index.Add(key, _items.Count);
            _items.Add(new KeyValuePair<object, object?>(key, value));
        }
    }

    public bool TryGetValue(object key, out object? value)
    {
        if (_index.TryGetValue(key, out int i))
        {
            value = _items[i].Value;
            return true;
        }

        value = null;
        return false;
    }
}

/// <summary>A Python list.</summary>
internal sealed class PyList(List<object?> items)
{
    public List<object?> Items { get; } = items;

    public int Depth { get; set; }
}

/// <summary>A Python tuple (immutable; its hash is computed once).</summary>
internal sealed class PyTuple(object?[] items)
{
    public static readonly PyTuple Empty = new([]);

    public object?[] Items { get; } = items;

    public int Count => Items.Length;

    public object? this[int i] => Items[i];

    internal int? CachedHash { get; set; }

    public int Depth { get; set; }
}

/// <summary>A Python set or frozenset.</summary>
internal sealed class PySet(bool frozen)
{
    public bool IsFrozen { get; } = frozen;

    public HashSet<object> Items { get; } = new(PyKeyComparer.Instance);

    public int Depth { get; set; }
}

/// <summary>What an allowlisted global stands for; never a callable, only a tag the machine switches on.</summary>
internal enum GlobalKind
{
    RebuildTensor,
    RebuildTensorV2,
    RebuildTensorV3,
    RebuildParameter,
    RebuildParameterWithState,
    RebuildFromTypeV2,
    StorageClass,
    TorchDType,
    TorchSize,
    TorchTensorClass,
    Parameter,
    OrderedDict,
    ParameterDict,
    CodecsEncode,
    Set,
    FrozenSet,
    ByteArray,
    Bytes,
    NumpyScalar,
    NumpyDType,
    NumpyNdarray,
    NumpyReconstruct,
    LightningClass,
    LightningModule,
}

/// <summary>A global that passed the allowlist: an inert marker naming it, plus the torch dtype it implies, if any.</summary>
internal sealed record PyGlobal(string Module, string Name, GlobalKind Kind, TorchDType? DType = null)
{
    public string FullName => Module + "." + Name;

    public override string ToString() => FullName;
}

/// <summary>An inert instance made by NEWOBJ on an allowlisted class (ParameterDict): its class and BUILD state.</summary>
internal sealed class PyObject(PyGlobal type)
{
    public PyGlobal Type { get; } = type;

    public object? State { get; set; }
}

/// <summary>A numpy dtype, e.g. <c>f8</c>, with the byte order BUILD gave it.</summary>
internal sealed class NumpyDTypeValue(string code)
{
    public string Code { get; } = code;

    public string ByteOrder { get; set; } = "=";

    public override string ToString() => "dtype('" + Code + "')";
}

/// <summary>A numpy ndarray kept as its BUILD state (shape, dtype, raw data), never interpreted.</summary>
internal sealed class NumpyArrayValue
{
    public object? State { get; set; }

    public override string ToString() => "ndarray";
}

/// <summary>A numpy scalar whose dtype SafeCkpt does not decode: its dtype and raw bytes.</summary>
internal sealed record NumpyScalarValue(string DType, byte[] Raw)
{
    public override string ToString() => $"numpy.{DType}(0x{Convert.ToHexString(Raw)})";
}

/// <summary>
/// A storage named by a persistent id <c>('storage', type, key, location, numel[, view])</c>: where a tensor's bytes
/// live. <see cref="DType"/> is null for an untyped storage (numel is then a byte count).
/// </summary>
internal sealed record StorageRef(string Key, TorchDType? DType, string Location, long Numel, long PickleOffset, string? ViewKey = null, long ViewOffset = 0, long ViewNumel = 0);

/// <summary>A tensor described by a rebuild call: storage, element offset, sizes, strides and dtype.</summary>
internal sealed record TensorRef(StorageRef Storage, TorchDType DType, long StorageOffset, long[] Size, long[] Stride, bool IsParameter, long PickleOffset);

/// <summary>A torch dtype by name, its safetensors dtype when one exists, and its element size in bytes.</summary>
internal sealed record TorchDType(string Name, DType? SafeType, int ElementSize)
{
    public override string ToString() => "torch." + Name;
}

/// <summary>
/// Python-like equality for dict keys and set items: strings, integers (long/BigInteger/bool), floats, bytes, tuples
/// of those, and globals. Anything else (lists, dicts) is unhashable in Python and refused by the machine first.
/// </summary>
internal sealed class PyKeyComparer : IEqualityComparer<object>
{
    public static readonly PyKeyComparer Instance = new();

    /// <summary>The deepest tuple nesting a key may have (hashing is recursive).</summary>
    public const int MaxKeyDepth = 16;

    public static bool IsHashable(object? value, int depth = 0)
    {
        switch (value)
        {
            case null or string or long or BigInteger or bool or double or byte[] or PyGlobal:
                return true;
            case PyTuple t:
                if (depth >= MaxKeyDepth)
                {
                    return false;
                }

                foreach (object? item in t.Items)
                {
                    if (!IsHashable(item, depth + 1))
                    {
                        return false;
                    }
                }

                return true;
            default:
                return false;
        }
    }

    public new bool Equals(object? x, object? y)
    {
        if (ReferenceEquals(x, y))
        {
            return true;
        }

        switch (x, y)
        {
            case (string a, string b):
                return a == b;
            case (byte[] a, byte[] b):
                return a.AsSpan().SequenceEqual(b);
            case (PyTuple a, PyTuple b):
                if (a.Count != b.Count || GetHashCode(a) != GetHashCode(b))
                {
                    return false;
                }

                for (int i = 0; i < a.Count; i++)
                {
                    if (!Equals(a[i], b[i]))
                    {
                        return false;
                    }
                }

                return true;
            case (PyGlobal a, PyGlobal b):
                return a.FullName == b.FullName;
            case (double a, double b):
                return a.Equals(b);
            case (null, _) or (_, null):
                return false;
            default:
                return AsInteger(x) is { } i1 && AsInteger(y) is { } i2 && i1 == i2;
        }
    }

    public int GetHashCode(object obj)
    {
        switch (obj)
        {
            case string s:
                return StringComparer.Ordinal.GetHashCode(s);
            case byte[] b:
                var h = new HashCode();
                h.AddBytes(b);
                return h.ToHashCode();
            case PyTuple t:
                if (t.CachedHash is int cached)
                {
                    return cached;
                }

                var th = new HashCode();
                foreach (object? item in t.Items)
                {
                    th.Add(item is null ? 0 : GetHashCode(item));
                }

                t.CachedHash = th.ToHashCode();
                return t.CachedHash.Value;
            case PyGlobal g:
                return StringComparer.Ordinal.GetHashCode(g.FullName);
            case double d:
                return d.GetHashCode();
            default:
                return AsInteger(obj)?.GetHashCode() ?? 0;
        }
    }

    private static BigInteger? AsInteger(object? o) => o switch
    {
        long l => l,
        BigInteger b => b,
        bool b => b ? 1 : 0,
        _ => null,
    };
}
