using System.Collections.ObjectModel;

namespace SafeCkpt.Safety;

/// <summary>
/// What a scan concludes, in order of precedence: a file is <see cref="Unsafe"/> if loading it with
/// <c>torch.load(weights_only=False)</c> could import or call anything outside SafeCkpt's allowlist (whatever else is
/// wrong with it); otherwise <see cref="NotAModel"/>, <see cref="Malformed"/> or <see cref="Unsupported"/> when SafeCkpt
/// cannot read it; <see cref="Clean"/> only when SafeCkpt reads exactly what torch.load would.
/// </summary>
public enum ScanVerdict
{
    /// <summary>Nothing in the file would run code, and SafeCkpt reads all of it (exit code 0).</summary>
    Clean,

    /// <summary>Loading it with torch.load could import or call something outside the allowlist (exit code 3).</summary>
    Unsafe,

    /// <summary>Nothing in it runs code, but it holds a construct SafeCkpt does not read (sparse, meta, quantized tensors, ...) (exit code 2).</summary>
    Unsupported,

    /// <summary>It breaks its format's rules, or two readers could read it differently (exit code 2).</summary>
    Malformed,

    /// <summary>It is not a model file at all: empty, an HTML page, a Git LFS pointer, an image, an archive (exit code 2).</summary>
    NotAModel,
}

/// <summary>What a scan finding is about.</summary>
public enum ScanFindingKind
{
    /// <summary>A global (<c>module.name</c>) a pickle imports.</summary>
    Global,

    /// <summary>An opcode that torch.save never writes, or that SafeCkpt refuses.</summary>
    Opcode,

    /// <summary>The container itself: a TorchScript or torch.package archive, a polyglot, a traversal name.</summary>
    Archive,
}

/// <summary>One thing a file's pickles would use if loaded, marked allowed or unsafe.</summary>
public sealed class ScanFinding
{
    internal ScanFinding(ScanFindingKind kind, string name, bool allowed, string record, long offset, long? fileOffset, string detail)
    {
        Kind = kind;
        Name = name;
        Allowed = allowed;
        Record = record;
        Offset = offset;
        FileOffset = fileOffset;
        Detail = detail;
    }

    /// <summary>What the finding is about.</summary>
    public ScanFindingKind Kind { get; }

    /// <summary>The global as <c>module.name</c>, the opcode name, or a short archive label.</summary>
    public string Name { get; }

    /// <summary>Whether SafeCkpt's reader accepts it; false means loading the file with PyTorch could run code.</summary>
    public bool Allowed { get; }

    /// <summary>The pickle or archive record it was found in, e.g. <c>archive/data.pkl</c>.</summary>
    public string Record { get; }

    /// <summary>The byte offset of the opcode in its pickle (or of the entry in the file, for archive findings).</summary>
    public long Offset { get; }

    /// <summary>The byte offset in the file, when the pickle is stored uncompressed.</summary>
    public long? FileOffset { get; }

    /// <summary>A sentence saying why it is allowed or unsafe.</summary>
    public string Detail { get; }

    /// <summary>How many times the same global appears in the same record (the offset is the first one).</summary>
    public int Count { get; internal set; } = 1;

    /// <inheritdoc/>
    public override string ToString() => $"{(Allowed ? "allowed" : "UNSAFE")} {Kind.ToString().ToLowerInvariant()} {Name} in {Record} at byte {Offset}";
}

/// <summary>The result of <see cref="CheckpointScanner.Scan(string)"/>: every global and unusual opcode, and whether the file is malformed.</summary>
public sealed class ScanReport
{
    internal ScanReport(string path, ModelFormat format, IList<ScanFinding> findings, string? error, ScanVerdict verdict, SafeCkptErrorCode? errorCode)
    {
        Path = path;
        Format = format;
        Findings = new ReadOnlyCollection<ScanFinding>(findings);
        Error = error;
        Verdict = verdict;
        ErrorCode = errorCode;
    }

    /// <summary>The scanned file.</summary>
    public string Path { get; }

    /// <summary>The format the file was scanned as.</summary>
    public ModelFormat Format { get; }

    /// <summary>The findings, in file order.</summary>
    public IReadOnlyList<ScanFinding> Findings { get; }

    /// <summary>Why SafeCkpt cannot read the file (a truncated pickle, a corrupt zip, an unsupported construct); null when it can.</summary>
    public string? Error { get; }

    /// <summary>The error's code, when <see cref="Error"/> is set.</summary>
    public SafeCkptErrorCode? ErrorCode { get; }

    /// <summary>The conclusion; see <see cref="ScanVerdict"/>.</summary>
    public ScanVerdict Verdict { get; }

    /// <summary>Whether loading the file with torch.load could run code outside the allowlist.</summary>
    public bool IsUnsafe => Verdict == ScanVerdict.Unsafe;

    /// <summary>Whether SafeCkpt could not read the file completely (malformed, unsupported or not a model); an unsafe file may be malformed too.</summary>
    public bool IsMalformed => Error is not null;
}
