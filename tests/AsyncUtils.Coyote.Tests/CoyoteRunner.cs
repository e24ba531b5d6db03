using System.Diagnostics;
using System.Reflection;
using Microsoft.Coyote;
using Microsoft.Coyote.Logging;
using Microsoft.Coyote.Rewriting;
using Microsoft.Coyote.SystematicTesting;

namespace AsyncUtils.Coyote.Tests;

/// <summary>
/// Runs one scenario under Coyote's systematic scheduler for a fixed budget of iterations (each
/// iteration is one interleaving of the scenario's tasks, locks and awaits) and fails the NUnit
/// test with Coyote's bug report and the path of a replayable trace when a bug is found.
/// </summary>
internal static class CoyoteRunner
{
    /// <summary>A scenario step is a scheduling decision: bounded so that a livelock is reported, not spun forever.</summary>
    private const uint MaxSteps = 5_000;

    /// <summary>Fixed, so that CI explores the same interleavings on every run (a failure is reproducible by rerunning).</summary>
    private const uint Seed = 20_261_129;

    /// <summary>Runs <paramref name="scenario"/> and asserts that Coyote found no bug.</summary>
    /// <param name="iterations">The budget: how many interleavings to explore.</param>
    /// <param name="scenario">The scenario; it fails by throwing (an NUnit assertion, Microsoft.Coyote.Specifications.Specification.Assert, any exception) or by deadlocking.</param>
    public static void AssertNoBug(uint iterations, Func<Task> scenario)
    {
        TestReport report = Explore(iterations, scenario, out string? trace, out string summary, out string log);
        if (report.NumOfFoundBugs > 0)
        {
            string path = WriteTrace(trace);
            Assert.Fail($"Coyote found a bug: {summary}\n{string.Join("\n", report.BugReports)}\n" +
                $"Replayable trace: {path}\nReplay it with CoyoteRunner.Replay (see tests/AsyncUtils.Coyote.Tests/README.md).\n" +
                $"Coyote's log of the failing iteration (end):\n{Tail(log, 60)}");
        }
    }

    /// <summary>Runs <paramref name="scenario"/> and asserts that Coyote found the bug it contains: the harness's self-check.</summary>
    /// <returns>Coyote's bug report.</returns>
    public static string AssertFindsBug(uint iterations, Func<Task> scenario)
    {
        TestReport report = Explore(iterations, scenario, out string? trace, out string summary, out string log);
        Assert.That(report.NumOfFoundBugs, Is.GreaterThan(0), $"Coyote did not find the planted bug: {summary}. Are the assemblies rewritten?");
        Assert.That(trace, Is.Not.Null.And.Not.Empty, "A found bug comes with a replayable trace.");
        return string.Join("\n", report.BugReports) + "\n" + log;
    }

    /// <summary>
    /// Replays a trace written by a failed run (for debugging: set the trace path and run the
    /// scenario's test body with this instead of <see cref="AssertNoBug"/>).
    /// </summary>
    public static void Replay(string tracePath, Func<Task> scenario)
    {
        Configuration configuration = BaseConfiguration(1).WithReproducibleTrace(File.ReadAllText(tracePath));
        using var engine = TestingEngine.Create(configuration, scenario);
        engine.Run();
        TestContext.Out.WriteLine(engine.GetReport());
        Assert.That(engine.TestReport.NumOfFoundBugs, Is.Zero, string.Join("\n", engine.TestReport.BugReports));
    }

    /// <summary>Throws unless every assembly of ours loaded in the test carries Coyote's rewriting signature.</summary>
    public static void AssertRewritten(params Assembly[] assemblies)
    {
        foreach (Assembly assembly in assemblies)
        {
            RewritingSignatureAttribute? signature = assembly.GetCustomAttribute<RewritingSignatureAttribute>();
            Assert.That(signature, Is.Not.Null,
                $"{assembly.GetName().Name} is not rewritten by Coyote, so Coyote cannot control its concurrency: build this project (its CoyoteRewrite target runs `dotnet coyote rewrite`).");
        }
    }

    /// <summary>Coyote's log level for the failure message: Info, or the COYOTE_VERBOSITY variable (Debug, Exhaustive) to see every scheduling step.</summary>
    private static VerbosityLevel Verbosity =>
        Enum.TryParse(Environment.GetEnvironmentVariable("COYOTE_VERBOSITY"), ignoreCase: true, out VerbosityLevel level) ? level : VerbosityLevel.Info;

    private static Configuration BaseConfiguration(uint iterations) =>
        Configuration.Create()
            .WithTestingIterations(iterations)
            .WithMaxSchedulingSteps(MaxSteps)
            .WithRandomGeneratorSeed(Seed)
            .WithPotentialDeadlocksReportedAsBugs(true)
            .WithDeadlockTimeout(5_000)
            .WithTelemetryEnabled(false)
            .WithVerbosityEnabled(Verbosity)
            .WithConsoleLoggingEnabled(false);

    private static TestReport Explore(uint iterations, Func<Task> scenario, out string? trace, out string summary, out string log)
    {
        var stopwatch = Stopwatch.StartNew();
        using var writer = new StringWriter();
        using var engine = TestingEngine.Create(BaseConfiguration(iterations), scenario);
        engine.SetLogger(new TextWriterLogger(writer, Verbosity));
        engine.Run();
        log = writer.ToString();
        TestReport report = engine.TestReport;
        trace = report.NumOfFoundBugs > 0 ? engine.ReproducibleTrace : null;
        long explored = report.NumOfExploredFairPaths + report.NumOfExploredUnfairPaths;
        summary = $"{TestContext.CurrentContext.Test.Name}: {explored} of {iterations} iterations explored in {stopwatch.Elapsed.TotalSeconds:F1} s, " +
            $"{report.NumOfFoundBugs} bug(s), up to {report.MaxExploredFairSteps} scheduling steps, " +
            $"{report.UncontrolledInvocations.Count} uncontrolled invocation(s){(report.UncontrolledInvocations.Count > 0 ? ": " + string.Join(", ", report.UncontrolledInvocations) : "")}";
        TestContext.Progress.WriteLine($"[coyote] {summary}");
        Assert.That(report.InternalErrors, Is.Empty, "Coyote reported internal errors.");
        return report;
    }

    private static string Tail(string text, int lines)
    {
        string[] all = text.Split('\n');
        return string.Join("\n", all.Skip(Math.Max(0, all.Length - lines)));
    }

    private static string WriteTrace(string? trace)
    {
        string directory = Path.Combine(RepoRoot(), "artifacts", "coyote");
        Directory.CreateDirectory(directory);
        string path = Path.Combine(directory, TestContext.CurrentContext.Test.Name + ".trace");
        File.WriteAllText(path, trace ?? "");
        TestContext.Out.WriteLine($"[coyote] trace written to {path}");
        return path;
    }

    private static string RepoRoot()
    {
        for (DirectoryInfo? directory = new(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "AsyncUtils.Packages.sln")))
            {
                return directory.FullName;
            }
        }

        return AppContext.BaseDirectory;
    }
}
