using System.Collections;
using System.Globalization;
using System.Numerics;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using Razorvine.Pickle;
using SafeCkpt.Formats.Torch;
using SafeCkpt.Safety;
using SafeCkpt.Tests.Formats.Torch;

namespace SafeCkpt.Tests.Safety;

/// <summary>
/// SafeCkpt's pickle machine against an independent implementation, Razorvine.Pickle: pickles Razorvine writes are
/// read by SafeCkpt to the same value, and pickles SafeCkpt's test writer makes are read to the same value by both.
/// </summary>
public class PickleDifferentialTests
{
    private static readonly PickleSource Source = new("test.pkl", "data.pkl", 0);

    private static Gen<object?> Leaf { get; } = Gen.OneOf(
        ArbMap.Default.GeneratorFor<int>().Select(x => (object?)(long)x),
        ArbMap.Default.GeneratorFor<NonNull<string>>().Select(s => (object?)new string(s.Get.Where(c => !char.IsSurrogate(c)).ToArray())),
        ArbMap.Default.GeneratorFor<bool>().Select(x => (object?)x),
        ArbMap.Default.GeneratorFor<NormalFloat>().Select(x => (object?)x.Get),
        Gen.Constant<object?>(null));

    private static Gen<object?> Value(int depth) => depth <= 0
        ? Leaf
        : Gen.Frequency(
            (3, Leaf),
            (1, Gen.Choose(0, 4).SelectMany(n => Value(depth - 1).ArrayOf(n)).Select(a => (object?)a.ToList())),
            (1, Gen.Choose(0, 3).SelectMany(n => Value(depth - 1).ArrayOf(n)).Select(a => (object?)a)),
            // Distinct keys: for a key set twice, Razorvine keeps the first value where CPython (and torch, and SafeCkpt)
            // keep the last (checked against CPython's pickle), so duplicates would only show Razorvine's bug.
            (1, Gen.Choose(0, 4).SelectMany(n => Gen.Zip(Gen.Elements("a", "b", "state_dict", "w", "ü", ""), Value(depth - 1)).ArrayOf(n))
                .Select(kvs => (object?)kvs.DistinctBy(kv => kv.Item1).Select(kv => new KeyValuePair<string, object?>(kv.Item1, kv.Item2)).ToList())));

    /// <summary>A canonical text independent of dict order and of which library built the value.</summary>
    private static string Norm(object? v) => v switch
    {
        null => "None",
        bool b => b ? "True" : "False",
        int i => i.ToString(CultureInfo.InvariantCulture),
        long l => l.ToString(CultureInfo.InvariantCulture),
        BigInteger bi => bi.ToString(CultureInfo.InvariantCulture),
        double d => BitConverter.DoubleToInt64Bits(d).ToString(CultureInfo.InvariantCulture) + "d",
        string s => "'" + s + "'",
        List<KeyValuePair<string, object?>> d => Dict(d.GroupBy(kv => kv.Key).Select(g => (Norm(g.Key), Norm(g.Last().Value)))),
        PyDict d => Dict(d.Items.Select(kv => (Norm(kv.Key), Norm(kv.Value)))),
        Hashtable h => Dict(h.Cast<DictionaryEntry>().Select(e => (Norm(e.Key), Norm(e.Value)))),
        PyList l => List(l.Items),
        PyTuple t => "(" + string.Join(",", t.Items.Select(Norm)) + ")",
        object?[] t => "(" + string.Join(",", t.Select(Norm)) + ")",
        IList l => List(l.Cast<object?>()),
        _ => "?" + v.GetType().Name,
    };

    private static string List(IEnumerable<object?> items) => "[" + string.Join(",", items.Select(Norm)) + "]";

    private static string Dict(IEnumerable<(string Key, string Value)> items) => "{" + string.Join(",", items.OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => kv.Key + ":" + kv.Value)) + "}";

    /// <summary>The value as Razorvine's pickler expects it (dict = Hashtable, list = ArrayList, int = int).</summary>
    private static object? ToRazorvine(object? v) => v switch
    {
        long l => (int)l,
        List<KeyValuePair<string, object?>> d => d.Aggregate(new Hashtable(), (h, kv) =>
        {
            h[kv.Key] = ToRazorvine(kv.Value);
            return h;
        }),
        List<object?> l => new ArrayList(l.Select(ToRazorvine).ToArray()),
        object?[] t => t.Select(ToRazorvine).ToArray(),
        _ => v,
    };

    [Property(MaxTest = 300)]
    public Property Pickles_written_by_Razorvine_read_to_the_same_value() =>
        Prop.ForAll(Value(4).ToArbitrary(), v =>
        {
            using var pickler = new Pickler(useMemo: true);
            byte[] bytes = pickler.dumps(ToRazorvine(v));
            object? ours = PickleMachine.Run(bytes, Source, TorchPersistentIds.Zip()).Value;
            return (Norm(ours) == Norm(v)).Label($"{Norm(v)} -> {Norm(ours)}");
        });

    [Property(MaxTest = 300)]
    public Property SafeCkpt_and_Razorvine_read_the_same_pickle_to_the_same_value() =>
        Prop.ForAll(Value(4).ToArbitrary(), v =>
        {
            byte[] bytes = PickleWriter.Dump(v);
            object? ours = PickleMachine.Run(bytes, Source, TorchPersistentIds.Zip()).Value;
            using var unpickler = new Unpickler();
            object? theirs = unpickler.loads(bytes);
            return (Norm(ours) == Norm(theirs)).Label($"{Norm(ours)} vs {Norm(theirs)}");
        });
}
