// SafeCkpt from a .NET 8 application, through the package's net8.0 assembly: build a checkpoint whose float32 values
// cover the casts' edge cases, save it as a .ckpt (zip, CRC-32), convert it to fp16 and bf16 safetensors, and check
// every value bit for bit against scalar references; then convert the bundled tiny SD 1.x checkpoint.
//   dotnet pack src/SafeCkpt -c Release -o out/pkg && dotnet run --project samples/Net8Consumer -c Release
using System.Runtime.InteropServices;
using SafeCkpt;
using SafeCkpt.Building;
using SafeCkpt.Tensors;

Console.WriteLine($"runtime: {RuntimeInformation.FrameworkDescription}; SafeCkpt assembly built for {typeof(ModelFile).Assembly.GetCustomAttributes(typeof(System.Runtime.Versioning.TargetFrameworkAttribute), false).OfType<System.Runtime.Versioning.TargetFrameworkAttribute>().FirstOrDefault()?.FrameworkName}");

string dir = Path.Combine(Path.GetTempPath(), $"net8consumer-{Guid.NewGuid():N}");
Directory.CreateDirectory(dir);
int failures = 0;
try
{
    // Odd length: every kernel's vector tail runs. Specials first, then seeded random bit patterns (all exponents).
    float[] values = new float[40_003];
    float[] specials = [0f, -0f, 1f, -1f, float.Epsilon, -float.Epsilon, float.MaxValue, float.MinValue, float.PositiveInfinity, float.NegativeInfinity, float.NaN,
        65504f, 65520f, 65519.996f, 6.1035156e-05f, 5.9604645e-08f, 2.9802322e-08f, 2.9802326e-08f, 1.00048828125f, 1.000244140625f, 3.3895314e38f, 3.3961775e38f];
    specials.CopyTo(values, 0);
    var random = new Random(12345);
    for (int i = specials.Length; i < values.Length; i++)
    {
        values[i] = BitConverter.Int32BitsToSingle(random.Next(int.MinValue, int.MaxValue));
    }

    string ckpt = Path.Combine(dir, "edge.ckpt");
    new CheckpointBuilder()
        .Add("model.diffusion_model.out.2.weight", values, values.Length)
        .SaveCkpt(ckpt);

    string half = Path.Combine(dir, "edge-fp16.safetensors");
    string bf16 = Path.Combine(dir, "edge-bf16.safetensors");
    using (ModelFile model = ModelFile.Open(ckpt))
    {
        model.ToHalf().SaveSafetensors(half);
        model.ToBFloat16().SaveSafetensors(bf16);
    }

    failures += Check("fp16", half, values, x => (float)(Half)x, anyNaN: true);
    failures += Check("bf16", bf16, values, x =>
    {
        // Round to nearest even on the upper 16 bits; NaN becomes 0xFFFF, as PyTorch gives (the library's default).
        if (float.IsNaN(x))
        {
            return BitConverter.UInt32BitsToSingle(0xFFFF0000u);
        }

        uint bits = BitConverter.SingleToUInt32Bits(x);
        uint rounded = (bits + 0x7FFFu + ((bits >> 16) & 1u)) & 0xFFFF0000u;
        return BitConverter.UInt32BitsToSingle(rounded);
    }, anyNaN: false);
    Console.WriteLine($"sha256 fp16 {Sha256(half)}");
    Console.WriteLine($"sha256 bf16 {Sha256(bf16)}");

    // The bundled training checkpoint: drop the EMA copy, fp16, safetensors; open the result again.
    string bundled = Path.Combine(AppContext.BaseDirectory, "sd1-tiny-ema.ckpt");
    string converted = Path.Combine(dir, "sd1-tiny-fp16.safetensors");
    using (ModelFile model = ModelFile.Open(bundled))
    {
        model.SelectEma(false).ToHalf().SaveSafetensors(converted);
        Console.WriteLine($"{Path.GetFileName(bundled)}: {model.Format}, {model.Tensors.Count} tensors");
    }

    using (ModelFile result = ModelFile.Open(converted))
    {
        var dtypes = result.Tensors.Tensors.GroupBy(t => t.DType).Select(g => $"{g.Key.ToSafetensorsName()} x{g.Count()}");
        Console.WriteLine($"sha256 converted {Sha256(converted)}");
        Console.WriteLine($"converted: {result.Format}, {result.Tensors.Count} tensors ({string.Join(", ", dtypes)})");
        if (result.Tensors.Count == 0)
        {
            failures++;
        }
    }
}
finally
{
    Directory.Delete(dir, recursive: true);
}

Console.WriteLine(failures == 0 ? "Net8Consumer: OK" : $"Net8Consumer: {failures} FAILED");
return failures == 0 ? 0 : 1;

static string Sha256(string path) => Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(File.ReadAllBytes(path)));

static int Check(string what, string path, float[] source, Func<float, float> reference, bool anyNaN)
{
    using ModelFile file = ModelFile.Open(path);
    float[] read = file.Tensors.ReadTensorAs<float>(file.Tensors.Tensors.Single().Name);
    int bad = 0;
    for (int i = 0; i < source.Length; i++)
    {
        float expected = reference(source[i]);
        bool same = anyNaN && float.IsNaN(expected) ? float.IsNaN(read[i]) : BitConverter.SingleToUInt32Bits(read[i]) == BitConverter.SingleToUInt32Bits(expected);
        if (!same && bad++ < 5)
        {
            Console.WriteLine($"  {what}[{i}]: {source[i]:R} (0x{BitConverter.SingleToUInt32Bits(source[i]):X8}) -> 0x{BitConverter.SingleToUInt32Bits(read[i]):X8}, expected 0x{BitConverter.SingleToUInt32Bits(expected):X8}");
        }
    }

    Console.WriteLine($"{what}: {source.Length} values, {bad} differ from the scalar reference");
    return bad == 0 ? 0 : 1;
}
