using System.Buffers.Binary;
using System.IO.Hashing;
using System.Text;
using SafeCkpt.IO;
using SafeCkpt.Tensors;

namespace SafeCkpt.Formats.Torch;

/// <summary>
/// Writes PyTorch zip checkpoints the way <c>torch.save</c> does: <c>archive/data.pkl</c> (protocol 2, the planned
/// layout or <c>{"state_dict": ...}</c>), one stored (uncompressed) record per tensor at <c>archive/data/N</c> with its data
/// 64-byte aligned by an <c>FB</c> padding field, <c>archive/version</c>, ZIP64 records past 4 GiB. Like
/// <c>torch.save</c> (miniz), each record's CRC-32 follows it in a data descriptor (general flag bit 3), so the
/// whole file is one sequential stream: nothing is patched afterwards.
/// </summary>
internal static class CkptWriter
{
    private const int Alignment = 64;
    private const uint Max32 = 0xFFFFFFFF;

    /// <summary>Writes the planned tensors as they are, in the pickle tree <paramref name="layout"/> (null: <c>{"state_dict": ...}</c>).</summary>
    public static void Write(IReadOnlyList<Transforms.PlannedTensor> tensors, LayoutNode? layout, string path, SaveOptions options, IEnumerable<string> inputs, CancellationToken cancellationToken)
    {
        foreach (Transforms.PlannedTensor t in tensors)
        {
            if (TorchPickleWriter.StorageClass(t.DType) is null)
            {
                throw new ConversionException(SafeCkptErrorCode.UnsupportedDType, path, $"{path}: tensor {t.Name} is {t.DType.ToSafetensorsName()}, which a .ckpt (torch typed storage) cannot hold. Write .safetensors instead, or cast it first.") { TensorName = t.Name };
            }
        }

        List<TensorInfo> infos = tensors.Select(t => t.Output).ToList();
        byte[] pickle = layout is null ? TorchPickleWriter.Write(infos) : TorchPickleWriter.Write(layout, infos);

        // Records in torch.save's order (keys sorted as strings); the bytes are copied in the inputs' file order.
        var entries = new List<Entry> { new("archive/data.pkl", pickle.Length, null, pickle) };
        entries.AddRange(tensors.Select((t, i) => new Entry("archive/data/" + i.ToString(System.Globalization.CultureInfo.InvariantCulture), t.ByteLength, t, null))
            .OrderBy(e => e.Name, StringComparer.Ordinal));
        entries.Add(new Entry("archive/version", 2, null, "3\n"u8.ToArray()));

        long at = 0;
        foreach (Entry e in entries)
        {
            e.Layout(at);
            at = e.DataOffset + e.Size + e.DescriptorLength;
        }

        long cdOffset = at;
        byte[] central = CentralDirectory(entries, cdOffset);
        long total = cdOffset + central.Length;

        using var output = AtomicOutput.Create(path, options.Overwrite, inputs, total);
        var items = new List<TensorStreamer.Item>();
        foreach (Entry e in entries)
        {
            // Each record is one item: its local header, its bytes, and its data descriptor with the CRC-32 computed
            // on the reading side as the record's chunks pass; nothing is patched afterwards.
            var crc = new Crc32();
            TensorSource source = e.Bytes is not null ? new MemoryTensorSource(e.Bytes) : e.Tensor!.Data;
            items.Add(new TensorStreamer.Item(e.Tensor?.Name ?? e.Name, source, e.HeaderOffset, e.LocalHeader(), crc.Append, () => e.Descriptor(crc)));
        }

        new TensorStreamer(output, options, cancellationToken).CopyAll(TensorStreamer.InInputOrder(items));
        output.Write(cdOffset, CentralDirectory(entries, cdOffset));
        output.Commit(options.FlushToDisk);
    }

    /// <summary>The central directory, ZIP64 end record and locator, and end record.</summary>
    private static byte[] CentralDirectory(List<Entry> entries, long cdOffset)
    {
        var ms = new MemoryStream();
        var w = new BinaryWriter(ms);
        foreach (Entry e in entries)
        {
            bool bigSize = e.Size >= Max32;
            bool bigOffset = e.HeaderOffset >= Max32;
            var extra = new MemoryStream();
            var x = new BinaryWriter(extra);
            if (bigSize || bigOffset)
            {
                x.Write((ushort)0x0001);
                x.Write((ushort)((bigSize ? 16 : 0) + (bigOffset ? 8 : 0)));
                if (bigSize)
                {
                    x.Write(e.Size);
                    x.Write(e.Size);
                }

                if (bigOffset)
                {
                    x.Write(e.HeaderOffset);
                }
            }

            w.Write(0x02014b50u);
            w.Write((ushort)((3 << 8) | 45));   // made by: Unix, spec 4.5
            w.Write((ushort)(bigSize || bigOffset ? 45 : 20));
            w.Write(Flags);
            w.Write((ushort)0);                 // stored
            w.Write((ushort)0);                 // time
            w.Write((ushort)0x21);              // date: 1980-01-01
            w.Write(e.Crc);
            w.Write(bigSize ? Max32 : (uint)e.Size);
            w.Write(bigSize ? Max32 : (uint)e.Size);
            w.Write((ushort)e.NameBytes.Length);
            w.Write((ushort)extra.Length);
            w.Write((ushort)0);                 // comment
            w.Write((ushort)0);                 // disk
            w.Write((ushort)0);                 // internal attributes
            w.Write(0u);                        // external attributes
            w.Write(bigOffset ? Max32 : (uint)e.HeaderOffset);
            w.Write(e.NameBytes);
            w.Write(extra.ToArray());
        }

        long cdSize = ms.Length;
        long zip64Eocd = cdOffset + cdSize;
        w.Write(0x06064b50u);                   // ZIP64 end of central directory, always written (as torch.save does)
        w.Write(44L);
        w.Write((ushort)((3 << 8) | 45));
        w.Write((ushort)45);
        w.Write(0u);
        w.Write(0u);
        w.Write((long)entries.Count);
        w.Write((long)entries.Count);
        w.Write(cdSize);
        w.Write(cdOffset);
        w.Write(0x07064b50u);                   // ZIP64 locator
        w.Write(0u);
        w.Write(zip64Eocd);
        w.Write(1u);
        w.Write(0x06054b50u);                   // end of central directory
        w.Write((ushort)0);
        w.Write((ushort)0);
        w.Write((ushort)Math.Min(entries.Count, 0xFFFF));
        w.Write((ushort)Math.Min(entries.Count, 0xFFFF));
        w.Write((uint)Math.Min(cdSize, Max32));
        w.Write((uint)Math.Min(cdOffset, Max32));
        w.Write((ushort)0);
        return ms.ToArray();
    }

    /// <summary>General purpose flags: bit 3 (sizes and CRC in a data descriptor after the data), bit 11 (UTF-8 names), as torch.save writes.</summary>
    private const ushort Flags = 0x0808;

    private sealed class Entry(string name, long size, Transforms.PlannedTensor? tensor, byte[]? bytes)
    {
        public string Name { get; } = name;

        public byte[] NameBytes { get; } = Encoding.UTF8.GetBytes(name);

        public long Size { get; } = size;

        public Transforms.PlannedTensor? Tensor { get; } = tensor;

        public byte[]? Bytes { get; } = bytes;

        public long HeaderOffset { get; private set; }

        public long DataOffset { get; private set; }

        public uint Crc { get; set; }

        private int Padding { get; set; }

        private bool Zip64 => Size >= Max32;

        /// <summary>The data descriptor's length: signature, CRC-32 and two sizes of 4 bytes (8 for ZIP64 records).</summary>
        public int DescriptorLength => Zip64 ? 24 : 16;

        /// <summary>The data descriptor that follows the record, once its CRC-32 is known.</summary>
        public byte[] Descriptor(Crc32 crc)
        {
            Crc = crc.GetCurrentHashAsUInt32();
            var d = new byte[DescriptorLength];
            BinaryPrimitives.WriteUInt32LittleEndian(d, 0x08074b50);
            BinaryPrimitives.WriteUInt32LittleEndian(d.AsSpan(4), Crc);
            if (Zip64)
            {
                BinaryPrimitives.WriteInt64LittleEndian(d.AsSpan(8), Size);
                BinaryPrimitives.WriteInt64LittleEndian(d.AsSpan(16), Size);
            }
            else
            {
                BinaryPrimitives.WriteUInt32LittleEndian(d.AsSpan(8), (uint)Size);
                BinaryPrimitives.WriteUInt32LittleEndian(d.AsSpan(12), (uint)Size);
            }

            return d;
        }

        public void Layout(long headerOffset)
        {
            HeaderOffset = headerOffset;
            long unpadded = headerOffset + 30 + NameBytes.Length + (Zip64 ? 20 : 0) + 4;
            Padding = (int)((Alignment - (unpadded % Alignment)) % Alignment);
            DataOffset = unpadded + Padding;
        }

        public byte[] LocalHeader()
        {
            var ms = new MemoryStream();
            var w = new BinaryWriter(ms);
            w.Write(0x04034b50u);
            w.Write((ushort)(Zip64 ? 45 : 20));
            w.Write(Flags);
            w.Write((ushort)0);
            w.Write((ushort)0);
            w.Write((ushort)0x21);
            w.Write(0u);                        // CRC-32 and sizes: in the data descriptor after the data
            w.Write(Zip64 ? Max32 : 0u);
            w.Write(Zip64 ? Max32 : 0u);
            w.Write((ushort)NameBytes.Length);
            w.Write((ushort)((Zip64 ? 20 : 0) + 4 + Padding));
            w.Write(NameBytes);
            if (Zip64)
            {
                w.Write((ushort)0x0001);
                w.Write((ushort)16);
                w.Write(Size);
                w.Write(Size);
            }

            w.Write((byte)'F');                 // "FB" padding field: aligns the data to 64 bytes
            w.Write((byte)'B');
            w.Write((ushort)Padding);
            w.Write(Enumerable.Repeat((byte)'Z', Padding).ToArray());
            return ms.ToArray();
        }
    }
}
