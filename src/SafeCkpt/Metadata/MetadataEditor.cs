using Microsoft.Win32.SafeHandles;
using SafeCkpt.Formats.Safetensors;
using SafeCkpt.Internals;
using SafeCkpt.IO;
using SafeCkpt.Tensors;
using static SafeCkpt.Formats.Safetensors.SafetensorsLayout;

namespace SafeCkpt.Metadata;

/// <summary>The points of an in-place edit a test can stop at (<see cref="MetadataEditor.StepHook"/>).</summary>
internal enum MetadataEditStep
{
    /// <summary>The undo journal is written and flushed; the header is untouched.</summary>
    JournalWritten,

    /// <summary>The first half of the new header is written (only when a hook is set is the header written in two halves).</summary>
    HeaderHalfWritten,

    /// <summary>The whole new header is written and flushed; the journal is not yet deleted.</summary>
    HeaderWritten,
}

/// <summary>
/// Rewrites the <c>__metadata__</c> of a safetensors file without rewriting its tensor bytes. When the new header fits
/// in the old header's N bytes it replaces them in place, padded with spaces, under an undo journal
/// (<see cref="HeaderJournal"/>): the journal is flushed first, then the header is written with one positional write
/// and flushed, then the journal is deleted. Otherwise the file is written anew through <see cref="AtomicOutput"/>
/// (the data section streamed unchanged in bounded memory) and renamed over the old one.
/// </summary>
internal static class MetadataEditor
{
    /// <summary>A grown header is padded so the data section starts on a 4 KiB boundary, with at least this much room left for later in-place edits.</summary>
    internal const int Headroom = 1024;

    private const int GrowAlignment = 4096;

    [ThreadStatic]
    private static Action<MetadataEditStep>? t_stepHook;

    /// <summary>
    /// Test seam: called at each <see cref="MetadataEditStep"/> of an in-place edit on this thread (tests run in
    /// parallel). A throw there stands for a crash: nothing is cleaned up.
    /// </summary>
    internal static Action<MetadataEditStep>? StepHook
    {
        get => t_stepHook;
        set => t_stepHook = value;
    }

    public static MetadataEditResult Edit(string path, Action<IDictionary<string, string>> edit, MetadataEditOptions options, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentNullException.ThrowIfNull(edit);
        ArgumentNullException.ThrowIfNull(options);
        // A leftover journal is applied by the in-place edit itself, which then says so; only safetensors files have one.
        if (options.OutputPath is not null || HeaderJournal.Pending(path) is null)
        {
            RequireSafetensors(path);
        }

        return options.OutputPath is { } output
            ? Copy(path, output, options.Overwrite, edit, cancellationToken)
            : InPlace(path, edit, cancellationToken);
    }

    /// <summary>The header length a header of <paramref name="jsonLength"/> bytes gets when it no longer fits: the data section starts at the next 4 KiB boundary after <see cref="Headroom"/> spare bytes.</summary>
    internal static long GrownLength(int jsonLength)
    {
        long dataStart = (PrefixLength + (long)jsonLength + Headroom + GrowAlignment - 1) / GrowAlignment * GrowAlignment;
        long n = dataStart - PrefixLength;
        return n <= MaxHeaderLength ? n : PaddedHeaderLength(jsonLength);
    }

    /// <summary>A safetensors file's metadata and header length N, for display; the same refusal of other formats as an edit.</summary>
    internal static (IReadOnlyDictionary<string, string> Metadata, long HeaderLength) Read(string path)
    {
        RequireSafetensors(path);
        using FileByteSource source = FileByteSource.Open(path);
        Current current = Current.Read(source);
        return (current.Metadata, current.HeaderLength);
    }

    private static void RequireSafetensors(string path)
    {
        using FileByteSource file = FileByteSource.Open(path);
        Formats.Tar.TarHeader.RefuseIfTar(file);
        (ModelFormat format, string description) = FormatSniffer.Sniff(file);
        if (format != ModelFormat.Safetensors)
        {
            string what = FormatSniffer.IsTorch(format) ? "a PyTorch checkpoint (pickle), which has no metadata header" : description;
            throw new UnsupportedFormatException(SafeCkptErrorCode.UnsupportedFormat, path, $"{path}: is {what.TrimEnd('.')}. Only safetensors files carry metadata (their __metadata__ header); convert it first (safeckpt convert {path} -o NAME.safetensors) and edit the new file's metadata.");
        }
    }

    private static MetadataEditResult InPlace(string path, Action<IDictionary<string, string>> edit, CancellationToken cancellationToken)
    {
        string real = FileIdentity.ResolvePath(Path.GetFullPath(path));
        string journal = HeaderJournal.PathFor(real);
        SafeFileHandle handle = OpenForEdit(path);
        try
        {
            string? recovery = null;
            if (File.Exists(journal))
            {
                recovery = Recover(path, real, journal, handle);
            }

            using FileByteSource source = FileByteSource.Over(path, handle);
            Current current = Current.Read(source);
            Dictionary<string, string> after = Apply(current.Metadata, edit, path);
            if (SameMetadata(current.Metadata, after))
            {
                return new MetadataEditResult(path, MetadataWriteMode.Unchanged, current.Metadata, after, current.HeaderLength, current.HeaderLength) { Recovery = recovery };
            }

            byte[] json = HeaderSplice.Build(current.Json, after);
            if (json.Length <= current.HeaderLength)
            {
                byte[] region = Padded(json, current.HeaderLength);
                Verify(region, current, after, path);
                cancellationToken.ThrowIfCancellationRequested();

                // From here on the edit is not cancelled: the file is either old or new when it returns.
                WriteHeader(path, real, journal, handle, current.Json, region);
                return new MetadataEditResult(path, MetadataWriteMode.HeaderInPlace, current.Metadata, after, current.HeaderLength, current.HeaderLength) { Recovery = recovery };
            }

            long grown = GrownLength(json.Length);
            byte[] header = WithPrefix(json, grown);
            Verify(header.AsSpan(PrefixLength), current, after, path);

            // The rename replaces the path's entry: write beside the real file, not over a symlink to it.
            using AtomicOutput output = AtomicOutput.Create(real, overwrite: true, inputs: [], header.Length + current.DataLength);
            StreamCopy(output, header, source, current, cancellationToken);
            output.CopyModeFrom(real);
            output.FinishAppending();
            handle.Dispose();
            output.Commit(flushToDisk: true);
            DirectorySync.Flush(Path.GetDirectoryName(real) ?? ".");
            return new MetadataEditResult(path, MetadataWriteMode.FileRewritten, current.Metadata, after, current.HeaderLength, grown) { Recovery = recovery };
        }
        finally
        {
            handle.Dispose();
        }
    }

    private static MetadataEditResult Copy(string path, string outputPath, bool overwrite, Action<IDictionary<string, string>> edit, CancellationToken cancellationToken)
    {
        AtomicOutput.Check(outputPath, overwrite, [path]);
        using FileByteSource source = FileByteSource.Open(path);
        Current current = Current.Read(source);
        Dictionary<string, string> after = Apply(current.Metadata, edit, path);
        byte[] json = HeaderSplice.Build(current.Json, after);

        // The copy keeps the input's layout when the new header fits, so it differs from the input only in the header.
        long headerLength = json.Length <= current.HeaderLength ? current.HeaderLength : GrownLength(json.Length);
        byte[] header = WithPrefix(json, headerLength);
        Verify(header.AsSpan(PrefixLength), current, after, path);
        using AtomicOutput output = AtomicOutput.Create(outputPath, overwrite, [path], header.Length + current.DataLength);
        StreamCopy(output, header, source, current, cancellationToken);
        output.Commit(flushToDisk: true);
        return new MetadataEditResult(output.Path, MetadataWriteMode.Copied, current.Metadata, after, current.HeaderLength, headerLength);
    }

    /// <summary>The critical section: journal, one write of the header, flush, journal deleted. Nothing in it observes cancellation.</summary>
    private static void WriteHeader(string path, string real, string journal, SafeFileHandle handle, ReadOnlySpan<byte> oldRegion, byte[] region)
    {
        try
        {
            HeaderJournal.Write(journal, handle, FileIdentity.Of(real)?.Index ?? 0, PrefixLength, oldRegion, region);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            TryDelete(journal);
            throw new OutputException(SafeCkptErrorCode.OutputNotWritable, path, $"{path}: cannot write the undo journal {journal} that makes the in-place edit safe ({ex.Message}). Make the folder writable and free some space, or write an edited copy with --out.", ex);
        }

        Action<MetadataEditStep>? hook = StepHook;
        hook?.Invoke(MetadataEditStep.JournalWritten);
        byte[] old = oldRegion.ToArray();
        try
        {
            if (hook is null)
            {
                RandomAccess.Write(handle, region, PrefixLength);
            }
            else
            {
                int half = region.Length / 2;
                RandomAccess.Write(handle, region.AsSpan(0, half), PrefixLength);
                hook(MetadataEditStep.HeaderHalfWritten);
                RandomAccess.Write(handle, region.AsSpan(half), PrefixLength + half);
            }

            RandomAccess.FlushToDisk(handle);
        }
        catch (IOException ex)
        {
            // Put the old header back now; if even that fails, the journal stays and the next open restores it.
            try
            {
                RandomAccess.Write(handle, old, PrefixLength);
                RandomAccess.FlushToDisk(handle);
                HeaderJournal.Delete(journal);
            }
            catch (IOException)
            {
            }

            throw new OutputException(SafeCkptErrorCode.OutputNotWritable, path, $"{path}: writing the new header failed ({ex.Message}); the old header is kept.", ex);
        }

        hook?.Invoke(MetadataEditStep.HeaderWritten);
        HeaderJournal.Delete(journal);
    }

    private static string Recover(string path, string real, string journal, SafeFileHandle handle)
    {
        HeaderJournal.Outcome outcome = HeaderJournal.Recover(journal, real, handle);
        return outcome switch
        {
            HeaderJournal.Outcome.Stale => throw new OutputException(SafeCkptErrorCode.InterruptedEdit, path, $"{path}: the undo journal {journal} of an interrupted edit does not match the file any more (it was replaced or changed since), so neither was touched. Check the file (safeckpt inspect {path}); if it reads correctly, delete the journal and edit again."),
            HeaderJournal.Outcome.RolledBack => $"an earlier edit of this file was interrupted while writing the header; the old header was restored from {journal}",
            HeaderJournal.Outcome.Completed => $"an earlier edit of this file was interrupted after writing its header; it was complete, and its journal {journal} was removed",
            HeaderJournal.Outcome.NotStarted or HeaderJournal.Outcome.Incomplete => $"an earlier edit of this file was interrupted before writing anything; its journal {journal} was removed",
            _ => string.Empty,
        };
    }

    private static SafeFileHandle OpenForEdit(string path)
    {
        try
        {
            // FileShare.None: an exclusive lock, so no SafeCkpt reader (shared lock) reads the header while it changes.
            return File.OpenHandle(path, FileMode.Open, FileAccess.ReadWrite, FileShare.None, FileOptions.None);
        }
        catch (UnauthorizedAccessException ex)
        {
            throw new OutputException(SafeCkptErrorCode.OutputNotWritable, path, $"{path}: permission denied writing the file (it is read-only, or belongs to another user). Make it writable (chmod u+w), or write an edited copy with --out.", ex);
        }
        catch (IOException ex)
        {
            throw new OutputException(SafeCkptErrorCode.OutputNotWritable, path, $"{path}: cannot open the file for writing ({ex.Message}). If another program has it open, close it and try again, or write an edited copy with --out.", ex);
        }
    }

    /// <summary>Runs the caller's edit on a copy and checks what it left: non-empty keys, valid Unicode strings.</summary>
    private static Dictionary<string, string> Apply(IReadOnlyDictionary<string, string> before, Action<IDictionary<string, string>> edit, string path)
    {
        var after = new Dictionary<string, string>(before, StringComparer.Ordinal);
        edit(after);
        foreach (KeyValuePair<string, string> kv in after)
        {
            if (string.IsNullOrEmpty(kv.Key))
            {
                throw new ConversionException(SafeCkptErrorCode.InvalidMetadata, path, $"{path}: a metadata key is empty; every key needs a name.");
            }

            if (kv.Value is null)
            {
                throw new ConversionException(SafeCkptErrorCode.InvalidMetadata, path, $"{path}: metadata \"{kv.Key}\" has no value; safetensors metadata values are strings (remove the key instead).");
            }

            if (HasLoneSurrogate(kv.Key) || HasLoneSurrogate(kv.Value))
            {
                throw new ConversionException(SafeCkptErrorCode.InvalidMetadata, path, $"{path}: metadata \"{kv.Key}\" is not valid Unicode (a lone surrogate); the header must be UTF-8.");
            }
        }

        return after;
    }

    private static bool HasLoneSurrogate(string s)
    {
        for (int i = 0; i < s.Length; i++)
        {
            if (char.IsHighSurrogate(s[i]) && i + 1 < s.Length && char.IsLowSurrogate(s[i + 1]))
            {
                i++;
            }
            else if (char.IsSurrogate(s[i]))
            {
                return true;
            }
        }

        return false;
    }

    private static bool SameMetadata(IReadOnlyDictionary<string, string> a, Dictionary<string, string> b) =>
        a.Count == b.Count && a.All(kv => b.TryGetValue(kv.Key, out string? v) && v == kv.Value);

    /// <summary>Reads the new header back with the validating reader: the same tensors at the same offsets, the metadata asked for.</summary>
    private static void Verify(ReadOnlySpan<byte> header, Current current, Dictionary<string, string> metadata, string path)
    {
        if (header.Length > MaxHeaderLength)
        {
            throw new OutputException(SafeCkptErrorCode.HeaderTooLarge, path, $"{path}: the new header would be {header.Length:N0} bytes, above the safetensors limit of {MaxHeaderLength:N0}; set less metadata.");
        }

        SafetensorsReader.Header check = SafetensorsReader.Parse(header, current.DataLength, path);
        bool same = check.Tensors.Count == current.Header.Tensors.Count
            && check.Tensors.Zip(current.Header.Tensors).All(p => p.First.Info.Name == p.Second.Info.Name && p.First.Info.DType == p.Second.Info.DType
                && p.First.Info.Shape.SequenceEqual(p.Second.Info.Shape) && p.First.Begin == p.Second.Begin && p.First.End == p.Second.End)
            && SameMetadata(check.Metadata, metadata);
        if (!same)
        {
            throw new OutputException(SafeCkptErrorCode.InvalidMetadata, path, $"{path}: the rebuilt header does not read back as planned; nothing was written. This is a bug in SafeCkpt; please report it.");
        }
    }

    private static byte[] Padded(byte[] json, long length)
    {
        var region = new byte[length];
        json.CopyTo(region, 0);
        region.AsSpan(json.Length).Fill((byte)' ');
        return region;
    }

    private static byte[] WithPrefix(byte[] json, long headerLength)
    {
        var bytes = new byte[PrefixLength + headerLength];
        WritePrefix(bytes, (ulong)headerLength);
        json.CopyTo(bytes, PrefixLength);
        bytes.AsSpan(PrefixLength + json.Length).Fill((byte)' ');
        return bytes;
    }

    /// <summary>Writes the header, then the old data section unchanged, through the streaming loop every writer uses.</summary>
    private static void StreamCopy(AtomicOutput output, byte[] header, ByteSource source, Current current, CancellationToken cancellationToken)
    {
        output.Write(0, header);
        if (current.DataLength > 0)
        {
            var data = new TensorStreamer.Item("data section", new RangeTensorSource(source, current.DataStart, current.DataLength), header.Length);
            new TensorStreamer(output, SaveOptions.Default, cancellationToken).CopyAll([data]);
        }
    }

    private static void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
        }
    }

    /// <summary>The file's header as it is: the validated header, its raw JSON (with padding) and where the data lies.</summary>
    private sealed record Current(SafetensorsReader.Header Header, byte[] Json, long DataLength)
    {
        public IReadOnlyDictionary<string, string> Metadata => Header.Metadata;

        public long HeaderLength => Json.Length;

        public long DataStart => Header.DataStart;

        public static Current Read(ByteSource source)
        {
            SafetensorsReader.Header header = SafetensorsReader.ReadHeader(source);
            var json = new byte[header.DataStart - PrefixLength];
            source.ReadExactly(PrefixLength, json);
            return new Current(header, json, source.Length - header.DataStart);
        }
    }
}
