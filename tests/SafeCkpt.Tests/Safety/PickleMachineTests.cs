using System.Diagnostics;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using SafeCkpt.Safety;
using SafeCkpt.Tests.Formats.Torch;

namespace SafeCkpt.Tests.Safety;

public class PickleMachineTests
{
    private static readonly PickleSource Source = new("test.ckpt", "data.pkl", 0);

    private static object? Run(byte[] pickle, PersistentIds ids = PersistentIds.Zip, PickleLimits? limits = null) =>
        PickleMachine.Run(pickle, Source, ids, limits).Value;

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
        var (value, machine) = PickleMachine.Run(ValidDataPkl, Source, PersistentIds.Zip);
        var dict = Assert.IsType<PyDict>(value);
        Assert.IsType<TensorRef>(dict.Items[0].Value);
        Assert.Equal(["0", "1"], machine.Storages.Select(s => s.Key));
    }

    [Theory]
    [InlineData((byte)'i', "INST")]
    [InlineData((byte)'o', "OBJ")]
    [InlineData((byte)0x92, "NEWOBJ_EX")]
    [InlineData((byte)0x82, "EXT1")]
    [InlineData((byte)'P', "PERSID")]
    [InlineData((byte)0x97, "NEXT_BUFFER")]
    [InlineData((byte)'I', "INT")]
    public void Refused_opcodes_raise_unsafe_opcode_naming_the_opcode_and_offset(byte op, string name)
    {
        var ex = Assert.Throws<UnsafeCheckpointException>(() => Run(PickleWriter.Raw(0x80, 2, op, "0\n.")));
        Assert.Equal(SafeCkptErrorCode.UnsafeOpcode, ex.Code);
        Assert.Contains(name, ex.Message, StringComparison.Ordinal);
        Assert.Equal(2, ex.Offset);
    }

    [Fact]
    public void A_second_PROTO_is_refused() =>
        Assert.Equal(SafeCkptErrorCode.UnsafeOpcode, Assert.Throws<UnsafeCheckpointException>(() => Run(PickleWriter.Raw(0x80, 2, 'N', 0x80, 2, '.'))).Code);

    [Fact]
    public void Protocol_6_is_an_invalid_pickle() =>
        Assert.Equal(SafeCkptErrorCode.InvalidPickle, Assert.Throws<InvalidCheckpointException>(() => Run(PickleWriter.Raw(0x80, 6, 'N', '.'))).Code);

    [Fact]
    public void SETITEM_into_a_list_is_refused_as_in_CVE_2026_24747() =>
        Assert.Equal(SafeCkptErrorCode.UnsafeOpcode, Assert.Throws<UnsafeCheckpointException>(() => Run(PickleWriter.Raw(0x80, 2, ']', 'K', 1, 'K', 2, 's', '.'))).Code);

    [Fact]
    public void REDUCE_on_a_storage_class_is_refused_because_it_is_a_value_not_a_function()
    {
        var ex = Assert.Throws<UnsafeCheckpointException>(() => Run(PickleWriter.Raw(0x80, 2, "ctorch\nFloatStorage\n", ')', 'R', '.')));
        Assert.Contains("torch.FloatStorage", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ModelCheckpoint_is_usable_as_a_dict_key_but_not_callable()
    {
        byte[] key = PickleWriter.Raw(0x80, 2, '}', "cpytorch_lightning.callbacks.model_checkpoint\nModelCheckpoint\n", 'K', 1, 's', '.');
        var dict = Assert.IsType<PyDict>(Run(key));
        Assert.Equal("pytorch_lightning.callbacks.model_checkpoint.ModelCheckpoint", dict.Items[0].Key.ToString());
        Assert.Throws<UnsafeCheckpointException>(() => Run(PickleWriter.Raw(0x80, 2, "cpytorch_lightning.callbacks.model_checkpoint\nModelCheckpoint\n", ')', 'R', '.')));
    }

    [Fact]
    public void STACK_GLOBAL_with_a_non_string_operand_is_refused() =>
        Assert.Equal(SafeCkptErrorCode.UnsafeOpcode, Assert.Throws<UnsafeCheckpointException>(() => Run(PickleWriter.Raw(0x80, 4, 'K', 42, 0x8c, 2, "os", 0x93, '.'))).Code);

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
        Assert.Throws<InvalidCheckpointException>(() => Run(PickleWriter.Raw(0x80, 2, 'N', 'Q', '.'), PersistentIds.None));

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
