using System.Buffers.Binary;
using System.Text;
using SafeCkpt.Formats.Torch;
using SafeCkpt.Internals;
using SafeCkpt.IO;
using static SafeCkpt.Safety.PickleOpcodes;

namespace SafeCkpt.Safety;

/// <summary>
/// Lists every global and unusual opcode the pickles of a file would use, each marked allowed or unsafe, without
/// building any value: a static walk over the opcodes with a shadow stack that only tracks which values are string
/// literals (so <c>STACK_GLOBAL</c> operands, also through the memo, are named exactly). Zip archives are scanned
/// entry by entry (every <c>.pkl</c> entry and every entry that starts like a pickle), legacy files as their five
/// pickles, other files as a sequence of stacked pickles.
/// </summary>
public static class CheckpointScanner
{
    private const int MaxFindingsPerRecord = 10_000;

    /// <summary>Scans a file.</summary>
    /// <param name="path">The file.</param>
    /// <returns>The findings; a malformed file gives a report with <see cref="ScanReport.Error"/> set, not an exception.</returns>
    /// <exception cref="InputReadException">The file cannot be opened or read.</exception>
    public static ScanReport Scan(string path)
    {
        using var file = FileByteSource.Open(path);
        return Scan(file);
    }

    /// <summary>Scans bytes held in memory.</summary>
    /// <param name="bytes">The whole file.</param>
    /// <param name="name">A name for the report.</param>
    /// <returns>The findings.</returns>
    public static ScanReport Scan(ReadOnlyMemory<byte> bytes, string name = "<memory>") => Scan(new MemoryByteSource(bytes, name));

    internal static ScanReport Scan(ByteSource file)
    {
        var findings = new List<ScanFinding>();
        (ModelFormat format, _) = FormatSniffer.Sniff(file);
        string? error = null;
        try
        {
            switch (format)
            {
                case ModelFormat.Safetensors:
                    break;
                case ModelFormat.TorchZip:
                    ScanZip(file, findings);
                    break;
                default:
                    if (file.Length > 0 && ZipDirectory.HasEndOfCentralDirectory(file))
                    {
                        findings.Add(new ScanFinding(ScanFindingKind.Archive, "polyglot", false, "(file)", 0, 0, "the file starts as a pickle but ends with a zip directory; tools disagree on what it is"));
                    }

                    error = ScanStream(file, format == ModelFormat.TorchLegacy ? 5 : int.MaxValue, findings);
                    break;
            }
        }
        catch (UnsafeCheckpointException ex)
        {
            findings.Add(new ScanFinding(ScanFindingKind.Archive, ex.RecordName ?? "archive", false, ex.RecordName ?? "(file)", ex.Offset ?? 0, ex.Offset, ex.Message));
        }
        catch (InvalidCheckpointException ex)
        {
            error = ex.Message;
        }

        if (file.Length == 0)
        {
            error = "the file is empty";
        }

        // A clean static walk: confirm with the reader itself (it only builds inert values), so the verdict covers
        // what the walk cannot see: persistent-id kinds, REDUCE/BUILD targets, storage sizes and views.
        if (error is null && !findings.Any(f => !f.Allowed) && format is ModelFormat.TorchZip or ModelFormat.TorchLegacy or ModelFormat.Pickle)
        {
            try
            {
                _ = TorchReaders.Open(file, format);
            }
            catch (UnsafeCheckpointException ex)
            {
                findings.Add(new ScanFinding(ScanFindingKind.Opcode, ex.GlobalName ?? "refused", false, ex.RecordName ?? "(file)", ex.Offset ?? 0, null, ex.Message));
            }
            catch (InvalidCheckpointException ex)
            {
                error = ex.Message;
            }
        }

        return new ScanReport(file.Name, format, findings, error);
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

        foreach (ZipEntry e in dir.Entries)
        {
            bool pickleName = e.Name.EndsWith(".pkl", StringComparison.Ordinal) || e.Name.EndsWith(".pickle", StringComparison.Ordinal);
            if (!pickleName)
            {
                if (e.Size < 2 || e.Size > Limits.MaxPickleBytes)
                {
                    continue;
                }

                byte[] head = e.IsStored ? file.ReadAt(e.DataOffset, 2) : ZipDirectory.ReadAll(file, e, Limits.MaxPickleBytes).AsSpan(0, 2).ToArray();
                if (head[0] != Proto || head[1] > 5)
                {
                    continue;
                }
            }

            byte[] data = ZipDirectory.ReadAll(file, e, Limits.MaxPickleBytes);
            string? err = Walk(data, e.Name, e.IsStored ? e.DataOffset : null, findings, out _);
            if (err is not null)
            {
                throw new InvalidCheckpointException(SafeCkptErrorCode.InvalidPickle, file.Name, $"{file.Name}: {err}");
            }
        }
    }

    private static string? ScanStream(ByteSource file, int maxPickles, List<ScanFinding> findings)
    {
        long length = Math.Min(file.Length, Limits.MaxPickleBytes);
        byte[] data = file.ReadAt(0, (int)length);
        int pos = 0;
        for (int i = 0; i < maxPickles && pos < data.Length; i++)
        {
            string record = maxPickles == 5 ? $"legacy pickle {i + 1} of 5" : i == 0 ? "pickle" : $"stacked pickle {i + 1}";
            string? err = Walk(data.AsMemory(pos), record, pos, findings, out int consumed);
            if (err is not null)
            {
                return i > 0 && maxPickles != 5 && consumed == 0 ? $"{data.Length - pos:N0} bytes after the last pickle are not a pickle" : err;
            }

            pos += consumed;
        }

        return null;
    }

    private static PickleLimits Limits => PickleLimits.Default;

    /// <summary>Walks one pickle; returns an error text when it is malformed (findings so far are kept).</summary>
    private static string? Walk(ReadOnlyMemory<byte> memory, string record, long? fileBase, List<ScanFinding> findings, out int consumed)
    {
        ReadOnlySpan<byte> d = memory.Span;
        var stack = new List<string?>();
        var marks = new Stack<int>();
        var memo = new Dictionary<long, string?>();
        var seen = new Dictionary<string, ScanFinding>(StringComparer.Ordinal);
        int start = findings.Count;
        int pos = 0;
        consumed = 0;
        const string Other = "\u0000other";

        void Add(ScanFindingKind kind, string name, bool allowed, long at, string detail)
        {
            string key = kind + ":" + name;
            if (seen.TryGetValue(key, out ScanFinding? f))
            {
                f.Count++;
                return;
            }

            if (findings.Count - start >= MaxFindingsPerRecord)
            {
                return;
            }

            f = new ScanFinding(kind, name, allowed, record, at, fileBase + at, detail);
            seen[key] = f;
            findings.Add(f);
        }

        string? PopValue()
        {
            if (stack.Count == 0)
            {
                return Other;
            }

            string? v = stack[^1];
            stack.RemoveAt(stack.Count - 1);
            return v;
        }

        void PopToMark()
        {
            int at = marks.Count > 0 ? marks.Pop() : 0;
            stack.RemoveRange(at, stack.Count - at);
        }

        void Global(string module, string name, long at, string via)
        {
            PyGlobal? g = PickleAllowlist.Lookup(module, name);
            string full = PickleAllowlist.NormalizeModule(module) + "." + name;
            Add(ScanFindingKind.Global, full, g is not null, at, g is not null ? $"allowlisted ({via})" : $"not on the allowlist ({via}); torch.load(weights_only=False) would import it");
        }

        while (true)
        {
            if (pos >= d.Length)
            {
                return $"{record}: the pickle ends at byte {pos} before its STOP opcode";
            }

            int at = pos;
            byte op = d[pos++];
            int? fixedLen = op switch
            {
                BinInt or LongBinGet or LongBinPut or Ext4 => 4,
                BinInt1 or BinGet or BinPut or Proto or Ext1 => 1,
                BinInt2 or Ext2 => 2,
                BinFloat or Frame => 8,
                _ => null,
            };
            int countSize = op switch
            {
                Long1 or ShortBinString or ShortBinBytes or ShortBinUnicode => 1,
                Long4 or BinString or BinBytes or BinUnicode => 4,
                BinUnicode8 or BinBytes8 or ByteArray8 => 8,
                _ => 0,
            };
            int lines = op switch
            {
                Int or PickleOpcodes.Long or PickleOpcodes.Float or PickleOpcodes.String or Unicode or PersId or Get or Put => 1,
                PickleOpcodes.Global or Inst => 2,
                _ => 0,
            };
            ReadOnlySpan<byte> arg = default;
            var lineArgs = new List<string>();
            if (fixedLen is int fl)
            {
                if (d.Length - pos < fl)
                {
                    return $"{record}: {Name(op)} at byte {at} runs past the end";
                }

                arg = d.Slice(pos, fl);
                pos += fl;
            }
            else if (countSize > 0)
            {
                if (d.Length - pos < countSize)
                {
                    return $"{record}: {Name(op)} at byte {at} runs past the end";
                }

                ulong n = countSize switch
                {
                    1 => d[pos],
                    4 => BinaryPrimitives.ReadUInt32LittleEndian(d[pos..]),
                    _ => BinaryPrimitives.ReadUInt64LittleEndian(d[pos..]),
                };
                pos += countSize;
                if (n > (ulong)(d.Length - pos))
                {
                    return $"{record}: {Name(op)} at byte {at} declares {n:N0} bytes, more than the pickle holds";
                }

                arg = d.Slice(pos, (int)n);
                pos += (int)n;
            }
            else
            {
                for (int l = 0; l < lines; l++)
                {
                    int nl = d[pos..].IndexOf((byte)'\n');
                    if (nl < 0)
                    {
                        return $"{record}: {Name(op)} at byte {at} has no end of line";
                    }

                    lineArgs.Add(Encoding.UTF8.GetString(d.Slice(pos, nl)));
                    pos += nl + 1;
                }
            }

            string? reason = RefusalReason(op);
            if (reason is not null)
            {
                Add(ScanFindingKind.Opcode, Name(op), false, at, $"refused: {reason}");
            }

            switch (op)
            {
                case Stop:
                    consumed = pos;
                    return null;
                case Proto:
                    if (at != 0 || arg[0] > 5)
                    {
                        Add(ScanFindingKind.Opcode, "PROTO", false, at, at != 0 ? "refused: PROTO is not the first opcode" : $"refused: protocol {arg[0]} is not supported");
                    }

                    break;
                case Frame or StackGlobal or Memoize or NewObj:
                    Add(ScanFindingKind.Opcode, Name(op), true, at, "accepted, but not written by torch.save's protocol 2");
                    break;
            }

            switch (op)
            {
                case Mark:
                    marks.Push(stack.Count);
                    break;
                case PickleOpcodes.Pop:
                    PopValue();
                    break;
                case PickleOpcodes.PopMark:
                    PopToMark();
                    break;
                case Dup:
                    stack.Add(stack.Count > 0 ? stack[^1] : Other);
                    break;
                case ShortBinUnicode or BinUnicode or BinUnicode8:
                    stack.Add(Decode(arg));
                    break;
                case ShortBinString or BinString:
                    stack.Add(Encoding.Latin1.GetString(arg));
                    break;
                case PickleOpcodes.String or Unicode:
                    stack.Add(lineArgs[0].Trim('\'', '"'));
                    break;
                case BinPut or LongBinPut or Put:
                    long key = op == Put ? (long.TryParse(lineArgs[0], out long k) ? k : -1) : arg.Length == 1 ? arg[0] : BinaryPrimitives.ReadUInt32LittleEndian(arg);
                    memo[key] = stack.Count > 0 ? stack[^1] : Other;
                    break;
                case Memoize:
                    memo[memo.Count] = stack.Count > 0 ? stack[^1] : Other;
                    break;
                case BinGet or LongBinGet or Get:
                    long gk = op == Get ? (long.TryParse(lineArgs[0], out long g) ? g : -1) : arg.Length == 1 ? arg[0] : BinaryPrimitives.ReadUInt32LittleEndian(arg);
                    stack.Add(memo.TryGetValue(gk, out string? mv) ? mv : Other);
                    break;
                case PickleOpcodes.Global:
                    Global(lineArgs[0], lineArgs[1], at, "GLOBAL");
                    stack.Add(Other);
                    break;
                case Inst:
                    Global(lineArgs[0], lineArgs[1], at, "INST");
                    PopToMark();
                    stack.Add(Other);
                    break;
                case StackGlobal:
                {
                    string? name = PopValue();
                    string? module = PopValue();
                    if (module is null || name is null || module == Other || name == Other)
                    {
                        Add(ScanFindingKind.Opcode, "STACK_GLOBAL", false, at, "refused: its module and name are not string literals, so the imported global cannot be named");
                    }
                    else
                    {
                        Global(module, name, at, "STACK_GLOBAL");
                    }

                    stack.Add(Other);
                    break;
                }

                case PickleOpcodes.Tuple or PickleOpcodes.List or Dict or PickleOpcodes.FrozenSet or Obj:
                    PopToMark();
                    stack.Add(Other);
                    break;
                case Appends or SetItems or AddItems:
                    PopToMark();
                    break;
                case Tuple1:
                    PopValue();
                    stack.Add(Other);
                    break;
                case Tuple2:
                    PopValue();
                    PopValue();
                    stack.Add(Other);
                    break;
                case Tuple3:
                    PopValue();
                    PopValue();
                    PopValue();
                    stack.Add(Other);
                    break;
                case Append or Build:
                    PopValue();
                    break;
                case SetItem:
                    PopValue();
                    PopValue();
                    break;
                case Reduce or NewObj:
                    PopValue();
                    PopValue();
                    stack.Add(Other);
                    break;
                case NewObjEx:
                    PopValue();
                    PopValue();
                    PopValue();
                    stack.Add(Other);
                    break;
                case BinPersId:
                    PopValue();
                    stack.Add(Other);
                    break;
                case Proto or Frame or ReadOnlyBuffer:
                    break;
                case PickleOpcodes.None or NewTrue or NewFalse or BinInt or BinInt1 or BinInt2 or Long1 or Long4 or BinFloat
                    or ShortBinBytes or BinBytes or BinBytes8 or ByteArray8 or EmptyDict or EmptyList or EmptyTuple or EmptySet
                    or Int or PickleOpcodes.Long or PickleOpcodes.Float or PersId or Ext1 or Ext2 or Ext4 or NextBuffer:
                    stack.Add(Other);
                    break;
                default:
                    return $"{record}: byte 0x{op:x2} at {at} is not a pickle opcode";
            }

            if (stack.Count > Limits.MaxStackDepth)
            {
                return $"{record}: more than {Limits.MaxStackDepth:N0} values on the stack";
            }
        }
    }

    private static string Decode(ReadOnlySpan<byte> bytes)
    {
        try
        {
            return new UTF8Encoding(false, true).GetString(bytes);
        }
        catch (DecoderFallbackException)
        {
            return "\u0000other";
        }
    }
}
