using System.Buffers;
using System.Buffers.Binary;
using System.Numerics;
using System.Text;
using SafeCkpt.Tensors;

namespace SafeCkpt.Formats.Torch;

/// <summary>
/// Writes the <c>data.pkl</c> of a PyTorch zip checkpoint: protocol 2, the tree a <see cref="CkptLayout"/> planned
/// (<c>{"state_dict": {name: tensor}}</c> by default), each tensor as <c>torch._utils._rebuild_tensor_v2(persistent storage, 0, size, stride, False, OrderedDict())</c>.
/// Only opcodes and globals that <c>torch.load(weights_only=True)</c> accepts are emitted (no BINFLOAT, no text INT).
/// </summary>
internal static class TorchPickleWriter
{
    /// <summary>Builds <c>{"state_dict": {name: tensor}}</c>; storage keys are the tensors' indexes as decimal strings.</summary>
    public static byte[] Write(IReadOnlyList<TensorInfo> tensors)
    {
        var dict = new DictNode(ordered: false, wasParameterDict: false);
        foreach (TensorInfo t in tensors)
        {
            dict.Add(t.Name, new TensorSlot(t.Name));
        }

        return Write(CkptLayout.StateDictWrapper(dict), tensors);
    }

    /// <summary>
    /// Builds the pickle of <paramref name="root"/>, each <see cref="TensorSlot"/> naming one of
    /// <paramref name="tensors"/> (each exactly once); storage keys are the tensors' indexes as decimal strings.
    /// </summary>
    public static byte[] Write(LayoutNode root, IReadOnlyList<TensorInfo> tensors)
    {
        var index = new Dictionary<string, int>(tensors.Count, StringComparer.Ordinal);
        for (int i = 0; i < tensors.Count; i++)
        {
            index.Add(tensors[i].Name, i);
        }

        var p = new PickleBuilder();
        var written = new bool[tensors.Count];
        p.Op(0x80).Byte(2);                     // PROTO 2
        Emit(p, root, tensors, index, written);
        p.Op((byte)'.');                        // STOP
        int missing = Array.IndexOf(written, false);
        if (missing >= 0)
        {
            throw new InvalidOperationException($"Layout error: tensor '{tensors[missing].Name}' has no place in the pickle tree.");
        }

        return p.ToArray();
    }

    /// <summary>One node, depth first (the reader bounds nesting at <see cref="Safety.PickleLimits.MaxNesting"/>).</summary>
    private static void Emit(PickleBuilder p, LayoutNode node, IReadOnlyList<TensorInfo> tensors, Dictionary<string, int> index, bool[] written)
    {
        switch (node)
        {
            case TensorSlot s:
                int i = index.TryGetValue(s.Name, out int at) && !written[at] ? at : throw new InvalidOperationException($"Layout error: the pickle tree places tensor '{s.Name}' twice, or a tensor the plan does not hold.");
                written[i] = true;
                Tensor(p, tensors[i], i);
                return;
            case ScalarValue v:
                Scalar(p, v.Value);
                return;
            case SequenceNode { IsTuple: true } t when t.Items.Count <= 3:
                if (t.Items.Count == 0)
                {
                    p.Op((byte)')');            // EMPTY_TUPLE
                    return;
                }

                foreach (LayoutNode x in t.Items)
                {
                    Emit(p, x, tensors, index, written);
                }

                p.Op((byte)(0x85 + t.Items.Count - 1)); // TUPLE1..3
                return;
            case SequenceNode { IsTuple: true } t:
                p.Op((byte)'(');                // MARK
                foreach (LayoutNode x in t.Items)
                {
                    Emit(p, x, tensors, index, written);
                }

                p.Op((byte)'t');                // TUPLE
                return;
            case SequenceNode l:
                p.Op((byte)']');                // EMPTY_LIST
                for (int k = 0; k < l.Items.Count; k += 1000)
                {
                    // As pickle batches: MARK items APPENDS per 1000, a batch of one as a plain APPEND.
                    bool one = l.Items.Count - k == 1;
                    if (!one)
                    {
                        p.Op((byte)'(');        // MARK
                    }

                    foreach (LayoutNode x in l.Items.Skip(k).Take(1000))
                    {
                        Emit(p, x, tensors, index, written);
                    }

                    p.Op(one ? (byte)'a' : (byte)'e'); // APPEND / APPENDS
                }

                return;
            case DictNode d:
                if (d.Ordered)
                {
                    p.Global("collections", "OrderedDict");
                    p.Op((byte)')');            // EMPTY_TUPLE
                    p.Op((byte)'R');            // REDUCE: OrderedDict()
                }
                else
                {
                    p.Op((byte)'}');            // EMPTY_DICT
                }

                for (int k = 0; k < d.Items.Count; k += 1000)
                {
                    // As pickle batches: MARK pairs SETITEMS per 1000, a batch of one as a plain SETITEM.
                    bool one = d.Items.Count - k == 1;
                    if (!one)
                    {
                        p.Op((byte)'(');        // MARK
                    }

                    foreach ((LayoutNode key, LayoutNode value) in d.Items.Skip(k).Take(1000))
                    {
                        Emit(p, key, tensors, index, written);
                        Emit(p, value, tensors, index, written);
                    }

                    p.Op(one ? (byte)'s' : (byte)'u'); // SETITEM / SETITEMS
                }

                if (d.Ordered && d.Attributes is { Items.Count: > 0 } attributes)
                {
                    Emit(p, attributes, tensors, index, written);
                    p.Op((byte)'b');            // BUILD: OrderedDict.__dict__.update (the _metadata of a state dict)
                }

                return;
            default:
                throw new InvalidOperationException($"Layout error: a {node.GetType().Name} cannot be written; the layout planner leaves such values out.");
        }
    }

    /// <summary><c>torch._utils._rebuild_tensor_v2(persistent storage, 0, size, stride, False, OrderedDict())</c>.</summary>
    private static void Tensor(PickleBuilder p, TensorInfo t, int i)
    {
        p.Global("torch._utils", "_rebuild_tensor_v2");
        p.Op((byte)'(');                        // MARK: the REDUCE arguments
        p.Op((byte)'(');                        // MARK: the persistent id tuple
        p.Str("storage");
        p.Global("torch", TorchStorageTypes.StorageClassOf(t.DType)!);
        p.Str(i.ToString(System.Globalization.CultureInfo.InvariantCulture));
        p.Str("cpu");
        p.Int(t.ElementCount);
        p.Op((byte)'t');                        // TUPLE
        p.Op((byte)'Q');                        // BINPERSID
        p.Int(0);                               // storage offset
        p.Tuple(t.Shape);
        p.Tuple(ContiguousStrides(t.Shape));
        p.Op(0x89);                             // NEWFALSE: requires_grad
        p.Global("collections", "OrderedDict");
        p.Op((byte)')');                        // EMPTY_TUPLE
        p.Op((byte)'R');                        // REDUCE: OrderedDict()
        p.Op((byte)'t');                        // TUPLE
        p.Op((byte)'R');                        // REDUCE: _rebuild_tensor_v2(...)
    }

    /// <summary>None, bool, int (any size) or str: the leaves torch 1.13's weights_only loader reads.</summary>
    private static void Scalar(PickleBuilder p, object? value)
    {
        switch (value)
        {
            case null:
                p.Op((byte)'N');                // NONE
                return;
            case bool b:
                p.Op(b ? (byte)0x88 : (byte)0x89); // NEWTRUE / NEWFALSE
                return;
            case long l:
                p.Int(l);
                return;
            case BigInteger big:
                p.Long(big);
                return;
            case string s:
                p.Str(s);
                return;
            default:
                throw new InvalidOperationException($"Layout error: a {value.GetType().Name} value cannot be written; the layout planner leaves such values out.");
        }
    }

    /// <summary>C-order strides of a contiguous tensor.</summary>
    public static long[] ContiguousStrides(IReadOnlyList<long> shape)
    {
        var strides = new long[shape.Count];
        long s = 1;
        for (int i = shape.Count - 1; i >= 0; i--)
        {
            strides[i] = s;
            s *= Math.Max(1, shape[i]);
        }

        return strides;
    }

    private sealed class PickleBuilder
    {
        private readonly ArrayBufferWriter<byte> _out = new();
        private readonly Dictionary<string, int> _memo = new(StringComparer.Ordinal);

        public PickleBuilder Op(byte op)
        {
            _out.Write([op]);
            return this;
        }

        public PickleBuilder Byte(byte b) => Op(b);

        public void Str(string s)
        {
            byte[] utf8 = Encoding.UTF8.GetBytes(s);
            Op((byte)'X');                      // BINUNICODE
            Span<byte> n = stackalloc byte[4];
            BinaryPrimitives.WriteUInt32LittleEndian(n, (uint)utf8.Length);
            _out.Write(n);
            _out.Write(utf8);
        }

        /// <summary>GLOBAL, memoised: the first use writes it and BINPUTs it, later uses BINGET it.</summary>
        public void Global(string module, string name)
        {
            string key = module + "\n" + name;
            if (_memo.TryGetValue(key, out int slot))
            {
                Memo((byte)'h', (byte)'j', slot); // BINGET / LONG_BINGET
                return;
            }

            Op((byte)'c');
            _out.Write(Encoding.ASCII.GetBytes(module + "\n" + name + "\n"));
            slot = _memo.Count;
            _memo[key] = slot;
            Memo((byte)'q', (byte)'r', slot);   // BINPUT / LONG_BINPUT
        }

        public void Int(long v)
        {
            if (v is >= 0 and < 256)
            {
                Op((byte)'K').Byte((byte)v);    // BININT1
            }
            else if (v is >= 0 and < 65536)
            {
                Op((byte)'M');                  // BININT2
                Span<byte> n = stackalloc byte[2];
                BinaryPrimitives.WriteUInt16LittleEndian(n, (ushort)v);
                _out.Write(n);
            }
            else if (v is >= int.MinValue and <= int.MaxValue)
            {
                Op((byte)'J');                  // BININT
                Span<byte> n = stackalloc byte[4];
                BinaryPrimitives.WriteInt32LittleEndian(n, (int)v);
                _out.Write(n);
            }
            else
            {
                Op(0x8a).Byte(8);               // LONG1, 8 bytes little-endian two's complement
                Span<byte> n = stackalloc byte[8];
                BinaryPrimitives.WriteInt64LittleEndian(n, v);
                _out.Write(n);
            }
        }

        /// <summary>LONG1: little-endian two's complement, as pickle writes ints beyond 64 bits.</summary>
        public void Long(BigInteger v)
        {
            byte[] bytes = v.ToByteArray();
            if (bytes.Length > 255)
            {
                throw new InvalidOperationException("Layout error: an integer of more than 255 bytes.");
            }

            Op(0x8a).Byte((byte)bytes.Length);
            _out.Write(bytes);
        }

        public void Tuple(IReadOnlyList<long> values)
        {
            switch (values.Count)
            {
                case 0:
                    Op((byte)')');              // EMPTY_TUPLE
                    return;
                case <= 3:
                    foreach (long v in values)
                    {
                        Int(v);
                    }

                    Op((byte)(0x85 + values.Count - 1)); // TUPLE1..3
                    return;
                default:
                    Op((byte)'(');
                    foreach (long v in values)
                    {
                        Int(v);
                    }

                    Op((byte)'t');
                    return;
            }
        }

        public byte[] ToArray() => _out.WrittenSpan.ToArray();

        /// <summary>A memo opcode: the one-byte form for slots below 256, else the four-byte form.</summary>
        private void Memo(byte shortOp, byte longOp, int slot)
        {
            if (slot < 256)
            {
                Op(shortOp).Byte((byte)slot);
                return;
            }

            Op(longOp);
            Span<byte> n = stackalloc byte[4];
            BinaryPrimitives.WriteUInt32LittleEndian(n, (uint)slot);
            _out.Write(n);
        }
    }
}
