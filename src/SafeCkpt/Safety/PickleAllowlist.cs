using System.Collections.Frozen;
using SafeCkpt.Formats.Torch;

namespace SafeCkpt.Safety;

/// <summary>
/// The exact <c>module.name</c> globals a checkpoint pickle may import, in one place. Lookup is by the exact string:
/// no dotted-name resolution, no prefix or module-wide matching, so <c>numpy.prod.os</c> or
/// <c>torch._utils._rebuild_tensor_v2.__globals__</c> are simply absent. Python 2 spellings (<c>__builtin__</c>) are
/// mapped to Python 3 first, as pickle's <c>fix_imports</c> does. Sources: security.md b.1 (torch weights_only),
/// b.5 (AUTOMATIC1111), b.6 (lopho, spandrel), d.2 (what real SD checkpoints import). The dtypes and typed storage
/// classes come from <see cref="TorchStorageTypes"/>.
/// </summary>
internal static class PickleAllowlist
{
    private static readonly FrozenDictionary<string, PyGlobal> Allowed = Build();

    /// <summary>Maps Python 2 module names to Python 3, as <c>pickle</c>'s <c>fix_imports</c> does for protocol &lt; 3.</summary>
    public static string NormalizeModule(string module) => module == "__builtin__" ? "builtins" : module;

    /// <summary>Looks up an exact <c>module</c> + <c>name</c> pair; null when it is not allowed.</summary>
    /// <param name="module">The module as the pickle spells it.</param>
    /// <param name="name">The name as the pickle spells it.</param>
    /// <param name="torchObject">
    /// The pickle is the object pickle of a torch checkpoint, which torch reads through its own <c>find_class</c>:
    /// any name that is a typed storage class (<see cref="TorchStorageTypes.StorageClasses"/>) becomes that storage type whatever the module
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
        foreach ((string cls, TorchDType dtype) in TorchStorageTypes.StorageClasses)
        {
            list.Add(new("torch", cls, GlobalKind.StorageClass, dtype));
        }

        foreach (TorchDType d in TorchStorageTypes.ByName.Values)
        {
            list.Add(new("torch", d.Name, GlobalKind.TorchDType, d));
        }

        return list.ToFrozenDictionary(g => g.FullName, StringComparer.Ordinal);
    }
}
