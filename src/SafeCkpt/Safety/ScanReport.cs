using System.Collections.ObjectModel;

namespace SafeCkpt.Safety;

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
    internal ScanReport(string path, ModelFormat format, IList<ScanFinding> findings, string? error)
    {
        Path = path;
        Format = format;
        Findings = new ReadOnlyCollection<ScanFinding>(findings);
        Error = error;
    }

    /// <summary>The scanned file.</summary>
    public string Path { get; }

    /// <summary>The format the file was scanned as.</summary>
    public ModelFormat Format { get; }

    /// <summary>The findings, in file order.</summary>
    public IReadOnlyList<ScanFinding> Findings { get; }

    /// <summary>Why the scan could not finish (a truncated pickle, a corrupt zip); null when it did.</summary>
    public string? Error { get; }

    /// <summary>Whether any finding is unsafe.</summary>
    public bool IsUnsafe => Findings.Any(f => !f.Allowed);

    /// <summary>Whether the file could not be scanned completely.</summary>
    public bool IsMalformed => Error is not null;
}
