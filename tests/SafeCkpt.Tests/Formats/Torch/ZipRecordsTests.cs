using static SafeCkpt.Formats.Torch.ZipRecords;

namespace SafeCkpt.Tests.Formats.Torch;

public class ZipRecordsTests
{
    [Fact]
    public void Signatures_are_the_spec_byte_strings()
    {
        Assert.Equal("PK\x03\x04"u8.ToArray(), Bytes(LocalHeader.Signature));
        Assert.Equal("PK\x01\x02"u8.ToArray(), Bytes(CentralHeader.Signature));
        Assert.Equal("PK\x05\x06"u8.ToArray(), Bytes(EndRecord.Signature));
        Assert.Equal("PK\x06\x06"u8.ToArray(), Bytes(Zip64EndRecord.Signature));
        Assert.Equal("PK\x06\x07"u8.ToArray(), Bytes(Zip64Locator.Signature));
        Assert.Equal("PK\x07\x08"u8.ToArray(), Bytes(DataDescriptor.Signature));
    }

    [Fact]
    public void Each_record_reads_back_what_it_wrote()
    {
        var local = new LocalHeader(45, 0x0808, 0, 1, 0x21, 0xDEADBEEF, 3, 4, 5, 6);
        Assert.Equal(local, RoundTrip(local.Write, LocalHeader.Length, LocalHeader.Read, LocalHeader.Signature));

        var central = new CentralHeader(0x032D, 45, 0x0808, 8, 1, 0x21, 0xCAFEBABE, 7, 8, 9, 10, 11, 12, 13, 14, 0x12345678);
        Assert.Equal(central, RoundTrip(central.Write, CentralHeader.Length, CentralHeader.Read, CentralHeader.Signature));

        var end = new EndRecord(1, 2, 3, 4, 5, 6, 7);
        Assert.Equal(end, RoundTrip(end.Write, EndRecord.Length, EndRecord.Read, EndRecord.Signature));

        var end64 = new Zip64EndRecord(0x032D, 45, 1, 2, 3, 4, 5, 1UL << 40);
        Assert.Equal(end64, RoundTrip(end64.Write, Zip64EndRecord.Length, Zip64EndRecord.Read, Zip64EndRecord.Signature));

        var locator = new Zip64Locator(0, 1UL << 33, 1);
        Assert.Equal(locator, RoundTrip(locator.Write, Zip64Locator.Length, Zip64Locator.Read, Zip64Locator.Signature));
    }

    [Fact]
    public void The_zip64_end_record_states_the_size_of_its_remainder()
    {
        var bytes = new byte[Zip64EndRecord.Length];
        new Zip64EndRecord(0, 45, 0, 0, 1, 1, 46, 0).Write(bytes);
        Assert.Equal(44UL, BitConverter.ToUInt64(bytes, 4));
    }

    [Fact]
    public void Data_descriptors_use_four_byte_sizes_unless_zip64()
    {
        var small = new byte[DataDescriptor.LengthOf(false)];
        new DataDescriptor(0x01020304, 10, 10, false).Write(small);
        Assert.Equal([0x50, 0x4b, 0x07, 0x08, 4, 3, 2, 1, 10, 0, 0, 0, 10, 0, 0, 0], small);

        var big = new byte[DataDescriptor.LengthOf(true)];
        new DataDescriptor(1, 1UL << 32, 1UL << 32, true).Write(big);
        Assert.Equal(24, big.Length);
        Assert.Equal(1UL << 32, BitConverter.ToUInt64(big, 8));
        Assert.Equal(1UL << 32, BitConverter.ToUInt64(big, 16));
    }

    [Fact]
    public void The_zip64_extra_field_holds_eight_bytes_per_value()
    {
        var extra = new byte[ExtraHeaderLength + 16];
        Assert.Equal(20, Zip64Extra.Write(extra, [5L << 32, 7]));
        Assert.Equal([0x01, 0x00, 16, 0], extra[..4]);
        Assert.Equal(5L << 32, BitConverter.ToInt64(extra, 4));
        Assert.Equal(7L, BitConverter.ToInt64(extra, 12));

        // A header that needs only the compressed size and offset finds them first in the data.
        Assert.True(Zip64Extra.TryRead(extra.AsSpan(4), false, true, true, false, out var v));
        Assert.Equal((5UL << 32, 7UL), (v.CompressedSize, v.LocalHeaderOffset));
        Assert.False(Zip64Extra.TryRead(extra.AsSpan(4), true, true, true, false, out _));
        Assert.False(Zip64Extra.TryRead(extra.AsSpan(4), true, true, false, true, out _));
    }

    [Fact]
    public void A_signature_needs_four_bytes()
    {
        Assert.False(HasSignature("PK\x03"u8, LocalHeader.Signature));
        Assert.True(HasSignature("PK\x03\x04rest"u8, LocalHeader.Signature));
        Assert.False(HasSignature("PK\x01\x02"u8, LocalHeader.Signature));
    }

    private static byte[] Bytes(uint signature) => BitConverter.GetBytes(signature);

    private static T RoundTrip<T>(SpanWriter write, int length, SpanReader<T> read, uint signature)
    {
        var bytes = new byte[length];
        write(bytes);
        Assert.True(HasSignature(bytes, signature));
        return read(bytes);
    }

    private delegate void SpanWriter(Span<byte> destination);

    private delegate T SpanReader<T>(ReadOnlySpan<byte> source);
}
