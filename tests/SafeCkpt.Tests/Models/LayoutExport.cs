namespace SafeCkpt.Tests.Models;

/// <summary>
/// Writes every config-yaml architecture's layout as a safetensors file for tests/consumers/yaml_build_check.py,
/// when SAFECKPT_EXPORT_LAYOUTS names a folder; otherwise does nothing.
/// </summary>
public class LayoutExport
{
    public static readonly string[] Ids =
        ["sd1", "sd1-inpaint", "sd1-pix2pix", "sd2", "sd2-v", "sd2-inpaint", "sd2-depth", "sd2-unclip-l", "sd2-unclip-h", "sdxl", "sdxl-refiner", "sdxl-inpaint"];

    [Fact]
    public void Export_layouts_for_the_python_build_check_when_asked()
    {
        if (Environment.GetEnvironmentVariable("SAFECKPT_EXPORT_LAYOUTS") is not { Length: > 0 } dir)
        {
            return;
        }

        Directory.CreateDirectory(dir);
        foreach (string id in Ids)
        {
            string path = Path.Combine(dir, id + ".safetensors");
            File.Delete(path);
            Layouts.For(id).SaveSafetensors(path);
        }

        string v = Path.Combine(dir, "sdxl-v.safetensors");
        File.Delete(v);
        Layouts.For("sdxl").AddZeros("v_pred", global::SafeCkpt.Tensors.DType.Float32, 0).SaveSafetensors(v);
    }
}
