using System.Reflection;
using System.Runtime.Versioning;

namespace SafeCkpt.Tests;

/// <summary>The suite runs against the library build and the runtime it claims: net10.0 by default, net8.0 with -p:TestNet8=true.</summary>
public class TargetRuntimeTests
{
    [Fact]
    public void The_library_build_under_test_and_the_runtime_are_the_target_frameworks_of_this_run()
    {
        string? libraryTarget = typeof(ModelFile).Assembly.GetCustomAttribute<TargetFrameworkAttribute>()?.FrameworkName;
#if NET9_0_OR_GREATER
        Assert.Equal(".NETCoreApp,Version=v10.0", libraryTarget);
        Assert.Equal(10, Environment.Version.Major);
#else
        // Self-contained on the .NET 8 runtime pack: not the machine's .NET 10 rolled back or forward.
        Assert.Equal(".NETCoreApp,Version=v8.0", libraryTarget);
        Assert.Equal(8, Environment.Version.Major);
#endif
    }
}
