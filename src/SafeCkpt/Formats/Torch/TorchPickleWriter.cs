using System.Buffers;
using System.Buffers.Binary;
using System.Text;
using SafeCkpt.Tensors;

namespace SafeCkpt.Formats.Torch;

/// <summary>
/// Writes the <c>data.pkl</c> of a PyTorch zip checkpoint: protocol 2, <c>{"state_dict": {name: tensor}}</c>, each
/// tensor as <c>torch._utils._rebuild_tensor_v2(persistent storage, 0, size, stride, False, OrderedDict())</c>.
/// Only opcodes and globals that <c>torch.load(weights_only=True)</c> accepts are emitted (no BINFLOAT, no text INT).
/// </summary>
internal static class TorchPickleWriter
{
    /// <summary>The torch storage class of each dtype that legacy typed storages can hold.</summary>
    public static string? StorageClass(DType dtype) => dtype switch
    {
        DType.Float32 => "FloatStorage",
        DType.Float16 => "HalfStorage",
        DType.BFloat16 => "BFloat16Storage",
        DType.Float64 => "DoubleStorage",
        DType.Int64 => "LongStorage",
        DType.Int32 => "IntStorage",
        DType.Int16 => "ShortStorage",
        DType.Int8 => "CharStorage",
        DType.UInt8 => "ByteStorage",
        DType.Bool => "BoolStorage",
        DType.Complex64 => "ComplexFloatStorage",
        _ => null,
    };

    /// <summary>Builds the pickle; storage keys are the tensors' indexes as decimal strings.</summary>
    public static byte[] Write(IReadOnlyList<TensorInfo> tensors)
    {
        var p = new PickleBuilder();
        p.Op(0x80).Byte(2);                     // PROTO 2
        p.Op((byte)'}');                        // EMPTY_DICT (top level)
        p.Str("state_dict");
        p.Op((byte)'}');                        // EMPTY_DICT (the state dict)
        if (tensors.Count > 0)
        {
            p.Op((byte)'(');                    // MARK
            for (int i = 0; i < tensors.Count; i++)
            {
                TensorInfo t = tensors[i];
                p.Str(t.Name);
                p.Global("torch._utils", "_rebuild_tensor_v2");
                p.Op((byte)'(');                // MARK: the REDUCE arguments
                p.Op((byte)'(');                // MARK: the persistent id tuple
                p.Str("storage");
                p.Global("torch", StorageClass(t.DType)!);
                p.Str(i.ToString(System.Globalization.CultureInfo.InvariantCulture));
                p.Str("cpu");
                p.Int(t.ElementCount);
                p.Op((byte)'t');                // TUPLE
                p.Op((byte)'Q');                // BINPERSID
                p.Int(0);                       // storage offset
                p.Tuple(t.Shape);
                p.Tuple(ContiguousStrides(t.Shape));
                p.Op(0x89);                     // NEWFALSE: requires_grad
                p.Global("collections", "OrderedDict");
                p.Op((byte)')');                // EMPTY_TUPLE
                p.Op((byte)'R');                // REDUCE: OrderedDict()
                p.Op((byte)'t');                // TUPLE
                p.Op((byte)'R');                // REDUCE: _rebuild_tensor_v2(...)
                if (i % 1000 == 999 && i + 1 < tensors.Count)
                {
                    p.Op((byte)'u').Op((byte)'(');  // SETITEMS in batches, as pickle does
                }
            }

            p.Op((byte)'u');                    // SETITEMS
        }

        p.Op((byte)'s');                        // SETITEM: top["state_dict"] = state dict
        p.Op((byte)'.');                        // STOP
        return p.ToArray();
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
