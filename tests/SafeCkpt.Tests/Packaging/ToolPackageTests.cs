using System.Diagnostics;
using System.IO.Compression;
using System.Text.Json;
using SafeCkpt.Tests.TestSupport;

namespace SafeCkpt.Tests.Packaging;

/// <summary>
/// The packages: <c>dotnet pack</c> makes the library package (docs, README, licence, symbols) and the dotnet tool
/// package; the tool installs from the local package into a temporary tool path and runs.
/// </summary>
[Trait("Category", "Packaging")]
public class ToolPackageTests
{
    private static (int Code, string Out) Run(string file, params string[] args)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (string a in args)
        {
            psi.ArgumentList.Add(a);
        }

        psi.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        psi.Environment["DOTNET_NOLOGO"] = "1";
        using Process p = Process.Start(psi)!;
        Task<string> err = p.StandardError.ReadToEndAsync();
        string output = p.StandardOutput.ReadToEnd();
        if (!p.WaitForExit(300_000))
        {
            p.Kill(entireProcessTree: true);
            throw new TimeoutException(file + " " + string.Join(' ', args));
        }

        return (p.ExitCode, output + err.Result);
    }

    private static string Root()
    {
        DirectoryInfo? d = new(AppContext.BaseDirectory);
        while (d is not null && !File.Exists(Path.Combine(d.FullName, "SafeCkpt.sln")))
        {
            d = d.Parent;
        }

        return d?.FullName ?? throw new InvalidOperationException("SafeCkpt.sln not found");
    }

    [Fact]
    public void The_packed_tool_installs_into_a_tool_path_and_inspects_a_checkpoint()
    {
        using var dir = new TempDir();
        string configuration = new DirectoryInfo(AppContext.BaseDirectory).Parent!.Name;
        string packages = Path.Combine(dir.Path, "packages");
        var pack = Run("dotnet", "pack", Path.Combine(Root(), "src", "SafeCkpt.Cli"), "-c", configuration, "--no-build", "-o", packages);
        Assert.True(pack.Code == 0, pack.Out);
        string tool = Directory.GetFiles(packages, "SafeCkpt.Tool.*.nupkg").Single(f => !f.EndsWith(".snupkg", StringComparison.Ordinal));
        string version = Path.GetFileNameWithoutExtension(tool)["SafeCkpt.Tool.".Length..];

        string tools = Path.Combine(dir.Path, "tools");
        var install = Run("dotnet", "tool", "install", "SafeCkpt.Tool", "--tool-path", tools, "--add-source", packages, "--version", version);
        Assert.True(install.Code == 0, install.Out);

        var inspect = Run(Path.Combine(tools, OperatingSystem.IsWindows() ? "safeckpt.exe" : "safeckpt"), "inspect", Fixtures.Path_("ckpt", "sd1_tiny_ema.ckpt"), "--json");
        Assert.True(inspect.Code == 0, inspect.Out);
        using JsonDocument doc = JsonDocument.Parse(inspect.Out);
        Assert.Equal("pytorch-zip", doc.RootElement.GetProperty("format").GetString());
        Assert.True(doc.RootElement.GetProperty("tensors").GetArrayLength() >= 49);
    }

    [Fact]
    public void The_library_package_carries_docs_readme_licence_and_symbols()
    {
        using var dir = new TempDir();
        string configuration = new DirectoryInfo(AppContext.BaseDirectory).Parent!.Name;
        // Built here, not --no-build: a test run builds the library only for the tests' net10.0, the package holds net8.0 too.
        var pack = Run("dotnet", "pack", Path.Combine(Root(), "src", "SafeCkpt"), "-c", configuration, "-o", dir.Path);
        Assert.True(pack.Code == 0, pack.Out);
        string nupkg = Directory.GetFiles(dir.Path, "SafeCkpt.*.nupkg").Single();
        using ZipArchive zip = ZipFile.OpenRead(nupkg);
        string[] names = zip.Entries.Select(e => e.FullName).ToArray();
        Assert.Contains("lib/net10.0/SafeCkpt.dll", names);
        Assert.Contains("lib/net8.0/SafeCkpt.dll", names);
        Assert.Contains("lib/net10.0/SafeCkpt.xml", names);
        Assert.Contains("README.md", names);
        Assert.Contains("LICENSE", names);
        using var nuspec = new StreamReader(zip.Entries.Single(e => e.FullName.EndsWith(".nuspec", StringComparison.Ordinal)).Open());
        string text = nuspec.ReadToEnd();
        Assert.Contains("<license type=\"expression\">MIT</license>", text, StringComparison.Ordinal);
        Assert.Contains("<repository type=\"git\"", text, StringComparison.Ordinal);
        Assert.Single(Directory.GetFiles(dir.Path, "SafeCkpt.*.snupkg"));
    }
}
