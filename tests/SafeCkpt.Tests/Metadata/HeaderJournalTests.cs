using SafeCkpt.Metadata;
using SafeCkpt.Tests.TestSupport;

namespace SafeCkpt.Tests.Metadata;

/// <summary>
/// An in-place edit stopped after each step (the test hook throws, standing for a crash: nothing is cleaned up): the
/// next open by any SafeCkpt reader sees the old or the new file, never a torn one, with the data section intact.
/// </summary>
public sealed class HeaderJournalTests
{
    private static readonly Dictionary<string, string> Old = new() { ["modelspec.title"] = "old title", ["ss_tag_frequency"] = new string('o', 3000) };
    private static readonly Dictionary<string, string> New = new() { ["modelspec.title"] = "a new, longer title", ["ss_tag_frequency"] = new string('n', 2900) };

    [Theory]
    [InlineData(nameof(MetadataEditStep.JournalWritten), false)]
    [InlineData(nameof(MetadataEditStep.HeaderHalfWritten), false)]
    [InlineData(nameof(MetadataEditStep.HeaderWritten), true)]
    public void A_crash_after_each_step_leaves_the_old_or_the_new_metadata_on_the_next_open(string stepName, bool expectNew)
    {
        MetadataEditStep step = Enum.Parse<MetadataEditStep>(stepName);
        using var dir = new TempDir();
        string path = MetaKit.Make(dir.File("m.safetensors"), Old);
        byte[] data = MetaKit.Data(path);
        string autoV3 = MetaKit.AutoV3(path);
        byte[] oldFile = File.ReadAllBytes(path);

        Crash(path, step);

        Assert.True(File.Exists(MetaKit.Journal(path)), "the crash left the journal");
        if (step == MetadataEditStep.HeaderHalfWritten)
        {
            // The file on disk really is torn: neither the old header nor a parseable new one.
            Assert.NotEqual(oldFile, File.ReadAllBytes(path));
        }

        // Any reader (here ModelFile.Open) applies the journal first.
        Assert.Equal(expectNew ? New : Old, MetaKit.Read(path));
        Assert.False(File.Exists(MetaKit.Journal(path)));
        Assert.Equal(data, MetaKit.Data(path));
        Assert.Equal(autoV3, MetaKit.AutoV3(path));
        if (!expectNew)
        {
            Assert.Equal(oldFile, File.ReadAllBytes(path));
        }
    }

    [Theory]
    [InlineData(nameof(MetadataEditStep.JournalWritten))]
    [InlineData(nameof(MetadataEditStep.HeaderHalfWritten))]
    [InlineData(nameof(MetadataEditStep.HeaderWritten))]
    public void The_next_edit_recovers_first_says_so_and_then_applies_itself(string stepName)
    {
        MetadataEditStep step = Enum.Parse<MetadataEditStep>(stepName);
        using var dir = new TempDir();
        string path = MetaKit.Make(dir.File("m.safetensors"), Old);
        byte[] data = MetaKit.Data(path);
        Crash(path, step);

        // Open the handle the edit would: the editor must find and apply the journal itself (no reader ran before).
        MetadataEditResult r = SafetensorsMetadata.Edit(path, m => m["extra"] = "x");

        Assert.NotNull(r.Recovery);
        Assert.Contains(MetaKit.Journal(path), r.Recovery, StringComparison.Ordinal);
        var expected = new Dictionary<string, string>(step == MetadataEditStep.HeaderWritten ? New : Old) { ["extra"] = "x" };
        Assert.Equal(expected, MetaKit.Read(path));
        Assert.Equal(data, MetaKit.Data(path));
        Assert.False(File.Exists(MetaKit.Journal(path)));
    }

    [Fact]
    public void A_journal_cut_short_is_discarded_and_the_file_is_left_as_it_is()
    {
        using var dir = new TempDir();
        string path = MetaKit.Make(dir.File("m.safetensors"), Old);
        Crash(path, MetadataEditStep.JournalWritten);
        string journal = MetaKit.Journal(path);
        byte[] j = File.ReadAllBytes(journal);
        File.WriteAllBytes(journal, j[..(j.Length / 2)]);
        byte[] before = File.ReadAllBytes(path);

        Assert.Equal(Old, MetaKit.Read(path));
        Assert.False(File.Exists(journal));
        Assert.Equal(before, File.ReadAllBytes(path));
    }

    [Fact]
    public void A_journal_of_a_file_since_replaced_is_left_alone_by_readers_and_refused_by_edits()
    {
        using var dir = new TempDir();
        string path = MetaKit.Make(dir.File("m.safetensors"), Old);
        Crash(path, MetadataEditStep.HeaderHalfWritten);
        string journal = MetaKit.Journal(path);

        // Another program replaces the file (a new inode, other data).
        File.Delete(path);
        MetaKit.Make(path, new Dictionary<string, string> { ["other"] = "file" }, seed: 7);
        byte[] replaced = File.ReadAllBytes(path);

        Assert.Equal(new Dictionary<string, string> { ["other"] = "file" }, MetaKit.Read(path));
        Assert.Equal(replaced, File.ReadAllBytes(path));
        Assert.True(File.Exists(journal));
        OutputException ex = Assert.Throws<OutputException>(() => SafetensorsMetadata.Edit(path, m => m["a"] = "b"));
        Assert.Equal(SafeCkptErrorCode.InterruptedEdit, ex.Code);
        Assert.Contains("delete the journal", ex.Message, StringComparison.Ordinal);
        Assert.Equal(replaced, File.ReadAllBytes(path));
    }

    [Fact]
    public void Hashing_a_file_with_a_leftover_journal_hashes_the_restored_file()
    {
        using var dir = new TempDir();
        string path = MetaKit.Make(dir.File("m.safetensors"), Old);
        string sha = SafeCkpt.Hashing.ModelHashes.Compute(path).Sha256;
        Crash(path, MetadataEditStep.HeaderHalfWritten);

        Assert.Equal(sha, SafeCkpt.Hashing.ModelHashes.Compute(path).Sha256);
    }

    /// <summary>Runs the Old → New edit and stops it at <paramref name="step"/> as a crash would.</summary>
    private static void Crash(string path, MetadataEditStep step)
    {
        MetadataEditor.StepHook = s =>
        {
            if (s == step)
            {
                throw new SimulatedCrash();
            }
        };
        try
        {
            Assert.Throws<SimulatedCrash>(() => SafetensorsMetadata.Edit(path, m =>
            {
                m.Clear();
                foreach (KeyValuePair<string, string> kv in New)
                {
                    m[kv.Key] = kv.Value;
                }
            }));
        }
        finally
        {
            MetadataEditor.StepHook = null;
        }
    }

    private sealed class SimulatedCrash : Exception;
}
