using System.Diagnostics;
using SafeCkpt.IO;
using SafeCkpt.Tests.TestSupport;

namespace SafeCkpt.Tests.IO;

/// <summary>A file is the same file whichever path reaches it: symlinked folders, hard links, symlinks, "..".</summary>
public class FileIdentityTests
{
    [Fact]
    public void A_file_has_an_identity_and_a_missing_one_has_none()
    {
        using var dir = new TempDir();
        File.WriteAllText(dir.File("a"), "a");
        File.WriteAllText(dir.File("b"), "b");
        Assert.NotNull(FileIdentity.Of(dir.File("a")));
        Assert.NotEqual(FileIdentity.Of(dir.File("a")), FileIdentity.Of(dir.File("b")));
        Assert.Null(FileIdentity.Of(dir.File("missing")));
    }

    [Fact]
    public void A_file_through_a_symlinked_folder_is_the_same_file()
    {
        using var dir = new TempDir();
        Directory.CreateDirectory(dir.File("real"));
        File.WriteAllText(Path.Combine(dir.Path, "real", "m"), "m");
        Directory.CreateSymbolicLink(dir.File("link"), dir.File("real"));
        string viaLink = Path.Combine(dir.Path, "link", "m");
        Assert.Equal(FileIdentity.Of(Path.Combine(dir.Path, "real", "m")), FileIdentity.Of(viaLink));
        Assert.True(FileIdentity.SameFile(viaLink, Path.Combine(dir.Path, "real", "m")));
    }

    [Fact]
    public void A_hard_link_is_the_same_file()
    {
        using var dir = new TempDir();
        File.WriteAllText(dir.File("a"), "a");
        HardLink(dir.File("a"), dir.File("b"));
        Assert.True(FileIdentity.SameFile(dir.File("a"), dir.File("b")));
    }

    [Fact]
    public void A_folder_and_a_symlink_to_it_share_an_identity()
    {
        using var dir = new TempDir();
        Directory.CreateDirectory(dir.File("real"));
        Directory.CreateSymbolicLink(dir.File("link"), dir.File("real"));
        Assert.NotNull(FileIdentity.Of(dir.File("real")));
        Assert.Equal(FileIdentity.Of(dir.File("real")), FileIdentity.Of(dir.File("link")));
        Assert.NotEqual(FileIdentity.Of(dir.File("real")), FileIdentity.Of(dir.Path));
    }

    [Fact]
    public void A_path_that_does_not_exist_yet_matches_through_its_resolved_folder()
    {
        using var dir = new TempDir();
        Directory.CreateDirectory(dir.File("real"));
        Directory.CreateSymbolicLink(dir.File("link"), dir.File("real"));
        Assert.True(FileIdentity.SameFile(Path.Combine(dir.Path, "link", "new"), Path.Combine(dir.Path, "real", "new")));
        Assert.False(FileIdentity.SameFile(Path.Combine(dir.Path, "link", "new"), Path.Combine(dir.Path, "real", "other")));
    }

    [Fact]
    public void Resolving_follows_every_component_relative_targets_and_dot_dot_after_a_link()
    {
        using var dir = new TempDir();
        string real = dir.File("real");
        Directory.CreateDirectory(Path.Combine(real, "deep", "er"));
        Directory.CreateSymbolicLink(dir.File("rel"), Path.Combine("real", "deep"));
        Directory.CreateSymbolicLink(Path.Combine(real, "abs"), Path.Combine(real, "deep", "er"));
        string resolvedRoot = FileIdentity.ResolvePath(dir.Path);
        Assert.Equal(Path.Combine(resolvedRoot, "real", "deep", "er", "x"), FileIdentity.ResolvePath(Path.Combine(dir.Path, "rel", "er", "x")));
        Assert.Equal(Path.Combine(resolvedRoot, "real", "deep", "er", "x"), FileIdentity.ResolvePath(Path.Combine(dir.Path, "real", "abs", "x")));

        // "abs/.." is the parent of abs's target (real/deep), not real.
        Assert.Equal(Path.Combine(resolvedRoot, "real", "deep"), FileIdentity.ResolvePath(Path.Combine(dir.Path, "real", "abs", "..")));
    }

    [Fact]
    public void Resolving_a_symlink_loop_ends()
    {
        using var dir = new TempDir();
        File.CreateSymbolicLink(dir.File("a"), dir.File("b"));
        File.CreateSymbolicLink(dir.File("b"), dir.File("a"));
        Assert.NotEmpty(FileIdentity.ResolvePath(dir.File("a")));
        Assert.Null(FileIdentity.Of(dir.File("a")));
    }

    [Fact]
    public async Task A_fifo_does_not_block_the_check()
    {
        if (OperatingSystem.IsWindows())
        {
            return;
        }

        using var dir = new TempDir();
        using (Process p = Process.Start("mkfifo", dir.File("fifo")))
        {
            p.WaitForExit();
        }

        FileIdentity? identity = await Task.Run(() => FileIdentity.Of(dir.File("fifo"))).WaitAsync(TimeSpan.FromSeconds(10));
        Assert.NotNull(identity);
    }

    /// <summary>Creates a hard link with ln (Unix) or mklink /H (Windows).</summary>
    internal static void HardLink(string existing, string link)
    {
        ProcessStartInfo psi = OperatingSystem.IsWindows()
            ? new ProcessStartInfo("cmd", ["/c", "mklink", "/H", link, existing])
            : new ProcessStartInfo("ln", [existing, link]);
        psi.RedirectStandardOutput = true;
        using Process p = Process.Start(psi)!;
        p.WaitForExit();
        Assert.Equal(0, p.ExitCode);
    }
}
