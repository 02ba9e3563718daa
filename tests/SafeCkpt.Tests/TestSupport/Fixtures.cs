namespace SafeCkpt.Tests.TestSupport;

/// <summary>Paths of the committed fixture files (copied next to the test assembly).</summary>
public static class Fixtures
{
    public static string Root { get; } = Path.Combine(AppContext.BaseDirectory, "Fixtures");

    public static string Path_(params string[] parts) => Path.Combine([Root, .. parts]);

    /// <summary>The checkout's root (where SafeCkpt.sln is), above the test binaries.</summary>
    public static string RepositoryRoot()
    {
        string? d = AppContext.BaseDirectory;
        while (d is not null && !File.Exists(Path.Combine(d, "SafeCkpt.sln")))
        {
            d = Path.GetDirectoryName(d);
        }

        return d ?? throw new DirectoryNotFoundException("SafeCkpt.sln not found above the test binaries");
    }
}
