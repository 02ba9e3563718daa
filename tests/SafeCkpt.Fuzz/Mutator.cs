using System.Buffers.Binary;
using System.Text;
using System.Text.RegularExpressions;

namespace SafeCkpt.Fuzz;

/// <summary>
/// Makes one new input from a seed: byte-level havoc (flips, interesting values, length fields, ranges, splices,
/// truncation) and structure-aware mutations that keep the container valid (zip records rebuilt, pickles changed
/// at opcode boundaries, safetensors headers edited as text with the length prefix fixed). Every choice comes from
/// one seeded <see cref="Random"/>, so a run is reproducible.
/// </summary>
internal sealed partial class Mutator
{
    private static readonly byte[] InterestingBytes = [0x00, 0xFF, 0x7F, 0x80, 0x01, 0x2E, 0x28];

    private static readonly string[] Strings =
    [
        "", "0", "1", "cpu", "cuda:0", "storage", "torch", "torch._utils", "_rebuild_tensor_v2", "_rebuild_parameter",
        "collections", "OrderedDict", "FloatStorage", "HalfStorage", "LongStorage", "BFloat16Storage", "UntypedStorage",
        "os", "system", "builtins", "eval", "__builtin__", "getattr", "state_dict", "model.diffusion_model.out.2.bias",
        "model_ema.decay", "archive", "data", "\u0000", "\ud7ff\uffff", new string('A', 300), "_rebuild_tensor_v2.__globals__",
    ];

    private static readonly (string Module, string Name)[] Globals =
    [
        ("torch._utils", "_rebuild_tensor_v2"), ("torch._utils", "_rebuild_parameter"), ("collections", "OrderedDict"),
        ("torch", "FloatStorage"), ("torch", "HalfStorage"), ("torch", "LongStorage"), ("torch", "BFloat16Storage"),
        ("torch", "Size"), ("os", "system"), ("builtins", "eval"), ("__builtin__", "set"), ("numpy.core.multiarray", "scalar"),
        ("torch", "device"), ("torch", "float16"), ("builtins", "getattr"), ("_codecs", "encode"),
    ];

    /// <summary>Opcode sequences that stress the stack, marks, memo and persistent ids.</summary>
    private static readonly byte[][] Snippets =
    [
        L("(0t"), L("(0)"), L("(02t"), L("1"), L("0000"), L("22222222"),
        L("(((((((((("), L("tttttttttt"), L("]]]]]]]]aaaaaaaa"), L("}(K\u0001u"),
        L("NNR"), L("Nb"), L("}Nb"), L("\u0093"), L("K\u0001K\u0002\u0093"),
        L("\u008c\u0002os\u008c\u0006system\u0093"), L("cos\nsystem\n"), L("j\u00ff\u00ff\u00ff\u007f"),
        L("r\u00ff\u00ff\u00ff\u00ff"), L("h\u0000"), L("q\u0000h\u0000h\u0000"), L("\u0094\u0094\u0094"),
        L("\u0095\u00ff\u00ff\u00ff\u00ff\u00ff\u00ff\u00ff\u007f"), L("\u0080\u0005"), L("Q"), L("NQ"),
        L("(X\u0007\u0000\u0000\u0000storagectorch\nFloatStorage\nX\u0001\u0000\u0000\u00000X\u0003\u0000\u0000\u0000cpuJ\u00ff\u00ff\u00ff\u007ftQ"),
        L("(X\u0007\u0000\u0000\u0000storagectorch\nFloatStorage\nX\u0001\u0000\u0000\u00009X\u0003\u0000\u0000\u0000cpuK\u0004tQ"),
        L("ctorch._utils\n_rebuild_tensor_v2\n"), L("ccollections\nOrderedDict\n)R"),
        L(")\u0085\u0086\u0087"), L("\u008f(K\u0001\u0090"), L("(K\u0001\u0091"), L("\u008a\u0009\u00ff\u00ff\u00ff\u00ff\u00ff\u00ff\u00ff\u00ff\u00ff"),
        L("\u008b\u0000\u0001\u0000\u0000"), L("X\u00ff\u00ff\u00ff\u00ff"), L("\u0096\u0000\u0000\u0000\u0000\u0000\u0000\u0000\u0080"),
        L("I99999999999999999999\n"), L("Ifoo\n"), L("g-1\n"), L("p99999999999\n"),
        L("(I1\nI2\ntR"), L("ctorch\nSize\n(K\u0002K\u0003t\u0085R"),
    ];

    private static readonly string[] JsonNumbers =
    [
        "0", "1", "-1", "2", "4294967295", "4294967296", "2147483647", "2147483648", "9223372036854775807", "9223372036854775808",
        "18446744073709551615", "18446744073709551616", "1e3", "1.5", "-0", "1E400", "00", "99999999999999999999999999",
    ];

    private static readonly string[] DTypes =
    [
        "F32", "F16", "BF16", "F64", "I64", "I32", "I16", "I8", "U8", "U16", "U32", "U64", "BOOL", "F8_E4M3", "F8_E5M2",
        "F8_E8M0", "F4", "F6_E2M3", "F6_E3M2", "C64", "E8", "f32", "", "F32 ", "\\u0046\\u0033\\u0032",
    ];

    private static readonly string[] JsonShapes =
    [
        "[]", "[0]", "[1]", "[1,1]", "[-1]", "[4294967296]", "[9223372036854775807,2]", "[3037000500,3037000500]", "[1.5]",
        "[\"a\"]", "[[1]]", "null", "{}", "[2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2]",
    ];

    private static readonly string[] JsonKeys =
    [
        "__metadata__", "", "model.diffusion_model.out.2.bias", "a\\u0000b", "\\ud800", "model_ema.decay",
        "cond_stage_model.transformer.text_model.embeddings.position_ids", "first_stage_model.decoder.conv_out.weight",
    ];

    private readonly Random _rng;
    private readonly List<Seed> _corpus;
    private readonly List<byte[]> _donorOps = [];

    public Mutator(Random rng, List<Seed> corpus)
    {
        _rng = rng;
        _corpus = corpus;
        foreach (Seed s in corpus)
        {
            AddDonors(s);
        }
    }

    /// <summary>The names of the mutations applied to the last input, for the finding's description.</summary>
    public List<string> Applied { get; } = [];

    /// <summary>Takes the opcodes of a seed's pickles into the pool that insertions draw from.</summary>
    public void AddDonors(Seed s)
    {
        foreach (byte[] p in s.AllPickles())
        {
            foreach (PickleOp op in PickleOps.Parse(p, 0, out _))
            {
                if (_donorOps.Count < 20_000 && op.Length <= 256)
                {
                    _donorOps.Add(p.AsSpan(op.Start, op.Length).ToArray());
                }
            }
        }
    }

    /// <summary>A new input made from <paramref name="seed"/>.</summary>
    public byte[] Mutate(Seed seed)
    {
        Applied.Clear();
        int roll = _rng.Next(100);
        byte[] result = seed.Kind switch
        {
            SeedKind.Zip when roll < 60 => MutateZip(seed),
            SeedKind.PickleStream when roll < 60 => MutatePickleStream(seed),
            SeedKind.Safetensors when roll < 60 => MutateSafetensors(seed.Data),
            _ => Havoc(seed.Data, seed.LengthFields, _rng.Next(1, 5)),
        };
        if (_rng.Next(100) < 10)
        {
            result = Havoc(result, [], 1);
        }

        return result;
    }

    // ---- byte level ----

    private byte[] Havoc(byte[] input, List<(int Offset, int Width)> lengthFields, int rounds)
    {
        var d = new List<byte>(input);
        for (int r = 0; r < rounds; r++)
        {
            int op = _rng.Next(11);
            if (d.Count == 0 && op is not (5 or 7))
            {
                op = 5;
            }

            switch (op)
            {
                case 0:
                {
                    int i = _rng.Next(d.Count);
                    d[i] ^= (byte)(1 << _rng.Next(8));
                    Applied.Add($"bitflip@{i}");
                    break;
                }

                case 1:
                {
                    int i = _rng.Next(d.Count);
                    d[i] = Pick(InterestingBytes);
                    Applied.Add($"byte@{i}={d[i]:x2}");
                    break;
                }

                case 2 or 3:
                {
                    // Interesting integers, half the time on a known length/count/offset field.
                    (int at, int width) = lengthFields.Count > 0 && _rng.Next(2) == 0 ? lengthFields[_rng.Next(lengthFields.Count)] : (_rng.Next(d.Count), Pick([2, 4, 8]));
                    if (at + width > d.Count)
                    {
                        break;
                    }

                    ulong v = InterestingInt(input.Length);
                    for (int k = 0; k < width; k++)
                    {
                        d[at + k] = (byte)(v >> (8 * k));
                    }

                    Applied.Add($"int{width * 8}@{at}={v:x}");
                    break;
                }

                case 4:
                {
                    (int s, int n) = Range(d.Count);
                    d.RemoveRange(s, n);
                    Applied.Add($"delete@{s}+{n}");
                    break;
                }

                case 5:
                {
                    int at = _rng.Next(d.Count + 1);
                    byte[] ins = RandomBytes(_rng.Next(1, 17));
                    d.InsertRange(at, ins);
                    Applied.Add($"insert@{at}+{ins.Length}");
                    break;
                }

                case 6:
                {
                    (int s, int n) = Range(d.Count);
                    int at = _rng.Next(d.Count + 1);
                    d.InsertRange(at, d.GetRange(s, n));
                    Applied.Add($"duplicate@{s}+{n}->{at}");
                    break;
                }

                case 7:
                {
                    byte[] other = _corpus[_rng.Next(_corpus.Count)].Data;
                    int cut = _rng.Next(d.Count + 1);
                    int from = other.Length == 0 ? 0 : _rng.Next(other.Length);
                    d.RemoveRange(cut, d.Count - cut);
                    d.AddRange(other.AsSpan(from).ToArray());
                    Applied.Add($"splice@{cut}<-{from}");
                    break;
                }

                case 8:
                {
                    int keep = _rng.Next(d.Count);
                    d.RemoveRange(keep, d.Count - keep);
                    Applied.Add($"truncate@{keep}");
                    break;
                }

                case 9:
                {
                    (int s, int n) = Range(d.Count);
                    byte b = Pick(InterestingBytes);
                    for (int k = s; k < s + n; k++)
                    {
                        d[k] = b;
                    }

                    Applied.Add($"fill@{s}+{n}={b:x2}");
                    break;
                }

                default:
                {
                    // Overwrite a range with bytes from elsewhere in the input (keeps the length).
                    (int s, int n) = Range(d.Count);
                    int to = _rng.Next(d.Count - n + 1);
                    List<byte> copy = d.GetRange(s, n);
                    for (int k = 0; k < n; k++)
                    {
                        d[to + k] = copy[k];
                    }

                    Applied.Add($"copy@{s}+{n}->{to}");
                    break;
                }
            }
        }

        return [.. d];
    }

    // ---- zip: rebuild the archive so only the chosen record changes ----

    private byte[] MutateZip(Seed seed)
    {
        var items = new List<ZipItem>(seed.Zip!);
        int roll = _rng.Next(100);
        List<int> pickles = [.. Enumerable.Range(0, items.Count).Where(i => Seed.IsPickleEntry(items[i]))];
        if (roll < 70 && pickles.Count > 0)
        {
            int i = pickles[_rng.Next(pickles.Count)];
            items[i] = items[i] with { Data = MutatePickle(items[i].Data) };
            Applied.Insert(0, $"zip:pickle {items[i].Name}");
        }
        else
        {
            int i = _rng.Next(items.Count);
            switch (_rng.Next(6))
            {
                case 0:
                    items[i] = items[i] with { Data = Havoc(items[i].Data, [], _rng.Next(1, 3)) };
                    Applied.Insert(0, $"zip:havoc {items[i].Name}");
                    break;
                case 1:
                    Applied.Add($"zip:remove {items[i].Name}");
                    items.RemoveAt(i);
                    break;
                case 2:
                    items.Insert(_rng.Next(items.Count + 1), items[i]);
                    Applied.Add($"zip:duplicate {items[i].Name}");
                    break;
                case 3:
                {
                    string prefix = items[i].Name.Contains('/', StringComparison.Ordinal) ? items[i].Name[..items[i].Name.IndexOf('/', StringComparison.Ordinal)] : "archive";
                    string name = prefix + "/" + Pick(["code/__torch__.py", "constants.pkl", "data/999", ".data/version", "extra/x.pkl", "../evil", "data.pkl", "version", "byteorder", ".data/serialization_id"]);
                    byte[] data = Pick([Encoding.ASCII.GetBytes("3\n"), Encoding.ASCII.GetBytes("big"), [0x80, 0x02, 0x7D, 0x2E], new byte[_rng.Next(0, 64)]]);
                    items.Insert(_rng.Next(items.Count + 1), new ZipItem(name, data));
                    Applied.Add($"zip:add {name}");
                    break;
                }

                case 4:
                {
                    string old = items[i].Name;
                    string name = _rng.Next(2) == 0 ? old + "0" : old.Length > 1 ? old[..^1] : "x";
                    items[i] = items[i] with { Name = name };
                    Applied.Add($"zip:rename {old}->{name}");
                    break;
                }

                default:
                {
                    // Storage record resized: too short or too long for the tensors that view it.
                    byte[] d = items[i].Data;
                    int n = Math.Max(0, d.Length + Pick([-1, -4, -8, 1, 4, 8, -d.Length]));
                    var resized = new byte[n];
                    d.AsSpan(0, Math.Min(n, d.Length)).CopyTo(resized);
                    items[i] = items[i] with { Data = resized };
                    Applied.Add($"zip:resize {items[i].Name} {d.Length}->{n}");
                    break;
                }
            }
        }

        if (_rng.Next(100) < 10 && _corpus[_rng.Next(_corpus.Count)].Zip is { Count: > 0 } donor)
        {
            // Splice two seeds at record level: one record of another archive under this archive's name.
            int i = _rng.Next(items.Count == 0 ? 1 : items.Count);
            ZipItem from = donor[_rng.Next(donor.Count)];
            if (items.Count > 0)
            {
                items[i] = items[i] with { Data = from.Data };
                Applied.Add($"zip:splice {items[i].Name}<-{from.Name}");
            }
        }

        return ZipBox.Write(items);
    }

    // ---- pickles at opcode boundaries ----

    private byte[] MutatePickleStream(Seed seed)
    {
        (int s, int e) = seed.Pickles[_rng.Next(seed.Pickles.Count)];
        byte[] mutated = MutatePickle(seed.Data[s..e]);
        Applied.Insert(0, $"stream:pickle@{s}");
        return [.. seed.Data.AsSpan(0, s), .. mutated, .. seed.Data.AsSpan(e)];
    }

    private byte[] MutatePickle(byte[] pickle)
    {
        List<PickleOp> ops = PickleOps.Parse(pickle, 0, out _);
        if (ops.Count == 0)
        {
            return Havoc(pickle, [], 1);
        }

        var segs = ops.Select(o => pickle.AsSpan(o.Start, o.Length).ToArray()).ToList();
        int parsedEnd = ops[^1].Start + ops[^1].Length;
        byte[] tail = pickle[parsedEnd..];
        int rounds = _rng.Next(1, 4);
        for (int r = 0; r < rounds && segs.Count > 0; r++)
        {
            int i = _rng.Next(segs.Count);
            string name = PickleOps.Spec(segs[i][0])?.Name ?? "?";
            switch (_rng.Next(10))
            {
                case 0:
                    segs.RemoveAt(i);
                    Applied.Add($"op:delete {name}#{i}");
                    break;
                case 1:
                    segs.Insert(i, segs[i]);
                    Applied.Add($"op:duplicate {name}#{i}");
                    break;
                case 2:
                {
                    int j = _rng.Next(segs.Count);
                    (segs[i], segs[j]) = (segs[j], segs[i]);
                    Applied.Add($"op:swap #{i}<->#{j}");
                    break;
                }

                case 3:
                    segs[i] = NewOp();
                    Applied.Add($"op:replace {name}#{i}->{OpName(segs[i])}");
                    break;
                case 4:
                    segs.Insert(i, NewOp());
                    Applied.Add($"op:insert {OpName(segs[i])}#{i}");
                    break;
                case 5 or 6:
                {
                    byte[] snip = Pick(Snippets);
                    segs.Insert(i, snip);
                    Applied.Add($"op:snippet {Printable(snip)}#{i}");
                    break;
                }

                case 7:
                    segs[i] = MutateArg(segs[i]);
                    Applied.Add($"op:arg {name}#{i}");
                    break;
                case 8 when _donorOps.Count > 0:
                    segs.Insert(i, _donorOps[_rng.Next(_donorOps.Count)]);
                    Applied.Add($"op:donor {OpName(segs[i])}#{i}");
                    break;
                default:
                {
                    byte[] moved = segs[i];
                    segs.RemoveAt(i);
                    int j = _rng.Next(segs.Count + 1);
                    segs.Insert(j, moved);
                    Applied.Add($"op:move {name}#{i}->#{j}");
                    break;
                }
            }
        }

        var result = new List<byte>(pickle.Length + 64);
        foreach (byte[] seg in segs)
        {
            result.AddRange(seg);
        }

        result.AddRange(tail);
        return [.. result];
    }

    private byte[] NewOp()
    {
        if (_rng.Next(50) == 0)
        {
            return [(byte)_rng.Next(256)];
        }

        OpSpec spec = Pick(PickleOps.All);
        switch (spec.Kind)
        {
            case ArgKind.Fixed:
            {
                var op = new byte[1 + spec.Size];
                op[0] = spec.Code;
                ulong v = spec.Code switch
                {
                    0x80 => (ulong)_rng.Next(0, 7),
                    (byte)'h' or (byte)'q' or (byte)'j' or (byte)'r' when _rng.Next(2) == 0 => (ulong)_rng.Next(0, 4),
                    _ => InterestingInt(0),
                };
                for (int k = 0; k < spec.Size; k++)
                {
                    op[1 + k] = (byte)(v >> (8 * k));
                }

                return op;
            }

            case ArgKind.Counted:
                return Counted(spec, Encoding.UTF8.GetBytes(Pick(Strings)));
            case ArgKind.Lines:
            {
                string text = spec.Size == 2
                    ? Pick(Globals) is var (m, n) ? m + "\n" + n + "\n" : ""
                    : spec.Code switch
                    {
                        (byte)'I' or (byte)'L' => Pick(["0", "1", "-1", "01", "00", "99999999999999999999", "0L", "foo"]) + "\n",
                        (byte)'g' or (byte)'p' => Pick(["0", "1", "-1", "4294967296", "x"]) + "\n",
                        (byte)'F' => Pick(["1.5", "nan", "inf", "1e999", "x"]) + "\n",
                        _ => "'" + Pick(Strings) + "'\n",
                    };
                return [spec.Code, .. Encoding.UTF8.GetBytes(text)];
            }

            default:
                return [spec.Code];
        }
    }

    private byte[] MutateArg(byte[] seg)
    {
        // Snippets and single random bytes are segments too: only a whole opcode with its argument is edited in place.
        if (PickleOps.Spec(seg[0]) is not OpSpec spec || spec.Kind == ArgKind.None || (spec.Kind is ArgKind.Fixed or ArgKind.Counted && seg.Length < 1 + spec.Size))
        {
            return NewOp();
        }

        byte[] copy = (byte[])seg.Clone();
        switch (spec.Kind)
        {
            case ArgKind.Fixed:
            {
                ulong v = InterestingInt(0);
                for (int k = 0; k < spec.Size; k++)
                {
                    copy[1 + k] = (byte)(v >> (8 * k));
                }

                return copy;
            }

            case ArgKind.Counted when _rng.Next(3) == 0:
            {
                // The count no longer matches the payload.
                ulong v = InterestingInt(seg.Length);
                for (int k = 0; k < spec.Size; k++)
                {
                    copy[1 + k] = (byte)(v >> (8 * k));
                }

                return copy;
            }

            case ArgKind.Counted:
                return Counted(spec, Encoding.UTF8.GetBytes(Pick(Strings)));
            default:
                return NewOp() is var op && op[0] == seg[0] ? op : [seg[0], .. Encoding.UTF8.GetBytes(Pick(Strings) + "\n" + (spec.Size == 2 ? Pick(Strings) + "\n" : ""))];
        }
    }

    private static byte[] Counted(OpSpec spec, byte[] payload)
    {
        if (spec.Size == 1 && payload.Length > 255)
        {
            payload = payload[..255];
        }

        var op = new byte[1 + spec.Size + payload.Length];
        op[0] = spec.Code;
        ulong n = (ulong)payload.Length;
        for (int k = 0; k < spec.Size; k++)
        {
            op[1 + k] = (byte)(n >> (8 * k));
        }

        payload.CopyTo(op, 1 + spec.Size);
        return op;
    }

    // ---- safetensors: edit the JSON header as text, then fix the 8-byte length ----

    private byte[] MutateSafetensors(byte[] d)
    {
        int n = (int)BinaryPrimitives.ReadUInt64LittleEndian(d);
        string header = Encoding.UTF8.GetString(d, 8, n);
        byte[] rest = d[(8 + n)..];
        int rounds = _rng.Next(1, 3);
        for (int r = 0; r < rounds; r++)
        {
            header = _rng.Next(11) switch
            {
                0 or 1 => ReplaceMatch(header, NumberRegex(), _ => Pick(JsonNumbers), "json:number"),
                2 => ReplaceMatch(header, DTypeRegex(), m => $"\"dtype\":\"{Pick(DTypes)}\"", "json:dtype"),
                3 => ReplaceMatch(header, ShapeRegex(), _ => $"\"shape\":{Pick(JsonShapes)}", "json:shape"),
                4 => ReplaceMatch(header, OffsetsRegex(), _ => $"\"data_offsets\":[{Pick(JsonNumbers)},{Pick(JsonNumbers)}]", "json:offsets"),
                5 => ReplaceMatch(header, EntryRegex(), m => m.Value + "," + m.Value, "json:duplicate-entry"),
                6 => ReplaceMatch(header, EntryRegex(), _ => "", "json:remove-entry"),
                7 => ReplaceMatch(header, KeyRegex(), _ => $"\"{Pick(JsonKeys)}\":", "json:key"),
                8 => Insert(header, Pick(["{", "}", "[", "]", "\"", ",", ":", "\\", "\\u0000", "\\ud800", " ", "\"__metadata__\":{\"a\":1},", "\"__metadata__\":{\"a\":{\"b\":\"c\"}},"])),
                9 => Delete(header),
                _ => header + new string(' ', _rng.Next(1, 9)),
            };
        }

        if (_rng.Next(100) < 20)
        {
            int keep = rest.Length == 0 ? 0 : _rng.Next(rest.Length + 1);
            rest = _rng.Next(2) == 0 ? rest[..keep] : [.. rest, .. RandomBytes(_rng.Next(1, 9))];
            Applied.Add($"st:data {d.Length - 8 - n}->{rest.Length}");
        }

        byte[] h = Encoding.UTF8.GetBytes(header);
        var result = new byte[8 + h.Length + rest.Length];
        ulong prefix = _rng.Next(100) < 90 ? (ulong)h.Length : (ulong)n;
        BinaryPrimitives.WriteUInt64LittleEndian(result, prefix);
        h.CopyTo(result, 8);
        rest.CopyTo(result, 8 + h.Length);
        if (prefix != (ulong)h.Length)
        {
            Applied.Add("st:stale-length");
        }

        return result;
    }

    private string ReplaceMatch(string text, Regex regex, Func<Match, string> replacement, string what)
    {
        MatchCollection ms = regex.Matches(text);
        if (ms.Count == 0)
        {
            return Insert(text, "0");
        }

        Match m = ms[_rng.Next(ms.Count)];
        string by = replacement(m);
        Applied.Add($"{what}@{m.Index}:{Trim(m.Value)}->{Trim(by)}");
        return string.Concat(text.AsSpan(0, m.Index), by, text.AsSpan(m.Index + m.Length));
    }

    private string Insert(string text, string what)
    {
        int at = _rng.Next(text.Length + 1);
        Applied.Add($"json:insert@{at}:{Trim(what)}");
        return text.Insert(at, what);
    }

    private string Delete(string text)
    {
        if (text.Length == 0)
        {
            return text;
        }

        int at = _rng.Next(text.Length);
        int n = Math.Min(text.Length - at, _rng.Next(1, 4));
        Applied.Add($"json:delete@{at}+{n}");
        return text.Remove(at, n);
    }

    // ---- helpers ----

    /// <summary>Bytes from a string of chars 0-255 (\u00XX escapes: \x would swallow following hex digits).</summary>
    private static byte[] L(string s) => Encoding.Latin1.GetBytes(s);

    private ulong InterestingInt(int fileLength)
    {
        long near = fileLength + _rng.Next(-16, 17);
        return _rng.Next(14) switch
        {
            0 => 0,
            1 => 1,
            2 => ulong.MaxValue,
            3 => 0x7FFFFFFF,
            4 => 0xFFFFFFFF,
            5 => 0x80000000,
            6 => 0x7FFFFFFFFFFFFFFF,
            7 => 0x8000000000000000,
            8 => (ulong)Math.Max(0, near),
            9 => (ulong)(fileLength / 2),
            10 => 0xFFFF,
            11 => 0x7F,
            12 => (ulong)_rng.Next(0, 256),
            _ => (ulong)_rng.NextInt64(),
        };
    }

    private (int Start, int Length) Range(int count)
    {
        if (count == 0)
        {
            return (0, 0);
        }

        int s = _rng.Next(count);
        int max = Math.Min(count - s, _rng.Next(2) == 0 ? 16 : 4096);
        return (s, _rng.Next(1, max + 1));
    }

    private byte[] RandomBytes(int n)
    {
        var b = new byte[n];
        _rng.NextBytes(b);
        return b;
    }

    private T Pick<T>(T[] items) => items[_rng.Next(items.Length)];

    private static string OpName(byte[] seg) => seg.Length > 0 && PickleOps.Spec(seg[0]) is OpSpec s ? s.Name : "0x" + (seg.Length > 0 ? seg[0].ToString("x2", System.Globalization.CultureInfo.InvariantCulture) : "");

    private static string Printable(byte[] b) => Trim(string.Concat(b.Select(c => c is >= 0x20 and < 0x7F ? ((char)c).ToString() : $"\\x{c:x2}")));

    private static string Trim(string s) => s.Length > 40 ? s[..40] + "..." : s;

    [GeneratedRegex(@"-?\d+(\.\d+)?([eE][+-]?\d+)?")]
    private static partial Regex NumberRegex();

    [GeneratedRegex("\"dtype\"\\s*:\\s*\"[^\"]*\"")]
    private static partial Regex DTypeRegex();

    [GeneratedRegex("\"shape\"\\s*:\\s*\\[[^\\]]*\\]")]
    private static partial Regex ShapeRegex();

    [GeneratedRegex("\"data_offsets\"\\s*:\\s*\\[[^\\]]*\\]")]
    private static partial Regex OffsetsRegex();

    [GeneratedRegex("\"[^\"]*\"\\s*:\\s*\\{[^{}]*\\}")]
    private static partial Regex EntryRegex();

    [GeneratedRegex("\"[^\"]*\"\\s*:")]
    private static partial Regex KeyRegex();
}
