using System.Collections.Frozen;
using System.Globalization;
using System.Numerics;
using SafeCkpt.Safety;
using SafeCkpt.Tensors;

namespace SafeCkpt.Formats.Torch;

/// <summary>
/// torch's element types in one table: each dtype's name in <c>torch</c> (<c>torch.float16</c> pickles as
/// <c>torch</c> + <c>float16</c>), its safetensors type, element size, legacy typed storage class
/// (<c>torch.HalfStorage</c>) and numpy type code; and the legacy format's magic number. The pickle allowlist, the
/// restricted machine's reductions, the readers and the ckpt writer all read these rows.
/// </summary>
internal static class TorchStorageTypes
{
    /// <summary>The legacy format's protocol version, pickle 2 of 5.</summary>
    public const long LegacyProtocolVersion = 1001;

    /// <summary>The legacy format's magic number, pickle 1 of 5, in hex.</summary>
    public const string LegacyMagicHex = "1950a86a20f9469cfc6c";

    /// <summary>The legacy format's magic number as the pickle's integer.</summary>
    public static readonly BigInteger LegacyMagic = BigInteger.Parse(LegacyMagicHex, NumberStyles.HexNumber, CultureInfo.InvariantCulture);

    /// <summary>How torch.save pickles the magic number, the first bytes of a legacy file: <c>PROTO 2, LONG1 n, n little-endian bytes</c>.</summary>
    public static readonly byte[] LegacyMagicPickle = [PickleOpcodes.Proto, 2, PickleOpcodes.Long1, (byte)LegacyMagic.GetByteCount(), .. LegacyMagic.ToByteArray()];

    // name, safetensors type (null: none), element size in bytes, legacy storage class, numpy type code.
    private static readonly (TorchDType DType, string? StorageClass, string? NumpyCode)[] Table =
    [
        (new("float32", DType.Float32, 4), "FloatStorage", "f4"),
        (new("float64", DType.Float64, 8), "DoubleStorage", "f8"),
        (new("float16", DType.Float16, 2), "HalfStorage", "f2"),
        (new("bfloat16", DType.BFloat16, 2), "BFloat16Storage", null),
        (new("int64", DType.Int64, 8), "LongStorage", "i8"),
        (new("int32", DType.Int32, 4), "IntStorage", "i4"),
        (new("int16", DType.Int16, 2), "ShortStorage", "i2"),
        (new("int8", DType.Int8, 1), "CharStorage", "i1"),
        (new("uint8", DType.UInt8, 1), "ByteStorage", "u1"),
        (new("uint16", DType.UInt16, 2), null, null),
        (new("uint32", DType.UInt32, 4), null, null),
        (new("uint64", DType.UInt64, 8), null, null),
        (new("bool", DType.Bool, 1), "BoolStorage", "b1"),
        (new("complex64", DType.Complex64, 8), "ComplexFloatStorage", null),
        (new("float8_e4m3fn", DType.Float8E4M3, 1), null, null),
        (new("float8_e5m2", DType.Float8E5M2, 1), null, null),
        (new("float8_e4m3fnuz", DType.Float8E4M3Fnuz, 1), null, null),
        (new("float8_e5m2fnuz", DType.Float8E5M2Fnuz, 1), null, null),
        (new("float8_e8m0fnu", DType.Float8E8M0, 1), null, null),

        // No safetensors equivalent: readable as values, refused when a tensor uses them.
        (new("complex128", null, 16), "ComplexDoubleStorage", null),
        (new("complex32", null, 4), null, null),
        (new("qint8", null, 1), null, null),
        (new("quint8", null, 1), null, null),
        (new("qint32", null, 4), null, null),
        (new("quint4x2", null, 1), null, null),
        (new("quint2x4", null, 1), null, null),
    ];

    /// <summary>Every torch dtype by its name in <c>torch</c>.</summary>
    public static readonly FrozenDictionary<string, TorchDType> ByName = Table.ToFrozenDictionary(r => r.DType.Name, r => r.DType, StringComparer.Ordinal);

    /// <summary>The typed storage classes (<c>FloatStorage</c>, ...) and the dtype of their elements.</summary>
    public static readonly IReadOnlyList<(string Class, TorchDType DType)> StorageClasses = Table.Where(r => r.StorageClass is not null).Select(r => (r.StorageClass!, r.DType)).ToArray();

    private static readonly FrozenDictionary<DType, string> ClassBySafeType = Table.Where(r => r.StorageClass is not null && r.DType.SafeType is not null).ToFrozenDictionary(r => r.DType.SafeType!.Value, r => r.StorageClass!);

    private static readonly FrozenDictionary<string, TorchDType> ByNumpyCode = Table.Where(r => r.NumpyCode is not null).ToFrozenDictionary(r => r.NumpyCode!, r => r.DType, StringComparer.Ordinal);

    /// <summary>torch's default dtype, which <c>torch.Tensor()</c> has.</summary>
    public static TorchDType Float32 => ByName["float32"];

    /// <summary>The legacy storage class that holds <paramref name="dtype"/> (what a .ckpt's pickle names), or null when a typed storage cannot.</summary>
    public static string? StorageClassOf(DType dtype) => ClassBySafeType.GetValueOrDefault(dtype);

    /// <summary>The torch dtype of a numpy type code without its byte order (<c>f4</c>), or null when torch has none the reader maps.</summary>
    public static TorchDType? FromNumpyCode(string code) => ByNumpyCode.GetValueOrDefault(code);
}
