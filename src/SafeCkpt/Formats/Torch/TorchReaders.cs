using System.Buffers.Binary;
using System.Numerics;
using System.Text;
using SafeCkpt.Internals;
using SafeCkpt.IO;
using SafeCkpt.Safety;
using SafeCkpt.Tensors;

namespace SafeCkpt.Formats.Torch;

/// <summary>The three PyTorch containers: zip (torch.save since 1.6), legacy (five pickles and raw storages), bare pickle.</summary>
internal static class TorchReaders
{
    /// <summary>The largest storage record inflated into memory when a re-zipped checkpoint deflates it.</summary>
    public const long MaxInflatedStorageBytes = 256L << 20;

    /// <summary>
    /// Reads any of the three formats into the raw pickle value, storages and tensors. The caller has sniffed
    /// <paramref name="format"/> and decided with <see cref="FormatSniffer.IsTorch"/> that it is torch's; like
    /// torch.load, whatever is neither zip nor legacy is read as a pickle.
    /// </summary>
    public static TorchCheckpoint Open(ByteSource file, ModelFormat format, OpenOptions? options = null)
    {
        options ??= OpenOptions.Default;
        return format switch
        {
            ModelFormat.TorchZip => OpenZip(file, options),
            ModelFormat.TorchLegacy => OpenLegacy(file, options),
            _ => OpenBare(file, options),
        };
    }

    // ---------------- zip ----------------
    public static TorchCheckpoint OpenZip(ByteSource file, OpenOptions options)
    {
        string path = file.Name;
        (ZipDirectory dir, string prefix) = ReadArchive(file);
        ZipEntry pkl = dir.Find(TorchArchive.Record(prefix, TorchArchive.ObjectPickle))!;
        bool bigEndian = IsBigEndian(file, dir.Find(TorchArchive.Record(prefix, TorchArchive.ByteOrder)));
        CheckVersion(file, dir.Find(TorchArchive.Record(prefix, TorchArchive.DataVersion)) ?? dir.Find(TorchArchive.Record(prefix, TorchArchive.Version)));

        byte[] pickle = ZipDirectory.ReadAll(file, pkl, PickleLimits.Default.MaxPickleBytes);
        var source = new PickleSource(path, pkl.Name, pkl.IsStored ? pkl.DataOffset : -1);
        var ids = TorchPersistentIds.Zip();
        (object? root, PickleMachine m) = PickleMachine.Run(pickle, source, ids);
        RequireNothingAfter(m, pickle.Length, source);

        Dictionary<string, StorageRef> storages = StorageTable.Distinct(ids.Storages, path);
        var data = new Dictionary<string, StorageData>(StringComparer.Ordinal);
        foreach (StorageRef s in storages.Values)
        {
            string record = TorchArchive.StorageRecord(prefix, s.Key);
            ZipEntry entry = dir.Find(record) ?? throw new InvalidCheckpointException(SafeCkptErrorCode.InvalidStorage, path, $"{path}: the pickle refers to storage '{s.Key}' (at {source.Where(s.PickleOffset)}) but the archive has no record '{record}'. The file is incomplete or corrupt.") { TensorName = record, Offset = s.PickleOffset };
            long expected = StorageTable.ExpectedBytes(s, path);
            if (entry.Size != expected)
            {
                throw new InvalidCheckpointException(SafeCkptErrorCode.StorageSizeMismatch, path, $"{path}: record '{record}' holds {entry.Size:N0} bytes but its storage declares {s.Numel:N0} x {s.DType?.ElementSize ?? 1} = {expected:N0} bytes (CVE-2026-24747 pattern). The file is corrupt or crafted.") { TensorName = record, Offset = entry.LocalHeaderOffset };
            }

            TensorSource bytes;
            if (entry.IsStored)
            {
                bytes = new RangeTensorSource(file, entry.DataOffset, entry.Size);
            }
            else if (entry.Size <= MaxInflatedStorageBytes)
            {
                bytes = new ZipDirectory.InflatingTensorSource(file, entry);
            }
            else
            {
                throw new InvalidCheckpointException(SafeCkptErrorCode.InvalidArchive, path, $"{path}: record '{record}' is deflate-compressed and {entry.Size:N0} bytes large; SafeCkpt inflates compressed storages into memory only up to {MaxInflatedStorageBytes:N0} bytes. Re-save the checkpoint with torch.save (which stores records uncompressed).") { TensorName = record, Offset = entry.LocalHeaderOffset };
            }

            if (bigEndian && s.DType is { ElementSize: > 1 } swapped)
            {
                // torch 2.x byte-swaps each storage by its dtype on load (complex numbers per half); untyped storages are not swapped.
                bytes = new ByteSwapTensorSource(bytes, swapped.Name.StartsWith("complex", StringComparison.Ordinal) ? swapped.ElementSize / 2 : swapped.ElementSize);
            }

            data.Add(s.Key, new StorageData(bytes, s.DType, s.Numel));
        }

        return Assemble(file, ModelFormat.TorchZip, root, data, options);
    }

    /// <summary>Reads the directory and checks the torch layout: one prefix, known records only, no TorchScript or torch.package content.</summary>
    public static (ZipDirectory Dir, string Prefix) ReadArchive(ByteSource file)
    {
        string path = file.Name;
        ZipDirectory dir = ZipDirectory.Read(file);
        foreach (ZipEntry e in dir.Entries)
        {
            if (ArchiveCodeReason(e.Name) is { } why)
            {
                throw new UnsafeCheckpointException(SafeCkptErrorCode.UnsafeArchive, path, $"{path}: refused: the archive holds '{e.Name}', so it is {why}, not a weights checkpoint. Loading it runs code from the archive. Nothing was executed.") { RecordName = e.Name, Offset = e.LocalHeaderOffset };
            }
        }

        if (dir.Entries.Count == 0)
        {
            throw new InvalidCheckpointException(SafeCkptErrorCode.InvalidArchive, path, $"{path}: the zip archive is empty; a checkpoint holds data.pkl.");
        }

        string first = dir.Entries[0].Name;
        int slash = first.IndexOf('/', StringComparison.Ordinal);
        if (slash <= 0)
        {
            throw new InvalidCheckpointException(SafeCkptErrorCode.InvalidArchive, path, $"{path}: the first entry '{first}' is not inside a folder; torch.save puts every record under one top folder (e.g. 'archive/').") { TensorName = first };
        }

        string prefix = first[..slash];
        foreach (ZipEntry e in dir.Entries)
        {
            if (!e.Name.StartsWith(prefix + "/", StringComparison.Ordinal))
            {
                throw new InvalidCheckpointException(SafeCkptErrorCode.InvalidArchive, path, $"{path}: the entry '{e.Name}' is outside the archive folder '{prefix}/'. PyTorch ignores such entries, scanners may not: the file is not a plain checkpoint.") { TensorName = e.Name };
            }

            string rest = e.Name[(slash + 1)..];
            if (!(TorchArchive.IsStorageRecord(rest) || rest == TorchArchive.ObjectPickle || TorchArchive.KnownRecords.Contains(rest)))
            {
                throw new InvalidCheckpointException(SafeCkptErrorCode.InvalidArchive, path, $"{path}: the archive has the unexpected record '{e.Name}'; a torch.save checkpoint holds data.pkl, data/KEY, version, byteorder and a few metadata records only.") { TensorName = e.Name };
            }
        }

        if (dir.Find(TorchArchive.Record(prefix, TorchArchive.ObjectPickle)) is null)
        {
            throw new InvalidCheckpointException(SafeCkptErrorCode.InvalidArchive, path, $"{path}: the archive has no '{prefix}/data.pkl'; it is a zip file but not a PyTorch checkpoint.");
        }

        return (dir, prefix);
    }

    /// <summary>Why an entry name marks a code archive (TorchScript, torch.package), or null.</summary>
    public static string? ArchiveCodeReason(string name)
    {
        string[] parts = name.Split('/');
        string last = parts[^1];
        if (last == "constants.pkl" || parts.Contains("code") || parts.Contains("constants"))
        {
            return "a TorchScript archive (CVE-2025-32434: torch.load dispatches these to torch.jit.load)";
        }

        if (name.Contains(".data/extern_modules", StringComparison.Ordinal) || last.EndsWith(".py", StringComparison.Ordinal) || last.EndsWith(".pyc", StringComparison.Ordinal))
        {
            return "a torch.package archive (its pickles import the Python sources it carries)";
        }

        return null;
    }

    /// <summary>Reads the <c>byteorder</c> record: absent or <c>little</c> is little-endian, <c>big</c> big-endian (swapped on read).</summary>
    private static bool IsBigEndian(ByteSource file, ZipEntry? entry)
    {
        if (entry is null)
        {
            return false;
        }

        string text = Encoding.ASCII.GetString(ZipDirectory.ReadAll(file, entry, 64)).Trim();
        return text switch
        {
            "little" => false,
            "big" => true,
            _ => throw new InvalidCheckpointException(SafeCkptErrorCode.UnsupportedByteOrder, file.Name, $"{file.Name}: the byteorder record says '{text}'; only 'little' or 'big' are valid.") { TensorName = entry.Name },
        };
    }

    private static void CheckVersion(ByteSource file, ZipEntry? entry)
    {
        if (entry is null)
        {
            return;
        }

        string text = Encoding.ASCII.GetString(ZipDirectory.ReadAll(file, entry, 64)).Trim();
        if (!int.TryParse(text, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int v) || v < 1 || v > 64)
        {
            throw new InvalidCheckpointException(SafeCkptErrorCode.InvalidArchive, file.Name, $"{file.Name}: the version record says '{text}'; expected a small decimal number.") { TensorName = entry.Name };
        }
    }

    // ---------------- legacy ----------------
    public static TorchCheckpoint OpenLegacy(ByteSource file, OpenOptions options)
    {
        string path = file.Name;
        long pos = 0;
        (object? magic, pos, _) = RunAt(file, pos, "legacy pickle 1 of 5 (magic number)", NoPersistentIds);
        if (!(magic is BigInteger b && b == TorchStorageTypes.LegacyMagic))
        {
            throw Legacy(path, 0, $"the first pickle is not the legacy magic number 0x{TorchStorageTypes.LegacyMagicHex}");
        }

        long at = pos;
        (object? protocol, pos, _) = RunAt(file, pos, "legacy pickle 2 of 5 (protocol version)", NoPersistentIds);
        if (protocol is not TorchStorageTypes.LegacyProtocolVersion)
        {
            throw Legacy(path, at, $"the protocol version is {CheckpointContent.Render(protocol)}, not {TorchStorageTypes.LegacyProtocolVersion}");
        }

        at = pos;
        (object? sysInfo, pos, _) = RunAt(file, pos, "legacy pickle 3 of 5 (sys_info)", NoPersistentIds);
        if (sysInfo is not PyDict)
        {
            throw Legacy(path, at, "sys_info is not a dict");
        }

        // torch reads sys_info but never uses it: legacy raw storages are always little-endian.

        long objectStart = pos;
        (object? root, pos, IPersistentLoader? loader) = RunAt(file, pos, "legacy pickle 4 of 5 (the object)", TorchPersistentIds.Legacy);
        var ids = (TorchPersistentIds)loader!;
        at = pos;
        (object? keysValue, pos, _) = RunAt(file, pos, "legacy pickle 5 of 5 (storage keys)", NoPersistentIds);
        if (keysValue is not PyList keyList || !keyList.Items.All(k => k is string))
        {
            throw Legacy(path, at, "the storage-key list is not a list of strings");
        }

        RefusePolyglot(file);
        Dictionary<string, StorageRef> storages = StorageTable.Distinct(ids.Storages.Select(s => s with { ViewKey = null, ViewOffset = 0, ViewNumel = 0 }), path);
        var data = new Dictionary<string, StorageData>(StringComparer.Ordinal);
        Span<byte> numelBytes = stackalloc byte[8];
        foreach (string key in keyList.Items.Cast<string>())
        {
            if (!storages.TryGetValue(key, out StorageRef? s))
            {
                throw new InvalidCheckpointException(SafeCkptErrorCode.InvalidStorage, path, $"{path}: the storage list names '{key}', which no tensor uses (its type is unknown).") { TensorName = key, Offset = pos };
            }

            if (data.ContainsKey(key))
            {
                throw new InvalidCheckpointException(SafeCkptErrorCode.DuplicateKey, path, $"{path}: the storage list names '{key}' twice.") { TensorName = key, Offset = pos };
            }

            if (file.Length - pos < 8)
            {
                throw Truncated(path, pos, key);
            }

            file.ReadExactly(pos, numelBytes);
            long numel = BinaryPrimitives.ReadInt64LittleEndian(numelBytes);
            long expected = StorageTable.ExpectedBytes(s, path);
            if (numel != s.Numel)
            {
                throw new InvalidCheckpointException(SafeCkptErrorCode.StorageSizeMismatch, path, $"{path}: raw storage '{key}' at byte {pos} holds {numel:N0} elements but the pickle declares {s.Numel:N0}. The file is corrupt or crafted.") { TensorName = key, Offset = pos };
            }

            if (expected > file.Length - pos - 8)
            {
                throw Truncated(path, pos, key);
            }

            data.Add(key, new StorageData(new RangeTensorSource(file, pos + 8, expected), s.DType, s.Numel));
            pos += 8 + expected;
        }

        foreach (string key in storages.Keys)
        {
            if (!data.ContainsKey(key))
            {
                throw new InvalidCheckpointException(SafeCkptErrorCode.InvalidStorage, path, $"{path}: storage '{key}' is used by a tensor but missing from the storage list.") { TensorName = key, Offset = objectStart + storages[key].PickleOffset };
            }
        }

        if (pos != file.Length)
        {
            throw new InvalidCheckpointException(SafeCkptErrorCode.TrailingData, path, $"{path}: {file.Length - pos:N0} bytes follow the last storage (at byte {pos}). Extra bytes can hide another file; do not trust this file.") { Offset = pos };
        }

        return Assemble(file, ModelFormat.TorchLegacy, root, data, options);
    }

    // ---------------- bare pickle ----------------
    public static TorchCheckpoint OpenBare(ByteSource file, OpenOptions options)
    {
        string path = file.Name;
        if (file.Length > PickleLimits.Default.MaxPickleBytes)
        {
            throw new InvalidCheckpointException(SafeCkptErrorCode.PickleLimitExceeded, path, $"{path}: the pickle is {file.Length:N0} bytes, above the {PickleLimits.Default.MaxPickleBytes:N0}-byte limit.");
        }

        byte[] bytes = file.ReadAt(0, (int)file.Length);
        var source = new PickleSource(path, "pickle", 0);
        (object? root, PickleMachine m) = PickleMachine.Run(bytes, source, null);
        RefusePolyglot(file);
        RequireNothingAfter(m, bytes.Length, source);
        return Assemble(file, ModelFormat.Pickle, root, [], options);
    }

    /// <summary>
    /// A file that torch reads as a pickle must not also open as a zip archive: a zip-based checker (A1111's) would
    /// inspect the archive while torch runs the pickle. Checked after the pickles ran, so a payload in them is named.
    /// </summary>
    private static void RefusePolyglot(ByteSource file)
    {
        if (ZipDirectory.IsPolyglotZip(file))
        {
            throw new InvalidCheckpointException(SafeCkptErrorCode.AmbiguousArchive, file.Name, $"{file.Name}: refused: the file starts with a pickle (what torch.load reads) but also opens as a zip archive (what zip-based checkers read). Tools disagree on what such a file is; do not trust it.") { Offset = 0 };
        }
    }

    private static void RequireNothingAfter(PickleMachine m, long length, PickleSource source)
    {
        if (m.EndOffset != length)
        {
            throw new InvalidCheckpointException(SafeCkptErrorCode.TrailingData, source.FilePath, $"{source.FilePath}: {length - m.EndOffset:N0} bytes follow the pickle's STOP at {source.Where(m.EndOffset)}. A second, hidden pickle may be stacked there; do not trust this file.") { Offset = m.EndOffset, TensorName = source.RecordName };
        }
    }

    /// <summary>
    /// Runs one pickle starting at <paramref name="pos"/>, reading a window that grows until the pickle fits. Each
    /// attempt gets a new persistent-id loader from <paramref name="newIds"/> (an attempt cut short by the window must
    /// leave no storages behind); the one of the run that finished is returned.
    /// </summary>
    private static (object? Value, long Next, IPersistentLoader? Ids) RunAt(ByteSource file, long pos, string name, Func<IPersistentLoader?> newIds)
    {
        var source = new PickleSource(file.Name, name, pos);
        long remaining = file.Length - pos;
        long window = Math.Min(remaining, 1 << 20);
        while (true)
        {
            byte[] bytes = file.ReadAt(pos, (int)window);
            bool more = window < remaining && window < PickleLimits.Default.MaxPickleBytes;
            IPersistentLoader? ids = newIds();
            try
            {
                (object? v, PickleMachine m) = PickleMachine.Run(bytes, source, ids, windowed: more);
                return (v, pos + m.EndOffset, ids);
            }
            catch (NeedMoreDataException)
            {
                window = Math.Min(Math.Min(remaining, PickleLimits.Default.MaxPickleBytes), window * 4);
            }
        }
    }

    /// <summary>The loader of the pickles that carry no storages: any persistent id is refused.</summary>
    private static IPersistentLoader? NoPersistentIds() => null;

    private static InvalidCheckpointException Legacy(string path, long offset, string what) =>
        new(SafeCkptErrorCode.InvalidPickle, path, $"{path}: not a valid legacy PyTorch checkpoint at byte {offset}: {what}.") { Offset = offset };

    private static InvalidCheckpointException Truncated(string path, long pos, string key) =>
        new(SafeCkptErrorCode.Truncated, path, $"{path}: the file ends inside raw storage '{key}' (starting at byte {pos}). It is truncated; download it again.") { Offset = pos, TensorName = key };

    // ---------------- tensors ----------------
    private static TorchCheckpoint Assemble(ByteSource file, ModelFormat format, object? root, Dictionary<string, StorageData> data, OpenOptions options)
    {
        string path = file.Name;
        CheckpointContent.Layout layout = CheckpointContent.Locate(root, path);
        var entries = new List<(TensorInfo, TensorSource)>(layout.Tensors.Count);
        var uses = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach ((string name, TensorRef t) in layout.Tensors)
        {
            entries.Add(StorageTable.Build(name, t, s => s.Inline is { } inline ? new StorageData(new MemoryTensorSource(inline), s.DType, s.Numel) : data.TryGetValue(s.Key, out StorageData? d) ? d : throw new InvalidCheckpointException(SafeCkptErrorCode.InvalidStorage, path, $"{path}: tensor '{name}' uses storage '{s.Key}', which the file does not hold.") { TensorName = name }, path, options.MaxViewExpansion));
            if (t.Storage is { } used)
            {
                uses[used.Key] = uses.GetValueOrDefault(used.Key) + 1;
            }
        }

        int sharing = uses.Values.Where(n => n > 1).Sum();
        var info = new CheckpointInfo(layout.Values, layout.StateDictPath, data.Count, sharing);
        var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
        return new TorchCheckpoint(format, new TensorStore(entries, metadata, file) { Layout = layout.Structure }, info);
    }
}
