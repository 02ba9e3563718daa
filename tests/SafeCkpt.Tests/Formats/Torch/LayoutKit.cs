using System.Globalization;
using System.Numerics;
using SafeCkpt.Formats.Torch;
using SafeCkpt.Tensors;

namespace SafeCkpt.Tests.Formats.Torch;

/// <summary>Builds <c>.pt</c> files of a given pickle tree in code, and renders a read layout Python-style for assertions.</summary>
internal static class LayoutKit
{
    public static DictNode Dict(params (string Key, LayoutNode Value)[] items) => With(new DictNode(ordered: false, wasParameterDict: false), items);

    public static DictNode Ordered(params (string Key, LayoutNode Value)[] items) => With(new DictNode(ordered: true, wasParameterDict: false), items);

    public static SequenceNode List(params LayoutNode[] items) => new(isTuple: false, items);

    public static SequenceNode Tuple(params LayoutNode[] items) => new(isTuple: true, items);

    public static TensorSlot T(string name) => new(name);

    private static DictNode With(DictNode d, (string Key, LayoutNode Value)[] items)
    {
        foreach ((string key, LayoutNode value) in items)
        {
            d.Add(key, value);
        }

        return d;
    }

    public static ScalarValue V(object? value) => new(value);

    /// <summary>Writes <paramref name="root"/> as a torch zip checkpoint; each slot's tensor is float32 [2] holding (i, -i) for its index i.</summary>
    public static void WritePt(string path, LayoutNode root, params string[] tensorNames)
    {
        var items = new List<SafeCkpt.Transforms.PlannedTensor>();
        for (int i = 0; i < tensorNames.Length; i++)
        {
            var info = new TensorInfo(tensorNames[i], DType.Float32, [2]);
            items.Add(new SafeCkpt.Transforms.PlannedTensor(info.Name, info, new MemoryTensorSource(Bytes(i, -i)), null, "model"));
        }

        CkptWriter.Write(items, root, path, SaveOptions.Default, [], CancellationToken.None);
    }

    public static byte[] Bytes(params float[] values) => System.Runtime.InteropServices.MemoryMarshal.AsBytes(values.AsSpan()).ToArray();

    /// <summary>The layout of a <c>.pt</c> file, rendered: dicts <c>{'k': v}</c>, OrderedDicts <c>O{...}</c>, tensors <c>T(name)</c>.</summary>
    public static string LayoutOf(string path)
    {
        using ModelFile m = ModelFile.Open(path);
        return Render(m.Tensors.Layout!.Root);
    }

    public static string Render(LayoutNode n) => n switch
    {
        TensorSlot t => $"T({t.Name})",
        ScalarValue { Value: null } => "None",
        ScalarValue { Value: string s } => "'" + s + "'",
        ScalarValue { Value: bool b } => b ? "True" : "False",
        ScalarValue { Value: double d } => d.ToString("R", CultureInfo.InvariantCulture),
        ScalarValue { Value: BigInteger b } => b.ToString(CultureInfo.InvariantCulture),
        ScalarValue { Value: var v } => Convert.ToString(v, CultureInfo.InvariantCulture)!,
        OpaqueValue o => "<" + o.What + ">",
        SequenceNode { IsTuple: true } q => "(" + string.Join(", ", q.Items.Select(Render)) + ")",
        SequenceNode q => "[" + string.Join(", ", q.Items.Select(Render)) + "]",
        DictNode d => (d.Ordered ? "O{" : "{") + string.Join(", ", d.Items.Select(kv => Render(kv.Key) + ": " + Render(kv.Value))) + "}"
            + (d.Attributes is { } a ? " + " + Render(a) : string.Empty),
        _ => "?",
    };
}
