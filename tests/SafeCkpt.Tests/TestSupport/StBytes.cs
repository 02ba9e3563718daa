using System.Buffers.Binary;
using System.Text;

namespace SafeCkpt.Tests.TestSupport;

/// <summary>Hand-made safetensors bytes: a length prefix, a header exactly as given, then data.</summary>
public static class StBytes
{
    public static byte[] Make(string headerJson, int dataLength) => Make(Encoding.UTF8.GetBytes(headerJson), new byte[dataLength]);

    public static byte[] Make(byte[] header, byte[] data) => Make((ulong)header.Length, header, data);

    public static byte[] Make(ulong declaredLength, byte[] header, byte[] data)
    {
        var bytes = new byte[8 + header.Length + data.Length];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, declaredLength);
        header.CopyTo(bytes, 8);
        data.CopyTo(bytes, 8 + header.Length);
        return bytes;
    }
}
