using SafeCkpt.Formats.Tar;
using SafeCkpt.Formats.Torch;
using SafeCkpt.Internals;
using SafeCkpt.IO;
using static SafeCkpt.Safety.PickleOpcodes;

namespace SafeCkpt.Safety;

/// <summary>
/// Lists every global and unusual opcode the pickles of a file would use, each marked allowed or unsafe, then reads
/// the file with the same code <see cref="ModelFile.Open(string)"/> uses, and concludes a <see cref="ScanVerdict"/>.
/// The listing is a static walk over the opcodes of the shared <see cref="PickleTokenizer"/> with a shadow stack
/// that only tracks string literals (so <c>STACK_GLOBAL</c> operands, also through the memo, are named exactly), under
/// the machine's limits. It walks what torch.load would unpickle: a zip's pickle records; for every other file the
/// pickles from byte 0 (the legacy format's five, or stacked pickles), whatever the file's format looks like, because
/// that is where torch.load starts.
/// </summary>
public static class CheckpointScanner
{
    private const int MaxFindingsPerRecord = 10_000;
    private const string Other = "\u0000other";

    /// <summary>Scans a file.</summary>
    /// <param name="path">The file.</param>
    /// <returns>The findings and verdict; a malformed file gives a report, not an exception.</returns>
    /// <exception cref="InputReadException">The file cannot be opened or read.</exception>
    public static ScanReport Scan(string path)
    {
        using var file = FileByteSource.Open(path);
        return Scan(file);
    }

    /// <summary>Scans bytes held in memory.</summary>
    /// <param name="bytes">The whole file.</param>
    /// <param name="name">A name for the report.</param>
    /// <returns>The findings and verdict.</returns>
    public static ScanReport Scan(ReadOnlyMemory<byte> bytes, string name = "<memory>") => Scan(new MemoryByteSource(bytes, name));

    internal static ScanReport Scan(ByteSource file)
    {
        var findings = new List<ScanFinding>();
        (ModelFormat format, string description) = FormatSniffer.Sniff(file);
        SafeCkptException? error = null;
        bool notAModel = false;
        if (file.Length == 0)
        {
            return new ScanReport(file.Name, format, findings, description, ScanVerdict.NotAModel, SafeCkptErrorCode.EmptyFile);
        }

        if (file.Length >= TarHeader.BlockSize && TarHeader.IsValidHeader(file.ReadAt(0, TarHeader.BlockSize)))
        {
            UnsafeCheckpointException tar = TarHeader.Refusal(file.Name);
            findings.Add(new ScanFinding(ScanFindingKind.Archive, "legacy tar checkpoint", false, "tar header", 0, 0, tar.Message));
            return new ScanReport(file.Name, format, findings, tar.Message, ScanVerdict.Unsafe, tar.Code);
        }

        try
        {
            if (format == ModelFormat.TorchZip)
            {
                ScanZip(file, findings);
            }
            else
            {
                // torch.load unpickles any non-zip, non-tar file from byte 0: walk it as torch would, whatever it looks like.
                bool walked = ScanStream(file, format == ModelFormat.TorchLegacy ? 5 : int.MaxValue, findings, out SafeCkptException? walkError);
                if (format == ModelFormat.Unknown)
                {
                    // Not a model format. A whole pickle without PROTO (protocol 0/1) is one torch would load, but
                    // SafeCkpt does not open it: harmless (no unsafe global was found), yet not read.
                    notAModel = !walked;
                    error = walked ? PickleErrors.Unsupported(new PickleSource(file.Name, "pickle", 0), 0, $"a protocol 0/1 pickle without a PROTO opcode; torch.load would unpickle it, SafeCkpt opens protocol {MinSupportedProtocol} to {HighestProtocol} pickles only") : null;
                }
                else if (format is not (ModelFormat.Safetensors or ModelFormat.Gguf))
                {
                    error = walkError;
                }

            }
        }
        catch (UnsafeCheckpointException ex)
        {
            findings.Add(new ScanFinding(ScanFindingKind.Archive, ex.RecordName ?? "archive", false, ex.RecordName ?? "(file)", ex.Offset ?? 0, ex.Offset, ex.Message));
        }
        catch (InvalidCheckpointException ex)
        {
            error = ex;
        }

        // Then read it exactly as inspect and convert do: the verdict covers what the walk cannot see (persistent-id
        // kinds, REDUCE/BUILD/NEWOBJ targets such as calling a class allowed only as a value, storage sizes and views,
        // the safetensors rules). It runs even when the walk stopped at broken bytes: torch acts on everything before
        // them, and the reader stops at the first thing it refuses, which may come first.
        if (!notAModel && format != ModelFormat.Unknown && !findings.Any(f => !f.Allowed))
        {
            try
            {
                using ModelFile model = ModelFile.OpenSource(file, format, description);
            }
            catch (UnsafeCheckpointException ex)
            {
                findings.Add(new ScanFinding(ScanFindingKind.Opcode, ex.GlobalName ?? "refused", false, ex.RecordName ?? "(file)", ex.Offset ?? 0, null, ex.Message));
            }
            catch (InvalidCheckpointException ex)
            {
                error ??= ex;
            }
        }

        ScanVerdict verdict = findings.Any(f => !f.Allowed) ? ScanVerdict.Unsafe
            : notAModel ? ScanVerdict.NotAModel
            : error is null ? ScanVerdict.Clean
            : error.Code == SafeCkptErrorCode.UnsupportedConstruct ? ScanVerdict.Unsupported
            : error is UnsupportedFormatException ? ScanVerdict.NotAModel
            : ScanVerdict.Malformed;
        string? text = notAModel ? $"{file.Name}: {description}" : error?.Message;
        return new ScanReport(file.Name, format, findings, text, verdict, notAModel ? SafeCkptErrorCode.UnsupportedFormat : error?.Code);
    }

    private static void ScanZip(ByteSource file, List<ScanFinding> findings)
    {
        ZipDirectory dir = ZipDirectory.Read(file);
        foreach (ZipEntry e in dir.Entries)
        {
            if (TorchReaders.ArchiveCodeReason(e.Name) is { } why)
            {
                findings.Add(new ScanFinding(ScanFindingKind.Archive, "code archive", false, e.Name, e.LocalHeaderOffset, e.LocalHeaderOffset, $"the archive is {why}"));
            }
        }

        // torch reads only <prefix>/data.pkl (the one the object-pickle rules apply to); other pickle-like records are
        // walked too, for loaders that read them, but their errors do not count. Storage records (<prefix>/data/KEY)
        // are raw tensor bytes and are never walked: data that happens to start like a pickle is not one.
        string? objectPickle = dir.Entries.Count > 0 && dir.Entries[0].Name.IndexOf('/', StringComparison.Ordinal) is > 0 and int slash
            ? TorchArchive.Record(dir.Entries[0].Name[..slash], TorchArchive.ObjectPickle)
            : null;
        foreach (ZipEntry e in dir.Entries)
        {
            bool pickleName = e.Name.EndsWith(".pkl", StringComparison.OrdinalIgnoreCase) || e.Name.EndsWith(".pickle", StringComparison.OrdinalIgnoreCase);
            if (!pickleName)
            {
                if (e.Size < 2 || e.Size > Limits.MaxPickleBytes || IsStorageRecord(e.Name))
                {
                    continue;
                }

                byte[] head = ZipDirectory.ReadHead(file, e, 2);
                if (head.Length < 2 || head[0] != Proto || head[1] > HighestProtocol)
                {
                    continue;
                }
            }

            byte[] data = ZipDirectory.ReadAll(file, e, Limits.MaxPickleBytes);
            bool torchObject = string.Equals(e.Name, objectPickle, StringComparison.OrdinalIgnoreCase);
            var source = new PickleSource(file.Name, e.Name, e.IsStored ? e.DataOffset : -1);
            Walk(data, source, torchObject, findings, windowed: false, out _, out InvalidCheckpointException? err, out _);
            if (err is not null && torchObject)
            {
                throw err;
            }
        }

        VerifyDeflated(file, dir);
    }

    /// <summary>Inflates every deflated record once, streaming, to check it yields the size its header declares (reads inflate lazily).</summary>
    private static void VerifyDeflated(ByteSource file, ZipDirectory dir)
    {
        foreach (ZipEntry e in dir.Entries.Where(e => !e.IsStored && e.Size <= TorchReaders.MaxInflatedStorageBytes))
        {
            var source = new ZipDirectory.InflatingTensorSource(file, e);
            byte[] chunk = new byte[1 << 20];
            for (long at = 0; at < e.Size; at += chunk.Length)
            {
                source.Read(at, chunk.AsSpan(0, (int)Math.Min(chunk.Length, e.Size - at)));
            }
        }
    }

    private static bool IsStorageRecord(string name)
    {
        string[] parts = name.Split('/');
        return parts.Length == 3 && parts[1] == TorchArchive.StorageFolder;
    }

    /// <summary>
    /// Walks the pickles at the start of a non-zip file; false when not even the first one is a whole pickle. Each
    /// pickle is read through a window that grows only while the pickle continues (a 7 GB legacy checkpoint or a
    /// safetensors file costs a megabyte here, not the 256 MiB pickle limit).
    /// </summary>
    private static bool ScanStream(ByteSource file, int maxPickles, List<ScanFinding> findings, out SafeCkptException? error)
    {
        error = null;
        long pos = 0;
        for (int i = 0; i < maxPickles && pos < file.Length; i++)
        {
            string record = maxPickles == 5 ? $"legacy pickle {i + 1} of 5" : i == 0 ? "pickle" : $"stacked pickle {i + 1}";
            var source = new PickleSource(file.Name, record, pos);
            long remaining = file.Length - pos;
            long window = Math.Min(remaining, 1 << 20);
            int consumed, opcodes;
            InvalidCheckpointException? err;
            while (true)
            {
                byte[] data = file.ReadAt(pos, (int)window);
                bool more = window < remaining && window < Limits.MaxPickleBytes;
                int mark = findings.Count;
                consumed = Walk(data, source, torchObject: maxPickles == 5 && i == 3, findings, more, out opcodes, out err, out bool needMore);
                if (!needMore)
                {
                    break;
                }

                findings.RemoveRange(mark, findings.Count - mark);
                window = Math.Min(Math.Min(remaining, Limits.MaxPickleBytes), window * 4);
            }

            if (err is not null)
            {
                if (i == 0)
                {
                    error = err;
                    return false;
                }

                error = i > 0 && maxPickles != 5 && opcodes <= 1
                    ? new InvalidCheckpointException(SafeCkptErrorCode.TrailingData, file.Name, $"{file.Name}: {file.Length - pos:N0} bytes after the last pickle (at byte {pos}) are not a pickle.") { Offset = pos }
                    : err;
                return true;
            }

            pos += consumed;
        }

        return true;
    }

    private static PickleLimits Limits => PickleLimits.Default;

    /// <summary>
    /// Walks one pickle with a shadow stack of string literals; returns the bytes consumed (through STOP). A malformed
    /// pickle stops the walk where CPython's unpickler would fail (findings so far are kept) and sets
    /// <paramref name="error"/>.
    /// </summary>
    private static int Walk(ReadOnlyMemory<byte> memory, PickleSource source, bool torchObject, List<ScanFinding> findings, bool windowed, out int opcodes, out InvalidCheckpointException? error, out bool needMore)
    {
        var tok = new PickleTokenizer(memory, source, Limits, windowed);
        needMore = false;
        var stack = new List<string?>();
        var marks = new List<int>();
        var memo = new Dictionary<long, string?>();
        var seen = new Dictionary<string, ScanFinding>(StringComparer.Ordinal);
        int start = findings.Count;
        opcodes = 0;
        error = null;

        void Add(ScanFindingKind kind, string name, bool allowed, long at, string detail)
        {
            string key = kind + ":" + name + ":" + allowed;
            if (seen.TryGetValue(key, out ScanFinding? f))
            {
                f.Count++;
                return;
            }

            if (findings.Count - start >= MaxFindingsPerRecord)
            {
                return;
            }

            f = new ScanFinding(kind, name, allowed, source.RecordName, at, source.FileOffset >= 0 ? source.FileOffset + at : null, detail);
            seen[key] = f;
            findings.Add(f);
        }

        void AddGlobal(string module, string name, long at, string via)
        {
            PyGlobal? g = PickleAllowlist.Lookup(module, name, torchObject);
            string full = g?.FullName ?? PickleAllowlist.NormalizeModule(module) + "." + name;
            string detail = g switch
            {
                null => $"not on the allowlist ({via}); torch.load(weights_only=False) would import it",
                { Kind: GlobalKind.UnsupportedTorch } => $"a torch helper for tensors SafeCkpt does not read ({via}); importing it runs nothing foreign",
                _ => $"allowlisted ({via})",
            };
            Add(ScanFindingKind.Global, full, g is not null, at, detail);
        }

        try
        {
            while (true)
            {
                PickleOp op = tok.Next();
                opcodes++;
                int Fence() => marks.Count > 0 ? marks[^1] : 0;

                string? PopValue()
                {
                    if (stack.Count <= Fence())
                    {
                        throw tok.Invalid(op.Offset, $"{Name(op.Code)} needs a value but the stack is empty (or only a MARK is left)");
                    }

                    string? v = stack[^1];
                    stack.RemoveAt(stack.Count - 1);
                    return v;
                }

                string? PeekValue() => stack.Count > Fence() ? stack[^1] : throw tok.Invalid(op.Offset, $"{Name(op.Code)} needs a value but the stack is empty (or only a MARK is left)");

                void PopToMark()
                {
                    if (marks.Count == 0)
                    {
                        throw tok.Invalid(op.Offset, $"{Name(op.Code)} without a MARK before it");
                    }

                    int fence = Fence();
                    stack.RemoveRange(fence, stack.Count - fence);
                    marks.RemoveAt(marks.Count - 1);
                }

                void Push(string? v)
                {
                    if (stack.Count >= Limits.MaxStackDepth)
                    {
                        throw PickleErrors.Limit(source, op.Offset, $"more than {Limits.MaxStackDepth:N0} values on the stack");
                    }

                    stack.Add(v);
                }

                switch (op.Code)
                {
                    case Stop:
                        PopValue();
                        return tok.Position;
                    case Proto:
                        if (op.Offset != 0)
                        {
                            Add(ScanFindingKind.Opcode, "PROTO", true, op.Offset, "a second PROTO (not written by torch.save; SafeCkpt does not read such pickles)");
                        }

                        break;
                    case Frame or StackGlobal or Memoize or NewObj:
                        Add(ScanFindingKind.Opcode, Name(op.Code), true, op.Offset, "accepted, but not written by torch.save's protocol 2");
                        break;
                }

                switch (op.Code)
                {
                    case Mark:
                        if (marks.Count >= Limits.MaxMarkDepth)
                        {
                            throw PickleErrors.Limit(source, op.Offset, $"more than {Limits.MaxMarkDepth:N0} nested MARKs");
                        }

                        marks.Add(stack.Count);
                        break;
                    case Pop:
                        if (marks.Count > 0 && marks[^1] == stack.Count)
                        {
                            marks.RemoveAt(marks.Count - 1);
                        }
                        else
                        {
                            PopValue();
                        }

                        break;
                    case PopMark:
                        PopToMark();
                        break;
                    case Dup:
                        Push(PeekValue());
                        break;
                    case ShortBinUnicode or BinUnicode or BinUnicode8 or ShortBinString or BinString or PickleOpcodes.String or Unicode:
                        Push((string)op.Value!);
                        break;
                    case BinPut or LongBinPut or Put:
                        if (!memo.ContainsKey(op.Int) && memo.Count >= Limits.MaxMemoEntries)
                        {
                            throw PickleErrors.Limit(source, op.Offset, $"more than {Limits.MaxMemoEntries:N0} memo entries");
                        }

                        memo[op.Int] = PeekValue();
                        break;
                    case Memoize:
                        if (memo.Count >= Limits.MaxMemoEntries)
                        {
                            throw PickleErrors.Limit(source, op.Offset, $"more than {Limits.MaxMemoEntries:N0} memo entries");
                        }

                        memo[memo.Count] = PeekValue();
                        break;
                    case BinGet or LongBinGet or Get:
                        Push(memo.TryGetValue(op.Int, out string? mv) ? mv : throw tok.Invalid(op.Offset, $"{Name(op.Code)} {op.Int} reads a memo entry that was never stored"));
                        break;
                    case Global:
                        AddGlobal(op.Module!, op.Name!, op.Offset, "GLOBAL");
                        Push(Other);
                        break;
                    case Inst:
                        AddGlobal(op.Module!, op.Name!, op.Offset, "INST, which also calls it");
                        PopToMark();
                        Push(Other);
                        break;
                    case StackGlobal:
                    {
                        string? name = PopValue();
                        string? module = PopValue();
                        if (module is null or Other || name is null or Other)
                        {
                            Add(ScanFindingKind.Opcode, "STACK_GLOBAL", false, op.Offset, "its module and name are not string literals, so the imported global cannot be named");
                        }
                        else
                        {
                            AddGlobal(module, name, op.Offset, "STACK_GLOBAL");
                        }

                        Push(Other);
                        break;
                    }

                    case Ext1 or Ext2 or Ext4:
                        Add(ScanFindingKind.Opcode, Name(op.Code), false, op.Offset, $"imports global number {op.Int} of copyreg's extension registry, which cannot be checked");
                        Push(Other);
                        break;
                    case PickleOpcodes.Tuple or PickleOpcodes.List or Dict or PickleOpcodes.FrozenSet or Obj:
                        PopToMark();
                        Push(Other);
                        break;
                    case Appends or SetItems or AddItems:
                        PopToMark();
                        PeekValue();
                        break;
                    case Tuple1:
                        PopValue();
                        Push(Other);
                        break;
                    case Tuple2:
                        PopValue();
                        PopValue();
                        Push(Other);
                        break;
                    case Tuple3:
                        PopValue();
                        PopValue();
                        PopValue();
                        Push(Other);
                        break;
                    case Append or Build:
                        PopValue();
                        PeekValue();
                        break;
                    case SetItem:
                        PopValue();
                        PopValue();
                        PeekValue();
                        break;
                    case Reduce or NewObj:
                        PopValue();
                        PopValue();
                        Push(Other);
                        break;
                    case NewObjEx:
                        PopValue();
                        PopValue();
                        PopValue();
                        Push(Other);
                        break;
                    case BinPersId:
                        PopValue();
                        Push(Other);
                        break;
                    case ReadOnlyBuffer:
                        PeekValue();
                        break;
                    case Proto or Frame:
                        break;
                    default:
                        // Values: numbers, bytes, empty containers, None/True/False, text numbers, PERSID, NEXT_BUFFER.
                        Push(Other);
                        break;
                }
            }
        }
        catch (InvalidCheckpointException ex)
        {
            error = ex;
            return tok.Position;
        }
        catch (NeedMoreDataException)
        {
            needMore = true;
            return tok.Position;
        }
    }
}
