namespace AsyncUtils.Docs.Tests;

/// <summary>
/// Builds the site once per test run with the command README.md gives:
/// <c>dotnet tool restore &amp;&amp; dotnet docfx docs/docfx.json --warningsAsErrors</c>.
/// </summary>
internal static class SiteBuild
{
    private static readonly Lazy<(bool Succeeded, string Log)> Result = new(Build, LazyThreadSafetyMode.ExecutionAndPublication);

    public static (bool Succeeded, string Log) Get() => Result.Value;

    /// <summary>Fails the calling test unless the site built.</summary>
    public static void Require()
    {
        (bool succeeded, string log) = Get();
        if (!succeeded)
        {
            Assert.Fail("The documentation site did not build, so its pages cannot be checked:\n" + log);
        }
    }

    private static (bool, string) Build()
    {
        (int restoreExit, string restoreLog) = ProcessRunner.Dotnet("tool restore", TimeSpan.FromMinutes(3));
        if (restoreExit != 0)
        {
            return (false, $"dotnet tool restore exited with {restoreExit}:\n{restoreLog}");
        }

        (int exit, string log) = ProcessRunner.Dotnet("docfx docs/docfx.json --warningsAsErrors", TimeSpan.FromMinutes(4));
        return (exit == 0, $"dotnet docfx docs/docfx.json --warningsAsErrors exited with {exit}:\n{log}");
    }
}
