using SafeCkpt.IO;

namespace SafeCkpt.Cli;

/// <summary>
/// The model files of a folder (with <c>--recursive</c>, of its subfolders too), and the command-line inputs of the
/// commands that take many files and folders (<c>scan</c>, <c>hash</c>, <c>inspect</c>, <c>convert DIR</c>).
/// Symlinked folders are not followed and no folder is entered twice, so a link loop can neither repeat nor hang.
/// </summary>
internal static class ModelFolder
{
    /// <summary>The extensions of model files.</summary>
    public static readonly string[] ModelExtensions = [".safetensors", ".ckpt", ".pt", ".pth", ".bin", ".gguf"];

    /// <summary>The model files of a folder, and the subfolders not entered.</summary>
    /// <param name="Files">Full paths of the model files, in ordinal order; symlinked files are included (they are inputs like any other).</param>
    /// <param name="SymlinkedFolders">Symlinked (or junction) subfolders, relative to the input folder: never followed, so a link loop cannot repeat or never end.</param>
    /// <param name="RepeatedFolders">Subfolders that are a folder already visited (same <see cref="IO.FileIdentity"/>), e.g. a bind mount of a parent.</param>
    public sealed record ModelFiles(string[] Files, List<string> SymlinkedFolders, List<string> RepeatedFolders);

    /// <summary>Walks the folder (and with <paramref name="recursive"/> its subfolders), entering each folder once and no symlinked folder.</summary>
    public static ModelFiles Find(string inputDir, bool recursive)
    {
        var options = new EnumerationOptions { AttributesToSkip = 0, IgnoreInaccessible = false, RecurseSubdirectories = false };
        var files = new List<string>();
        var symlinked = new List<string>();
        var repeated = new List<string>();
        var visited = new HashSet<string>(FileIdentity.PathComparison == StringComparison.Ordinal ? StringComparer.Ordinal : StringComparer.OrdinalIgnoreCase);
        var pending = new Stack<string>();
        string root = Path.GetFullPath(inputDir);
        visited.Add(FolderKey(root));
        pending.Push(root);
        while (pending.TryPop(out string? folder))
        {
            foreach (FileSystemInfo entry in new DirectoryInfo(folder).EnumerateFileSystemInfos("*", options))
            {
                if (entry is not DirectoryInfo)
                {
                    if (ModelExtensions.Contains(Path.GetExtension(entry.Name).ToLowerInvariant()))
                    {
                        files.Add(entry.FullName);
                    }
                }
                else if (!recursive)
                {
                    continue;
                }
                else if (entry.LinkTarget is not null || entry.Attributes.HasFlag(FileAttributes.ReparsePoint))
                {
                    symlinked.Add(Path.GetRelativePath(root, entry.FullName));
                }
                else if (!visited.Add(FolderKey(entry.FullName)))
                {
                    repeated.Add(Path.GetRelativePath(root, entry.FullName));
                }
                else
                {
                    pending.Push(entry.FullName);
                }
            }
        }

        symlinked.Sort(StringComparer.Ordinal);
        repeated.Sort(StringComparer.Ordinal);
        return new ModelFiles(files.Order(StringComparer.Ordinal).ToArray(), symlinked, repeated);
    }

    /// <summary>A folder's identity as a set key; its resolved path where the identity cannot be read.</summary>
    private static string FolderKey(string folder) =>
        FileIdentity.Of(folder) is { } id ? $"id:{id.Device}:{id.Index}" : "path:" + FileIdentity.ResolvePath(folder);

    /// <summary>The files of a command line: each FILE as given, each folder's model files (relative names shown).</summary>
    /// <param name="paths">The FILE and DIR arguments.</param>
    /// <param name="recursive">Whether folders are walked into their subfolders.</param>
    /// <returns>The inputs in order, whether the command line names several (any folder, or more than one path), and the folders not entered.</returns>
    public static Inputs Expand(IReadOnlyList<string> paths, bool recursive)
    {
        var files = new List<Input>();
        var skipped = new List<string>();
        bool many = paths.Count > 1;
        foreach (string path in paths)
        {
            if (!Directory.Exists(path))
            {
                files.Add(new Input(path, path));
                continue;
            }

            many = true;
            ModelFiles found = Find(path, recursive);
            files.AddRange(found.Files.Select(f => new Input(f, Path.Join(path, Path.GetRelativePath(path, f)))));
            skipped.AddRange(found.SymlinkedFolders.Concat(found.RepeatedFolders).Select(f => Path.Join(path, f)));
        }

        return new Inputs(files, many, skipped);
    }
}

/// <summary>One input file.</summary>
/// <param name="Path">The path to open.</param>
/// <param name="Shown">The path as the user would write it (a folder argument joined with the file's relative path).</param>
internal sealed record Input(string Path, string Shown);

/// <summary>The files of a command line.</summary>
/// <param name="Files">Every input, in order.</param>
/// <param name="Many">Whether the command line names several files (more than one path, or a folder): the output is a table and a summary.</param>
/// <param name="SkippedFolders">Symlinked or already visited folders that were not entered.</param>
internal sealed record Inputs(List<Input> Files, bool Many, List<string> SkippedFolders);
