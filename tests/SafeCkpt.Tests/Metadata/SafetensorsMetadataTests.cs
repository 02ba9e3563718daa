using SafeCkpt.Metadata;
using SafeCkpt.Tests.TestSupport;

namespace SafeCkpt.Tests.Metadata;

public sealed class SafetensorsMetadataTests
{
    [Fact]
    public void A_header_that_fits_is_rewritten_in_place_keeping_length_inode_N_and_every_data_byte()
    {
        using var dir = new TempDir();
        string path = MetaKit.Make(dir.File("m.safetensors"), new Dictionary<string, string> { ["format"] = "pt", ["ss_tag_frequency"] = new string('x', 300) });
        long length = new FileInfo(path).Length;
        ulong inode = MetaKit.Inode(path);
        long n = MetaKit.HeaderLength(path);
        byte[] data = MetaKit.Data(path);
        string autoV3 = MetaKit.AutoV3(path);

        MetadataEditResult r = SafetensorsMetadata.Edit(path, m =>
        {
            m.Remove("ss_tag_frequency");
            m["modelspec.title"] = "Tïtle \"quoted\"";
        });

        Assert.Equal(MetadataWriteMode.HeaderInPlace, r.Mode);
        Assert.Equal(length, new FileInfo(path).Length);
        Assert.Equal(inode, MetaKit.Inode(path));
        Assert.Equal(n, MetaKit.HeaderLength(path));
        Assert.Equal(data, MetaKit.Data(path));
        Assert.Equal(autoV3, MetaKit.AutoV3(path));
        Assert.Equal(new Dictionary<string, string> { ["format"] = "pt", ["modelspec.title"] = "Tïtle \"quoted\"" }, MetaKit.Read(path));
        Assert.Equal(["modelspec.title"], r.Changed);
        Assert.Equal(["ss_tag_frequency"], r.Removed);
        Assert.False(File.Exists(MetaKit.Journal(path)));
    }

    [Fact]
    public void A_header_that_grows_rewrites_the_file_streaming_with_the_data_section_unchanged_and_room_to_spare()
    {
        using var dir = new TempDir();
        string path = MetaKit.Make(dir.File("m.safetensors"));
        ulong inode = MetaKit.Inode(path);
        long n = MetaKit.HeaderLength(path);
        byte[] data = MetaKit.Data(path);
        string autoV3 = MetaKit.AutoV3(path);

        MetadataEditResult r = SafetensorsMetadata.Edit(path, m => m["ss_tag_frequency"] = new string('t', 5000));

        Assert.Equal(MetadataWriteMode.FileRewritten, r.Mode);
        long grown = MetaKit.HeaderLength(path);
        Assert.True(grown > n);
        Assert.Equal(0, (8 + grown) % 4096);
        Assert.True(grown - 5000 >= MetadataEditor.Headroom);
        Assert.NotEqual(inode, MetaKit.Inode(path));
        Assert.Equal(data, MetaKit.Data(path));
        Assert.Equal(autoV3, MetaKit.AutoV3(path));
        Assert.Equal(new string('t', 5000), MetaKit.Read(path)["ss_tag_frequency"]);
        Assert.Equal(["m.safetensors"], dir.Files());

        // The room left makes the next, larger edit an in-place one.
        Assert.Equal(MetadataWriteMode.HeaderInPlace, SafetensorsMetadata.Edit(path, m => m["modelspec.title"] = "t").Mode);
    }

    [Fact]
    public void An_edit_that_changes_nothing_writes_nothing()
    {
        using var dir = new TempDir();
        string path = MetaKit.Make(dir.File("m.safetensors"), new Dictionary<string, string> { ["a"] = "1" });
        byte[] before = File.ReadAllBytes(path);
        DateTime mtime = File.GetLastWriteTimeUtc(path);
        Thread.Sleep(20);

        MetadataEditResult r = SafetensorsMetadata.Edit(path, m => m["a"] = "1");

        Assert.Equal(MetadataWriteMode.Unchanged, r.Mode);
        Assert.Equal(before, File.ReadAllBytes(path));
        Assert.Equal(mtime, File.GetLastWriteTimeUtc(path));
    }

    [Fact]
    public void Removing_every_key_drops_the_metadata_object()
    {
        using var dir = new TempDir();
        string path = MetaKit.Make(dir.File("m.safetensors"), new Dictionary<string, string> { ["a"] = "1", ["b"] = "2" });

        SafetensorsMetadata.Edit(path, m => m.Clear());

        Assert.Empty(MetaKit.Read(path));
        Assert.True(File.ReadAllBytes(path).AsSpan(0, 8 + (int)MetaKit.HeaderLength(path)).IndexOf("__metadata__"u8) < 0);
    }

    [Fact]
    public void A_copy_leaves_the_input_byte_for_byte_and_keeps_its_layout_when_the_header_fits()
    {
        using var dir = new TempDir();
        string path = MetaKit.Make(dir.File("m.safetensors"), new Dictionary<string, string> { ["ss_x"] = new string('x', 100) });
        byte[] before = File.ReadAllBytes(path);

        MetadataEditResult r = SafetensorsMetadata.Edit(path, m => m.Remove("ss_x"), new MetadataEditOptions { OutputPath = dir.File("c.safetensors") });

        Assert.Equal(MetadataWriteMode.Copied, r.Mode);
        Assert.Equal(before, File.ReadAllBytes(path));
        Assert.Equal(before.Length, new FileInfo(dir.File("c.safetensors")).Length);
        Assert.Equal(MetaKit.Data(path), MetaKit.Data(dir.File("c.safetensors")));
        Assert.Empty(MetaKit.Read(dir.File("c.safetensors")));
    }

    [Fact]
    public void A_copy_onto_the_input_itself_is_refused()
    {
        using var dir = new TempDir();
        string path = MetaKit.Make(dir.File("m.safetensors"));

        OutputException ex = Assert.Throws<OutputException>(() => SafetensorsMetadata.Edit(path, m => m["a"] = "b", new MetadataEditOptions { OutputPath = path, Overwrite = true }));
        Assert.Equal(SafeCkptErrorCode.OutputIsInput, ex.Code);
    }

    [Fact]
    public void A_pytorch_checkpoint_is_refused_with_the_way_to_get_a_safetensors_file()
    {
        using var dir = new TempDir();
        string path = dir.File("m.ckpt");
        new SafeCkpt.Building.CheckpointBuilder().Add("w", [1f, 2f], 2).SaveCkpt(path);
        byte[] before = File.ReadAllBytes(path);

        UnsupportedFormatException ex = Assert.Throws<UnsupportedFormatException>(() => SafetensorsMetadata.Edit(path, m => m["a"] = "b"));

        Assert.Contains("Only safetensors files carry metadata", ex.Message, StringComparison.Ordinal);
        Assert.Contains("safeckpt convert", ex.Message, StringComparison.Ordinal);
        Assert.Equal(before, File.ReadAllBytes(path));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(2)]
    public void Empty_keys_and_invalid_unicode_are_refused_before_anything_is_written(int which)
    {
        // Built here: a lone surrogate does not survive xunit's serialization of inline data.
        (string key, string value) = which switch { 0 => (string.Empty, "v"), 1 => ("k", "a\ud800b"), _ => ("\udc00", "v") };
        using var dir = new TempDir();
        string path = MetaKit.Make(dir.File("m.safetensors"));
        byte[] before = File.ReadAllBytes(path);

        ConversionException ex = Assert.Throws<ConversionException>(() => SafetensorsMetadata.Edit(path, m => m[key] = value));

        Assert.Equal(SafeCkptErrorCode.InvalidMetadata, ex.Code);
        Assert.Equal(before, File.ReadAllBytes(path));
    }

    [Fact]
    public void A_file_another_handle_holds_is_not_edited_and_the_error_says_so()
    {
        using var dir = new TempDir();
        string path = MetaKit.Make(dir.File("m.safetensors"));
        byte[] before = File.ReadAllBytes(path);

        using (ModelFile reader = ModelFile.Open(path))
        {
            OutputException ex = Assert.Throws<OutputException>(() => SafetensorsMetadata.Edit(path, m => m["a"] = "b"));
            Assert.Equal(SafeCkptErrorCode.OutputNotWritable, ex.Code);
            Assert.Contains("--out", ex.Message, StringComparison.Ordinal);
        }

        Assert.Equal(before, File.ReadAllBytes(path));
    }

    [Fact]
    public void When_the_journal_cannot_be_written_the_file_is_untouched_and_the_error_names_the_journal()
    {
        using var dir = new TempDir();
        string path = MetaKit.Make(dir.File("m.safetensors"), new Dictionary<string, string> { ["a"] = new string('a', 64) });
        byte[] before = File.ReadAllBytes(path);

        // A folder where the journal would go: its creation fails as it would in a folder this user may not write.
        Directory.CreateDirectory(MetaKit.Journal(path));
        try
        {
            OutputException ex = Assert.Throws<OutputException>(() => SafetensorsMetadata.Edit(path, m => m["a"] = "b"));
            Assert.Contains("undo journal", ex.Message, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(MetaKit.Journal(path));
        }

        Assert.Equal(before, File.ReadAllBytes(path));
    }

    [Fact]
    public void An_edit_through_a_symlink_edits_the_target_and_keeps_the_link()
    {
        if (OperatingSystem.IsWindows())
        {
            return;
        }

        using var dir = new TempDir();
        string target = MetaKit.Make(dir.File("real.safetensors"));
        File.CreateSymbolicLink(dir.File("link.safetensors"), target);

        SafetensorsMetadata.Edit(dir.File("link.safetensors"), m => m["big"] = new string('b', 6000));

        Assert.NotNull(new FileInfo(dir.File("link.safetensors")).LinkTarget);
        Assert.Equal(new string('b', 6000), MetaKit.Read(target)["big"]);
    }

    [Fact]
    public void A_rewritten_file_keeps_its_permission_bits()
    {
        if (OperatingSystem.IsWindows())
        {
            return;
        }

        using var dir = new TempDir();
        string path = MetaKit.Make(dir.File("m.safetensors"));
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);

        Assert.Equal(MetadataWriteMode.FileRewritten, SafetensorsMetadata.Edit(path, m => m["big"] = new string('b', 6000)).Mode);

        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(path));
    }
}
