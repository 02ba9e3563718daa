using System.Diagnostics;
using SafeCkpt.Safety;

namespace SafeCkpt.Tests.Formats.Torch;

public class HostileFixtureTests
{
    public static TheoryData<string, string> UnsafeGlobals() => new()
    {
        { "p2_builtins_eval.pt", "builtins.eval" },
        { "p2_builtin_exec_py2name.pt", "builtins.exec" },
        { "p2_posix_system.pt", "posix.system" },
        { "p4_stack_global.pt", "os.system" },
        { "p4_stack_global_memo.pt", "os.system" },
        { "p4_dotted_eval_call.pt", "builtins.eval.__call__" },
        { "p4_dotted_allowlisted.pt", "torch._utils._rebuild_tensor_v2.__globals__" },
        { "p2_partial_torch_load.pt", "functools.partial" },
        { "zip_data_pkl_os_system.ckpt", "posix.system" },
        { "zip_crc_mismatch_payload.ckpt", "posix.system" },
        { "legacy_pickle5_os_system.pt", "posix.system" },
    };

    public static TheoryData<string, string> UnsafeContainers() => new()
    {
        { "zip_torchscript_constants.pt", "TorchScript" },
        { "zip_path_traversal.ckpt", "traversal" },
        { "polyglot_pickle_zip.ckpt", "posix.system" },
    };

    public static TheoryData<string, SafeCkptErrorCode> Invalid() => new()
    {
        { "p2_huge_binbytes.pt", SafeCkptErrorCode.InvalidPickle },
        { "zip_huge_binunicode.ckpt", SafeCkptErrorCode.InvalidPickle },
        { "zip_huge_binbytes.ckpt", SafeCkptErrorCode.InvalidPickle },
        { "zip_two_data_pkl.ckpt", SafeCkptErrorCode.InvalidArchive },
        { "zip_persid_not_storage.ckpt", SafeCkptErrorCode.InvalidPickle },
        { "zip_duplicate_names.ckpt", SafeCkptErrorCode.DuplicateKey },
        { "zip_local_name_mismatch.ckpt", SafeCkptErrorCode.InvalidArchive },
        { "zip_storage_truncated.ckpt", SafeCkptErrorCode.StorageSizeMismatch },
        { "zip_view_out_of_bounds.ckpt", SafeCkptErrorCode.ViewOutOfBounds },
        { "zip_view_size_overflow.ckpt", SafeCkptErrorCode.ViewOutOfBounds },
        { "zip_storage_dtype_conflict.ckpt", SafeCkptErrorCode.InvalidStorage },
        { "zip_missing_storage_record.ckpt", SafeCkptErrorCode.InvalidStorage },
        { "zip_deep_nesting.ckpt", SafeCkptErrorCode.PickleLimitExceeded },
        { "legacy_storage_size_mismatch.pt", SafeCkptErrorCode.StorageSizeMismatch },
        { "html_page.ckpt", SafeCkptErrorCode.UnsupportedFormat },
        { "git_lfs_pointer.ckpt", SafeCkptErrorCode.UnsupportedFormat },
        { "empty.ckpt", SafeCkptErrorCode.EmptyFile },
    };

    [Theory]
    [MemberData(nameof(UnsafeGlobals))]
    public void A_pickle_importing_a_global_off_the_allowlist_is_refused_naming_the_global_and_its_offset(string file, string global)
    {
        var ex = Assert.Throws<UnsafeCheckpointException>(() => ModelFile.Open(TorchFixtures.PathOf("hostile/" + file)));
        Assert.Equal(SafeCkptErrorCode.UnsafeGlobal, ex.Code);
        Assert.Equal(global, ex.GlobalName);
        Assert.Contains($"'{global}'", ex.Message, StringComparison.Ordinal);
        Assert.NotNull(ex.Offset);
        Assert.NotNull(ex.RecordName);
    }

    [Theory]
    [MemberData(nameof(UnsafeGlobals))]
    public void The_scanner_reports_the_same_global_as_unsafe(string file, string global)
    {
        ScanReport report = CheckpointScanner.Scan(TorchFixtures.PathOf("hostile/" + file));
        Assert.True(report.IsUnsafe);
        Assert.Contains(report.Findings, f => !f.Allowed && f.Kind == ScanFindingKind.Global && f.Name == global);
    }

    [Theory]
    [MemberData(nameof(UnsafeContainers))]
    public void Code_archives_polyglots_traversal_names_and_module_persistent_ids_are_refused_as_unsafe(string file, string fragment)
    {
        var ex = Assert.Throws<UnsafeCheckpointException>(() => ModelFile.Open(TorchFixtures.PathOf("hostile/" + file)));
        Assert.Contains(fragment, ex.Message, StringComparison.Ordinal);
        Assert.True(CheckpointScanner.Scan(TorchFixtures.PathOf("hostile/" + file)).IsUnsafe);
    }

    [Theory]
    [InlineData("p0_os_system.pt")]
    [InlineData("p0_inst.pt")]
    [InlineData("p1_obj.pt")]
    public void Protocol_0_and_1_pickles_are_not_opened_but_the_scanner_names_os_system(string file)
    {
        var ex = Assert.Throws<UnsupportedFormatException>(() => ModelFile.Open(TorchFixtures.PathOf("hostile/" + file)));
        Assert.Equal(SafeCkptErrorCode.UnsupportedFormat, ex.Code);
        ScanReport report = CheckpointScanner.Scan(TorchFixtures.PathOf("hostile/" + file));
        Assert.Contains(report.Findings, f => !f.Allowed && f.Name == "os.system");
    }

    [Theory]
    [MemberData(nameof(Invalid))]
    public void Malformed_and_crafted_files_are_refused_with_a_specific_code(string file, SafeCkptErrorCode code)
    {
        var ex = Assert.ThrowsAny<InvalidCheckpointException>(() => ModelFile.Open(TorchFixtures.PathOf("hostile/" + file)));
        Assert.Equal(code, ex.Code);
        Assert.Contains("hostile/" + file, ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("zip_billion_laughs.ckpt")]
    [InlineData("zip_memo_huge_index.ckpt")]
    public void Expansion_attacks_finish_fast_without_expanding_shared_references(string file)
    {
        var watch = Stopwatch.StartNew();
        using ModelFile model = ModelFile.Open(TorchFixtures.PathOf("hostile/" + file));
        Assert.Equal(["w"], model.Tensors.Tensors.Select(t => t.Name));
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(5), $"took {watch.Elapsed}");
    }

    [Fact]
    public void Every_hostile_torch_fixture_in_the_manifest_has_an_expectation_here()
    {
        var covered = UnsafeGlobals().Select(r => (string)r[0]).Concat(UnsafeContainers().Select(r => (string)r[0])).Concat(Invalid().Select(r => (string)r[0]))
            .Concat(["p0_os_system.pt", "p0_inst.pt", "p1_obj.pt", "zip_billion_laughs.ckpt", "zip_memo_huge_index.ckpt"]).ToHashSet();
        string[] missing = TorchFixtures.OfKind("hostile").Select(f => Path.GetFileName(f.File)).Where(f => !f.StartsWith("st_", StringComparison.Ordinal) && !covered.Contains(f)).ToArray();
        Assert.Empty(missing);
    }
}
