using System.Buffers.Binary;
using System.Numerics;
using System.Text;

namespace SafeCkpt.Safety;

/// <summary>
/// What REDUCE, NEWOBJ and BUILD do for each allowlisted global: each case builds an inert value from checked
/// arguments. A global not handled here (a storage class, a dtype, ModelCheckpoint) is a value only and cannot be
/// called.
/// </summary>
internal static class Reductions
{
    public static object? Reduce(PickleMachine m, object? callee, object? args)
    {
        if (callee is not PyGlobal g)
        {
            throw m.Unsafe(SafeCkptErrorCode.UnsafeOpcode, $"REDUCE calls a {PickleMachine.TypeName(callee)}; only allowlisted functions may be called");
        }

        if (args is not PyTuple a)
        {
            throw m.Invalid(m.OpStart, $"REDUCE of {g.FullName} with a {PickleMachine.TypeName(args)} instead of an argument tuple");
        }

        switch (g.Kind)
        {
            case GlobalKind.RebuildTensor:
                Arity(m, g, a, 4, 4);
                return Tensor(m, g, a[0], a[1], a[2], a[3], dtype: null, parameter: false);
            case GlobalKind.RebuildTensorV2:
                Arity(m, g, a, 6, 7);
                RequireBool(m, g, a[4], "requires_grad");
                RequireDict(m, g, a[5], "backward_hooks");
                return Tensor(m, g, a[0], a[1], a[2], a[3], dtype: null, parameter: false);
            case GlobalKind.RebuildTensorV3:
                Arity(m, g, a, 7, 8);
                RequireBool(m, g, a[4], "requires_grad");
                RequireDict(m, g, a[5], "backward_hooks");
                if (a[6] is not PyGlobal { Kind: GlobalKind.TorchDType, DType: { } dt })
                {
                    throw m.Invalid(m.OpStart, $"{g.FullName}: the dtype argument is a {PickleMachine.TypeName(a[6])}, not a torch dtype");
                }

                return Tensor(m, g, a[0], a[1], a[2], a[3], dt, parameter: false);
            case GlobalKind.RebuildParameter:
            case GlobalKind.RebuildParameterWithState:
                Arity(m, g, a, g.Kind == GlobalKind.RebuildParameter ? 3 : 4, g.Kind == GlobalKind.RebuildParameter ? 3 : 4);
                RequireBool(m, g, a[1], "requires_grad");
                RequireDict(m, g, a[2], "backward_hooks");
                return AsParameter(m, g, a[0]);
            case GlobalKind.Parameter:
                Arity(m, g, a, 1, 2);
                return AsParameter(m, g, a[0]);
            case GlobalKind.RebuildFromTypeV2:
                Arity(m, g, a, 4, 4);
                return FromType(m, g, a);
            case GlobalKind.TorchSize:
                Arity(m, g, a, 1, 1);
                if (a[0] is not PyTuple dims || !dims.Items.All(x => x is long))
                {
                    throw m.Invalid(m.OpStart, "torch.Size needs a tuple of integers");
                }

                return dims;
            case GlobalKind.OrderedDict:
                return NewOrderedDict(m, g, a);
            case GlobalKind.CodecsEncode:
                Arity(m, g, a, 1, 2);
                return Encode(m, g, a);
            case GlobalKind.Set:
            case GlobalKind.FrozenSet:
                Arity(m, g, a, 0, 1);
                var set = new PySet(g.Kind == GlobalKind.FrozenSet);
                if (a.Count == 1)
                {
                    foreach (object? item in Iterate(m, g, a[0]))
                    {
                        set.Items.Add(item is not null && PyKeyComparer.IsHashable(item) ? item : throw m.Invalid(m.OpStart, $"{g.FullName} of an unhashable {PickleMachine.TypeName(item)}"));
                    }
                }

                return set;
            case GlobalKind.ByteArray:
            case GlobalKind.Bytes:
                Arity(m, g, a, 0, 2);
                return a.Count switch
                {
                    0 => Array.Empty<byte>(),
                    1 when a[0] is byte[] b => Copy(m, b),
                    2 => Encode(m, g, a),
                    _ => throw m.Invalid(m.OpStart, $"{g.FullName} with a {PickleMachine.TypeName(a[0])}; only bytes or (str, encoding) are accepted"),
                };
            case GlobalKind.NumpyScalar:
                Arity(m, g, a, 1, 2);
                return NumpyScalar(m, a);
            case GlobalKind.NumpyDType:
                Arity(m, g, a, 1, 3);
                if (a[0] is not string code || code.Length > 16)
                {
                    throw m.Invalid(m.OpStart, "numpy.dtype needs a short type-code string such as 'f8'");
                }

                return new NumpyDTypeValue(code);
            case GlobalKind.NumpyReconstruct:
                Arity(m, g, a, 3, 3);
                if (a[0] is not PyGlobal { Kind: GlobalKind.NumpyNdarray })
                {
                    throw m.Unsafe(SafeCkptErrorCode.UnsafeOpcode, $"{g.FullName} of a {PickleMachine.TypeName(a[0])}; only numpy.ndarray is accepted");
                }

                return new NumpyArrayValue();
            default:
                throw m.Unsafe(SafeCkptErrorCode.UnsafeOpcode, $"REDUCE calls '{g.FullName}', which is allowed as a value but not as a function");
        }
    }

    public static object? NewObject(PickleMachine m, object? cls, object? args)
    {
        if (cls is not PyGlobal g)
        {
            throw m.Unsafe(SafeCkptErrorCode.UnsafeOpcode, $"NEWOBJ on a {PickleMachine.TypeName(cls)}; only allowlisted classes may be instantiated");
        }

        if (args is not PyTuple a)
        {
            throw m.Invalid(m.OpStart, $"NEWOBJ of {g.FullName} with a {PickleMachine.TypeName(args)} instead of an argument tuple");
        }

        return g.Kind switch
        {
            GlobalKind.ParameterDict when a.Count == 0 => new PyObject(g),
            GlobalKind.OrderedDict => NewOrderedDict(m, g, a),
            GlobalKind.Parameter when a.Count is 1 or 2 => AsParameter(m, g, a[0]),
            _ => throw m.Unsafe(SafeCkptErrorCode.UnsafeOpcode, $"NEWOBJ of '{g.FullName}' with {a.Count} arguments is not accepted"),
        };
    }

    public static void Build(PickleMachine m, object? target, object? state)
    {
        switch (target)
        {
            case PyDict { IsOrderedDict: true } d when state is PyDict attributes:
                // OrderedDict.__dict__ update: a state dict's _metadata. Kept as an inert attribute dict.
                m.Charge(attributes.Count);
                d.Attributes = attributes;
                break;
            case PyObject o when o.Type.Kind == GlobalKind.ParameterDict && state is PyDict:
                o.State = state;
                break;
            case TensorRef when state is null or PyDict or PyTuple:
                // Tensor/Parameter state (requires_grad, hooks, python attributes): ignored, no data in it.
                break;
            case NumpyDTypeValue dt when state is PyTuple t:
                if (t.Count > 1 && t[1] is string order && order.Length == 1)
                {
                    dt.ByteOrder = order;
                }

                break;
            case NumpyArrayValue arr when state is PyTuple:
                arr.State = state;
                break;
            default:
                throw m.Unsafe(SafeCkptErrorCode.UnsafeOpcode, $"BUILD on a {PickleMachine.TypeName(target)} with a {PickleMachine.TypeName(state)} state; BUILD is accepted only on OrderedDict, ParameterDict, tensors and numpy values");
        }
    }

    private static TensorRef Tensor(PickleMachine m, PyGlobal g, object? storage, object? offset, object? size, object? stride, TorchDType? dtype, bool parameter)
    {
        if (storage is not StorageRef s)
        {
            throw m.Invalid(m.OpStart, $"{g.FullName}: the storage argument is a {PickleMachine.TypeName(storage)}, not a storage persistent id");
        }

        if (offset is not long off || off < 0)
        {
            throw m.Invalid(m.OpStart, $"{g.FullName}: storage_offset must be a non-negative integer, not {Show(offset)}");
        }

        long[] sizes = Ints(m, g, size, "size");
        long[] strides = Ints(m, g, stride, "stride");
        if (sizes.Length != strides.Length)
        {
            throw m.Invalid(m.OpStart, $"{g.FullName}: size has {sizes.Length} dimensions but stride has {strides.Length}");
        }

        TorchDType? elementType = dtype ?? s.DType;
        if (elementType is null)
        {
            throw m.Invalid(m.OpStart, $"{g.FullName}: an untyped storage needs _rebuild_tensor_v3 with a dtype");
        }

        if (dtype is not null && s.DType is not null && s.DType != dtype)
        {
            throw m.Invalid(m.OpStart, $"{g.FullName}: dtype {dtype} does not match storage '{s.Key}' of {s.DType}");
        }

        return new TensorRef(s, elementType, off, sizes, strides, parameter, m.OpStart);
    }

    private static long[] Ints(PickleMachine m, PyGlobal g, object? value, string what)
    {
        if (value is not PyTuple t || t.Count > Tensors.TensorInfo.MaxRank)
        {
            throw m.Invalid(m.OpStart, $"{g.FullName}: {what} must be a tuple of at most {Tensors.TensorInfo.MaxRank} integers, not {Show(value)}");
        }

        var r = new long[t.Count];
        for (int i = 0; i < r.Length; i++)
        {
            r[i] = t[i] is long v ? v : throw m.Invalid(m.OpStart, $"{g.FullName}: {what} holds {Show(t[i])}, not an integer");
        }

        return r;
    }

    private static TensorRef AsParameter(PickleMachine m, PyGlobal g, object? data) => data is TensorRef t
        ? t with { IsParameter = true }
        : throw m.Invalid(m.OpStart, $"{g.FullName}: the data argument is a {PickleMachine.TypeName(data)}, not a tensor");

    private static TensorRef FromType(PickleMachine m, PyGlobal g, PyTuple a)
    {
        if (a[0] is not PyGlobal { Kind: GlobalKind.RebuildTensor or GlobalKind.RebuildTensorV2 or GlobalKind.RebuildTensorV3 or GlobalKind.RebuildParameter } func)
        {
            throw m.Unsafe(SafeCkptErrorCode.UnsafeOpcode, $"{g.FullName} with the function {PickleMachine.TypeName(a[0])}; only tensor rebuild functions are accepted");
        }

        if (a[1] is not PyGlobal { Kind: GlobalKind.TorchTensorClass or GlobalKind.Parameter } type)
        {
            throw m.Unsafe(SafeCkptErrorCode.UnsafeOpcode, $"{g.FullName} with the type {PickleMachine.TypeName(a[1])}; only torch.Tensor and torch.nn.parameter.Parameter are accepted");
        }

        if (Reduce(m, func, a[2]) is not TensorRef t)
        {
            throw m.Invalid(m.OpStart, $"{g.FullName} did not produce a tensor");
        }

        return type.Kind == GlobalKind.Parameter ? t with { IsParameter = true } : t;
    }

    private static PyDict NewOrderedDict(PickleMachine m, PyGlobal g, PyTuple a)
    {
        var d = new PyDict(ordered: true);
        if (a.Count == 0)
        {
            return d;
        }

        if (a.Count != 1)
        {
            throw m.Invalid(m.OpStart, $"{g.FullName} with {a.Count} arguments");
        }

        foreach (object? pair in Iterate(m, g, a[0]))
        {
            object?[] kv = pair switch
            {
                PyTuple { Count: 2 } t => t.Items,
                PyList { Items.Count: 2 } l => [l.Items[0], l.Items[1]],
                _ => throw m.Invalid(m.OpStart, $"{g.FullName} of a {PickleMachine.TypeName(pair)}; items must be (key, value) pairs"),
            };
            object key = kv[0] is not null && PyKeyComparer.IsHashable(kv[0]) ? kv[0]! : throw m.Invalid(m.OpStart, $"{g.FullName} with an unhashable key");
            d.Set(key, kv[1]);
        }

        return d;
    }

    private static List<object?> Iterate(PickleMachine m, PyGlobal g, object? items)
    {
        List<object?> list = items switch
        {
            PyList l => l.Items,
            PyTuple t => [.. t.Items],
            PySet s => [.. s.Items],
            _ => throw m.Invalid(m.OpStart, $"{g.FullName} of a {PickleMachine.TypeName(items)}; a list, tuple or set is expected"),
        };
        m.Charge(list.Count);
        return list;
    }

    private static byte[] Encode(PickleMachine m, PyGlobal g, PyTuple a)
    {
        if (a[0] is not string text)
        {
            throw m.Invalid(m.OpStart, $"{g.FullName} of a {PickleMachine.TypeName(a[0])}; a str is expected");
        }

        m.Charge(text.Length);
        string encoding = a.Count > 1 ? a[1] as string ?? throw m.Invalid(m.OpStart, $"{g.FullName}: the encoding must be a str") : "utf-8";
        switch (encoding.ToUpperInvariant())
        {
            case "LATIN1" or "LATIN-1" or "ISO-8859-1" or "ISO8859-1":
                foreach (char c in text)
                {
                    if (c > 0xFF)
                    {
                        throw m.Invalid(m.OpStart, $"{g.FullName}: the text has a character above U+00FF, which latin-1 cannot encode");
                    }
                }

                return Encoding.Latin1.GetBytes(text);
            case "UTF-8" or "UTF8" or "ASCII":
                try
                {
                    return new UTF8Encoding(false, true).GetBytes(text);
                }
                catch (EncoderFallbackException)
                {
                    throw m.Invalid(m.OpStart, $"{g.FullName}: the text is not encodable as UTF-8");
                }

            default:
                throw m.Invalid(m.OpStart, $"{g.FullName}: the encoding '{encoding}' is not accepted (latin1 or utf-8)");
        }
    }

    private static byte[] Copy(PickleMachine m, byte[] b)
    {
        m.Charge(b.Length);
        return (byte[])b.Clone();
    }

    private static object NumpyScalar(PickleMachine m, PyTuple a)
    {
        if (a[0] is not NumpyDTypeValue dt)
        {
            throw m.Invalid(m.OpStart, $"numpy scalar with a {PickleMachine.TypeName(a[0])} instead of a numpy.dtype");
        }

        if (a.Count < 2 || a[1] is not byte[] raw)
        {
            throw m.Invalid(m.OpStart, "numpy scalar without its raw bytes");
        }

        string code = dt.Code.TrimStart('<', '>', '=', '|');
        bool big = dt.ByteOrder == ">" || dt.Code.StartsWith('>');
        Span<byte> le = stackalloc byte[8];
        if (raw.Length is 1 or 2 or 4 or 8)
        {
            raw.CopyTo(le);
            if (big)
            {
                le[..raw.Length].Reverse();
            }
        }

        return (code, raw.Length) switch
        {
            ("f8", 8) => BinaryPrimitives.ReadDoubleLittleEndian(le),
            ("f4", 4) => (double)BinaryPrimitives.ReadSingleLittleEndian(le),
            ("f2", 2) => (double)BinaryPrimitives.ReadHalfLittleEndian(le),
            ("i8", 8) => BinaryPrimitives.ReadInt64LittleEndian(le),
            ("i4", 4) => (long)BinaryPrimitives.ReadInt32LittleEndian(le),
            ("i2", 2) => (long)BinaryPrimitives.ReadInt16LittleEndian(le),
            ("i1", 1) => (long)(sbyte)le[0],
            ("u1", 1) => (long)le[0],
            ("u2", 2) => (long)BinaryPrimitives.ReadUInt16LittleEndian(le),
            ("u4", 4) => (long)BinaryPrimitives.ReadUInt32LittleEndian(le),
            ("u8", 8) => (object)new BigInteger(BinaryPrimitives.ReadUInt64LittleEndian(le)),
            ("b1", 1) => le[0] != 0,
            _ => new NumpyScalarValue(dt.Code, (byte[])raw.Clone()),
        };
    }

    private static void Arity(PickleMachine m, PyGlobal g, PyTuple a, int min, int max)
    {
        if (a.Count < min || a.Count > max)
        {
            string want = min == max ? $"{min}" : $"{min} to {max}";
            throw m.Invalid(m.OpStart, $"{g.FullName} called with {a.Count} arguments ({want} expected)");
        }
    }

    private static void RequireBool(PickleMachine m, PyGlobal g, object? v, string what)
    {
        if (v is not bool)
        {
            throw m.Invalid(m.OpStart, $"{g.FullName}: {what} must be a bool, not {Show(v)}");
        }
    }

    private static void RequireDict(PickleMachine m, PyGlobal g, object? v, string what)
    {
        if (v is not PyDict)
        {
            throw m.Invalid(m.OpStart, $"{g.FullName}: {what} must be an OrderedDict, not {Show(v)}");
        }
    }

    private static string Show(object? v) => v switch
    {
        long or BigInteger => v.ToString()!,
        _ => "a " + PickleMachine.TypeName(v),
    };
}
