using System.Collections.Frozen;
using SafeCkpt.Tensors;

namespace SafeCkpt.Safety;

/// <summary>
/// The exact <c>module.name</c> globals a checkpoint pickle may import, in one place. Lookup is by the exact string:
/// no dotted-name resolution, no prefix or module-wide matching, so <c>numpy.prod.os</c> or
/// <c>torch._utils._rebuild_tensor_v2.__globals__</c> are simply absent. Python 2 spellings (<c>__builtin__</c>) are
/// mapped to Python 3 first, as pickle's <c>fix_imports</c> does. Sources: security.md b.1 (torch weights_only),
/// b.5 (AUTOMATIC1111), b.6 (lopho, spandrel), d.2 (what real SD checkpoints import).
/// </summary>
internal static class PickleAllowlist
{
    /// <summary>Every torch dtype by its name in <c>torch</c> (as <c>torch.float16</c> pickles), with its safetensors type.</summary>
    public static readonly FrozenDictionary<string, TorchDType> TorchDTypes = new TorchDType[]
    {
        new("float32", DType.Float32, 4),
        new("float64", DType.Float64, 8),
        new("float16", DType.Float16, 2),
        new("bfloat16", DType.BFloat16, 2),
        new("int64", DType.Int64, 8),
        new("int32", DType.Int32, 4),
        new("int16", DType.Int16, 2),
        new("int8", DType.Int8, 1),
        new("uint8", DType.UInt8, 1),
        new("uint16", DType.UInt16, 2),
        new("uint32", DType.UInt32, 4),
        new("uint64", DType.UInt64, 8),
        new("bool", DType.Bool, 1),
        new("complex64", DType.Complex64, 8),
        new("float8_e4m3fn", DType.Float8E4M3, 1),
        new("float8_e5m2", DType.Float8E5M2, 1),
        new("float8_e4m3fnuz", DType.Float8E4M3Fnuz, 1),
        new("float8_e5m2fnuz", DType.Float8E5M2Fnuz, 1),
        new("float8_e8m0fnu", DType.Float8E8M0, 1),

        // No safetensors equivalent: readable as values, refused when a tensor uses them.
        new("complex128", null, 16),
        new("complex32", null, 4),
        new("qint8", null, 1),
        new("quint8", null, 1),
        new("qint32", null, 4),
        new("quint4x2", null, 1),
        new("quint2x4", null, 1),
    }.ToFrozenDictionary(d => d.Name, StringComparer.Ordinal);

    /// <summary>Typed storage classes (<c>torch.FloatStorage</c>, ...) and the dtype of their elements.</summary>
    private static readonly (string Class, string DType)[] StorageClasses =
    [
        ("FloatStorage", "float32"), ("HalfStorage", "float16"), ("BFloat16Storage", "bfloat16"),
        ("DoubleStorage", "float64"), ("LongStorage", "int64"), ("IntStorage", "int32"),
        ("ShortStorage", "int16"), ("CharStorage", "int8"), ("ByteStorage", "uint8"), ("BoolStorage", "bool"),
        ("ComplexFloatStorage", "complex64"), ("ComplexDoubleStorage", "complex128"),
    ];

    private static readonly FrozenDictionary<string, PyGlobal> Allowed = Build();

    /// <summary>Maps Python 2 module names to Python 3, as <c>pickle</c>'s <c>fix_imports</c> does for protocol &lt; 3.</summary>
    public static string NormalizeModule(string module) => module == "__builtin__" ? "builtins" : module;

    /// <summary>Looks up an exact <c>module</c> + <c>name</c> pair; null when it is not allowed.</summary>
    /// <param name="module">The module as the pickle spells it.</param>
    /// <param name="name">The name as the pickle spells it.</param>
    /// <param name="torchObject">
    /// The pickle is the object pickle of a torch checkpoint, which torch reads through its own <c>find_class</c>:
    /// any name that is a storage class (<c>FloatStorage</c>, ...) becomes that storage type whatever the module
    /// (nothing is imported), and (zip format) module <c>torch.tensor</c> is read as <c>torch._tensor</c>.
    /// </param>
    public static PyGlobal? Lookup(string module, string name, bool torchObject = false)
    {
        if (torchObject)
        {
            if (name.Contains("Storage", StringComparison.Ordinal) && Allowed.TryGetValue("torch." + name, out PyGlobal? storage) && storage.Kind == GlobalKind.StorageClass && name != "UntypedStorage")
            {
                return storage;
            }

            if (module == "torch.tensor")
            {
                module = "torch._tensor";
            }
        }

        string key = NormalizeModule(module) + "." + name;
        return Allowed.TryGetValue(key, out PyGlobal? g) ? g : null;
    }

    /// <summary>Every allowed global as <c>module.name</c>, for documentation and tests.</summary>
    public static IEnumerable<string> Names => Allowed.Keys;

    private static FrozenDictionary<string, PyGlobal> Build()
    {
        var list = new List<PyGlobal>
        {
            new("torch._utils", "_rebuild_tensor", GlobalKind.RebuildTensor),
            new("torch._utils", "_rebuild_tensor_v2", GlobalKind.RebuildTensorV2),
            new("torch._utils", "_rebuild_tensor_v3", GlobalKind.RebuildTensorV3),
            new("torch._utils", "_rebuild_parameter", GlobalKind.RebuildParameter),
            new("torch._utils", "_rebuild_parameter_with_state", GlobalKind.RebuildParameterWithState),
            new("torch._tensor", "_rebuild_from_type_v2", GlobalKind.RebuildFromTypeV2),
            new("torch", "UntypedStorage", GlobalKind.StorageClass),
            new("torch", "Size", GlobalKind.TorchSize),
            new("torch", "Tensor", GlobalKind.TorchTensorClass),
            new("torch.nn.parameter", "Parameter", GlobalKind.Parameter),
            new("collections", "OrderedDict", GlobalKind.OrderedDict),
            new("typing", "OrderedDict", GlobalKind.OrderedDict),
            new("torch.nn.modules.container", "ParameterDict", GlobalKind.ParameterDict),
            new("_codecs", "encode", GlobalKind.CodecsEncode),
            new("builtins", "set", GlobalKind.Set),
            new("builtins", "frozenset", GlobalKind.FrozenSet),
            new("builtins", "bytearray", GlobalKind.ByteArray),
            new("builtins", "bytes", GlobalKind.Bytes),
            new("numpy.core.multiarray", "scalar", GlobalKind.NumpyScalar),
            new("numpy._core.multiarray", "scalar", GlobalKind.NumpyScalar),
            new("numpy", "dtype", GlobalKind.NumpyDType),
            new("numpy", "ndarray", GlobalKind.NumpyNdarray),
            new("numpy.core.multiarray", "_reconstruct", GlobalKind.NumpyReconstruct),
            new("numpy._core.multiarray", "_reconstruct", GlobalKind.NumpyReconstruct),
            new("pytorch_lightning.callbacks.model_checkpoint", "ModelCheckpoint", GlobalKind.LightningClass),
            new("pytorch_lightning.callbacks", "model_checkpoint", GlobalKind.LightningModule),

            // torch's own rebuild helpers for tensors SafeCkpt does not read: importing them runs nothing foreign, so
            // a file using them is "unsupported", not "unsafe" (security.md b.1, torch weights_only allowlist).
            new("torch._utils", "_rebuild_sparse_tensor", GlobalKind.UnsupportedTorch),
            new("torch._utils", "_rebuild_sparse_csr_tensor", GlobalKind.UnsupportedTorch),
            new("torch._utils", "_rebuild_sparse_compressed_tensor", GlobalKind.UnsupportedTorch),
            new("torch._utils", "_rebuild_meta_tensor_no_storage", GlobalKind.UnsupportedTorch),
            new("torch._utils", "_rebuild_qtensor", GlobalKind.UnsupportedTorch),
            new("torch._utils", "_rebuild_nested_tensor", GlobalKind.UnsupportedTorch),
            new("torch._utils", "_rebuild_wrapper_subclass", GlobalKind.UnsupportedTorch),
            new("torch._utils", "_rebuild_device_tensor_from_numpy", GlobalKind.RebuildFromNumpy),
            new("torch._utils", "_rebuild_device_tensor_from_cpu_tensor", GlobalKind.UnsupportedTorch),
            new("torch.serialization", "_get_layout", GlobalKind.UnsupportedTorch),
            new("torch", "device", GlobalKind.TorchValue),
            new("torch", "strided", GlobalKind.TorchValue),
            new("torch", "sparse_coo", GlobalKind.TorchValue),
            new("torch", "sparse_csr", GlobalKind.TorchValue),
            new("torch", "per_tensor_affine", GlobalKind.TorchValue),
            new("torch", "per_tensor_symmetric", GlobalKind.TorchValue),
            new("torch", "per_channel_affine", GlobalKind.TorchValue),
            new("torch", "per_channel_symmetric", GlobalKind.TorchValue),
            new("torch", "per_channel_affine_float_qparams", GlobalKind.TorchValue),
        };
        foreach ((string cls, string dtype) in StorageClasses)
        {
            list.Add(new("torch", cls, GlobalKind.StorageClass, TorchDTypes[dtype]));
        }

        foreach (TorchDType d in TorchDTypes.Values)
        {
            list.Add(new("torch", d.Name, GlobalKind.TorchDType, d));
        }

        return list.ToFrozenDictionary(g => g.FullName, StringComparer.Ordinal);
    }
}
