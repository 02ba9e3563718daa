using System.Diagnostics;

namespace SafeCkpt.Tests.TestSupport;

/// <summary>
/// Runs the built <c>safeckpt</c> tool as a separate process, as a user would: the framework-dependent build
/// (<c>dotnet SafeCkpt.Cli.dll</c>), or the executable named by <c>SAFECKPT_TOOL</c> (CI sets it to the native AOT binary).
/// </summary>
public static class SafeCkptTool
{
    /// <summary>The executable under test when it is not the framework-dependent build.</summary>
    public static string? Native { get; } = Environment.GetEnvironmentVariable("SAFECKPT_TOOL") is { Length: > 0 } t ? Path.GetFullPath(t) : null;

    private static readonly Lazy<string> ToolDll = new(() =>
    {
        // tests/SafeCkpt.Tests/bin/<Configuration>/net10.0/ (or bin-net8/<Configuration>/net8.0/<rid>/ for the library's
        // net8.0 tests) -> src/SafeCkpt.Cli/bin/<Configuration>/net10.0/SafeCkpt.Cli.dll: the tool is a net10.0 app.
        var testBin = new DirectoryInfo(AppContext.BaseDirectory);
        DirectoryInfo configurationDir = testBin;
        while (configurationDir.Parent is { } parent && parent.Name is not ("bin" or "bin-net8"))
        {
            configurationDir = parent;
        }

        string configuration = configurationDir.Name;
        string tfm = "net10.0";
        DirectoryInfo? root = testBin;
        while (root is not null && !File.Exists(Path.Combine(root.FullName, "SafeCkpt.sln")))
        {
            root = root.Parent;
        }

        if (root is null)
        {
            throw new InvalidOperationException("Cannot find SafeCkpt.sln above " + AppContext.BaseDirectory);
        }

        string dll = Path.Combine(root.FullName, "src", "SafeCkpt.Cli", "bin", configuration, tfm, "SafeCkpt.Cli.dll");
        return File.Exists(dll) ? dll : throw new FileNotFoundException("Build src/SafeCkpt.Cli first.", dll);
    });

    public sealed record Result(int ExitCode, string StdOut, string StdErr);

    /// <summary>Starts the tool without waiting (output is discarded), for tests that signal it while it runs.</summary>
    public static Process Start(params string[] args) => StartWith(new Dictionary<string, string?>(), args);

    /// <summary>Starts the tool with extra environment variables, without waiting (output is discarded).</summary>
    public static Process Start(IReadOnlyDictionary<string, string> environment, params string[] args) =>
        StartWith(environment.ToDictionary(kv => kv.Key, kv => (string?)kv.Value), args);

    /// <summary>Starts the tool without waiting, with these environment variables set (null: removed).</summary>
    public static Process StartWith(IReadOnlyDictionary<string, string?> environment, params string[] args)
    {
        Process p = Process.Start(StartInfo(args, environment))!;
        p.OutputDataReceived += (_, _) => { };
        p.ErrorDataReceived += (_, _) => { };
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        return p;
    }

    /// <summary>
    /// Where the tool keeps its hash cache during the tests (one file per test process, never the user's cache), unless
    /// a test names another with <see cref="RunWith"/>.
    /// </summary>
    public static string HashCache { get; } = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "safeckpt-tests", $"hash-cache-{Environment.ProcessId}", "hashes.json");

    static SafeCkptTool() => AppDomain.CurrentDomain.ProcessExit += (_, _) =>
    {
        try
        {
            Directory.Delete(System.IO.Path.GetDirectoryName(HashCache)!, recursive: true);
        }
        catch (IOException)
        {
        }
    };

    public static Result Run(params string[] args) => RunWith(new Dictionary<string, string?>(), args);

    /// <summary>Runs the tool with these environment variables set (null: removed) on top of the test process's.</summary>
    public static Result RunWith(IReadOnlyDictionary<string, string?> environment, params string[] args)
    {
        using Process p = Process.Start(StartInfo(args, environment))!;
        Task<string> stdout = p.StandardOutput.ReadToEndAsync();
        Task<string> stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(120_000))
        {
            p.Kill(entireProcessTree: true);
            throw new TimeoutException("safeckpt did not finish in 120 s: " + string.Join(' ', args));
        }

        return new Result(p.ExitCode, stdout.Result, stderr.Result);
    }

    private static ProcessStartInfo StartInfo(string[] args, IReadOnlyDictionary<string, string?> environment)
    {
        var psi = new ProcessStartInfo(Native ?? "dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.Environment["SAFECKPT_HASH_CACHE"] = HashCache;
        foreach ((string name, string? value) in environment)
        {
            psi.Environment[name] = value;
        }

        if (Native is null)
        {
            psi.ArgumentList.Add(ToolDll.Value);
        }

        foreach (string a in args)
        {
            psi.ArgumentList.Add(a);
        }

        return psi;
    }
}
