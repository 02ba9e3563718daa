using System.Buffers.Binary;
using System.Numerics;
using System.Text;
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

    public int MaxMemoEntries { get; init; } = 4_000_000;

    public int MaxStackDepth { get; init; } = 4_000_000;

    public int MaxMarkDepth { get; init; } = 100_000;

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
/// malformed input (dotnet.md 1.2, 1.5, 1.6). Here every global is checked against <see cref="PickleAllowlist"/>
/// the moment it is read, before anything is built, and every opcode is an explicit case: an opcode not listed is
/// refused. The machine is iterative (no recursion), bounded by <see cref="PickleLimits"/>, and every failure is a
/// <see cref="SafeCkptException"/> naming the record and opcode offset.
/// </summary>
internal sealed class PickleMachine
{
    private static readonly object MarkObject = new();
    private static readonly UTF8Encoding StrictUtf8 = new(false, true);

    private readonly ReadOnlyMemory<byte> _data;
    private readonly PickleSource _source;
    private readonly PickleLimits _limits;
    private readonly PersistentIds _persistent;
    private readonly bool _windowed;
    private readonly List<object?> _stack = [];
    private readonly List<int> _marks = [];
    private readonly Dictionary<long, object?> _memo = [];
    private readonly List<StorageRef> _storages = [];
    private int _pos;
    private long _opStart;
    private byte _op;
    private long _frameEnd = -1;
    private long _work;

    private PickleMachine(ReadOnlyMemory<byte> data, PickleSource source, PickleLimits limits, PersistentIds persistent, bool windowed)
    {
        _windowed = windowed;
        _data = data;
        _source = source;
        _limits = limits;
        _persistent = persistent;
    }

    /// <summary>The offset just after STOP.</summary>
    public int EndOffset => _pos;

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
        if (data.Length > m._limits.MaxPickleBytes)
        {
            throw m.Limit($"the pickle is {data.Length:N0} bytes, above the {m._limits.MaxPickleBytes:N0}-byte limit");
        }

        object? value = m.Execute();
        return (value, m);
    }

    private object? Execute()
    {
        long ops = 0;
        ReadOnlySpan<byte> d = _data.Span;
        while (true)
        {
            if (_pos >= d.Length)
            {
                if (_windowed)
                {
                    throw new NeedMoreDataException();
                }

                throw Invalid(_pos, "the pickle ends before its STOP opcode; it is truncated");
            }

            if (++ops > _limits.MaxOpcodes)
            {
                throw Limit($"more than {_limits.MaxOpcodes:N0} opcodes");
            }

            _opStart = _pos;
            _op = d[_pos];
            if (_frameEnd >= 0 && _pos >= _frameEnd)
            {
                _frameEnd = -1;
            }

            _pos++;
            switch (_op)
            {
                case Proto:
                    int proto = ReadByte();
                    if (_opStart != 0)
                    {
                        throw Unsafe(SafeCkptErrorCode.UnsafeOpcode, $"PROTO {proto} is not the first opcode (a second PROTO confuses scanners)");
                    }

                    if (proto is < 2 or > 5)
                    {
                        throw Invalid(_opStart, $"pickle protocol {proto} is not supported (2 to 5 are)");
                    }

                    break;
                case Frame:
                    long frameLength = (long)ReadUInt64();
                    if (_frameEnd >= 0)
                    {
                        throw Invalid(_opStart, "a FRAME starts inside another frame");
                    }

                    if (frameLength > d.Length - _pos && _windowed)
                    {
                        throw new NeedMoreDataException();
                    }

                    if (frameLength > d.Length - _pos)
                    {
                        throw Invalid(_opStart, $"FRAME declares {frameLength:N0} bytes but only {d.Length - _pos:N0} follow");
                    }

                    _frameEnd = _pos + frameLength;
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
                    Pop1();
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
                case BinInt:
                    Push((long)BinaryPrimitives.ReadInt32LittleEndian(Take(4)));
                    break;
                case BinInt1:
                    Push((long)ReadByte());
                    break;
                case BinInt2:
                    Push((long)BinaryPrimitives.ReadUInt16LittleEndian(Take(2)));
                    break;
                case Long1:
                    Push(ReadLong(ReadByte()));
                    break;
                case Long4:
                    int n4 = BinaryPrimitives.ReadInt32LittleEndian(Take(4));
                    if (n4 < 0)
                    {
                        throw Invalid(_opStart, "LONG4 has a negative length");
                    }

                    Push(ReadLong(n4));
                    break;
                case BinFloat:
                    Push(BinaryPrimitives.ReadDoubleBigEndian(Take(8)));
                    break;
                case ShortBinUnicode:
                    Push(DecodeUtf8(Take(ReadByte())));
                    break;
                case BinUnicode:
                    Push(DecodeUtf8(Take(ReadLength32())));
                    break;
                case BinUnicode8:
                    Push(DecodeUtf8(Take(ReadLength64())));
                    break;
                case ShortBinBytes:
                    Push(Take(ReadByte()).ToArray());
                    break;
                case BinBytes:
                    Push(Take(ReadLength32()).ToArray());
                    break;
                case BinBytes8:
                case ByteArray8:
                    Push(Take(ReadLength64()).ToArray());
                    break;
                case ShortBinString:
                    Push(Encoding.Latin1.GetString(Take(ReadByte())));
                    break;
                case BinString:
                    int sn = BinaryPrimitives.ReadInt32LittleEndian(Take(4));
                    if (sn < 0)
                    {
                        throw Invalid(_opStart, "BINSTRING has a negative length");
                    }

                    Push(Encoding.Latin1.GetString(Take(sn)));
                    break;
                case EmptyDict:
                    Push(new PyDict(ordered: false));
                    break;
                case EmptyList:
                    Push(new PyList([]));
                    break;
                case EmptyTuple:
                    Push(PyTuple.Empty);
                    break;
                case EmptySet:
                    Push(new PySet(frozen: false));
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
                    var set = new PySet(frozen: true);
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
                {
                    object?[] items = PopToMark();
                    if (items.Length % 2 != 0)
                    {
                        throw Invalid(_opStart, "SETITEMS has an odd number of values (a key without a value)");
                    }

                    PyDict dict = DictTarget();
                    for (int i = 0; i < items.Length; i += 2)
                    {
                        dict.Set(Hashable(items[i]), items[i + 1]);
                        Deepen(dict, items[i + 1]);
                    }

                    break;
                }

                case AddItems:
                {
                    object?[] items = PopToMark();
                    if (Peek() is not PySet { IsFrozen: false } set)
                    {
                        throw Unsafe(SafeCkptErrorCode.UnsafeOpcode, $"ADDITEMS into a {TypeName(Peek())}; only sets take ADDITEMS");
                    }

                    foreach (object? item in items)
                    {
                        set.Items.Add(Hashable(item));
                    }

                    break;
                }

                case BinPut:
                    MemoPut(ReadByte());
                    break;
                case LongBinPut:
                    MemoPut(BinaryPrimitives.ReadUInt32LittleEndian(Take(4)));
                    break;
                case Memoize:
                    MemoPut(_memo.Count);
                    break;
                case BinGet:
                    MemoGet(ReadByte());
                    break;
                case LongBinGet:
                    MemoGet(BinaryPrimitives.ReadUInt32LittleEndian(Take(4)));
                    break;
                case Global:
                {
                    string module = ReadLine();
                    string name = ReadLine();
                    Push(Resolve(module, name));
                    break;
                }

                case StackGlobal:
                {
                    object? name = Pop1();
                    object? module = Pop1();
                    if (module is not string m || name is not string nm)
                    {
                        throw Unsafe(SafeCkptErrorCode.UnsafeOpcode, $"STACK_GLOBAL with a {TypeName(module)} and a {TypeName(name)} as module and name; only strings are accepted");
                    }

                    Push(Resolve(m, nm));
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

                case Build:
                {
                    object? state = Pop1();
                    Reductions.Build(this, Peek(), state);
                    break;
                }

                case BinPersId:
                    Push(PersistentLoad(Pop1()));
                    break;
                default:
                    string? why = RefusalReason(_op);
                    if (why is not null)
                    {
                        throw Unsafe(SafeCkptErrorCode.UnsafeOpcode, $"opcode {Name(_op)} is refused ({why})");
                    }

                    throw Invalid(_opStart, $"byte 0x{_op:x2} is not a pickle opcode SafeCkpt accepts; the pickle is corrupt");
            }
        }
    }

    // ---- reading arguments (never past the end, never across a FRAME boundary) ----
    private ReadOnlySpan<byte> Take(long count)
    {
        long end = _frameEnd >= 0 ? _frameEnd : _data.Length;
        if (_windowed && _frameEnd < 0 && count > end - _pos)
        {
            throw new NeedMoreDataException();
        }

        if (count < 0 || count > end - _pos)
        {
            string where = _frameEnd >= 0 && count <= _data.Length - _pos ? "its FRAME" : "the pickle";
            throw Invalid(_opStart, $"{Name(_op)} needs {count:N0} bytes but {where} ends first");
        }

        ReadOnlySpan<byte> s = _data.Span.Slice(_pos, (int)count);
        _pos += (int)count;
        return s;
    }

    private byte ReadByte() => Take(1)[0];

    private ulong ReadUInt64() => BinaryPrimitives.ReadUInt64LittleEndian(Take(8));

    private int ReadLength32()
    {
        uint n = BinaryPrimitives.ReadUInt32LittleEndian(Take(4));
        if (n > int.MaxValue)
        {
            throw Invalid(_opStart, $"{Name(_op)} declares {n:N0} bytes, more than the pickle holds");
        }

        return (int)n;
    }

    private long ReadLength64()
    {
        ulong n = ReadUInt64();
        if (n > int.MaxValue)
        {
            throw Invalid(_opStart, $"{Name(_op)} declares {n:N0} bytes, more than the pickle holds");
        }

        return (long)n;
    }

    private string ReadLine()
    {
        const int MaxLine = 512;
        ReadOnlySpan<byte> rest = _data.Span[_pos..];
        long end = _frameEnd >= 0 ? _frameEnd - _pos : rest.Length;
        int nl = rest[..(int)Math.Min(Math.Min(end, rest.Length), MaxLine + 1)].IndexOf((byte)'\n');
        if (nl < 0 && _windowed && _frameEnd < 0 && rest.Length <= MaxLine)
        {
            throw new NeedMoreDataException();
        }

        if (nl < 0)
        {
            throw Invalid(_opStart, $"{Name(_op)} has no end of line within {MaxLine} bytes");
        }

        string s = DecodeUtf8(rest[..nl]);
        _pos += nl + 1;
        return s;
    }

    private string DecodeUtf8(ReadOnlySpan<byte> bytes)
    {
        try
        {
            return StrictUtf8.GetString(bytes);
        }
        catch (DecoderFallbackException)
        {
            throw Invalid(_opStart, $"{Name(_op)} holds bytes that are not valid UTF-8");
        }
    }

    private BigInteger ReadLongValue(int n) => new(Take(n), isUnsigned: false, isBigEndian: false);

    [System.Diagnostics.CodeAnalysis.SuppressMessage("Performance", "CA1859", Justification = "Returns a boxed long or a BigInteger, like Python's int.")]
    private object ReadLong(int n)
    {
        if (n > _limits.MaxLongBytes)
        {
            throw Limit($"{Name(_op)} integer of {n:N0} bytes (at most {_limits.MaxLongBytes} are accepted)");
        }

        BigInteger v = ReadLongValue(n);
        if (v >= long.MinValue && v <= long.MaxValue)
        {
            return (long)v;
        }

        return v;
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

    private PyList ListTarget() => Peek() as PyList
        ?? throw Unsafe(SafeCkptErrorCode.UnsafeOpcode, $"{Name(_op)} into a {TypeName(Peek())}; only lists take APPEND");

    private PyDict DictTarget() => Peek() as PyDict
        ?? throw Unsafe(SafeCkptErrorCode.UnsafeOpcode, $"{Name(_op)} into a {TypeName(Peek())}; only dicts take SETITEM (CVE-2026-24747)");

    private object Hashable(object? key) => key is not null && PyKeyComparer.IsHashable(key)
        ? key
        : key is null ? throw Invalid(_opStart, $"{Name(_op)} with None as a dict key or set item (not supported)")
        : throw Invalid(_opStart, $"{Name(_op)} with an unhashable {TypeName(key)} as a dict key or set item");

    // ---- nesting depth (values are shared references; only depth can make later walks expensive) ----
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
        foreach (object? item in t.Items)
        {
            Deepen(t, item);
        }

        return t;
    }

    // ---- memo ----
    private void MemoPut(long index)
    {
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
        PyGlobal? g = PickleAllowlist.Lookup(module, name);
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
            throw Unsafe(SafeCkptErrorCode.UnsafeOpcode, $"BINPERSID with a {TypeName(pid)}; only ('storage', ...) tuples are accepted");
        }

        if (tag != "storage")
        {
            throw Unsafe(SafeCkptErrorCode.UnsafeOpcode, $"BINPERSID of kind '{tag}'; only 'storage' is accepted ('module' ids carry source code)");
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
        if (_persistent == PersistentIds.Legacy && t[5] is not null)
        {
            if (t[5] is not PyTuple { Count: 3 } view || view[0] is not string viewKey || view[1] is not long viewOffset || view[2] is not long viewSize || viewOffset < 0 || viewSize < 0)
            {
                throw Invalid(_opStart, $"storage '{key}': the view metadata must be None or (key, offset, size)");
            }

            storage = storage with { ViewKey = viewKey, ViewOffset = viewOffset, ViewNumel = viewSize };
        }

        _storages.Add(storage);
        return storage;
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

    internal InvalidCheckpointException Invalid(long offset, string what) =>
        new(SafeCkptErrorCode.InvalidPickle, _source.FilePath, $"{_source.FilePath}: invalid pickle at {_source.Where(offset)} ({Name(_op)}): {what}. The file is damaged or not a checkpoint.")
        {
            Offset = offset,
            TensorName = _source.RecordName,
        };

    internal UnsafeCheckpointException Unsafe(SafeCkptErrorCode code, string what) =>
        new(code, _source.FilePath, $"{_source.FilePath}: refused: {what}, at {_source.Where(_opStart)}. Nothing was executed. Do not load this file with torch.load; get the model as .safetensors from a trusted source.")
        {
            Offset = _opStart,
            RecordName = _source.RecordName,
        };

    private InvalidCheckpointException Limit(string what) =>
        new(SafeCkptErrorCode.PickleLimitExceeded, _source.FilePath, $"{_source.FilePath}: refused: {_source.RecordName} exceeds a safety limit at byte {_opStart}: {what}. Real checkpoints stay far below it; this file is crafted or corrupt.")
        {
            Offset = _opStart,
            TensorName = _source.RecordName,
        };

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
