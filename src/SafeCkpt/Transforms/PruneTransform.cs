using SafeCkpt.Models;

namespace SafeCkpt.Transforms;

/// <summary>
/// Removes the known junk of training checkpoints: textual-inversion embedding managers, LoRA and ControlNet
/// leftovers, the VAE's training loss, the diffusion schedule buffers (every UI recomputes them) and CLIP's
/// <c>logit_scale</c>. Marker tensors (<c>v_pred</c>, <c>ztsnr</c>, <c>edm_*</c>, <c>scaled_fp8</c>) are kept.
/// </summary>
internal sealed class PruneTransform : TensorTransform
{
    /// <summary>Key prefixes removed.</summary>
    public static IReadOnlyList<string> JunkPrefixes { get; } = KeyPrefixes.Leftovers;

    /// <summary>Whole keys removed (the diffusion schedule buffers of LDM checkpoints).</summary>
    public static IReadOnlyList<string> JunkKeys { get; } = KeyPrefixes.ScheduleBuffers;

    /// <summary>Key suffixes removed.</summary>
    public static IReadOnlyList<string> JunkSuffixes { get; } = [".logit_scale"];

    /// <inheritdoc/>
    public override string Description => "remove known junk (schedule buffers, loss, embedding manager, leftovers)";

    /// <summary>Whether a key is junk by the lists above.</summary>
    /// <param name="name">The tensor's name.</param>
    /// <returns><see langword="true"/> when <see cref="PruneTransform"/> removes it.</returns>
    public static bool IsJunk(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        return JunkKeys.Contains(name, StringComparer.Ordinal)
            || JunkPrefixes.Any(p => name.StartsWith(p, StringComparison.Ordinal))
            || JunkSuffixes.Any(s => name.EndsWith(s, StringComparison.Ordinal));
    }

    internal override void Apply(TensorPlan plan)
    {
        int n = plan.Drop(t => IsJunk(t.Name), "known junk (Prune)");
        plan.Notes.Add(n == 0 ? "Prune: no junk found." : $"Prune: {n} junk tensors removed.");
    }
}
