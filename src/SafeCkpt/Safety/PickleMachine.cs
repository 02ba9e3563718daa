using System.Globalization;
using System.Numerics;
using System.Text.RegularExpressions;
using static SafeCkpt.Safety.PickleOpcodes;

namespace SafeCkpt.Safety;

/// <summary>Where a pickle comes from, for messages: the file, the record inside it, and the record's file offset.</summary>
/// <param name="FilePath">The checkpoint file.</param>
/// <param name="RecordName">The pickle's name, e.g. <c>archive/data.pkl</c> or <c>legacy pickle 4 of 5</c>.</param>
/// <param name="FileOffset">Where the pickle's first byte is in the file; -1 when it was decompressed.</param>
internal sealed record PickleSource(string FilePath, string RecordName, long FileOffset)
{
    /// <summary>Describes a pickle offset as "RECORD byte N (file byte M)".</summary>
    public string Where(long offset) => FileOffset >= 0 ? $"{RecordName} byte {offset} (file byte {FileOffset + offset})" : $"{RecordName} byte {offset}";
}

/// <summary>Resource limits of the pickle machine. Exceeding one is a <see cref="SafeCkptErrorCode.PickleLimitExceeded"/> error.</summary>
internal sealed record PickleLimits
{
    public static readonly PickleLimits Default = new();

    /// <summary>The largest pickle read (an SD data.pkl is well under 10 MB).</summary>
    public long MaxPickleBytes { get; init; } = 256L << 20;

    public long MaxOpcodes { get; init; } = 20_000_000;

    public int MaxMemoEntries { get; init; } = 1_000_000;

    public int MaxStackDepth { get; init; } = 1_000_000;

    public int MaxMarkDepth { get; init; } = 100_000;

    /// <summary>The most containers (dicts, lists, tuples, sets, objects) one pickle may build: bounds the memory of the built value.</summary>
    public int MaxContainers { get; init; } = 2_000_000;

    /// <summary>The most tensors one pickle may describe (an SDXL checkpoint has about 2,500).</summary>
    public int MaxTensors { get; init; } = Tensors.TensorStore.MaxTensors;

    /// <summary>The deepest nesting of containers (lists in lists ...): later walks over the result stay shallow.</summary>
    public int MaxNesting { get; init; } = 1_000;

    /// <summary>The largest LONG1/LONG4 integer, in bytes.</summary>
    public int MaxLongBytes { get; init; } = 256;

    /// <summary>Elements and bytes copied by REDUCE/BUILD calls (sets from lists, bytes from strings): bounds quadratic blow-ups through the memo.</summary>
    public long MaxWork { get; init; } = 512L << 20;
}

/// <summary>How persistent ids are handled: zip/legacy checkpoints have storages, a bare pickle has none.</summary>
internal enum PersistentIds
{
    /// <summary>No storages exist; any persistent id is refused.</summary>
    None,

    /// <summary>torch.save zip format: <c>('storage', type, key, location, numel)</c>.</summary>
    Zip,

    /// <summary>Legacy format: a sixth element, the view metadata <c>None</c> or <c>(view_key, offset, size)</c>.</summary>
    Legacy,
}

/// <summary>
/// A restricted pickle machine that builds only inert values (see PyValues.cs) and never calls, imports or resolves
/// anything. It is written here rather than using Razorvine.Pickle's Unpickler because that one keeps a process-wide
/// static constructor registry (another library can replace ours), has no limits (stack, memo, work), reports no
/// opcode offsets, orders dicts through Hashtable, and throws bare IndexOutOfRange/InvalidCast exceptions on
/// malformed input (dotnet.md 1.2, 1.5, 1.6). Opcodes and arguments come from the shared
/// <see cref="PickleTokenizer"/>; every global is checked against <see cref="PickleAllowlist"/> the moment it is
/// read, before anything is built, and every opcode is an explicit case with CPython's semantics (what
/// <c>torch.load</c> would build), or a refusal. The machine is iterative (no recursion), bounded by
/// <see cref="PickleLimits"/>, and every failure is a <see cref="SafeCkptException"/> naming the record and offset.
/// </summary>
internal sealed partial class PickleMachine
{
    private static readonly object MarkObject = new();

    private readonly PickleTokenizer _tok;
    private readonly PickleSource _source;
    private readonly PickleLimits _limits;
    private readonly PersistentIds _persistent;
    private readonly List<object?> _stack = [];
    private readonly List<int> _marks = [];
    private readonly Dictionary<long, object?> _memo = [];
    private readonly List<StorageRef> _storages = [];

    // The legacy format's deserialized_objects: root and view storages by key, the first declaration of a key wins.
    private readonly Dictionary<string, StorageRef> _legacyObjects = new(StringComparer.Ordinal);
    private long _opStart;
    private byte _op;
    private long _work;
    private int _containers;
    private int _tensors;

    private PickleMachine(ReadOnlyMemory<byte> data, PickleSource source, PickleLimits limits, PersistentIds persistent, bool windowed)
    {
        _tok = new PickleTokenizer(data, source, limits, windowed);
        _source = source;
        _limits = limits;
        _persistent = persistent;
    }

    /// <summary>The offset just after STOP.</summary>
    public int EndOffset => _tok.Position;

    /// <summary>Every storage reference the pickle made, in order.</summary>
    public IReadOnlyList<StorageRef> Storages => _storages;

    /// <summary>Runs one pickle from the start of <paramref name="data"/> to its STOP; the bytes after it are left to the caller.</summary>
    /// <param name="data">The pickle, possibly followed by other bytes.</param>
    /// <param name="source">Names for messages.</param>
    /// <param name="persistent">Which persistent ids are accepted.</param>
    /// <param name="limits">Resource limits; <see cref="PickleLimits.Default"/> when null.</param>
    /// <param name="windowed">The data is a prefix of a longer stream: running out of it throws <see cref="NeedMoreDataException"/> so the caller can retry with more.</param>
    public static (object? Value, PickleMachine Machine) Run(ReadOnlyMemory<byte> data, PickleSource source, PersistentIds persistent, PickleLimits? limits = null, bool windowed = false)
    {
        var m = new PickleMachine(data, source, limits ?? PickleLimits.Default, persistent, windowed);
        object? value = m.Execute();
        return (value, m);
    }

    private object? Execute()
    {
        while (true)
        {
            PickleOp op = _tok.Next();
            _opStart = op.Offset;
            _op = op.Code;
            switch (op.Code)
            {
                case Proto:
                    if (_opStart != 0)
                    {
                        // Harmless to CPython, but it switches Python-2 name mapping mid-stream; SafeCkpt does not follow that.
                        throw Unsupported($"PROTO {op.Int} is not the first opcode (torch.save never writes a second PROTO)");
                    }

                    if (op.Int is < 2 or > 5)
                    {
                        throw Invalid(_opStart, $"pickle protocol {op.Int} is not supported (2 to 5 are)");
                    }

                    break;
                case Frame:
                    break;
                case Stop:
                    if (_stack.Count != 1 || _marks.Count != 0)
                    {
                        throw Invalid(_opStart, $"STOP with {_stack.Count} values on the stack (expected 1) and {_marks.Count} open MARKs");
                    }

                    return _stack[0];
                case Mark:
                    if (_marks.Count >= _limits.MaxMarkDepth)
                    {
                        throw Limit($"more than {_limits.MaxMarkDepth:N0} nested MARKs");
                    }

                    _marks.Add(_stack.Count);
                    Push(MarkObject);
                    break;
                case Pop:
                    if (_stack.Count > 0 && ReferenceEquals(_stack[^1], MarkObject))
                    {
                        // CPython: POP of a MARK pops the mark itself.
                        PopToMark();
                    }
                    else
                    {
                        Pop1();
                    }

                    break;
                case PopMark:
                    PopToMark();
                    break;
                case Dup:
                    Push(Peek());
                    break;
                case PickleOpcodes.None:
                    Push(null);
                    break;
                case NewTrue:
                    Push(true);
                    break;
                case NewFalse:
                    Push(false);
                    break;
                case BinInt or BinInt1 or BinInt2:
                    Push(op.Int);
                    break;
                case Long1 or Long4:
                    Push(op.Value ?? op.Int);
                    break;
                case BinFloat or ShortBinUnicode or BinUnicode or BinUnicode8 or ShortBinString or BinString or PickleOpcodes.String or Unicode:
                    Push(op.Value);
                    break;
                case ShortBinBytes or BinBytes or BinBytes8 or ByteArray8:
                    Charge(((byte[])op.Value!).Length / 64);
                    Push(op.Value);
                    break;
                case Int:
                    Push(ParseTextInt((string)op.Value!));
                    break;
                case PickleOpcodes.Long:
                    Push(ParseTextLong((string)op.Value!));
                    break;
                case PickleOpcodes.Float:
                    Push(ParseTextFloat((string)op.Value!));
                    break;
                case EmptyDict:
                    Push(NewContainer(new PyDict(ordered: false)));
                    break;
                case Dict:
                {
                    object?[] items = PopToMark();
                    Push(NewContainer(new PyDict(ordered: false)));
                    SetItemsFrom(items);
                    break;
                }

                case EmptyList:
                    Push(NewContainer(new PyList([])));
                    break;
                case PickleOpcodes.List:
                {
                    object?[] items = PopToMark();
                    var list = NewContainer(new PyList([.. items]));
                    foreach (object? item in items)
                    {
                        Deepen(list, item);
                    }

                    Push(list);
                    break;
                }

                case EmptyTuple:
                    Push(PyTuple.Empty);
                    break;
                case EmptySet:
                    Push(NewContainer(new PySet(frozen: false)));
                    break;
                case PickleOpcodes.Tuple:
                    Push(Nest(new PyTuple(PopToMark())));
                    break;
                case Tuple1:
                    Push(Nest(new PyTuple([Pop1()])));
                    break;
                case Tuple2:
                {
                    object? b = Pop1();
                    object? a = Pop1();
                    Push(Nest(new PyTuple([a, b])));
                    break;
                }

                case Tuple3:
                {
                    object? c = Pop1();
                    object? b = Pop1();
                    object? a = Pop1();
                    Push(Nest(new PyTuple([a, b, c])));
                    break;
                }

                case PickleOpcodes.FrozenSet:
                {
                    var set = NewContainer(new PySet(frozen: true));
                    foreach (object? item in PopToMark())
                    {
                        set.Items.Add(Hashable(item));
                    }

                    Push(set);
                    break;
                }

                case Append:
                {
                    object? v = Pop1();
                    PyList list = ListTarget();
                    list.Items.Add(v);
                    Deepen(list, v);
                    break;
                }

                case Appends:
                {
                    object?[] items = PopToMark();
                    PyList list = ListTarget();
                    list.Items.AddRange(items);
                    foreach (object? item in items)
                    {
                        Deepen(list, item);
                    }

                    break;
                }

                case SetItem:
                {
                    object? v = Pop1();
                    object? k = Pop1();
                    PyDict target = DictTarget();
                    target.Set(Hashable(k), v);
                    Deepen(target, v);
                    break;
                }

                case SetItems:
                    SetItemsFrom(PopToMark());
                    break;
                case AddItems:
                {
                    object?[] items = PopToMark();
                    if (Peek() is not PySet { IsFrozen: false } set)
                    {
                        throw Invalid(_opStart, $"ADDITEMS into a {TypeName(Peek())}; only sets take ADDITEMS");
                    }

                    foreach (object? item in items)
                    {
                        set.Items.Add(Hashable(item));
                    }

                    break;
                }

                case BinPut or LongBinPut or Put:
                    MemoPut(op.Int);
                    break;
                case Memoize:
                    MemoPut(_memo.Count);
                    break;
                case BinGet or LongBinGet or Get:
                    MemoGet(op.Int);
                    break;
                case Global:
                    Push(Resolve(op.Module!, op.Name!));
                    break;
                case StackGlobal:
                {
                    object? name = Pop1();
                    object? module = Pop1();
                    if (module is not string m || name is not string nm)
                    {
                        throw Invalid(_opStart, $"STACK_GLOBAL with a {TypeName(module)} and a {TypeName(name)} as module and name; CPython requires two str and torch.load would fail");
                    }

                    Push(Resolve(m, nm));
                    break;
                }

                case Inst:
                {
                    PyGlobal cls = Resolve(op.Module!, op.Name!);
                    Push(Instantiate(cls, new PyTuple(PopToMark())));
                    break;
                }

                case Obj:
                {
                    object?[] items = PopToMark();
                    if (items.Length == 0)
                    {
                        throw Invalid(_opStart, "OBJ without a class after its MARK");
                    }

                    Push(Instantiate(items[0], new PyTuple(items[1..])));
                    break;
                }

                case Reduce:
                {
                    object? args = Pop1();
                    object? callee = Pop1();
                    Push(Reductions.Reduce(this, callee, args));
                    break;
                }

                case NewObj:
                {
                    object? args = Pop1();
                    object? cls = Pop1();
                    Push(Reductions.NewObject(this, cls, args));
                    break;
                }

                case NewObjEx:
                {
                    object? kwargs = Pop1();
                    object? args = Pop1();
                    object? cls = Pop1();
                    if (kwargs is not PyDict { Count: 0 })
                    {
                        throw cls is PyGlobal
                            ? Unsupported($"NEWOBJ_EX with keyword arguments ({TypeName(kwargs)})")
                            : Unsafe(SafeCkptErrorCode.UnsafeOpcode, $"NEWOBJ_EX on a {TypeName(cls)}; only allowlisted classes may be instantiated");
                    }

                    Push(Reductions.NewObject(this, cls, args));
                    break;
                }

                case Build:
                {
                    object? state = Pop1();
                    Reductions.Build(this, Peek(), state);
                    break;
                }

                case BinPersId:
                    Push(PersistentLoad(Pop1()));
                    break;
                case PersId:
                    // torch's persistent_load asserts a tuple; a bare pickle.load has no persistent_load at all.
                    throw Invalid(_opStart, "the text form of a persistent id names a string; torch.load accepts only ('storage', ...) tuples and would fail");
                case Ext1 or Ext2 or Ext4:
                    throw Unsafe(SafeCkptErrorCode.UnsafeOpcode, $"{Name(_op)} {op.Int} imports a global through copyreg's extension registry, which SafeCkpt cannot check");
                case NextBuffer or ReadOnlyBuffer:
                    throw Invalid(_opStart, $"{Name(_op)} refers to an out-of-band buffer; torch.load passes none and would fail");
                default:
                    throw Invalid(_opStart, $"byte 0x{_op:x2} is not a pickle opcode SafeCkpt accepts; the pickle is corrupt");
            }
        }
    }

    // ---- protocol-0 text numbers, accepted in the forms CPython and C's strtol read identically ----
    [GeneratedRegex("^(0|-?[1-9][0-9]{0,17})$", RegexOptions.CultureInvariant)]
    private static partial Regex TextInt();

    [GeneratedRegex("^(0|-?[1-9][0-9]{0,600})L?$", RegexOptions.CultureInvariant)]
    private static partial Regex TextLong();

    [GeneratedRegex("^-?[0-9]{1,40}(\\.[0-9]{0,40})?([eE][+-]?[0-9]{1,3})?$", RegexOptions.CultureInvariant)]
    private static partial Regex TextFloat();

    [System.Diagnostics.CodeAnalysis.SuppressMessage("Performance", "CA1859", Justification = "Returns a boxed bool or long, like pickle's INT.")]
    private object ParseTextInt(string line)
    {
        // pickle's load_int: a two-character "00"/"01" is False/True; C strtol reads a leading 0 as octal, so only
        // plain decimal is accepted here.
        if (line is "00" or "01")
        {
            return line == "01";
        }

        return TextInt().IsMatch(line)
            ? long.Parse(line, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture)
            : throw Unsupported($"the protocol-0 INT '{Short(line)}' (only plain decimal integers are read)");
    }

    [System.Diagnostics.CodeAnalysis.SuppressMessage("Performance", "CA1859", Justification = "Returns a boxed long or a BigInteger, like Python's int.")]
    private object ParseTextLong(string line)
    {
        if (!TextLong().IsMatch(line))
        {
            throw Unsupported($"the protocol-0 LONG '{Short(line)}' (only plain decimal integers are read)");
        }

        var v = BigInteger.Parse(line.TrimEnd('L'), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture);
        return v >= long.MinValue && v <= long.MaxValue ? (object)(long)v : v;
    }

    private double ParseTextFloat(string line)
    {
        if (!TextFloat().IsMatch(line) || !double.TryParse(line, NumberStyles.Float, CultureInfo.InvariantCulture, out double v) || !double.IsFinite(v))
        {
            throw Unsupported($"the protocol-0 FLOAT '{Short(line)}' (only plain finite decimal numbers are read)");
        }

        return v;
    }

    private static string Short(string s) => s.Length > 40 ? s[..40] + "..." : s;

    /// <summary>INST and OBJ: CPython's instantiate(): a class with no arguments gets <c>cls.__new__(cls)</c>, anything else <c>cls(*args)</c>.</summary>
    private object? Instantiate(object? cls, PyTuple args) => args.Count == 0 && cls is PyGlobal { IsClass: true }
        ? Reductions.NewObject(this, cls, args)
        : Reductions.Reduce(this, cls, args);

    private void SetItemsFrom(object?[] items)
    {
        if (items.Length % 2 != 0)
        {
            throw Invalid(_opStart, $"{Name(_op)} has an odd number of values (a key without a value)");
        }

        PyDict dict = DictTarget();
        for (int i = 0; i < items.Length; i += 2)
        {
            dict.Set(Hashable(items[i]), items[i + 1]);
            Deepen(dict, items[i + 1]);
        }
    }

    // ---- stack ----
    private void Push(object? v)
    {
        if (_stack.Count >= _limits.MaxStackDepth)
        {
            throw Limit($"more than {_limits.MaxStackDepth:N0} values on the stack");
        }

        _stack.Add(v);
    }

    private object? Pop1()
    {
        int n = _stack.Count;
        if (n == 0 || ReferenceEquals(_stack[n - 1], MarkObject))
        {
            throw Invalid(_opStart, $"{Name(_op)} needs a value but the stack is empty (or only a MARK is left)");
        }

        object? v = _stack[n - 1];
        _stack.RemoveAt(n - 1);
        return v;
    }

    private object? Peek()
    {
        if (_stack.Count == 0 || ReferenceEquals(_stack[^1], MarkObject))
        {
            throw Invalid(_opStart, $"{Name(_op)} needs a value but the stack is empty (or only a MARK is left)");
        }

        return _stack[^1];
    }

    private object?[] PopToMark()
    {
        if (_marks.Count == 0)
        {
            throw Invalid(_opStart, $"{Name(_op)} without a MARK before it");
        }

        int at = _marks[^1];
        _marks.RemoveAt(_marks.Count - 1);
        object?[] items = _stack.GetRange(at + 1, _stack.Count - at - 1).ToArray();
        _stack.RemoveRange(at, _stack.Count - at);
        return items;
    }

    // torch.load would call the target's append/__setitem__ (on a tensor that writes its data, CVE-2026-24747): nothing
    // foreign runs, but the result differs from what SafeCkpt would build, so anything but a list/dict is refused.
    private PyList ListTarget() => Peek() as PyList
        ?? throw Unsupported($"{Name(_op)} into a {TypeName(Peek())} (only lists are appended to)");

    private PyDict DictTarget() => Peek() as PyDict
        ?? throw Unsupported($"{Name(_op)} into a {TypeName(Peek())} (only dicts take items; on a tensor it would write its data, CVE-2026-24747)");

    private object Hashable(object? key) => key is not null && PyKeyComparer.IsHashable(key)
        ? key
        : key is null ? throw Unsupported($"{Name(_op)} with None as a dict key or set item")
        : throw Invalid(_opStart, $"{Name(_op)} with an unhashable {TypeName(key)} as a dict key or set item");

    // ---- containers: counted (memory) and depth-tracked (later walks stay shallow) ----
    internal T NewContainer<T>(T container)
    {
        if (++_containers > _limits.MaxContainers)
        {
            throw Limit($"more than {_limits.MaxContainers:N0} containers");
        }

        return container;
    }

    internal void CountTensor()
    {
        if (++_tensors > _limits.MaxTensors)
        {
            throw new InvalidCheckpointException(SafeCkptErrorCode.ResourceLimitExceeded, _source.FilePath, $"{_source.FilePath}: refused: {_source.RecordName} describes more than {_limits.MaxTensors:N0} tensors (at byte {_opStart}). Real checkpoints hold a few thousand; this file is crafted or not a model.")
            {
                Offset = _opStart,
                TensorName = _source.RecordName,
            };
        }
    }

    private static int DepthOf(object? v) => v switch
    {
        PyList l => l.Depth,
        PyDict d => d.Depth,
        PyTuple t => t.Depth,
        PySet s => s.Depth,
        _ => -1,
    };

    private void Deepen(object container, object? child)
    {
        int depth = DepthOf(child) + 1;
        if (depth <= DepthOf(container))
        {
            return;
        }

        if (depth > _limits.MaxNesting)
        {
            throw Limit($"containers nested more than {_limits.MaxNesting:N0} deep");
        }

        switch (container)
        {
            case PyList l:
                l.Depth = depth;
                break;
            case PyDict d:
                d.Depth = depth;
                break;
            case PyTuple t:
                t.Depth = depth;
                break;
        }
    }

    private PyTuple Nest(PyTuple t)
    {
        NewContainer(t);
        foreach (object? item in t.Items)
        {
            Deepen(t, item);
        }

        return t;
    }

    // ---- memo ----
    private void MemoPut(long index)
    {
        if (index < 0)
        {
            throw Invalid(_opStart, $"{Name(_op)} with the negative memo index {index}");
        }

        if (!_memo.ContainsKey(index) && _memo.Count >= _limits.MaxMemoEntries)
        {
            throw Limit($"more than {_limits.MaxMemoEntries:N0} memo entries");
        }

        _memo[index] = Peek();
    }

    private void MemoGet(long index)
    {
        if (!_memo.TryGetValue(index, out object? v))
        {
            throw Invalid(_opStart, $"{Name(_op)} {index} reads a memo entry that was never stored");
        }

        Push(v);
    }

    // ---- globals and persistent ids ----
    private PyGlobal Resolve(string module, string name)
    {
        PyGlobal? g = PickleAllowlist.Lookup(module, name, torchObject: _persistent != PersistentIds.None);
        if (g is null)
        {
            string full = PickleAllowlist.NormalizeModule(module) + "." + name;
            throw new UnsafeCheckpointException(SafeCkptErrorCode.UnsafeGlobal, _source.FilePath, $"{_source.FilePath}: refused: the pickle imports '{full}' at {_source.Where(_opStart)}, which is not on SafeCkpt's allowlist of tensor and container types. Loading this file with torch.load(weights_only=False) would call it. Do not load it; get the model as .safetensors from a trusted source.")
            {
                Offset = _opStart,
                GlobalName = full,
                RecordName = _source.RecordName,
            };
        }

        return g;
    }

    private StorageRef PersistentLoad(object? pid)
    {
        if (_persistent == PersistentIds.None)
        {
            throw Invalid(_opStart, "BINPERSID in a bare pickle: it refers to tensor storages, but a bare pickle has none (only zip and legacy torch files carry storages)");
        }

        int expected = _persistent == PersistentIds.Legacy ? 6 : 5;
        if (pid is not PyTuple t || t.Count == 0 || t[0] is not string tag)
        {
            throw Invalid(_opStart, $"BINPERSID with a {TypeName(pid)}; torch.load accepts only ('storage', ...) tuples and would fail");
        }

        if (tag != "storage")
        {
            throw _persistent == PersistentIds.Legacy && tag == "module"
                ? Unsupported("a ('module', ...) persistent id: the file pickles a whole nn.Module, not a state dict")
                : Invalid(_opStart, $"BINPERSID of kind '{tag}'; torch.load accepts only 'storage' here and would fail");
        }

        if (t.Count != expected)
        {
            throw Invalid(_opStart, $"a storage persistent id has {t.Count} elements; {expected} are expected");
        }

        if (t[1] is not PyGlobal { Kind: GlobalKind.StorageClass } cls)
        {
            throw Invalid(_opStart, $"a storage persistent id names a {TypeName(t[1])} as its storage type");
        }

        if (t[2] is not string key || key.Length == 0 || key.Length > 64 || key.Contains('/', StringComparison.Ordinal) || key.Contains('\\', StringComparison.Ordinal) || key.Contains("..", StringComparison.Ordinal))
        {
            throw Invalid(_opStart, $"a storage persistent id has the key {Describe(t[2])}; keys are short names such as '0'");
        }

        if (t[3] is not string location || t[4] is not long numel || numel < 0)
        {
            throw Invalid(_opStart, $"storage '{key}': the persistent id needs a location string and a non-negative element count");
        }

        var storage = new StorageRef(key, cls.DType, location, numel, _opStart);
        if (_persistent == PersistentIds.Legacy)
        {
            storage = LegacyStorage(storage, t[5]);
        }

        _storages.Add(storage);
        return storage;
    }

    /// <summary>
    /// torch's legacy persistent_load caches storages by key: a root key seen before returns the first root; a view
    /// key seen before returns the first view (or the root of that name), whatever offset this id gives.
    /// </summary>
    private StorageRef LegacyStorage(StorageRef root, object? viewMetadata)
    {
        if (_legacyObjects.TryGetValue(root.Key, out StorageRef? known) && known.ViewKey is not null)
        {
            throw Invalid(_opStart, $"storage '{root.Key}' is used as a root storage after being a view's key; torch would read the view as the root, which SafeCkpt does not follow");
        }

        _legacyObjects.TryAdd(root.Key, root);
        if (viewMetadata is null)
        {
            return root;
        }

        if (viewMetadata is not PyTuple { Count: 3 } view || view[0] is not string viewKey || view[1] is not long viewOffset || view[2] is not long viewSize || viewOffset < 0 || viewSize < 0)
        {
            throw Invalid(_opStart, $"storage '{root.Key}': the view metadata must be None or (key, offset, size)");
        }

        if (_legacyObjects.TryGetValue(viewKey, out StorageRef? cached))
        {
            return cached;
        }

        StorageRef created = root with { ViewKey = viewKey, ViewOffset = viewOffset, ViewNumel = viewSize };
        _legacyObjects.Add(viewKey, created);
        return created;
    }

    // ---- used by Reductions ----
    internal long OpStart => _opStart;

    internal void Charge(long units)
    {
        _work += units;
        if (_work > _limits.MaxWork)
        {
            throw Limit($"more than {_limits.MaxWork:N0} units of copying work (a crafted pickle that re-copies memo values)");
        }
    }

    internal InvalidCheckpointException Invalid(long offset, string what) => PickleErrors.Invalid(_source, offset, _op, what);

    internal UnsafeCheckpointException Unsafe(SafeCkptErrorCode code, string what) => PickleErrors.Unsafe(_source, _opStart, code, what);

    internal InvalidCheckpointException Unsupported(string what) => PickleErrors.Unsupported(_source, _opStart, what);

    private InvalidCheckpointException Limit(string what) => PickleErrors.Limit(_source, _opStart, what);

    internal static string TypeName(object? v) => v switch
    {
        null => "None",
        string => "str",
        long or BigInteger => "int",
        bool => "bool",
        double => "float",
        byte[] => "bytes",
        PyDict d => d.IsOrderedDict ? "OrderedDict" : "dict",
        PyList => "list",
        PyTuple => "tuple",
        PySet s => s.IsFrozen ? "frozenset" : "set",
        PyGlobal g => g.FullName,
        PyObject o => o.Type.FullName + " object",
        TensorRef => "tensor",
        StorageRef => "storage",
        NumpyDTypeValue => "numpy.dtype",
        NumpyArrayValue => "numpy.ndarray",
        NumpyScalarValue => "numpy scalar",
        _ => v.GetType().Name,
    };

    internal static string Describe(object? v) => v is string s ? "'" + (s.Length > 40 ? s[..40] + "..." : s) + "'" : "a " + TypeName(v);
}

/// <summary>A windowed pickle ran past the bytes it was given; the caller retries with a larger window.</summary>
internal sealed class NeedMoreDataException : Exception
{
    public NeedMoreDataException()
        : base("The pickle continues past the bytes read so far.")
    {
    }

    public NeedMoreDataException(string message)
        : base(message)
    {
    }

    public NeedMoreDataException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
