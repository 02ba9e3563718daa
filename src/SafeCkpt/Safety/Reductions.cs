using System.Buffers.Binary;
using System.Numerics;
using System.Text;
using SafeCkpt.Formats.Torch;

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
            throw callee is PyObject
                ? m.Unsupported($"REDUCE calls a {PickleMachine.TypeName(callee)} instance")
                : m.Invalid(m.OpStart, $"REDUCE calls a {PickleMachine.TypeName(callee)}, which is not callable; torch.load would fail");
        }

        if (args is not PyTuple a)
        {
            throw m.Invalid(m.OpStart, $"REDUCE of {g.FullName} with a {PickleMachine.TypeName(args)} instead of an argument tuple");
        }

        switch (g.Kind)
        {
            case GlobalKind.RebuildTensor:
                Arity(m, g, a, 4, 4);
                return Tensor(m, g, a[0], a[1], a[2], a[3], dtype: null);
            case GlobalKind.RebuildTensorV2:
                // torch 0.4.1 wrote backward_hooks as None; torch assigns it as it is.
                Arity(m, g, a, 6, 7);
                RequireBool(m, g, a[4], "requires_grad");
                RequireEmptyState(m, g, a.Count > 6 ? a[6] : null, "metadata (it sets tensor flags such as the negative bit)");
                return Tensor(m, g, a[0], a[1], a[2], a[3], dtype: null);
            case GlobalKind.RebuildTensorV3:
                Arity(m, g, a, 7, 8);
                RequireBool(m, g, a[4], "requires_grad");
                if (a[6] is not PyGlobal { Kind: GlobalKind.TorchDType, DType: { } dt })
                {
                    throw m.Invalid(m.OpStart, $"{g.FullName}: the dtype argument is a {PickleMachine.TypeName(a[6])}, not a torch dtype");
                }

                RequireEmptyState(m, g, a.Count > 7 ? a[7] : null, "metadata (it sets tensor flags such as the negative bit)");
                return Tensor(m, g, a[0], a[1], a[2], a[3], dt);
            case GlobalKind.RebuildParameter:
                Arity(m, g, a, 3, 3);
                RequireBool(m, g, a[1], "requires_grad");
                return AsParameter(m, g, a[0]);
            case GlobalKind.RebuildParameterWithState:
                Arity(m, g, a, 4, 4);
                RequireBool(m, g, a[1], "requires_grad");
                RequireInertState(m, g, a[3]);
                return AsParameter(m, g, a[0]);
            case GlobalKind.Parameter:
                Arity(m, g, a, 1, 2);
                return AsParameter(m, g, a[0]);
            case GlobalKind.RebuildFromTypeV2:
                Arity(m, g, a, 4, 4);
                return FromType(m, g, a);
            case GlobalKind.TorchTensorClass:
                return EmptyTensor(m, g, a);
            case GlobalKind.TorchSize:
                Arity(m, g, a, 1, 1);
                if (a[0] is not PyTuple dims || !dims.Items.All(x => x is long))
                {
                    throw m.Invalid(m.OpStart, "torch.Size needs a tuple of integers");
                }

                return dims;
            case GlobalKind.OrderedDict:
                return g.Module == "typing" && a.Count > 0 ? throw m.Unsupported("typing.OrderedDict called with arguments") : NewOrderedDict(m, g, a);
            case GlobalKind.CodecsEncode:
                Arity(m, g, a, 1, 2);
                return Encode(m, g, a);
            case GlobalKind.Set:
            case GlobalKind.FrozenSet:
                Arity(m, g, a, 0, 1);
                var set = m.NewContainer(new PySet(g.Kind == GlobalKind.FrozenSet));
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
                    _ => throw m.Unsupported($"{g.FullName} of a {PickleMachine.TypeName(a[0])}; only bytes or (str, encoding) are read"),
                };
            case GlobalKind.NumpyScalar:
                Arity(m, g, a, 1, 2);
                return NumpyScalar(m, a);
            case GlobalKind.NumpyDType:
                Arity(m, g, a, 1, 3);
                if (a[0] is not string code || code.Length > 16)
                {
                    throw m.Unsupported("numpy.dtype of anything but a short type-code string such as 'f8'");
                }

                return new NumpyDTypeValue(code);
            case GlobalKind.NumpyReconstruct:
                Arity(m, g, a, 3, 3);
                if (a[0] is not PyGlobal { Kind: GlobalKind.NumpyNdarray })
                {
                    throw m.Unsupported($"{g.FullName} of a {PickleMachine.TypeName(a[0])} (only numpy.ndarray is read)");
                }

                return new NumpyArrayValue();
            case GlobalKind.TorchValue:
                return new PyObject(g) { State = a };
            case GlobalKind.RebuildFromNumpy:
                Arity(m, g, a, 4, 4);
                RequireBool(m, g, a[3], "requires_grad");
                return FromNumpy(m, g, a[0], a[1]);
            case GlobalKind.UnsupportedTorch:
                throw m.Unsupported($"'{g.FullName}' ({UnsupportedReason(g)})");
            case GlobalKind.StorageClass:
                throw m.Unsupported($"a storage built by calling '{g.FullName}' (torch.save stores storages as persistent ids)");
            case GlobalKind.LightningClass:
                throw m.Unsafe(SafeCkptErrorCode.UnsafeOpcode, $"REDUCE calls '{g.FullName}', which would run pytorch_lightning's constructor; SafeCkpt allows the class only as a value (a callback-state key)");
            default:
                throw m.Invalid(m.OpStart, $"REDUCE calls '{g.FullName}', which is a value here, not a function SafeCkpt reads; torch.load would fail or build something SafeCkpt does not");
        }
    }

    /// <summary>NEWOBJ: <c>cls.__new__(cls, *args)</c>, which for the allowlisted classes ignores or uses the arguments as CPython does.</summary>
    public static object? NewObject(PickleMachine m, object? cls, object? args)
    {
        if (cls is not PyGlobal g)
        {
            throw m.Invalid(m.OpStart, $"NEWOBJ on a {PickleMachine.TypeName(cls)}, which is not a class; torch.load would fail");
        }

        if (args is not PyTuple a)
        {
            throw m.Invalid(m.OpStart, $"NEWOBJ of {g.FullName} with a {PickleMachine.TypeName(args)} instead of an argument tuple");
        }

        return g.Kind switch
        {
            GlobalKind.ParameterDict when a.Count == 0 => m.NewContainer(new PyObject(g)),

            // dict.__new__ ignores its arguments: NEWOBJ(OrderedDict, ([('w', t)],)) is an EMPTY OrderedDict in Python.
            GlobalKind.OrderedDict when g.Module != "typing" => m.NewContainer(new PyDict(ordered: true)),
            GlobalKind.Parameter when a.Count is 1 or 2 => AsParameter(m, g, a[0]),
            GlobalKind.TorchTensorClass => EmptyTensor(m, g, a),
            GlobalKind.UnsupportedTorch or GlobalKind.StorageClass or GlobalKind.LightningClass or GlobalKind.Set or GlobalKind.FrozenSet
                or GlobalKind.Bytes or GlobalKind.ByteArray or GlobalKind.TorchSize or GlobalKind.ParameterDict
                => throw m.Unsupported($"NEWOBJ of '{g.FullName}' with {a.Count} arguments"),
            _ => throw m.Invalid(m.OpStart, $"NEWOBJ of '{g.FullName}', which is not a class SafeCkpt reads; torch.load would fail"),
        };
    }

    /// <summary>
    /// BUILD, as CPython's load_build: <c>__setstate__(state)</c> where the target has one (tensors), else the state
    /// dict updates <c>__dict__</c> and a slot dict sets attributes. On a class, function or module that would rewrite
    /// code, so it is unsafe.
    /// </summary>
    public static void Build(PickleMachine m, object? target, object? state)
    {
        switch (target)
        {
            case PyGlobal g:
                throw m.Unsafe(SafeCkptErrorCode.UnsafeOpcode, $"BUILD sets attributes of '{g.FullName}' itself (rewriting a module, class or function changes what later globals resolve to)");
            case TensorRef t:
                TensorSetState(m, t, state);
                break;
            case PyDict { IsOrderedDict: true } d when StateParts(state) is var (dict, slots) && dict is null or PyDict && slots is null or PyDict:
                // OrderedDict.__dict__ update: a state dict's _metadata. Kept as an inert attribute dict.
                if (dict is PyDict attributes)
                {
                    m.Charge(attributes.Count);
                    d.Attributes = attributes;
                }

                break;
            case PyObject o when o.Type.Kind == GlobalKind.ParameterDict && state is PyDict:
                o.State = state;
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
            case PyObject or NumpyDTypeValue or NumpyArrayValue:
                throw m.Unsupported($"BUILD on a {PickleMachine.TypeName(target)} with a {PickleMachine.TypeName(state)} state");
            default:
                if (state is null)
                {
                    // No __setstate__ and no state: CPython does nothing.
                    break;
                }

                throw m.Invalid(m.OpStart, $"BUILD on a {PickleMachine.TypeName(target)} with a {PickleMachine.TypeName(state)} state; it has no attributes to set and torch.load would fail");
        }
    }

    /// <summary>
    /// <c>Tensor.__setstate__</c>: a 4-tuple is the legacy tensor encoding (<c>set_(storage, offset, size, stride)</c>),
    /// a 5-tuple the legacy Variable one (<c>self.data = state[0]</c>), a 3-tuple sets requires_grad and hooks only.
    /// The change is made in place, so every reference to the tensor sees it, as in torch.
    /// </summary>
    private static void TensorSetState(PickleMachine m, TensorRef t, object? state)
    {
        switch (state)
        {
            case PyTuple { Count: 3 } s:
                RequireBool(m, null, s[0], "requires_grad");
                break;
            case PyTuple { Count: 4 } s:
                TensorRef view = Tensor(m, null, s[0], s[1], s[2], s[3], t.DType, countTensor: false);
                if (view.Storage?.DType is { } storageType && storageType != t.DType)
                {
                    throw m.Invalid(m.OpStart, $"Tensor.__setstate__: set_ with a storage of {storageType} on a {t.DType} tensor; torch.load would fail");
                }

                t.TakeDataOf(view);
                break;
            case PyTuple { Count: 5 } s:
                if (s[0] is not TensorRef data)
                {
                    throw m.Invalid(m.OpStart, $"Tensor.__setstate__: the data of a legacy Variable state is a {PickleMachine.TypeName(s[0])}, not a tensor");
                }

                RequireBool(m, null, s[3], "requires_grad");
                t.TakeDataOf(data);
                break;
            default:
                throw m.Invalid(m.OpStart, $"Tensor.__setstate__ with a {PickleMachine.TypeName(state)}{(state is PyTuple pt ? $" of {pt.Count} items" : "")}; torch reads 3-, 4- or 5-tuples and would fail");
        }
    }

    /// <summary>Splits a BUILD state into CPython's (state dict, slot state) pair.</summary>
    private static (object? Dict, object? Slots) StateParts(object? state) => state is PyTuple { Count: 2 } t ? (t[0], t[1]) : (state, null);

    /// <summary>
    /// Tensor state and metadata must be empty: torch applies non-empty ones as attributes or flags (replacing
    /// <c>.data</c>, setting the negative bit), and torch versions differ in whether they do.
    /// </summary>
    private static void RequireEmptyState(PickleMachine m, PyGlobal g, object? state, string what)
    {
        bool empty = state switch
        {
            null => true,
            PyDict d => d.Count == 0,
            PyTuple { Count: 2 } t => IsEmpty(t[0]) && IsEmpty(t[1]),
            _ => false,
        };
        if (!empty)
        {
            throw m.Unsupported($"{g.FullName} with non-empty {what}");
        }

        static bool IsEmpty(object? v) => v is null || v is PyDict { Count: 0 };
    }

    /// <summary>
    /// A tensor's or parameter's state (<c>torch._utils._set_obj_state</c>: one <c>setattr</c> per key): plain
    /// attributes that frameworks attach to parameters are inert and kept out of the data; a key that would replace
    /// the data (<c>data</c>, <c>real</c>, <c>imag</c>) or reach Python internals (<c>__class__</c>, ...) is unsupported.
    /// </summary>
    private static void RequireInertState(PickleMachine m, PyGlobal g, object? state)
    {
        foreach (object? part in StateParts(state) is var (dict, slots) ? new[] { dict, slots } : [])
        {
            switch (part)
            {
                case null:
                    break;
                case PyDict d:
                    foreach (KeyValuePair<object, object?> kv in d.Items)
                    {
                        if (kv.Key is not string name || name is "data" or "real" or "imag" or "grad" || name.StartsWith("__", StringComparison.Ordinal))
                        {
                            throw m.Unsupported($"{g.FullName} with the state attribute {PickleMachine.Describe(kv.Key)}, which would replace or reach into the tensor's data");
                        }
                    }

                    break;
                default:
                    throw m.Unsupported($"{g.FullName} with a {PickleMachine.TypeName(part)} as state");
            }
        }
    }

    /// <summary>
    /// <c>_rebuild_device_tensor_from_numpy(array, dtype, device, requires_grad)</c> is
    /// <c>torch.from_numpy(array).to(dtype)</c>: read when the array is a little-endian C-order array of that very
    /// dtype (its bytes are the tensor's); an array of another dtype would need numpy's cast and is unsupported.
    /// </summary>
    private static TensorRef FromNumpy(PickleMachine m, PyGlobal g, object? array, object? dtype)
    {
        if (array is not NumpyArrayValue { State: PyTuple { Count: 5 } st } || st[1] is not PyTuple shapeTuple || st[2] is not NumpyDTypeValue npType || st[3] is not bool fortran || st[4] is not byte[] raw)
        {
            throw m.Unsupported($"{g.FullName} of a numpy array SafeCkpt cannot read (only a plain array rebuilt with its shape, dtype and bytes)");
        }

        if (dtype is not PyGlobal { Kind: GlobalKind.TorchDType, DType: { } torchType })
        {
            throw m.Invalid(m.OpStart, $"{g.FullName}: the dtype argument is a {PickleMachine.TypeName(dtype)}, not a torch dtype");
        }

        string code = npType.Code.TrimStart('<', '=', '|');
        string order = npType.Code.Length > code.Length ? npType.Code[..1] : npType.ByteOrder;
        string? same = TorchStorageTypes.FromNumpyCode(code)?.Name;
        long[] shape = Ints(m, g.FullName, shapeTuple, "the array shape");
        if (same != torchType.Name || order is ">" || (fortran && shape.Count(d => d > 1) > 1))
        {
            throw m.Unsupported($"{g.FullName} of a numpy {npType.Code}{(fortran ? " Fortran-order" : "")} array as {torchType} (only a little-endian C-order array of the same dtype is read)");
        }

        long numel = 1;
        foreach (long d in shape)
        {
            numel = d >= 0 ? checked(numel * d) : throw m.Invalid(m.OpStart, $"{g.FullName}: the array has a negative dimension");
        }

        if (raw.LongLength != numel * torchType.ElementSize)
        {
            throw m.Invalid(m.OpStart, $"{g.FullName}: the array holds {raw.Length:N0} bytes, not the {numel * torchType.ElementSize:N0} its shape and dtype need");
        }

        long[] strides = new long[shape.Length];
        long stride = 1;
        for (int i = shape.Length - 1; i >= 0; i--)
        {
            strides[i] = stride;
            stride *= Math.Max(shape[i], 1);
        }

        m.CountTensor();
        var storage = new StorageRef($"numpy@{m.OpStart}", torchType, "cpu", numel, m.OpStart) { Inline = raw };
        return new TensorRef(storage, torchType, 0, shape, strides, false, m.OpStart);
    }

    /// <summary><c>torch.Tensor()</c>: an empty float32 tensor that a later BUILD may give data (the legacy tensor encoding).</summary>
    private static TensorRef EmptyTensor(PickleMachine m, PyGlobal g, PyTuple a)
    {
        if (a.Count != 0)
        {
            throw m.Unsupported($"{g.FullName} called with {a.Count} arguments (the legacy tensor constructor)");
        }

        m.CountTensor();
        return new TensorRef(null, TorchStorageTypes.Float32, 0, [0], [1], false, m.OpStart);
    }

    private static string UnsupportedReason(PyGlobal g) => g.Name switch
    {
        "_rebuild_sparse_tensor" or "_rebuild_sparse_csr_tensor" or "_rebuild_sparse_compressed_tensor" or "_get_layout" => "sparse tensors are not read",
        "_rebuild_meta_tensor_no_storage" => "meta tensors have no data to convert",
        "_rebuild_qtensor" => "quantized tensors are not read",
        "_rebuild_nested_tensor" => "nested tensors are not read",
        "_rebuild_device_tensor_from_numpy" or "_rebuild_device_tensor_from_cpu_tensor" => "tensors stored as numpy arrays are not read yet",
        _ => "tensor subclasses are not read",
    };

    private static TensorRef Tensor(PickleMachine m, PyGlobal? g, object? storage, object? offset, object? size, object? stride, TorchDType? dtype, bool countTensor = true)
    {
        string fn = g?.FullName ?? "Tensor.__setstate__";
        if (storage is not StorageRef s)
        {
            throw m.Invalid(m.OpStart, $"{fn}: the storage argument is a {PickleMachine.TypeName(storage)}, not a storage persistent id");
        }

        if (offset is not long off || off < 0)
        {
            throw m.Invalid(m.OpStart, $"{fn}: storage_offset must be a non-negative integer, not {Show(offset)}");
        }

        long[] sizes = Ints(m, fn, size, "size");
        long[] strides = Ints(m, fn, stride, "stride");
        if (sizes.Length != strides.Length)
        {
            throw m.Invalid(m.OpStart, $"{fn}: size has {sizes.Length} dimensions but stride has {strides.Length}");
        }

        TorchDType? elementType = dtype ?? s.DType;
        if (elementType is null)
        {
            throw m.Invalid(m.OpStart, $"{fn}: an untyped storage needs _rebuild_tensor_v3 with a dtype");
        }

        if (g is not null && dtype is not null && s.DType is not null && s.DType != dtype)
        {
            throw m.Invalid(m.OpStart, $"{fn}: dtype {dtype} does not match storage '{s.Key}' of {s.DType}");
        }

        if (countTensor)
        {
            m.CountTensor();
        }

        return new TensorRef(s, elementType, off, sizes, strides, false, m.OpStart);
    }

    private static long[] Ints(PickleMachine m, string fn, object? value, string what)
    {
        if (value is not PyTuple t || t.Count > Tensors.TensorInfo.MaxRank)
        {
            throw m.Invalid(m.OpStart, $"{fn}: {what} must be a tuple of at most {Tensors.TensorInfo.MaxRank} integers, not {Show(value)}");
        }

        var r = new long[t.Count];
        for (int i = 0; i < r.Length; i++)
        {
            r[i] = t[i] is long v ? v : throw m.Invalid(m.OpStart, $"{fn}: {what} holds {Show(t[i])}, not an integer");
        }

        return r;
    }

    private static TensorRef AsParameter(PickleMachine m, PyGlobal g, object? data) => data is TensorRef t
        ? t.Alias(parameter: true)
        : throw m.Invalid(m.OpStart, $"{g.FullName}: the data argument is a {PickleMachine.TypeName(data)}, not a tensor");

    private static TensorRef FromType(PickleMachine m, PyGlobal g, PyTuple a)
    {
        if (a[0] is not PyGlobal { Kind: GlobalKind.RebuildTensor or GlobalKind.RebuildTensorV2 or GlobalKind.RebuildTensorV3 or GlobalKind.RebuildParameter } func)
        {
            throw m.Unsupported($"{g.FullName} with the function {PickleMachine.TypeName(a[0])} (only tensor rebuild functions are read)");
        }

        if (a[1] is not PyGlobal { Kind: GlobalKind.TorchTensorClass or GlobalKind.Parameter } type)
        {
            throw m.Unsupported($"{g.FullName} with the type {PickleMachine.TypeName(a[1])} (only torch.Tensor and torch.nn.parameter.Parameter are read)");
        }

        RequireInertState(m, g, a[3]);
        if (Reduce(m, func, a[2]) is not TensorRef t)
        {
            throw m.Invalid(m.OpStart, $"{g.FullName} did not produce a tensor");
        }

        return type.Kind == GlobalKind.Parameter ? t.Alias(parameter: true) : t;
    }

    private static PyDict NewOrderedDict(PickleMachine m, PyGlobal g, PyTuple a)
    {
        var d = m.NewContainer(new PyDict(ordered: true));
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

    private static void RequireBool(PickleMachine m, PyGlobal? g, object? v, string what)
    {
        if (v is not bool)
        {
            throw m.Invalid(m.OpStart, $"{g?.FullName ?? "Tensor.__setstate__"}: {what} must be a bool, not {Show(v)}");
        }
    }

    private static string Show(object? v) => v switch
    {
        long or BigInteger => v.ToString()!,
        _ => "a " + PickleMachine.TypeName(v),
    };
}
