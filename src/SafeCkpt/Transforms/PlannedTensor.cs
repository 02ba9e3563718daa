using SafeCkpt.Models;
using SafeCkpt.Tensors;

namespace SafeCkpt.Transforms;

/// <summary>
/// One tensor of a conversion plan: the name it will have, where its bytes come from, and the dtype it will be
/// written as. Planning never reads tensor bytes; the writer does, when saving, and writes each planned tensor as it
/// is (its <see cref="Output"/> description and the bytes of <see cref="Data"/>).
/// </summary>
public sealed class PlannedTensor
{
    internal PlannedTensor(string name, TensorInfo source, TensorSource input, DType? castTo, string origin, string? slot = null, TensorSource? encoded = null)
    {
        Name = name;
        Slot = slot;
        Source = source;
        Input = input;
        CastTo = castTo;
        Origin = origin;
        Output = new TensorInfo(name, castTo ?? source.DType, source.Shape);

        // The one place a cast becomes a byte source: the cast transform chose the dtype, this executes it lazily; a
        // transform that computes the bytes itself (scaled fp8) gives them as encoded.
        Encoded = encoded;
        Data = encoded ?? (Output.DType == source.DType ? input : new CastTensorSource(input, source.DType, Output.DType));
    }

    /// <summary>The name the tensor will be written under.</summary>
    public string Name { get; }

    /// <summary>The tensor the bytes come from (its own name, dtype and shape in the source file).</summary>
    public TensorInfo Source { get; }

    /// <summary>Where the bytes come from: <c>model</c>, <c>ema</c> (swapped in by EMA selection), <c>vae</c> (baked in), <c>fixed</c>.</summary>
    public string Origin { get; }

    /// <summary>The dtype the tensor will be written as.</summary>
    public DType DType => Output.DType;

    /// <summary>The shape (unchanged by every transform).</summary>
    public IReadOnlyList<long> Shape => Source.Shape;

    /// <summary>The component the output name belongs to.</summary>
    public ModelComponent Component => Components.Classify(Name);

    /// <summary>Whether the tensor will be cast to another dtype.</summary>
    public bool IsCast => DType != Source.DType;

    /// <summary>The number of bytes the tensor will take in the output.</summary>
    public long ByteLength => Output.ByteLength;

    /// <summary>What the writer writes: the output name, dtype and shape.</summary>
    internal TensorInfo Output { get; }

    /// <summary>The source tensor's bytes, as stored.</summary>
    internal TensorSource Input { get; }

    /// <summary>The bytes to write: <see cref="Input"/>, cast when the dtype changes.</summary>
    internal TensorSource Data { get; }

    internal DType? CastTo { get; }

    /// <summary>Bytes a transform computes for the output dtype instead of a plain cast (scaled fp8 quantization and
    /// dequantization); kept through renames, dropped by a new cast or new data.</summary>
    internal TensorSource? Encoded { get; }

    /// <summary>The tensor's name in the source file's layout (kept through renames and swaps); null for a tensor the plan added.</summary>
    internal string? Slot { get; }

    /// <inheritdoc/>
    public override string ToString() => IsCast ? $"{Name} {Source.DType.ToSafetensorsName()}->{DType.ToSafetensorsName()} {Source.FormatShape()}" : $"{Name} {DType.ToSafetensorsName()} {Source.FormatShape()}";

    internal PlannedTensor WithName(string name) => new(name, Source, Input, CastTo, Origin, Slot, Encoded);

    internal PlannedTensor WithEncoded(DType dtype, TensorSource encoded) => new(Name, Source, Input, dtype, Origin, Slot, encoded);

    internal PlannedTensor WithCast(DType? castTo) => new(Name, Source, Input, castTo, Origin, Slot);

    internal PlannedTensor WithData(TensorInfo source, TensorSource input, string origin) => new(Name, source, input, CastTo, origin, Slot);
}

/// <summary>A tensor the plan leaves out, and why.</summary>
/// <param name="Name">The tensor's name in the source.</param>
/// <param name="Reason">Which transform dropped it and why, e.g. <c>EMA weights (SelectEma(false))</c>.</param>
public readonly record struct DroppedTensor(string Name, string Reason);
