using SafeCkpt.Formats.Torch;
using SafeCkpt.Safety;

namespace SafeCkpt.Tests.Formats.Torch;

public class TorchPersistentIdsTests
{
    private static readonly PickleSource Source = new("test.ckpt", "data.pkl", 0);

    /// <summary><c>('storage', torch.CLS, key, location, numel[, view])</c> as BINPERSID, left on the stack.</summary>
    private static object[] StorageId(string cls, string key, int numel, object[]? view = null) =>
    [
        '(', Str("storage"), 'c', $"torch\n{cls}\n", Str(key), Str("cpu"), 'K', numel, .. view ?? [], 't', 'Q',
    ];

    private static byte[] Str(string s) => [(byte)'X', .. BitConverter.GetBytes(s.Length), .. System.Text.Encoding.UTF8.GetBytes(s)];

    [Fact]
    public void Zip_storage_ids_become_storage_references_in_pickle_order()
    {
        byte[] pickle = PickleWriter.Raw([0x80, 2, ']', .. StorageId("HalfStorage", "0", 4), 'a', .. StorageId("LongStorage", "1", 2), 'a', '.']);
        var ids = TorchPersistentIds.Zip();
        PickleMachine.Run(pickle, Source, ids);
        Assert.Equal([("0", "float16", 4L), ("1", "int64", 2L)], ids.Storages.Select(s => (s.Key, s.DType!.Name, s.Numel)));
    }

    [Fact]
    public void A_zip_id_with_the_legacy_view_element_is_invalid()
    {
        byte[] pickle = PickleWriter.Raw([0x80, 2, .. StorageId("FloatStorage", "0", 4, ['N']), '.']);
        var ex = Assert.Throws<InvalidCheckpointException>(() => PickleMachine.Run(pickle, Source, TorchPersistentIds.Zip()));
        Assert.Contains("6 elements; 5 are expected", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_legacy_view_key_seen_before_returns_the_first_view_whatever_its_offset()
    {
        object[] first = StorageId("FloatStorage", "root", 8, [Str("v"), 'K', 2, 'K', 3, 0x87]);
        object[] again = StorageId("FloatStorage", "root", 8, [Str("v"), 'K', 5, 'K', 1, 0x87]);
        byte[] pickle = PickleWriter.Raw([0x80, 2, ']', .. first, 'a', .. again, 'a', '.']);
        var ids = TorchPersistentIds.Legacy();
        var list = Assert.IsType<PyList>(PickleMachine.Run(pickle, Source, ids).Value);
        Assert.Same(list.Items[0], list.Items[1]);
        Assert.Equal((2L, 3L), (((StorageRef)list.Items[1]!).ViewOffset, ((StorageRef)list.Items[1]!).ViewNumel));
    }

    [Fact]
    public void A_legacy_module_id_is_unsupported_and_a_bare_pickle_has_no_storages()
    {
        byte[] module = PickleWriter.Raw([0x80, 2, '(', .. Str("module"), 'N', 't', 'Q', '.']);
        var ex = Assert.Throws<InvalidCheckpointException>(() => PickleMachine.Run(module, Source, TorchPersistentIds.Legacy()));
        Assert.Equal(SafeCkptErrorCode.UnsupportedConstruct, ex.Code);

        byte[] storage = PickleWriter.Raw([0x80, 2, .. StorageId("FloatStorage", "0", 1), '.']);
        Assert.Throws<InvalidCheckpointException>(() => PickleMachine.Run(storage, Source, null));
    }

    [Fact]
    public void A_legacy_object_pickle_longer_than_the_first_read_window_reads_its_storage()
    {
        // The reader runs the object pickle in a 1 MiB window first and again in a larger one; the storage id comes
        // before the 2 MiB string, so both attempts meet it (each with its own loader).
        byte[] tensor = PickleWriter.Raw(['c', "torch._utils\n_rebuild_tensor_v2\n", '(', .. StorageId("FloatStorage", "0", 2, ['N']), 'K', 0, 'K', 2, 0x85, 'K', 1, 0x85, 0x89, 'c', "collections\nOrderedDict\n", ')', 'R', 't', 'R']);
        byte[] file = PickleWriter.Raw(
        [
            TorchStorageTypes.LegacyMagicPickle, '.',
            0x80, 2, 'M', 0xe9, 0x03, '.',
            0x80, 2, '}', '.',
            0x80, 2, '}', .. Str("w"), tensor, 's', .. Str(new string('p', 2 << 20)), '0', '.',
            0x80, 2, ']', .. Str("0"), 'a', '.',
            BitConverter.GetBytes(2L), BitConverter.GetBytes(1.5f), BitConverter.GetBytes(-2f),
        ]);

        using TorchCheckpoint ckpt = CkptReader.Open(file);
        Assert.Equal([1.5f, -2f], ckpt.Tensors.ReadTensorAs<float>("w"));
    }
}
