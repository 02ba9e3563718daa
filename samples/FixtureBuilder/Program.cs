// Another application's test fixture: build a tiny SD-layout checkpoint in code, save it, open it again and check it.
using SafeCkpt;
using SafeCkpt.Building;
using SafeCkpt.Tensors;

string path = Path.Combine(Path.GetTempPath(), $"fixture-{Guid.NewGuid():N}.safetensors");
try
{
    new CheckpointBuilder()
        .Add("model.diffusion_model.input_blocks.0.0.weight", new float[8 * 4 * 3 * 3], 8, 4, 3, 3)
        .Add("model.diffusion_model.input_blocks.0.0.bias", Enumerable.Range(0, 8).Select(i => i * 0.125f).ToArray())
        .Add("cond_stage_model.transformer.text_model.embeddings.position_ids", Enumerable.Range(0, 77).Select(i => (long)i).ToArray(), 1, 77)
        .AddZeros("first_stage_model.decoder.conv_out.weight", DType.Float16, 3, 128, 3, 3)
        .WithMetadata("format", "pt")
        .SaveSafetensors(path);

    using ModelFile model = ModelFile.Open(path);
    float[] bias = model.Tensors.ReadTensorAs<float>("model.diffusion_model.input_blocks.0.0.bias");
    Console.WriteLine($"{model.Format}: {model.Tensors.Count} tensors, {model.Tensors.TotalBytes} bytes, metadata format={model.Metadata["format"]}");
    foreach (TensorInfo t in model.Tensors.Tensors)
    {
        Console.WriteLine($"  {t}");
    }

    if (bias[7] != 0.875f || model.Tensors["cond_stage_model.transformer.text_model.embeddings.position_ids"].DType != DType.Int64)
    {
        Console.Error.WriteLine("fixture did not read back as written");
        return 1;
    }

    Console.WriteLine("fixture round trip OK");
    return 0;
}
finally
{
    File.Delete(path);
}
