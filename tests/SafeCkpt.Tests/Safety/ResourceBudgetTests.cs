using System.Buffers;
using System.Buffers.Binary;
using System.Diagnostics;
using System.IO.Compression;
using System.Text;
using SafeCkpt.Safety;
using SafeCkpt.Tensors;
using SafeCkpt.Tests.Formats.Torch;
using SafeCkpt.Tests.TestSupport;
using Xunit.Abstractions;

namespace SafeCkpt.Tests.Safety;

[CollectionDefinition("Resource budgets", DisableParallelization = true)]
public sealed class ResourceBudgetsSerial;

/// <summary>
/// Tiny hostile inputs that once blew up (red-team findings), each built in code: opening, reading every tensor,
/// detecting the architecture and scanning must finish within <see cref="MaxElapsed"/> and <see cref="MaxAllocated"/>,
/// ending in a clean read or a <see cref="SafeCkptException"/>. Serial, so the timings are not disturbed.
/// </summary>
[Collection("Resource budgets")]
public sealed class ResourceBudgetTests(ITestOutputHelper output) : IDisposable
{
    private static readonly TimeSpan MaxElapsed = TimeSpan.FromSeconds(10);
    private const long MaxAllocated = 1L << 30;
    private const long DefaultReadCap = 4L << 30;
    private const int ChunkBytes = 1 << 20;

    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    // 1
    [Fact]
    public void A_dict_shared_along_24_levels_is_walked_within_budget() =>
        WithinBudget(Exercise(Write("shared.ckpt", TorchZip(SharedDictPickle(levels: 24), FloatRecord(1)))));

    // 2
    [Fact]
    public void Long_keys_nested_30_deep_over_20000_tensors_are_bounded_or_refused() =>
        WithinBudget(Exercise(Write("long-names.ckpt", TorchZip(LongNamePickle(keyLength: 2600, depth: 30, tensors: 20_000), FloatRecord(20_000)))));

    [Fact]
    public void A_single_100_KB_key_is_bounded_or_refused() =>
        WithinBudget(Exercise(Write("long-key.ckpt", TorchZip(LongNamePickle(keyLength: 100_000, depth: 1, tensors: 1), FloatRecord(1)))));

    // 3
    [Fact]
    public void Twenty_deflated_100_MB_storages_are_streamed_never_inflated_whole() =>
        WithinBudget(Exercise(Write("deflated.ckpt", DeflatedStoragesZip(records: 20, numel: 25_000_000))));

    // 4
    [Fact]
    public void Fifty_thousand_float_keys_colliding_under_double_GetHashCode_are_bounded() =>
        WithinBudget(Exercise(Write("float-keys.ckpt", TorchZip(KeyDictPickle(50_000, CollidingDouble)))));

    [Fact]
    public void Fifty_thousand_int_keys_colliding_under_long_GetHashCode_are_bounded() =>
        WithinBudget(Exercise(Write("int-keys.ckpt", TorchZip(KeyDictPickle(50_000, CollidingLong)))));

    [Fact]
    public void Fifty_thousand_NaN_keys_are_bounded() =>
        WithinBudget(Exercise(Write("nan-keys.ckpt", TorchZip(KeyDictPickle(50_000, NaNKey)))));

    // 5
    [Fact]
    public void A_stride_0_view_opens_only_when_the_caller_raises_the_expansion_budget()
    {
        // 8192 x 8192 floats (256 MiB) from one stored float: refused by default, described when asked for.
        string path = Write("stride0-small.ckpt", TorchZip(Stride0Pickle(8192, 8192), FloatRecord(1)));
        var ex = Assert.Throws<InvalidCheckpointException>(() => ModelFile.Open(path).Dispose());
        Assert.Equal(SafeCkptErrorCode.ResourceLimitExceeded, ex.Code);
        using ModelFile model = ModelFile.Open(path, new OpenOptions { MaxViewExpansion = 100_000_000 });
        Assert.Equal([8192L, 8192L], model.Tensors.Tensors.Single().Shape);
    }

    [Fact]
    public void A_stride_0_view_of_one_float_as_17_GB_is_refused_not_read() =>
        Refused(WithinBudget(Exercise(Write("stride0.ckpt", TorchZip(Stride0Pickle(65536, 65536), FloatRecord(1))), readCap: 256L << 20)));

    // 6
    [Fact]
    public void A_million_one_byte_safetensors_tensors_are_bounded_or_refused() =>
        WithinBudget(Exercise(MillionTensorSafetensors("million.safetensors", 1_000_000)));

    [Fact]
    public void A_million_tensors_over_one_torch_storage_are_bounded_or_refused() =>
        WithinBudget(Exercise(Write("million.ckpt", TorchZip(MillionTensorPickle(1_000_000), ("0", new byte[1_000_000])))));

    // 7
    [Theory]
    [InlineData("\n")]
    [InlineData("\n \n")]
    public void A_256_KB_whitespace_yaml_beside_an_sd1_model_is_bounded(string pattern) =>
        WithinBudget(Exercise(Sd1WithYaml(pattern, 256 << 10)));

    // ---------------- measuring ----------------

    /// <summary>What one run did: time, bytes allocated on the test thread, the refusal if any, and the scan's verdict.</summary>
    private sealed record Outcome(string Path, TimeSpan Elapsed, long Allocated, SafeCkptException? Error, string Stage, int Tensors, long BytesRead, bool ReadCapHit, ScanReport? Scan, SafeCkptException? ScanError);

    /// <summary>Runs <paramref name="work"/> synchronously on this thread; its wall time and the bytes this thread allocated.</summary>
    private static (TimeSpan Elapsed, long Allocated) Bounded(Action work)
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        long before = GC.GetAllocatedBytesForCurrentThread();
        var clock = Stopwatch.StartNew();
        work();
        clock.Stop();
        return (clock.Elapsed, GC.GetAllocatedBytesForCurrentThread() - before);
    }

    /// <summary>Opens, reads every tensor in 1 MB chunks (stopping after <paramref name="readCap"/> bytes), detects the architecture, then scans.</summary>
    private static Outcome Exercise(string path, long readCap = DefaultReadCap)
    {
        SafeCkptException? error = null, scanError = null;
        string stage = "open";
        int tensors = 0;
        long read = 0;
        bool capHit = false;
        ScanReport? scan = null;
        (TimeSpan elapsed, long allocated) = Bounded(() =>
        {
            try
            {
                using ModelFile model = ModelFile.Open(path);
                tensors = model.Tensors.Count;
                stage = "read";
                byte[] chunk = new byte[ChunkBytes];
                foreach (TensorInfo t in model.Tensors.Tensors)
                {
                    for (long at = 0; at < t.ByteLength && !capHit; at += ChunkBytes)
                    {
                        read += model.Tensors.ReadTensorChunk(t.Name, at, chunk);
                        capHit = read >= readCap;
                    }

                    if (capHit)
                    {
                        break;
                    }
                }

                stage = "detect";
                model.DetectArchitecture();
                stage = "done";
            }
            catch (SafeCkptException ex)
            {
                error = ex;
            }

            try
            {
                scan = CheckpointScanner.Scan(path);
            }
            catch (SafeCkptException ex)
            {
                scanError = ex;
            }
        });
        return new Outcome(path, elapsed, allocated, error, stage, tensors, read, capHit, scan, scanError);
    }

    private Outcome WithinBudget(Outcome o)
    {
        string refusal = o.Error is null ? "read cleanly" : $"refused at {o.Stage}: {o.Error.GetType().Name} {o.Error.Code}: {Clip(o.Error.Message)}";
        string scan = o.ScanError is not null ? $"scan threw {o.ScanError.Code}: {Clip(o.ScanError.Message)}" : $"scan {o.Scan!.Verdict} {o.Scan.ErrorCode}: {Clip(o.Scan.Error)}";
        output.WriteLine($"{System.IO.Path.GetFileName(o.Path)} ({new FileInfo(o.Path).Length:N0} bytes on disk): {o.Elapsed.TotalSeconds:F2} s, {o.Allocated / 1e6:N0} MB allocated, {o.Tensors:N0} tensors, {o.BytesRead:N0} bytes read; {refusal}; {scan}");
        Assert.True(o.Elapsed < MaxElapsed, $"took {o.Elapsed.TotalSeconds:F1} s (budget {MaxElapsed.TotalSeconds} s)");
        Assert.True(o.Allocated < MaxAllocated, $"allocated {o.Allocated:N0} bytes (budget {MaxAllocated:N0})");
        return o;
    }

    /// <summary>The model path refused the file (at open or while reading) instead of producing its bytes.</summary>
    private static void Refused(Outcome o)
    {
        Assert.False(o.ReadCapHit, $"{o.BytesRead:N0} bytes were read from the view without a refusal");
        Assert.NotNull(o.Error);
    }

    private static string Clip(string? s) => s is null ? "" : s.Length <= 160 ? s : s[..160] + "...";

    private string Write(string name, byte[] bytes)
    {
        string path = _dir.File(name);
        File.WriteAllBytes(path, bytes);
        return path;
    }

    // ---------------- hostile inputs ----------------

    /// <summary>A torch.save-shaped zip: <c>archive/data.pkl</c> and one stored record per storage.</summary>
    private static byte[] TorchZip(byte[] pickle, params (string Key, byte[] Data)[] storages)
    {
        var zip = new ZipBuilder().Add("archive/data.pkl", pickle);
        foreach ((string key, byte[] data) in storages)
        {
            zip.Add("archive/data/" + key, data);
        }

        return zip.Add("archive/version", "3\n").Build();
    }

    private static (string, byte[]) FloatRecord(int numel) => ("0", new byte[numel * 4]);

    /// <summary>Level 0 holds a tensor and an int; level k holds two references (BINGET) to level k-1.</summary>
    private static byte[] SharedDictPickle(int levels)
    {
        var p = new Pickle();
        int below = p.EmptyDict().Put();
        p.Mark().Str("weight").Tensor("FloatStorage", "0", numel: 1, offset: 0, [1], [1]).Str("step").Int(7).SetItems().Pop();
        for (int k = 1; k <= levels; k++)
        {
            int level = p.EmptyDict().Put();
            p.Mark().Str("a").Get(below).Str("b").Get(below).SetItems().Pop();
            below = level;
        }

        return p.EmptyDict().Str("state_dict").Get(below).SetItem().Stop();
    }

    /// <summary>A chain of <paramref name="depth"/> dicts each keyed by one memoised long string, over <paramref name="tensors"/> tensors.</summary>
    private static byte[] LongNamePickle(int keyLength, int depth, int tensors)
    {
        var p = new Pickle();
        p.EmptyDict().Str("state_dict");
        int key = -1;
        for (int d = 0; d < depth; d++)
        {
            p.EmptyDict();
            if (key < 0)
            {
                p.Str(new string('k', keyLength));
                key = p.Put();
            }
            else
            {
                p.Get(key);
            }
        }

        p.EmptyDict().Mark();
        for (int i = 0; i < tensors; i++)
        {
            p.Str("w" + i).Tensor("FloatStorage", "0", numel: tensors, offset: i, [1], [1]);
            if (i % 1000 == 999)
            {
                p.SetItems().Mark();
            }
        }

        p.SetItems();
        for (int d = 0; d <= depth; d++)
        {
            p.SetItem();
        }

        return p.Stop();
    }

    /// <summary>{"state_dict": {"w": a 65536 x 65536 float view with strides (0, 0) of a one-element storage}}.</summary>
    private static byte[] Stride0Pickle(long rows, long cols) =>
        new Pickle().EmptyDict().Str("state_dict").EmptyDict().Str("w").Tensor("FloatStorage", "0", numel: 1, offset: 0, [rows, cols], [0, 0]).SetItem().SetItem().Stop();

    /// <summary>{"junk": {key(i): None for i in range(count)}}: no tensors, only a big dict of hostile keys.</summary>
    private static byte[] KeyDictPickle(int count, Action<Pickle, int> key)
    {
        var p = new Pickle();
        p.EmptyDict().Str("junk").EmptyDict().Mark();
        for (int i = 0; i < count; i++)
        {
            key(p, i);
            p.None();
            if (i % 1000 == 999)
            {
                p.SetItems().Mark();
            }
        }

        return p.SetItems().SetItem().Stop();
    }

    /// <summary>Non-integral doubles in [2, 4) whose bits have the same lo32 ^ hi32 (double.GetHashCode).</summary>
    private static void CollidingDouble(Pickle p, int i)
    {
        uint hi = 0x40000000u | (uint)(i + 1);
        uint lo = hi ^ 0x5A5A5A5Bu;
        p.Float(BitConverter.Int64BitsToDouble((long)(((ulong)hi << 32) | lo)));
    }

    /// <summary>Longs whose lo32 ^ hi32 (long.GetHashCode) is the same.</summary>
    private static void CollidingLong(Pickle p, int i)
    {
        uint hi = (uint)(i + 1);
        p.Long((long)(((ulong)hi << 32) | (hi ^ 0x5A5A5A5Bu)));
    }

    /// <summary>NaN: never equal to itself, so Python keeps every one as a distinct key; all share one hash code.</summary>
    private static void NaNKey(Pickle p, int i) => p.Float(double.NaN);

    /// <summary>Twenty <c>archive/data/N</c> records of <paramref name="numel"/> zero floats each, deflated (one compressed body reused).</summary>
    private static byte[] DeflatedStoragesZip(int records, long numel)
    {
        long size = numel * 4;
        byte[] zeros = DeflatedZeros(size);
        var p = new Pickle().EmptyDict().Str("state_dict").EmptyDict().Mark();
        for (int i = 0; i < records; i++)
        {
            p.Str("w" + i).Tensor("FloatStorage", i.ToString(System.Globalization.CultureInfo.InvariantCulture), numel, 0, [numel], [1]);
        }

        byte[] pickle = p.SetItems().SetItem().Stop();
        var entries = new List<(string, byte[], long, bool)> { ("archive/data.pkl", pickle, pickle.Length, false) };
        for (int i = 0; i < records; i++)
        {
            entries.Add(($"archive/data/{i}", zeros, size, true));
        }

        return RawZip(entries);
    }

    private static byte[] DeflatedZeros(long size)
    {
        var compressed = new MemoryStream();
        using (var deflate = new DeflateStream(compressed, CompressionLevel.Optimal, leaveOpen: true))
        {
            byte[] block = new byte[1 << 20];
            for (long done = 0; done < size; done += block.Length)
            {
                deflate.Write(block, 0, (int)Math.Min(block.Length, size - done));
            }
        }

        return compressed.ToArray();
    }

    /// <summary>A zip whose entries may be deflated (<see cref="ZipBuilder"/> stores only); CRCs are left zero.</summary>
    private static byte[] RawZip(List<(string Name, byte[] Body, long Size, bool Deflated)> entries)
    {
        var o = new MemoryStream();
        var central = new MemoryStream();
        foreach ((string name, byte[] body, long size, bool deflated) in entries)
        {
            long at = o.Position;
            byte[] n = Encoding.UTF8.GetBytes(name);
            ulong method = deflated ? 8UL : 0UL;
            // signature, version, flags, method, time, date, crc, compressed, size, name length, extra length
            Fields(o, (0x04034b50, 4), (20, 2), (0, 2), (method, 2), (0, 2), (0, 2), (0, 4), ((ulong)body.Length, 4), ((ulong)size, 4), ((ulong)n.Length, 2), (0, 2));
            o.Write(n);
            o.Write(body);
            // signature, made by, needed, flags, method, time, date, crc, compressed, size, name, extra, comment, disk, internal, external, offset
            Fields(central, (0x02014b50, 4), (45, 2), (20, 2), (0, 2), (method, 2), (0, 2), (0, 2), (0, 4), ((ulong)body.Length, 4), ((ulong)size, 4), ((ulong)n.Length, 2), (0, 2), (0, 2), (0, 2), (0, 2), (0, 4), ((ulong)at, 4));
            central.Write(n);
        }

        long cd = o.Position;
        long cdSize = central.Length;
        central.Position = 0;
        central.CopyTo(o);
        Fields(o, (0x06054b50, 4), (0, 2), (0, 2), ((ulong)entries.Count, 2), ((ulong)entries.Count, 2), ((ulong)cdSize, 4), ((ulong)cd, 4), (0, 2));
        return o.ToArray();
    }

    /// <summary>Little-endian fields of the given byte widths.</summary>
    private static void Fields(Stream s, params (ulong Value, int Bytes)[] fields)
    {
        Span<byte> b = stackalloc byte[8];
        foreach ((ulong value, int bytes) in fields)
        {
            BinaryPrimitives.WriteUInt64LittleEndian(b, value);
            s.Write(b[..bytes]);
        }
    }

    /// <summary>{"state_dict": {"tI": a one-byte view at offset I of one ByteStorage}}, in SETITEMS batches of 1000 as pickle writes.</summary>
    private static byte[] MillionTensorPickle(int count)
    {
        var p = new Pickle(capacity: count * 80);
        p.EmptyDict().Str("state_dict").EmptyDict().Mark();
        for (int i = 0; i < count; i++)
        {
            p.Str("t" + i).Tensor("ByteStorage", "0", numel: count, offset: i, [1], [1]);
            if (i % 1000 == 999)
            {
                p.SetItems().Mark();
            }
        }

        return p.SetItems().SetItem().Stop();
    }

    /// <summary>A safetensors file of <paramref name="count"/> one-byte U8 tensors, its header (about 60 MB) written directly.</summary>
    private string MillionTensorSafetensors(string name, int count)
    {
        var header = new MemoryStream(count * 64);
        header.WriteByte((byte)'{');
        Span<byte> line = stackalloc byte[128];
        for (int i = 0; i < count; i++)
        {
            int n = Encoding.ASCII.GetBytes($"{(i == 0 ? "" : ",")}\"t{i:D7}\":{{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[{i},{i + 1}]}}", line);
            header.Write(line[..n]);
        }

        header.WriteByte((byte)'}');
        while (header.Length % 8 != 0)
        {
            header.WriteByte((byte)' ');
        }

        string path = _dir.File(name);
        using (var file = File.Create(path))
        {
            Span<byte> length = stackalloc byte[8];
            BinaryPrimitives.WriteUInt64LittleEndian(length, (ulong)header.Length);
            file.Write(length);
            header.Position = 0;
            header.CopyTo(file);
            file.Write(new byte[count]);
        }

        return path;
    }

    /// <summary>A copy of the tiny SD 1.x fixture with a yaml of the same name beside it: <paramref name="pattern"/> repeated to <paramref name="bytes"/>.</summary>
    private string Sd1WithYaml(string pattern, int bytes)
    {
        string path = _dir.File("model.safetensors");
        File.Copy(Fixtures.Path_("safetensors", "sd_tiny.safetensors"), path);
        var yaml = new StringBuilder(bytes + pattern.Length);
        while (yaml.Length < bytes)
        {
            yaml.Append(pattern);
        }

        File.WriteAllText(_dir.File("model.yaml"), yaml.ToString());
        return path;
    }

    /// <summary>A protocol-2 pickle written opcode by opcode; memo slots are numbered in order of <see cref="Put"/>.</summary>
    private sealed class Pickle
    {
        private readonly ArrayBufferWriter<byte> _b;
        private readonly Dictionary<string, int> _memo = new(StringComparer.Ordinal);
        private int _slots;

        public Pickle(int capacity = 256)
        {
            _b = new ArrayBufferWriter<byte>(capacity);
            _b.Write<byte>([0x80, 2]);
        }

        public Pickle Op(char op)
        {
            _b.GetSpan(1)[0] = (byte)op;
            _b.Advance(1);
            return this;
        }

        public Pickle EmptyDict() => Op('}');

        public Pickle Mark() => Op('(');

        public Pickle SetItem() => Op('s');

        public Pickle SetItems() => Op('u');

        public Pickle Pop() => Op('0');

        public Pickle None() => Op('N');

        public byte[] Stop()
        {
            Op('.');
            return _b.WrittenSpan.ToArray();
        }

        /// <summary>LONG_BINPUT into the next slot; returns the slot.</summary>
        public int Put()
        {
            Op('r').U32((uint)_slots);
            return _slots++;
        }

        /// <summary>LONG_BINGET.</summary>
        public Pickle Get(int slot) => Op('j').U32((uint)slot);

        public Pickle Str(string s)
        {
            byte[] utf8 = Encoding.UTF8.GetBytes(s);
            Op('X').U32((uint)utf8.Length);
            _b.Write(utf8);
            return this;
        }

        /// <summary>A string memoised on first use and fetched with BINGET afterwards, as pickle does.</summary>
        public Pickle MemoStr(string s) => Memo("s:" + s, () => Str(s));

        public Pickle Int(long v)
        {
            if (v is >= int.MinValue and <= int.MaxValue)
            {
                return Op('J').U32((uint)(int)v);
            }

            return Long(v);
        }

        /// <summary>LONG1 with 8 bytes.</summary>
        public Pickle Long(long v)
        {
            Op('\u008a').Op('\u0008');
            Span<byte> b = stackalloc byte[8];
            BinaryPrimitives.WriteInt64LittleEndian(b, v);
            _b.Write(b);
            return this;
        }

        /// <summary>BINFLOAT (big-endian bits, so any bit pattern, NaN payloads included, round-trips).</summary>
        public Pickle Float(double v)
        {
            Op('G');
            Span<byte> b = stackalloc byte[8];
            BinaryPrimitives.WriteInt64BigEndian(b, BitConverter.DoubleToInt64Bits(v));
            _b.Write(b);
            return this;
        }

        public Pickle Global(string module, string name) => Memo("g:" + module + "." + name, () =>
        {
            Op('c');
            _b.Write(Encoding.ASCII.GetBytes(module + "\n" + name + "\n"));
        });

        public Pickle Tuple(long[] values)
        {
            Mark();
            foreach (long v in values)
            {
                Int(v);
            }

            return Op('t');
        }

        /// <summary><c>_rebuild_tensor_v2(persistent ('storage', torch.TYPE, key, 'cpu', numel), offset, size, stride, False, OrderedDict())</c>.</summary>
        public Pickle Tensor(string storageType, string key, long numel, long offset, long[] size, long[] stride)
        {
            Global("torch._utils", "_rebuild_tensor_v2").Mark();
            Mark().MemoStr("storage").Global("torch", storageType).MemoStr(key).MemoStr("cpu").Int(numel).Op('t').Op('Q');
            Int(offset).Tuple(size).Tuple(stride).Op('\u0089');
            Global("collections", "OrderedDict").Op(')').Op('R');
            return Op('t').Op('R');
        }

        private Pickle U32(uint v)
        {
            Span<byte> b = stackalloc byte[4];
            BinaryPrimitives.WriteUInt32LittleEndian(b, v);
            _b.Write(b);
            return this;
        }

        private Pickle Memo(string id, Action write)
        {
            if (_memo.TryGetValue(id, out int slot))
            {
                return Get(slot);
            }

            write();
            _memo[id] = Put();
            return this;
        }
    }
}
