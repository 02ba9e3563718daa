using System.Diagnostics;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using SafeCkpt.Formats.Torch;
using SafeCkpt.Safety;
using SafeCkpt.Tests.Formats.Torch;

namespace SafeCkpt.Tests.Safety;

public class PickleMachineTests
{
    private static readonly PickleSource Source = new("test.ckpt", "data.pkl", 0);

    private static object? Run(byte[] pickle, bool bare = false, PickleLimits? limits = null) =>
        PickleMachine.Run(pickle, Source, bare ? null : TorchPersistentIds.Zip(), limits).Value;

    private static Gen<object?> Leaf { get; } = Gen.OneOf(
        ArbMap.Default.GeneratorFor<long>().Select(x => (object?)x),
        ArbMap.Default.GeneratorFor<int>().Select(x => (object?)(long)x),
        ArbMap.Default.GeneratorFor<NonNull<string>>().Select(s => (object?)s.Get.Replace("\uD800", "", StringComparison.Ordinal)).Where(s => !((string)s!).Any(char.IsSurrogate)),
        ArbMap.Default.GeneratorFor<bool>().Select(x => (object?)x),
        ArbMap.Default.GeneratorFor<double>().Select(x => (object?)x),
        Gen.Constant<object?>(null));

    private static Gen<object?> Value(int depth) => depth <= 0
        ? Leaf
        : Gen.Frequency(
            (3, Leaf),
            (1, Gen.Choose(0, 4).SelectMany(n => Value(depth - 1).ArrayOf(n)).Select(a => (object?)a.ToList())),
            (1, Gen.Choose(0, 3).SelectMany(n => Value(depth - 1).ArrayOf(n)).Select(a => (object?)a)),
            (1, Gen.Choose(0, 4).SelectMany(n => Gen.Zip(ArbMap.Default.GeneratorFor<NonNull<string>>().Select(s => new string(s.Get.Where(c => !char.IsSurrogate(c)).ToArray())), Value(depth - 1)).ArrayOf(n))
                .Select(kvs => (object?)kvs.Select(kv => new KeyValuePair<string, object?>(kv.Item1, kv.Item2)).ToList())));

    private static Arbitrary<object?> Values { get; } = Value(4).ToArbitrary();

    private static byte[] ValidDataPkl { get; } = File.ReadAllBytes(TorchFixtures.PathOf("ckpt/zip_archive_prefix.pt")) is { } zip
        ? ExtractDataPkl(zip)
        : [];

    private static byte[] ExtractDataPkl(byte[] zip)
    {
        using var archive = new System.IO.Compression.ZipArchive(new MemoryStream(zip));
        using var s = archive.GetEntry("archive/data.pkl")!.Open();
        var m = new MemoryStream();
        s.CopyTo(m);
        return m.ToArray();
    }

    [Property(MaxTest = 300)]
    public Property Random_benign_pickles_of_nested_containers_parse_to_the_same_value() =>
        Prop.ForAll(Values, v => PickleWriter.Canon(Run(PickleWriter.Dump(v))) == PickleWriter.Canon(v));

    [Property(MaxTest = 300)]
    public Property Random_byte_flips_of_a_real_data_pkl_only_ever_raise_SafeCkpt_errors() =>
        Prop.ForAll(Gen.Zip(Gen.Choose(0, ValidDataPkl.Length - 1), Gen.Choose(0, 255)).ArrayOf(3).ToArbitrary(), flips =>
        {
            byte[] b = (byte[])ValidDataPkl.Clone();
            foreach ((int at, int value) in flips)
            {
                b[at] = (byte)value;
            }

            return OnlySafeCkptErrors(() => Run(b));
        });

    [Property(MaxTest = 200)]
    public Property Every_truncation_of_a_real_data_pkl_is_an_invalid_pickle_error() =>
        Prop.ForAll(Gen.Choose(0, ValidDataPkl.Length - 1).ToArbitrary(), n =>
        {
            var ex = Record.Exception(() => Run(ValidDataPkl[..n]));
            return ex is InvalidCheckpointException { Code: SafeCkptErrorCode.InvalidPickle };
        });

    internal static bool OnlySafeCkptErrors(Action action)
    {
        var watch = Stopwatch.StartNew();
        Exception? ex = Record.Exception(action);
        return (ex is null or SafeCkptException) && watch.Elapsed < TimeSpan.FromSeconds(5);
    }

    [Fact]
    public void A_real_data_pkl_builds_tensor_references_to_its_storages()
    {
        var ids = TorchPersistentIds.Zip();
        var (value, _) = PickleMachine.Run(ValidDataPkl, Source, ids);
        var dict = Assert.IsType<PyDict>(value);
        Assert.IsType<TensorRef>(dict.Items[0].Value);
        Assert.Equal(["0", "1"], ids.Storages.Select(s => s.Key));
    }

    [Fact]
    public void EXT_opcodes_are_unsafe_because_they_import_through_copyregs_registry()
    {
        var ex = Assert.Throws<UnsafeCheckpointException>(() => Run(PickleWriter.Raw(0x80, 2, 0x82, 42, '.')));
        Assert.Equal(SafeCkptErrorCode.UnsafeOpcode, ex.Code);
        Assert.Contains("EXT1", ex.Message, StringComparison.Ordinal);
        Assert.Equal(2, ex.Offset);
    }

    [Theory]
    [InlineData((byte)'P', "PERSID")]
    [InlineData((byte)0x97, "NEXT_BUFFER")]
    public void Opcodes_torch_load_fails_on_are_invalid_not_unsafe(byte op, string name)
    {
        var ex = Assert.Throws<InvalidCheckpointException>(() => Run(PickleWriter.Raw(0x80, 2, op, "0\n.")));
        Assert.Equal(SafeCkptErrorCode.InvalidPickle, ex.Code);
        Assert.Contains(name, ex.Message, StringComparison.Ordinal);
        Assert.Equal(2, ex.Offset);
    }

    [Theory]
    [InlineData("I01\n.", true)]
    [InlineData("I00\n.", false)]
    [InlineData("I-5\n.", -5L)]
    [InlineData("I1234\n.", 1234L)]
    [InlineData("L12L\n.", 12L)]
    [InlineData("F1.5\n.", 1.5)]
    [InlineData("S'a\\x41'\n.", "aA")]
    [InlineData("Vcaf\\u00e9\n.", "caf\u00e9")]
    public void Protocol_0_text_values_read_as_CPython_reads_them(string pickle, object expected)
    {
        object? value = Run(System.Text.Encoding.Latin1.GetBytes(pickle));
        Assert.Equal(expected, value);
    }

    [Theory]
    [InlineData("I010\n.")]
    [InlineData("I0x10\n.")]
    [InlineData("Finf\n.")]
    [InlineData("F1e999\n.")]
    public void Protocol_0_numbers_C_and_Python_could_read_differently_are_unsupported(string pickle) =>
        Assert.Equal(SafeCkptErrorCode.UnsupportedConstruct, Assert.Throws<InvalidCheckpointException>(() => Run(System.Text.Encoding.Latin1.GetBytes(pickle))).Code);

    [Fact]
    public void INST_and_OBJ_instantiate_allowlisted_classes_and_refuse_others()
    {
        Assert.IsType<PyDict>(Run(PickleWriter.Raw((byte)'(', "icollections\nOrderedDict\n.")));
        Assert.IsType<PyDict>(Run(PickleWriter.Raw((byte)'(', "ccollections\nOrderedDict\n", (byte)'o', '.')));
        var ex = Assert.Throws<UnsafeCheckpointException>(() => Run(PickleWriter.Raw((byte)'(', "S'id'\n", "iposix\nsystem\n.")));
        Assert.Equal("posix.system", ex.GlobalName);
    }

    [Fact]
    public void NEWOBJ_on_OrderedDict_ignores_its_arguments_as_dict_new_does()
    {
        // NEWOBJ(OrderedDict, ([('k', 1)],)) is an EMPTY OrderedDict in Python: __new__ ignores the items, __init__ is not called.
        byte[] p = PickleWriter.Raw(0x80, 2, "ccollections\nOrderedDict\n", ']', 'X', 1, 0, 0, 0, 'k', 'K', 1, 0x86, 'a', 0x85, 0x81, '.');
        Assert.Equal(0, Assert.IsType<PyDict>(Run(p)).Count);
    }

    [Fact]
    public void A_second_PROTO_is_unsupported() =>
        Assert.Equal(SafeCkptErrorCode.UnsupportedConstruct, Assert.Throws<InvalidCheckpointException>(() => Run(PickleWriter.Raw(0x80, 2, 'N', 0x80, 2, '.'))).Code);

    [Fact]
    public void Protocol_6_is_an_invalid_pickle() =>
        Assert.Equal(SafeCkptErrorCode.InvalidPickle, Assert.Throws<InvalidCheckpointException>(() => Run(PickleWriter.Raw(0x80, 6, 'N', '.'))).Code);

    [Fact]
    public void SETITEM_into_a_list_is_unsupported_as_in_CVE_2026_24747() =>
        Assert.Equal(SafeCkptErrorCode.UnsupportedConstruct, Assert.Throws<InvalidCheckpointException>(() => Run(PickleWriter.Raw(0x80, 2, ']', 'K', 1, 'K', 2, 's', '.'))).Code);

    [Fact]
    public void REDUCE_on_a_storage_class_is_unsupported_because_torch_save_never_calls_it()
    {
        var ex = Assert.Throws<InvalidCheckpointException>(() => Run(PickleWriter.Raw(0x80, 2, "ctorch\nFloatStorage\n", ')', 'R', '.')));
        Assert.Equal(SafeCkptErrorCode.UnsupportedConstruct, ex.Code);
        Assert.Contains("torch.FloatStorage", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Python_numeric_keys_are_one_key_across_int_float_and_bool()
    {
        // {1: 'a', 1.0: 'b', True: 'c'} is {1: 'c'} in Python.
        byte[] p = PickleWriter.Raw(0x80, 2, '}', '(', 'K', 1, 'X', 1, 0, 0, 0, 'a', 'G', 0x3F, 0xF0, 0, 0, 0, 0, 0, 0, 'X', 1, 0, 0, 0, 'b', 0x88, 'X', 1, 0, 0, 0, 'c', 'u', '.');
        var dict = Assert.IsType<PyDict>(Run(p));
        Assert.Equal(1, dict.Count);
        Assert.Equal("c", dict.Items[0].Value);
        Assert.Equal(1L, dict.Items[0].Key);
    }

    [Theory]
    [InlineData("foo", true)]
    [InlineData("_is_sharded", true)]
    [InlineData("data", false)]
    [InlineData("__class__", false)]
    public void Parameter_state_attributes_are_kept_out_of_the_data_unless_they_would_replace_it(string attribute, bool read)
    {
        // _rebuild_from_type_v2(_rebuild_tensor_v2, Parameter, (storage, 0, (4,), (1,), False, OrderedDict()), {attribute: 1})
        byte[] p = PickleWriter.Raw(
            0x80, 2, "ctorch._tensor\n_rebuild_from_type_v2\n", '(',
            "ctorch._utils\n_rebuild_tensor_v2\n", "ctorch.nn.parameter\nParameter\n",
            '(', '(', 'X', 7, 0, 0, 0, "storage", "ctorch\nFloatStorage\n", 'X', 1, 0, 0, 0, "0", 'X', 3, 0, 0, 0, "cpu", 'K', 4, 't', 'Q',
            'K', 0, 'K', 4, 0x85, 'K', 1, 0x85, 0x89, "ccollections\nOrderedDict\n", ')', 'R', 't',
            '}', 'X', (byte)attribute.Length, 0, 0, 0, attribute, 'K', 1, 's', 't', 'R', '.');
        if (read)
        {
            var t = Assert.IsType<TensorRef>(Run(p));
            Assert.True(t.IsParameter);
            Assert.Equal([4L], t.Size);
        }
        else
        {
            Assert.Equal(SafeCkptErrorCode.UnsupportedConstruct, Assert.Throws<InvalidCheckpointException>(() => Run(p)).Code);
        }
    }

    [Fact]
    public void A_tensor_stored_as_a_numpy_array_reads_the_arrays_bytes()
    {
        // _rebuild_device_tensor_from_numpy(ndarray (2,) f4 little-endian [1.0, 2.0], torch.float32, 'cpu', False), as A1111's test writes it.
        byte[] p = PickleWriter.Raw(
            0x80, 2, "ctorch._utils\n_rebuild_device_tensor_from_numpy\n", '(',
            "cnumpy.core.multiarray\n_reconstruct\n", "cnumpy\nndarray\n", 'K', 0, 0x85,
            "c_codecs\nencode\n", 'X', 1, 0, 0, 0, "b", 'X', 6, 0, 0, 0, "latin1", 0x86, 'R', 0x87, 'R',
            '(', 'K', 1, 'K', 2, 0x85, "cnumpy\ndtype\n", 'X', 2, 0, 0, 0, "f4", 0x89, 0x88, 0x87, 'R',
            '(', 'K', 3, 'X', 1, 0, 0, 0, "<", 'N', 'N', 'N', 'J', 0xFF, 0xFF, 0xFF, 0xFF, 'J', 0xFF, 0xFF, 0xFF, 0xFF, 'K', 0, 't', 'b',
            0x89, "c_codecs\nencode\n", 'X', 9, 0, 0, 0, 0, 0, 0xC2, 0x80, 0x3F, 0, 0, 0, 0x40, 'X', 6, 0, 0, 0, "latin1", 0x86, 'R', 't', 'b',
            "ctorch\nfloat32\n", 'X', 3, 0, 0, 0, "cpu", 0x89, 't', 'R', '.');
        var t = Assert.IsType<TensorRef>(Run(p));
        Assert.Equal([2L], t.Size);
        Assert.Equal(new byte[] { 0, 0, 0x80, 0x3F, 0, 0, 0, 0x40 }, t.Storage!.Inline);
    }

    [Fact]
    public void POP_of_a_MARK_pops_the_mark_as_CPython_does() =>
        Assert.Equal(PyTuple.Empty.Count, Assert.IsType<PyTuple>(Run(PickleWriter.Raw(0x80, 2, '(', '0', ')', '.'))).Count);

    [Fact]
    public void ModelCheckpoint_is_usable_as_a_dict_key_but_not_callable()
    {
        byte[] key = PickleWriter.Raw(0x80, 2, '}', "cpytorch_lightning.callbacks.model_checkpoint\nModelCheckpoint\n", 'K', 1, 's', '.');
        var dict = Assert.IsType<PyDict>(Run(key));
        Assert.Equal("pytorch_lightning.callbacks.model_checkpoint.ModelCheckpoint", dict.Items[0].Key.ToString());
        Assert.Throws<UnsafeCheckpointException>(() => Run(PickleWriter.Raw(0x80, 2, "cpytorch_lightning.callbacks.model_checkpoint\nModelCheckpoint\n", ')', 'R', '.')));
    }

    [Fact]
    public void STACK_GLOBAL_with_a_non_string_operand_is_invalid_as_CPython_requires_str_but_the_scanner_cannot_name_it()
    {
        byte[] p = PickleWriter.Raw(0x80, 4, 'K', 42, 0x8c, 2, "os", 0x93, '.');
        Assert.Equal(SafeCkptErrorCode.InvalidPickle, Assert.Throws<InvalidCheckpointException>(() => Run(p)).Code);
        Assert.Contains(CheckpointScanner.Scan(p).Findings, f => f.Name == "STACK_GLOBAL" && !f.Allowed);
    }

    [Fact]
    public void A_BINGET_of_a_missing_memo_entry_is_an_invalid_pickle_with_its_offset()
    {
        var ex = Assert.Throws<InvalidCheckpointException>(() => Run(PickleWriter.Raw(0x80, 2, 'h', 3, '.')));
        Assert.Equal(SafeCkptErrorCode.InvalidPickle, ex.Code);
        Assert.Equal(2, ex.Offset);
    }

    [Fact]
    public void A_FRAME_whose_contents_straddle_its_end_is_refused()
    {
        // FRAME of 2 bytes, then SHORT_BINBYTES claiming 5 bytes that lie beyond the frame (a parser differential).
        byte[] p = PickleWriter.Raw(0x80, 4, 0x95, 2, 0, 0, 0, 0, 0, 0, 0, 'C', 5, "abcde", '.');
        Assert.Equal(SafeCkptErrorCode.InvalidPickle, Assert.Throws<InvalidCheckpointException>(() => Run(p)).Code);
    }

    [Fact]
    public void A_BINPERSID_in_a_bare_pickle_is_refused_because_there_are_no_storages() =>
        Assert.Throws<InvalidCheckpointException>(() => Run(PickleWriter.Raw(0x80, 2, 'N', 'Q', '.'), bare: true));

    [Fact]
    public void Exceeding_the_opcode_limit_is_a_limit_error_not_a_hang()
    {
        byte[] p = PickleWriter.Raw(0x80, 2, 'N', Enumerable.Repeat((byte)'2', 100).ToArray(), '.');
        var ex = Assert.Throws<InvalidCheckpointException>(() => Run(p, limits: new PickleLimits { MaxOpcodes = 50 }));
        Assert.Equal(SafeCkptErrorCode.PickleLimitExceeded, ex.Code);
    }

    [Fact]
    public void Re_encoding_one_memo_string_many_times_hits_the_work_limit()
    {
        // _codecs.encode on a memoized 1 KB string 1,000 times: 1 MB of copying, over a 100 KB work budget.
        var ops = new List<byte>();
        for (int i = 0; i < 1000; i++)
        {
            ops.AddRange(PickleWriter.Raw('h', 1, 'h', 0, 0x85, 'R', '0'));
        }

        byte[] p = PickleWriter.Raw(0x80, 2, "c_codecs\nencode\n", 'q', 1, 'X', BitConverter.GetBytes(1024), new string('a', 1024), 'q', 0, '0', ops.ToArray(), 'N', '.');
        var ex = Assert.Throws<InvalidCheckpointException>(() => Run(p, limits: new PickleLimits { MaxWork = 100_000 }));
        Assert.Equal(SafeCkptErrorCode.PickleLimitExceeded, ex.Code);
    }

    [Fact]
    public void Numpy_scalars_decode_to_plain_numbers()
    {
        byte[] p = PickleWriter.Raw(0x80, 2, "cnumpy.core.multiarray\nscalar\n", "cnumpy\ndtype\n", 'X', BitConverter.GetBytes(2), "f8", 0x89, 0x88, 0x87, 'R',
            'C', 8, BitConverter.GetBytes(0.5), 0x86, 'R', '.');
        Assert.Equal(0.5, Run(p));
    }
}
