using SafeCkpt.Formats.Torch;
using SafeCkpt.Tensors;
using SafeCkpt.Transforms;

namespace SafeCkpt.Models;

/// <summary>
/// The textual-inversion embedding layouts the web UIs load (research/formats.md section 4): A1111's pickle
/// <c>{"string_to_token": {"*": 265}, "string_to_param": {"*": tensor}, "name", "step", "sd_checkpoint",
/// "sd_checkpoint_name"}</c> and the one-tensor <c>emb_params</c> form kohya's scripts save, which A1111 (a dict of
/// one tensor) and ComfyUI (the first value) both read. SDXL embeddings (<c>clip_l</c>, <c>clip_g</c>) are one dict
/// of tensors in both formats and need no conversion.
/// </summary>
internal static class EmbeddingForms
{
    private const string ParamPrefix = "string_to_param.";
    private const string TokenPrefix = "string_to_token.";

    /// <summary>The name kohya's <c>train_textual_inversion.py</c> saves an SD 1.x/2.x embedding under.</summary>
    public const string EmbParams = "emb_params";

    /// <summary>The token id A1111 writes for the placeholder <c>*</c> (CLIP's id of <c>*</c>).</summary>
    public const long A1111TokenId = 265;

    /// <summary>
    /// For a safetensors output of an A1111 embedding read from a pickle: its one <c>string_to_param</c> tensor becomes
    /// <c>emb_params</c>, and the token ids (tensors in the original textual-inversion repo's files) are dropped.
    /// </summary>
    public static void ToEmbParams(TensorPlan plan)
    {
        if (plan.SourceLayout is null)
        {
            return;
        }

        List<PlannedTensor> param = plan.Tensors.Where(t => t.Name.StartsWith(ParamPrefix, StringComparison.Ordinal)).ToList();
        if (param.Count != 1 || plan.Tensors.Any(t => t != param[0] && !t.Name.StartsWith(TokenPrefix, StringComparison.Ordinal)))
        {
            return;
        }

        plan.Drop(t => t.Name.StartsWith(TokenPrefix, StringComparison.Ordinal), "the token id of an A1111 embedding (the emb_params form has none)");
        int i = plan.IndexOf(param[0].Name);
        plan.Tensors[i] = plan.Tensors[i].WithName(EmbParams);
        plan.Notes.Add($"embedding: {param[0].Name} written as {EmbParams} (the form kohya saves; A1111 and ComfyUI load it); name, step and sd_checkpoint are not kept.");
    }

    /// <summary>
    /// For a <c>.pt</c> output of a one-tensor embedding without a pickle layout (read from safetensors): A1111's
    /// dict, named after the output file. Null when the plan is not such an embedding.
    /// </summary>
    public static LayoutNode? A1111Form(TensorPlan plan, ModelFile source, string outputPath)
    {
        if (plan.SourceLayout is not null || plan.Tensors.Count != 1 || plan.Tensors[0].Name is "clip_l" or "clip_g" || plan.Tensors[0].Shape.Count is not (1 or 2)
            || source.Tensors.Count > 4 || source.DetectArchitecture().Id != "embedding")
        {
            return null;
        }

        PlannedTensor t = plan.Tensors[0];
        if (t.Shape.Count == 1)
        {
            // A1111 reads string_to_param as [vectors, width]; only its one-key rule unsqueezes a single vector.
            plan.Tensors[0] = t = t.WithData(new TensorInfo(t.Source.Name, t.Source.DType, [1, t.Shape[0]]), t.Input, t.Origin);
            plan.Notes.Add($"embedding: {t.Name} is one vector; written as [1, {t.Shape[1]}].");
        }

        string name = Path.GetFileNameWithoutExtension(outputPath);
        plan.Notes.Add($"embedding: {t.Name} written in A1111's layout (string_to_param['*'], name '{name}', step 0).");
        return new DictNode(ordered: false, wasParameterDict: false)
            .Add("string_to_token", new DictNode(false, false).Add("*", new ScalarValue(A1111TokenId)))
            .Add("string_to_param", new DictNode(false, false).Add("*", new TensorSlot(t.Name)))
            .Add("name", new ScalarValue(name))
            .Add("step", new ScalarValue(0L))
            .Add("sd_checkpoint", new ScalarValue(null))
            .Add("sd_checkpoint_name", new ScalarValue(null));
    }
}
