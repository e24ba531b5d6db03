using System.Diagnostics;
using System.Text;

namespace AsyncUtils.Packaging.Tests;

/// <summary>Runs the dotnet CLI as a child process with a bounded wait.</summary>
internal static class DotnetCli
{
    public static (int ExitCode, string Output) Run(string arguments, string workingDirectory, TimeSpan timeout)
    {
        var start = new ProcessStartInfo("dotnet", arguments)
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };

        // The test host runs under `dotnet test`; its MSBuild variables must not leak into the child build.
        foreach (string key in start.Environment.Keys.Where(k => k.StartsWith("MSBUILD", StringComparison.OrdinalIgnoreCase)).ToList())
        {
            start.Environment.Remove(key);
        }

        // Packs and consumer builds are made as on a developer's machine: CI's own marker must not
        // switch on what a plain release build would lack (ContinuousIntegrationBuild, say).
        start.Environment.Remove("CI");

        start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        start.Environment["DOTNET_NOLOGO"] = "1";

        var output = new StringBuilder();
        using var process = new Process { StartInfo = start };
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) { lock (output) { output.AppendLine(e.Data); } } };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) { lock (output) { output.AppendLine(e.Data); } } };
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        if (!process.WaitForExit(timeout))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"dotnet {arguments} did not finish within {timeout}.\n{output}");
        }

        process.WaitForExit();
        lock (output)
        {
            return (process.ExitCode, output.ToString());
        }
    }

    public static string RunOrFail(string arguments, string workingDirectory, TimeSpan timeout)
    {
        (int exitCode, string output) = Run(arguments, workingDirectory, timeout);
        if (exitCode != 0)
        {
            Assert.Fail($"dotnet {arguments} exited with {exitCode}:\n{output}");
        }

        return output;
    }
}
