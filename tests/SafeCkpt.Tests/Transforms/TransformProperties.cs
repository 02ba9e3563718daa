using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using SafeCkpt.Tensors;
using SafeCkpt.Tests.TestSupport;

namespace SafeCkpt.Tests.Transforms;

/// <summary>Composition, idempotence and "integers untouched", over random sequences of transforms.</summary>
public sealed class TransformProperties : IDisposable
{
    private readonly TempDir _dir = new();
    private readonly ModelFile _model;

    public TransformProperties() => _model = ModelFile.Open(TinySd.Save(_dir));

    public void Dispose()
    {
        _model.Dispose();
        _dir.Dispose();
    }

    private static readonly Func<ModelPipeline, ModelPipeline>[] Steps =
    [
        p => p.ToHalf(), p => p.ToBFloat16(), p => p.ToFloat32(), p => p.SelectEma(true), p => p.SelectEma(false),
        p => p.Prune(), p => p.FixClipPositionIds(), p => p.ToHalf(global::SafeCkpt.Models.ModelComponent.UNet), p => p.Drop(global::SafeCkpt.Models.ModelComponent.Vae),
    ];

    private static string Signature(ConversionPlan p) =>
        string.Join("|", p.Tensors.Select(t => $"{t.Name}:{t.DType}:{t.Source.Name}:{t.Origin}"));

    private ConversionPlan? TryPlan(IEnumerable<int> steps)
    {
        ModelPipeline p = _model.Convert();
        foreach (int s in steps)
        {
            p = Steps[s](p);
        }

        try
        {
            return p.Plan();
        }
        catch (ConversionException)
        {
            return null;
        }
    }

    private static Arbitrary<int[]> StepSequences() => Gen.Choose(0, Steps.Length - 1).ArrayOf().ToArbitrary();

    [Property(MaxTest = 200)]
    public Property Every_step_is_idempotent() =>
        Prop.ForAll(StepSequences(), Gen.Choose(0, Steps.Length - 1).ToArbitrary(), (prefix, step) =>
        {
            ConversionPlan? once = TryPlan([.. prefix, step]);
            ConversionPlan? twice = TryPlan([.. prefix, step, step]);
            bool selectEmaTwice = step == 3; // SelectEma(true) twice: the second finds no EMA left and refuses.
            return selectEmaTwice || (once is null ? twice is null : twice is not null && Signature(once) == Signature(twice));
        });

    [Property(MaxTest = 200)]
    public Property Integer_and_bool_tensors_never_change_dtype() =>
        Prop.ForAll(StepSequences(), steps =>
        {
            ConversionPlan? plan = TryPlan(steps);
            return plan is null || plan.Tensors.Where(t => !t.Source.DType.IsFloatingPoint()).All(t => !t.IsCast);
        });

    [Property(MaxTest = 200)]
    public Property Ema_selection_and_casts_commute() =>
        Prop.ForAll(Gen.Elements(0, 1, 2, 7).ToArbitrary(), Gen.Elements(3, 4).ToArbitrary(), (cast, ema) =>
            Signature(TryPlan([cast, ema])!) == Signature(TryPlan([ema, cast])!));

    [Property(MaxTest = 200)]
    public Property The_last_full_cast_decides_every_floating_dtype() =>
        Prop.ForAll(StepSequences(), Gen.Elements(0, 1, 2).ToArbitrary(), (steps, last) =>
        {
            ConversionPlan? plan = TryPlan([.. steps, last]);
            DType target = last switch { 0 => DType.Float16, 1 => DType.BFloat16, _ => DType.Float32 };
            return plan is null || plan.Tensors.Where(t => t.Source.DType.IsFloatingPoint() && t.Source.ElementCount > 0).All(t => t.DType == target);
        });
}
