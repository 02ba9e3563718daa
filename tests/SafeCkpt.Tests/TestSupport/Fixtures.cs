namespace SafeCkpt.Tests.TestSupport;

/// <summary>Paths of the committed fixture files (copied next to the test assembly).</summary>
public static class Fixtures
{
    public static string Root { get; } = Path.Combine(AppContext.BaseDirectory, "Fixtures");

    public static string Path_(params string[] parts) => Path.Combine([Root, .. parts]);
}
