using System.Numerics;
using SafeCkpt.Tensors;

namespace SafeCkpt.Safety;

// Inert values built by the restricted pickle machine. None of them has behaviour: Python None is C# null, bool is
// bool, int is long (or BigInteger when wider), float is double, str is string, bytes/bytearray are byte[].

/// <summary>A Python dict or OrderedDict: insertion-ordered, keys compared like Python (strings, ints, tuples, globals).</summary>
internal sealed class PyDict
{
    // Small dicts (most of a checkpoint's: hooks, metadata) search the list; the index is built past IndexFrom keys.
    private const int IndexFrom = 8;
    private readonly List<KeyValuePair<object, object?>> _items = [];
    private Dictionary<object, int>? _index;

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
        int i = IndexOf(key);
        if (i >= 0)
        {
            _items[i] = new KeyValuePair<object, object?>(_items[i].Key, value);
            return;
        }

        _items.Add(new KeyValuePair<object, object?>(key, value));
        if (_index is not null)
        {
            _index.Add(key, _items.Count - 1);
        }
        else if (_items.Count > IndexFrom)
        {
            _index = new Dictionary<object, int>(_items.Count * 2, PyKeyComparer.Instance);
            for (int k = 0; k < _items.Count; k++)
            {
                _index.Add(_items[k].Key, k);
            }
        }
    }

    public bool TryGetValue(object key, out object? value)
    {
        int i = IndexOf(key);
        value = i >= 0 ? _items[i].Value : null;
        return i >= 0;
    }

    private int IndexOf(object key)
    {
        if (_index is not null)
        {
            return _index.TryGetValue(key, out int i) ? i : -1;
        }

        for (int i = 0; i < _items.Count; i++)
        {
            if (PyKeyComparer.Instance.Equals(_items[i].Key, key))
            {
                return i;
            }
        }

        return -1;
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

    /// <summary>A torch rebuild function or helper SafeCkpt knows to be harmless but does not read (sparse, meta, quantized, nested tensors): calling it is "unsupported".</summary>
    UnsupportedTorch,

    /// <summary>A torch value that is harmless as a value (layouts, quantization schemes, devices): usable as an argument only.</summary>
    TorchValue,

    /// <summary><c>torch._utils._rebuild_device_tensor_from_numpy</c>: a tensor whose bytes are a numpy array inside the pickle.</summary>
    RebuildFromNumpy,
}

/// <summary>A global that passed the allowlist: an inert marker naming it, plus the torch dtype it implies, if any.</summary>
internal sealed record PyGlobal(string Module, string Name, GlobalKind Kind, TorchDType? DType = null)
{
    public string FullName => Module + "." + Name;

    /// <summary>A class (INST/OBJ with no arguments call <c>cls.__new__(cls)</c> on it), not a function.</summary>
    public bool IsClass => Kind is GlobalKind.StorageClass or GlobalKind.TorchSize or GlobalKind.TorchTensorClass or GlobalKind.Parameter
        or GlobalKind.OrderedDict or GlobalKind.ParameterDict or GlobalKind.Set or GlobalKind.FrozenSet or GlobalKind.ByteArray
        or GlobalKind.Bytes or GlobalKind.NumpyDType or GlobalKind.NumpyNdarray or GlobalKind.LightningClass;

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
internal sealed record StorageRef(string Key, TorchDType? DType, string Location, long Numel, long PickleOffset, string? ViewKey = null, long ViewOffset = 0, long ViewNumel = 0)
{
    /// <summary>The bytes, for a storage held inside the pickle (a numpy array's data) rather than in a record.</summary>
    public byte[]? Inline { get; init; }
}

/// <summary>
/// A tensor described by a rebuild call: storage, element offset, sizes, strides and dtype. Mutable because BUILD
/// (<c>Tensor.__setstate__</c> calling <c>set_</c>, or assigning <c>.data</c>) changes a tensor in place, and every
/// reference to it (through the memo) sees the change, as in torch. <see cref="Storage"/> is null for an empty
/// <c>torch.Tensor()</c> that was never given data.
/// </summary>
internal sealed class TensorRef(StorageRef? storage, TorchDType dtype, long storageOffset, long[] size, long[] stride, bool isParameter, long pickleOffset)
{
    public StorageRef? Storage { get; set; } = storage;

    public TorchDType DType { get; set; } = dtype;

    public long StorageOffset { get; set; } = storageOffset;

    public long[] Size { get; set; } = size;

    public long[] Stride { get; set; } = stride;

    public bool IsParameter { get; } = isParameter;

    public long PickleOffset { get; } = pickleOffset;

    /// <summary>A new tensor object viewing the same data (what <c>nn.Parameter(t)</c> makes).</summary>
    public TensorRef Alias(bool parameter) => new(Storage, DType, StorageOffset, Size, Stride, parameter, PickleOffset);

    /// <summary>Points this tensor at another's data (<c>t.data = other</c>).</summary>
    public void TakeDataOf(TensorRef other)
    {
        Storage = other.Storage;
        DType = other.DType;
        StorageOffset = other.StorageOffset;
        Size = other.Size;
        Stride = other.Stride;
    }
}

/// <summary>A torch dtype by name, its safetensors dtype when one exists, and its element size in bytes.</summary>
internal sealed record TorchDType(string Name, DType? SafeType, int ElementSize)
{
    public override string ToString() => "torch." + Name;
}

/// <summary>
/// Python's equality for dict keys and set items: strings, bytes, tuples, globals, and numbers compared by value
/// across int, bool and float (<c>1 == 1.0 == True</c> are one key in Python, so they are one key here, or a
/// dict would hold a tensor torch drops). Hash codes of numbers mix all their bits with a per-process random seed,
/// so crafted keys cannot collide by design (float keys whose <c>GetHashCode</c> collide made lookups quadratic).
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
            case (null, _) or (_, null):
                return false;
            default:
                return Numeric(x) is { } n1 && Numeric(y) is { } n2 && n1.Equals(n2);
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
            case double d when double.IsNaN(d):
                // NaN equals only itself (the same object), so it hashes by identity: many NaN keys stay linear.
                return System.Runtime.CompilerServices.RuntimeHelpers.GetHashCode(obj);
            default:
                return Numeric(obj)?.GetHashCode() ?? 0;
        }
    }

    /// <summary>A number as Python compares it: integral values (also integral floats and bools) as integers, others as doubles.</summary>
    private static NumericKey? Numeric(object? o) => o switch
    {
        long l => new NumericKey(l, null, 0),
        bool b => new NumericKey(b ? 1 : 0, null, 0),
        BigInteger b => b >= long.MinValue && b <= long.MaxValue ? new NumericKey((long)b, null, 0) : new NumericKey(0, b, 0),
        double d when double.IsFinite(d) && Math.Floor(d) == d => d >= -9.2e18 && d <= 9.2e18 ? new NumericKey((long)d, null, 0) : new NumericKey(0, new BigInteger(d), 0),
        double d => new NumericKey(0, null, d),
        _ => null,
    };

    /// <summary>A normalised number: an integer (long or BigInteger) or a non-integral double (NaN never equals anything).</summary>
    private readonly record struct NumericKey(long Integer, BigInteger? Big, double Fraction)
    {
        public bool Equals(NumericKey other) => Integer == other.Integer && Big == other.Big && Fraction.Equals(other.Fraction) && !double.IsNaN(Fraction);

        public override int GetHashCode()
        {
            var h = new HashCode();
            h.Add((int)Integer);
            h.Add((int)(Integer >> 32));
            if (Big is { } big)
            {
                h.AddBytes(big.ToByteArray());
            }

            long bits = BitConverter.DoubleToInt64Bits(Fraction);
            h.Add((int)bits);
            h.Add((int)(bits >> 32));
            return h.ToHashCode();
        }
    }
}
