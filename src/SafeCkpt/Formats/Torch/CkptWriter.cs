using System.Buffers.Binary;
using System.IO.Hashing;
using System.Text;
using SafeCkpt.IO;
using SafeCkpt.Tensors;

namespace SafeCkpt.Formats.Torch;

/// <summary>
/// Writes PyTorch zip checkpoints the way <c>torch.save</c> does: <c>archive/data.pkl</c> (protocol 2,
/// <c>{"state_dict": ...}</c>), one stored (uncompressed) record per tensor at <c>archive/data/N</c> with its data
/// 64-byte aligned by an <c>FB</c> padding field, <c>archive/version</c>, ZIP64 records past 4 GiB. Tensors are
/// streamed; each local header's CRC-32 is patched in after its data.
/// </summary>
internal static class CkptWriter
{
    private const int Alignment = 64;
    private const uint Max32 = 0xFFFFFFFF;

    public static void Write(IReadOnlyList<(TensorInfo Info, TensorSource Source)> tensors, string path, SaveOptions options, IEnumerable<string> inputs, CancellationToken cancellationToken)
    {
        foreach ((TensorInfo info, _) in tensors)
        {
            if (TorchPickleWriter.StorageClass(info.DType) is null)
            {
                throw new ConversionException(SafeCkptErrorCode.UnsupportedDType, path, $"{path}: tensor {info.Name} is {info.DType.ToSafetensorsName()}, which a .ckpt (torch typed storage) cannot hold. Write .safetensors instead, or cast it first.") { TensorName = info.Name };
            }
        }

        byte[] pickle = TorchPickleWriter.Write(tensors.Select(t => t.Info).ToList());
        var entries = new List<Entry> { new("archive/data.pkl", pickle.Length, null, pickle) };
        entries.AddRange(tensors.Select((t, i) => new Entry("archive/data/" + i.ToString(System.Globalization.CultureInfo.InvariantCulture), t.Info.ByteLength, t, null))
            .OrderBy(e => e.Name, StringComparer.Ordinal));
        entries.Add(new Entry("archive/version", 2, null, "3\n"u8.ToArray()));

        long at = 0;
        foreach (Entry e in entries)
        {
            e.Layout(at);
            at = e.DataOffset + e.Size;
        }

        long cdOffset = at;
        byte[] central = CentralDirectory(entries, cdOffset);
        long total = cdOffset + central.Length;

        using var output = AtomicOutput.Create(path, options.Overwrite, inputs, total);
        var items = new List<TensorStreamer.Item>();
        var crcs = new Dictionary<Entry, Crc32>();
        foreach (Entry e in entries)
        {
            var crc = new Crc32();
            crcs[e] = crc;
            if (e.Bytes is not null)
            {
                crc.Append(e.Bytes);
                items.Add(new TensorStreamer.Item(e.Name, new MemoryTensorSource(e.Bytes), e.LocalHeader()));
            }
            else
            {
                items.Add(new TensorStreamer.Item(e.Tensor!.Value.Info.Name, e.Tensor.Value.Source, e.LocalHeader(), crc.Append));
            }
        }

        // One sequential pass: each local header (CRC still zero) then its record; the CRC of each record is computed
        // on the reading side as its chunks pass, then patched into the local headers and written in the directory.
        new TensorStreamer(output, options, cancellationToken).CopyAll(items);
        if (output.Position != cdOffset)
        {
            throw new InvalidOperationException($"Zip layout error: the records end at {output.Position}, the plan says {cdOffset}.");
        }

        foreach (Entry e in entries)
        {
            e.Crc = crcs[e].GetCurrentHashAsUInt32();
        }

        output.Append(CentralDirectory(entries, cdOffset));
        output.FinishAppending();
        var crcBytes = new byte[4];
        foreach (Entry e in entries)
        {
            BinaryPrimitives.WriteUInt32LittleEndian(crcBytes, e.Crc);
            output.Patch(crcBytes, e.HeaderOffset + 14);
        }

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
            w.Write((ushort)0);                 // flags
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

    private sealed class Entry(string name, long size, (TensorInfo Info, TensorSource Source)? tensor, byte[]? bytes)
    {
        public string Name { get; } = name;

        public byte[] NameBytes { get; } = Encoding.UTF8.GetBytes(name);

        public long Size { get; } = size;

        public (TensorInfo Info, TensorSource Source)? Tensor { get; } = tensor;

        public byte[]? Bytes { get; } = bytes;

        public long HeaderOffset { get; private set; }

        public long DataOffset { get; private set; }

        public uint Crc { get; set; }

        private int Padding { get; set; }

        private bool Zip64 => Size >= Max32;

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
            w.Write((ushort)0);
            w.Write((ushort)0);
            w.Write((ushort)0);
            w.Write((ushort)0x21);
            w.Write(0u);                        // CRC-32, patched after the data
            w.Write(Zip64 ? Max32 : (uint)Size);
            w.Write(Zip64 ? Max32 : (uint)Size);
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
