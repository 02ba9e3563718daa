using SafeCkpt.Safety;

namespace SafeCkpt.Formats.Torch;

/// <summary>
/// torch's <c>persistent_load</c> for the object pickle of a checkpoint: each persistent id is a storage record
/// <c>('storage', storage class, key, location, numel)</c>, and in the legacy format a sixth element, the view
/// metadata <c>None</c> or <c>(view_key, offset, size)</c>. Each id becomes an inert <see cref="StorageRef"/>; the
/// reader then finds the bytes by key. One instance serves one pickle.
/// </summary>
internal sealed class TorchPersistentIds : IPersistentLoader
{
    private readonly bool _legacy;
    private readonly List<StorageRef> _storages = [];

    // The legacy format's deserialized_objects: root and view storages by key, the first declaration of a key wins.
    private readonly Dictionary<string, StorageRef> _legacyObjects = new(StringComparer.Ordinal);

    private TorchPersistentIds(bool legacy) => _legacy = legacy;

    /// <summary>Every storage reference the pickle made, in order.</summary>
    public IReadOnlyList<StorageRef> Storages => _storages;

    /// <summary>The loader of a torch.save zip checkpoint's <c>data.pkl</c>.</summary>
    public static TorchPersistentIds Zip() => new(legacy: false);

    /// <summary>The loader of a legacy checkpoint's object pickle (4 of 5).</summary>
    public static TorchPersistentIds Legacy() => new(legacy: true);

    /// <inheritdoc/>
    public object Load(PickleMachine m, object? pid)
    {
        int expected = _legacy ? 6 : 5;
        if (pid is not PyTuple t || t.Count == 0 || t[0] is not string tag)
        {
            throw m.Invalid(m.OpStart, $"BINPERSID with a {PickleMachine.TypeName(pid)}; torch.load accepts only ('storage', ...) tuples and would fail");
        }

        if (tag != "storage")
        {
            throw _legacy && tag == "module"
                ? m.Unsupported("a ('module', ...) persistent id: the file pickles a whole nn.Module, not a state dict")
                : m.Invalid(m.OpStart, $"BINPERSID of kind '{tag}'; torch.load accepts only 'storage' here and would fail");
        }

        if (t.Count != expected)
        {
            throw m.Invalid(m.OpStart, $"a storage persistent id has {t.Count} elements; {expected} are expected");
        }

        if (t[1] is not PyGlobal { Kind: GlobalKind.StorageClass } cls)
        {
            throw m.Invalid(m.OpStart, $"a storage persistent id names a {PickleMachine.TypeName(t[1])} as its storage type");
        }

        if (t[2] is not string key || key.Length == 0 || key.Length > 64 || key.Contains('/', StringComparison.Ordinal) || key.Contains('\\', StringComparison.Ordinal) || key.Contains("..", StringComparison.Ordinal))
        {
            throw m.Invalid(m.OpStart, $"a storage persistent id has the key {PickleMachine.Describe(t[2])}; keys are short names such as '0'");
        }

        if (t[3] is not string location || t[4] is not long numel || numel < 0)
        {
            throw m.Invalid(m.OpStart, $"storage '{key}': the persistent id needs a location string and a non-negative element count");
        }

        var storage = new StorageRef(key, cls.DType, location, numel, m.OpStart);
        if (_legacy)
        {
            storage = LegacyStorage(m, storage, t[5]);
        }

        _storages.Add(storage);
        return storage;
    }

    /// <summary>
    /// torch's legacy persistent_load caches storages by key: a root key seen before returns the first root; a view
    /// key seen before returns the first view (or the root of that name), whatever offset this id gives.
    /// </summary>
    private StorageRef LegacyStorage(PickleMachine m, StorageRef root, object? viewMetadata)
    {
        if (_legacyObjects.TryGetValue(root.Key, out StorageRef? known) && known.ViewKey is not null)
        {
            throw m.Invalid(m.OpStart, $"storage '{root.Key}' is used as a root storage after being a view's key; torch would read the view as the root, which SafeCkpt does not follow");
        }

        _legacyObjects.TryAdd(root.Key, root);
        if (viewMetadata is null)
        {
            return root;
        }

        if (viewMetadata is not PyTuple { Count: 3 } view || view[0] is not string viewKey || view[1] is not long viewOffset || view[2] is not long viewSize || viewOffset < 0 || viewSize < 0)
        {
            throw m.Invalid(m.OpStart, $"storage '{root.Key}': the view metadata must be None or (key, offset, size)");
        }

        if (_legacyObjects.TryGetValue(viewKey, out StorageRef? cached))
        {
            return cached;
        }

        StorageRef created = root with { ViewKey = viewKey, ViewOffset = viewOffset, ViewNumel = viewSize };
        _legacyObjects.Add(viewKey, created);
        return created;
    }
}
