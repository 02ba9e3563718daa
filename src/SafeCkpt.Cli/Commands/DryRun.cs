using SafeCkpt.Tensors;
using SafeCkpt.Transforms;

namespace SafeCkpt.Cli.Commands;

/// <summary><c>convert --dry-run</c>: the plan (dropped, cast, replaced, output size), with nothing written.</summary>
internal static class DryRun
{
    public static void Print(ConversionPlan plan, ModelFile model, string output, bool ckpt, bool json, TextWriter o)
    {
        var casts = plan.Tensors.Where(t => t.IsCast).GroupBy(t => (From: t.Source.DType, To: t.DType)).OrderByDescending(g => g.Count()).ToList();
        var drops = plan.Dropped.GroupBy(d => d.Reason).OrderByDescending(g => g.Count()).ToList();
        var replaced = plan.Tensors.Where(t => t.Origin != "model").GroupBy(t => t.Origin).ToList();
        if (json)
        {
            JsonOutput.Write(o, w =>
            {
                w.WriteString("input", model.Path);
                w.WriteString("output", output);
                w.WriteString("outputFormat", ckpt ? "ckpt" : "safetensors");
                w.WriteBoolean("dryRun", true);
                w.WriteNumber("tensors", plan.Tensors.Count);
                w.WriteNumber("sourceTensorBytes", plan.SourceBytes);
                w.WriteNumber("outputTensorBytes", plan.OutputTensorBytes);
                w.WriteStartArray("cast");
                foreach (var g in casts)
                {
                    w.WriteStartObject();
                    w.WriteString("from", g.Key.From.ToSafetensorsName());
                    w.WriteString("to", g.Key.To.ToSafetensorsName());
                    w.WriteNumber("count", g.Count());
                    w.WriteEndObject();
                }

                w.WriteEndArray();
                w.WriteStartArray("dropped");
                foreach (DroppedTensor d in plan.Dropped)
                {
                    w.WriteStartObject();
                    w.WriteString("name", d.Name);
                    w.WriteString("reason", d.Reason);
                    w.WriteEndObject();
                }

                w.WriteEndArray();
                JsonOutput.WriteStrings(w, "notes", plan.Notes);
            });
            return;
        }

        o.WriteLine($"Plan for {model.Path} -> {output} ({(ckpt ? "ckpt" : "safetensors")}); nothing is written (--dry-run).");
        o.WriteLine($"  keep   {Format.Count(plan.Tensors.Count)} tensors, {Format.Bytes(plan.OutputTensorBytes)} of tensor data (source {Format.Bytes(plan.SourceBytes)})");
        foreach (var g in casts)
        {
            o.WriteLine($"  cast   {Format.Count(g.Count()),6} tensors {g.Key.From.ToSafetensorsName()} -> {g.Key.To.ToSafetensorsName()}");
        }

        foreach (var g in drops)
        {
            o.WriteLine($"  drop   {Format.Count(g.Count()),6} tensors: {g.Key} (e.g. {g.First().Name})");
        }

        foreach (var g in replaced)
        {
            o.WriteLine($"  take   {Format.Count(g.Count()),6} tensors from {g.Key} (e.g. {g.First().Name} <- {g.First().Source.Name})");
        }

        foreach (string n in plan.Notes)
        {
            o.WriteLine($"  note   {n}");
        }
    }
}
