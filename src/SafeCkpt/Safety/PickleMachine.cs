using System.Numerics;
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

    /// <summary>
    /// The most opcodes one pickle may run or a scan may walk: about 40 per tensor at the tensor cap (a torch.save
    /// state dict spends 20-30 per tensor), so a hostile walk stops at about half of the 20 million it once allowed.
    /// </summary>
    public long MaxOpcodes { get; init; } = 40L * Tensors.TensorStore.MaxTensors;

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
/// Partial files by concern: the opcode loop and errors here; stack and memo, containers, protocol-0 text numbers,
/// globals and persistent ids beside it. What a persistent id names is the caller's (<see cref="IPersistentLoader"/>;
/// torch storages in Formats/Torch).
/// </summary>
internal sealed partial class PickleMachine
{
    private static readonly object MarkObject = new();

    private readonly PickleTokenizer _tok;
    private readonly PickleSource _source;
    private readonly PickleLimits _limits;
    private readonly IPersistentLoader? _persistent;
    private readonly List<object?> _stack = [];
    private readonly List<int> _marks = [];
    private readonly Dictionary<long, object?> _memo = [];
    private long _opStart;
    private byte _op;
    private long _work;
    private int _containers;
    private int _tensors;

    private PickleMachine(ReadOnlyMemory<byte> data, PickleSource source, PickleLimits limits, IPersistentLoader? persistent, bool windowed)
    {
        _tok = new PickleTokenizer(data, source, limits, windowed);
        _source = source;
        _limits = limits;
        _persistent = persistent;
    }

    /// <summary>The offset just after STOP.</summary>
    public int EndOffset => _tok.Position;

    /// <summary>Runs one pickle from the start of <paramref name="data"/> to its STOP; the bytes after it are left to the caller.</summary>
    /// <param name="data">The pickle, possibly followed by other bytes.</param>
    /// <param name="source">Names for messages.</param>
    /// <param name="persistent">torch's persistent_load for the pickle's persistent ids (storages); null for a bare pickle, which may have none.</param>
    /// <param name="limits">Resource limits; <see cref="PickleLimits.Default"/> when null.</param>
    /// <param name="windowed">The data is a prefix of a longer stream: running out of it throws <see cref="NeedMoreDataException"/> so the caller can retry with more.</param>
    public static (object? Value, PickleMachine Machine) Run(ReadOnlyMemory<byte> data, PickleSource source, IPersistentLoader? persistent, PickleLimits? limits = null, bool windowed = false)
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

                    if (op.Int is < MinSupportedProtocol or > HighestProtocol)
                    {
                        throw Invalid(_opStart, $"pickle protocol {op.Int} is not supported ({MinSupportedProtocol} to {HighestProtocol} are)");
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