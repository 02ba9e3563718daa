namespace SafeCkpt.Safety;

/// <summary>
/// The unpickler's <c>persistent_load</c>: turns the id a BINPERSID pops into the object it names (torch: a storage
/// record, see <c>Formats/Torch/TorchPersistentIds</c>). It fails through the machine's <see cref="PickleMachine.Invalid"/>
/// and <see cref="PickleMachine.Unsupported"/>, at the machine's current opcode.
/// </summary>
internal interface IPersistentLoader
{
    /// <summary>The object <paramref name="pid"/> names.</summary>
    object Load(PickleMachine machine, object? pid);
}

// Globals (checked against the allowlist as they are read), instantiation, persistent ids.
internal sealed partial class PickleMachine
{
    private PyGlobal Resolve(string module, string name)
    {
        PyGlobal? g = PickleAllowlist.Lookup(module, name, torchObject: _persistent is not null);
        if (g is null)
        {
            string full = PickleAllowlist.NormalizeModule(module) + "." + name;
            throw new UnsafeCheckpointException(SafeCkptErrorCode.UnsafeGlobal, _source.FilePath, $"{_source.FilePath}: refused: the pickle imports '{full}' at {_source.Where(_opStart)}, which is not on SafeCkpt's allowlist of tensor and container types. Loading this file with torch.load(weights_only=False) would call it. Do not load it; get the model as .safetensors from a trusted source.")
            {
                Offset = _opStart,
                GlobalName = full,
                RecordName = _source.RecordName,
            };
        }

        return g;
    }

    /// <summary>INST and OBJ: CPython's instantiate(): a class with no arguments gets <c>cls.__new__(cls)</c>, anything else <c>cls(*args)</c>.</summary>
    private object? Instantiate(object? cls, PyTuple args) => args.Count == 0 && cls is PyGlobal { IsClass: true }
        ? Reductions.NewObject(this, cls, args)
        : Reductions.Reduce(this, cls, args);

    /// <summary>BINPERSID: what the id names, from the caller's persistent_load; a bare pickle has none.</summary>
    private object PersistentLoad(object? pid) => _persistent is null
        ? throw Invalid(_opStart, "BINPERSID in a bare pickle: it refers to tensor storages, but a bare pickle has none (only zip and legacy torch files carry storages)")
        : _persistent.Load(this, pid);
}
