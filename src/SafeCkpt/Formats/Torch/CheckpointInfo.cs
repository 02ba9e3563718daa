using System.Collections.ObjectModel;

namespace SafeCkpt.Formats.Torch;

/// <summary>
/// What a PyTorch checkpoint holds besides its tensors: the non-tensor values (epoch, global_step,
/// pytorch-lightning_version, ...) rendered as short strings, where the state dict was found, and how storages are
/// shared between tensors.
/// </summary>
public sealed class CheckpointInfo
{
    internal CheckpointInfo(IDictionary<string, string> values, string? stateDictPath, int storageCount, int tensorsSharingStorage)
    {
        Values = new ReadOnlyDictionary<string, string>(new Dictionary<string, string>(values, StringComparer.Ordinal));
        StateDictPath = stateDictPath;
        StorageCount = storageCount;
        TensorsSharingStorage = tensorsSharingStorage;
    }

    /// <summary>
    /// The checkpoint's other values by key, rendered Python-style and shortened to 200 characters: top-level entries
    /// beside the state dict, or non-tensor leaves (dotted keys) when the whole file was flattened.
    /// </summary>
    public IReadOnlyDictionary<string, string> Values { get; }

    /// <summary>Where the tensors were taken from, e.g. <c>state_dict</c> or <c>model.state_dict</c>; null for the top level.</summary>
    public string? StateDictPath { get; }

    /// <summary>The number of distinct storages (zip records or legacy raw blocks) the tensors use.</summary>
    public int StorageCount { get; }

    /// <summary>The number of tensors that share their storage with at least one other tensor.</summary>
    public int TensorsSharingStorage { get; }
}
