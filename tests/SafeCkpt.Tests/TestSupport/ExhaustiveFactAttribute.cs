namespace SafeCkpt.Tests.TestSupport;

/// <summary>A test that takes minutes (an exhaustive sweep): skipped unless <c>SAFECKPT_EXHAUSTIVE=1</c>.</summary>
public sealed class ExhaustiveFactAttribute : FactAttribute
{
    public ExhaustiveFactAttribute()
    {
        if (Environment.GetEnvironmentVariable("SAFECKPT_EXHAUSTIVE") != "1")
        {
            Skip = "exhaustive sweep: run with SAFECKPT_EXHAUSTIVE=1";
        }
    }
}
