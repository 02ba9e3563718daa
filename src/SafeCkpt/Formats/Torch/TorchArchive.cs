namespace SafeCkpt.Formats.Torch;

/// <summary>
/// The records of a torch.save zip checkpoint, in one place: everything sits under one top folder (torch.save writes
/// <c>archive/</c>, older versions the file's name), the object pickle <c>data.pkl</c>, one storage record
/// <c>data/KEY</c> per storage, and a few small metadata records. The reader, the scanner and the ckpt writer name
/// records through it.
/// </summary>
internal static class TorchArchive
{
    /// <summary>The top folder torch.save writes.</summary>
    public const string WrittenFolder = "archive";

    /// <summary>The object pickle, the one torch.load unpickles.</summary>
    public const string ObjectPickle = "data.pkl";

    /// <summary>The folder of the storage records, one per storage key.</summary>
    public const string StorageFolder = "data";

    /// <summary>The serialization version record (newer torch also writes <c>.data/version</c>).</summary>
    public const string Version = "version";

    /// <summary>The version torch.save writes in <see cref="Version"/>.</summary>
    public const string WrittenVersion = "3\n";

    /// <summary>The optional <c>little</c>/<c>big</c> byte order record.</summary>
    public const string ByteOrder = "byteorder";

    /// <summary>The version record newer torch writes beside <see cref="Version"/>.</summary>
    public const string DataVersion = ".data/version";

    /// <summary>Records a torch.save zip may hold besides <see cref="ObjectPickle"/> and the storage records.</summary>
    public static IReadOnlySet<string> KnownRecords { get; } = new HashSet<string>(StringComparer.Ordinal)
    {
        Version, DataVersion, ByteOrder, ".format_version", ".storage_alignment", ".data/serialization_id",
    };

    /// <summary>A record's entry name: <c>FOLDER/NAME</c>.</summary>
    public static string Record(string folder, string name) => folder + "/" + name;

    /// <summary>A storage record's entry name: <c>FOLDER/data/KEY</c>.</summary>
    public static string StorageRecord(string folder, string key) => folder + "/" + StorageFolder + "/" + key;

    /// <summary>Whether a name inside the top folder is a storage record: <c>data/KEY</c> with a non-empty KEY and no deeper folder.</summary>
    public static bool IsStorageRecord(string nameInFolder) =>
        nameInFolder.StartsWith(StorageFolder + "/", StringComparison.Ordinal) && nameInFolder.Length > StorageFolder.Length + 1 && !nameInFolder[(StorageFolder.Length + 1)..].Contains('/', StringComparison.Ordinal);
}
