using System.IO.Hashing;
using System.Text;
using SafeCkpt.IO;
using SafeCkpt.Tensors;
using static SafeCkpt.Formats.Torch.ZipRecords;

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

    /// <summary>The extra field torch.save pads with so that each record's data is 64-byte aligned ("FB").</summary>
    private const ushort PaddingExtraId = 'F' | ('B' << 8);

    /// <summary>Writes the planned tensors as they are, in the pickle tree <paramref name="layout"/> (null: <c>{"state_dict": ...}</c>).</summary>
    public static void Write(IReadOnlyList<Transforms.PlannedTensor> tensors, LayoutNode? layout, string path, SaveOptions options, IEnumerable<string> inputs, CancellationToken cancellationToken)
    {
        foreach (Transforms.PlannedTensor t in tensors)
        {
            if (TorchStorageTypes.StorageClassOf(t.DType) is null)
            {
                throw new ConversionException(SafeCkptErrorCode.UnsupportedDType, path, $"{path}: tensor {t.Name} is {t.DType.ToSafetensorsName()}, which a .ckpt (torch typed storage) cannot hold. Write .safetensors instead, or cast it first.") { TensorName = t.Name };
            }
        }

        List<TensorInfo> infos = tensors.Select(t => t.Output).ToList();
        byte[] pickle = layout is null ? TorchPickleWriter.Write(infos) : TorchPickleWriter.Write(layout, infos);

        // Records in torch.save's order (keys sorted as strings); the bytes are copied in the inputs' file order.
        var entries = new List<Entry> { new(TorchArchive.Record(TorchArchive.WrittenFolder, TorchArchive.ObjectPickle), pickle.Length, null, pickle) };
        entries.AddRange(tensors.Select((t, i) => new Entry(TorchArchive.StorageRecord(TorchArchive.WrittenFolder, i.ToString(System.Globalization.CultureInfo.InvariantCulture)), t.ByteLength, t, null))
            .OrderBy(e => e.Name, StringComparer.Ordinal));
        byte[] version = Encoding.ASCII.GetBytes(TorchArchive.WrittenVersion);
        entries.Add(new Entry(TorchArchive.Record(TorchArchive.WrittenFolder, TorchArchive.Version), version.Length, null, version));

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
        Span<byte> extra = stackalloc byte[ExtraHeaderLength + 24];
        Span<byte> header = stackalloc byte[CentralHeader.Length];
        foreach (Entry e in entries)
        {
            bool bigSize = e.Size >= Max32;
            bool bigOffset = e.HeaderOffset >= Max32;
            ReadOnlySpan<long> big = (bigSize, bigOffset) switch
            {
                (true, true) => [e.Size, e.Size, e.HeaderOffset],
                (true, false) => [e.Size, e.Size],
                (false, true) => [e.HeaderOffset],
                _ => [],
            };
            int extraLength = big.IsEmpty ? 0 : Zip64Extra.Write(extra, big);
            new CentralHeader(
                VersionMadeBy: MadeByUnix,
                VersionNeeded: bigSize || bigOffset ? VersionZip64 : VersionDefault,
                Flags: GeneralFlags,
                Method: Stored,
                Time: 0,
                Date: DosDate1980,
                Crc: e.Crc,
                CompressedSize: bigSize ? Max32 : (uint)e.Size,
                Size: bigSize ? Max32 : (uint)e.Size,
                NameLength: (ushort)e.NameBytes.Length,
                ExtraLength: (ushort)extraLength,
                CommentLength: 0,
                DiskStart: 0,
                InternalAttributes: 0,
                ExternalAttributes: 0,
                LocalHeaderOffset: bigOffset ? Max32 : (uint)e.HeaderOffset).Write(header);
            ms.Write(header);
            ms.Write(e.NameBytes);
            ms.Write(extra[..extraLength]);
        }

        long cdSize = ms.Length;
        long zip64Eocd = cdOffset + cdSize;
        var tail = new byte[Zip64EndRecord.Length + Zip64Locator.Length + EndRecord.Length];

        // The ZIP64 end record and locator are always written, as torch.save does.
        new Zip64EndRecord(MadeByUnix, VersionZip64, 0, 0, (ulong)entries.Count, (ulong)entries.Count, (ulong)cdSize, (ulong)cdOffset).Write(tail);
        new Zip64Locator(0, (ulong)zip64Eocd, 1).Write(tail.AsSpan(Zip64EndRecord.Length));
        ushort count16 = (ushort)Math.Min(entries.Count, Max16);
        new EndRecord(0, 0, count16, count16, (uint)Math.Min(cdSize, Max32), (uint)Math.Min(cdOffset, Max32), 0).Write(tail.AsSpan(Zip64EndRecord.Length + Zip64Locator.Length));
        ms.Write(tail);
        return ms.ToArray();
    }

    /// <summary>General purpose flags: bit 3 (sizes and CRC in a data descriptor after the data), bit 11 (UTF-8 names), as torch.save writes.</summary>
    private const ushort GeneralFlags = ZipRecords.Flags.DataDescriptor | ZipRecords.Flags.Utf8Name;

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
        public int DescriptorLength => DataDescriptor.LengthOf(Zip64);

        /// <summary>The local header's ZIP64 extra field (both sizes), or none.</summary>
        private int Zip64ExtraLength => Zip64 ? ExtraHeaderLength + 16 : 0;

        /// <summary>The data descriptor that follows the record, once its CRC-32 is known.</summary>
        public byte[] Descriptor(Crc32 crc)
        {
            Crc = crc.GetCurrentHashAsUInt32();
            var d = new byte[DescriptorLength];
            new DataDescriptor(Crc, (ulong)Size, (ulong)Size, Zip64).Write(d);
            return d;
        }

        public void Layout(long headerOffset)
        {
            HeaderOffset = headerOffset;
            long unpadded = headerOffset + ZipRecords.LocalHeader.Length + NameBytes.Length + Zip64ExtraLength + ExtraHeaderLength;
            Padding = (int)((Alignment - (unpadded % Alignment)) % Alignment);
            DataOffset = unpadded + Padding;
        }

        public byte[] LocalHeader()
        {
            int extraLength = Zip64ExtraLength + ExtraHeaderLength + Padding;
            var bytes = new byte[ZipRecords.LocalHeader.Length + NameBytes.Length + extraLength];
            Span<byte> b = bytes;

            // CRC-32 and sizes: in the data descriptor after the data.
            new ZipRecords.LocalHeader(
                VersionNeeded: Zip64 ? VersionZip64 : VersionDefault,
                Flags: GeneralFlags,
                Method: Stored,
                Time: 0,
                Date: DosDate1980,
                Crc: 0,
                CompressedSize: Zip64 ? Max32 : 0u,
                Size: Zip64 ? Max32 : 0u,
                NameLength: (ushort)NameBytes.Length,
                ExtraLength: (ushort)extraLength).Write(b);
            b = b[ZipRecords.LocalHeader.Length..];
            NameBytes.CopyTo(b);
            b = b[NameBytes.Length..];
            if (Zip64)
            {
                b = b[Zip64Extra.Write(b, [Size, Size])..];
            }

            WriteExtraHeader(b, PaddingExtraId, (ushort)Padding);
            b[ExtraHeaderLength..].Fill((byte)'Z');
            return bytes;
        }
    }
}
