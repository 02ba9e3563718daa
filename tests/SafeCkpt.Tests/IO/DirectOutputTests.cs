using SafeCkpt.Building;
using SafeCkpt.IO;
using SafeCkpt.Tensors;
using SafeCkpt.Tests.TestSupport;

namespace SafeCkpt.Tests.IO;

[CollectionDefinition(nameof(DirectOutputSerial), DisableParallelization = true)]
public sealed class DirectOutputSerial;

/// <summary>Outputs written with O_DIRECT (staged, aligned, tail cut back) are byte-identical to buffered ones.</summary>
[Collection(nameof(DirectOutputSerial))]
public sealed class DirectOutputTests : IDisposable
{
    private readonly long _threshold = AtomicOutput.DirectThreshold;

    public void Dispose() => AtomicOutput.DirectThreshold = _threshold;

    private static byte[] Write(TempDir dir, string name, bool direct, Action<string> save)
    {
        AtomicOutput.DirectThreshold = direct ? 0 : long.MaxValue;
        string path = dir.File(name);
        save(path);
        return File.ReadAllBytes(path);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(4095)]
    [InlineData(4096)]
    [InlineData((8 << 20) + 3)]
    [InlineData((19 << 20) + 4097)]
    public void Direct_and_buffered_safetensors_and_ckpt_outputs_are_identical(int bytes)
    {
        using var dir = new TempDir();
        var data = new byte[bytes];
        new Random(bytes).NextBytes(data);
        TinySd.Builder().Add("blob", DType.UInt8, [bytes], data).SaveSafetensors(dir.File("src.safetensors"));
        using ModelFile m = ModelFile.Open(dir.File("src.safetensors"));
        Assert.Equal(Write(dir, "b.safetensors", false, p => m.ToHalf().SaveSafetensors(p)), Write(dir, "d.safetensors", true, p => m.ToHalf().SaveSafetensors(p)));
        Assert.Equal(Write(dir, "b.ckpt", false, p => m.ToBFloat16().SaveCkpt(p)), Write(dir, "d.ckpt", true, p => m.ToBFloat16().SaveCkpt(p)));
        using ModelFile back = ModelFile.Open(dir.File("d.ckpt"));
        Assert.Equal(data, back.Tensors.ReadTensor("blob"));
    }

    [Fact]
    public void O_direct_is_used_where_the_file_system_supports_it()
    {
        using var dir = new TempDir();
        AtomicOutput.DirectThreshold = 0;
        using var output = AtomicOutput.Create(dir.File("x.bin"), overwrite: false, [], expectedLength: 1);
        output.Append([1, 2, 3]);
        output.Commit(flushToDisk: true);
        Assert.Equal(new byte[] { 1, 2, 3 }, File.ReadAllBytes(dir.File("x.bin")));
        Assert.True(output.IsDirect || !OperatingSystem.IsLinux(), "O_DIRECT was not available on this Linux file system: " + dir.Path);
    }

    [Fact]
    public void A_failed_direct_write_leaves_no_file()
    {
        using var dir = new TempDir();
        AtomicOutput.DirectThreshold = 0;
        new CheckpointBuilder().AddZeros("a", DType.Float32, 4 << 20).AddZeros("b", DType.Float32, 4 << 20).SaveSafetensors(dir.File("src.safetensors"));
        using ModelFile m = ModelFile.Open(dir.File("src.safetensors"));
        File.WriteAllBytes(dir.File("src.safetensors"), File.ReadAllBytes(dir.File("src.safetensors"))[..(16 << 20)]);
        Assert.Throws<InvalidCheckpointException>(() => m.ToHalf().SaveSafetensors(dir.File("out.safetensors")));
        Assert.Equal(["src.safetensors"], dir.Files());
    }
}
