using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;

namespace AsyncUtils.Testing;

/// <summary>
/// Writes a benchmark measured by a test (a fleet of processes, which BenchmarkDotNet cannot run) as a
/// report in BenchmarkDotNet's GitHub shape, so that build/bench.sh and build/bench-tables.py treat it
/// like any other benchmark class.
/// </summary>
internal static class BenchmarkReport
{
    /// <summary>
    /// When <c>AU_BENCH_OUT</c> names a folder, writes <paramref name="table"/> (a Markdown table whose
    /// first column is Method) there as <c>AsyncUtils.Benchmarks.{className}-report-github.md</c> under a
    /// header in BenchmarkDotNet's shape (tool and OS, CPU, runtime), for build/bench-tables.py to
    /// import; returns the path, or null when the variable is not set.
    /// </summary>
    internal static string? Write(string className, string tool, string table)
    {
        string? folder = Environment.GetEnvironmentVariable("AU_BENCH_OUT");
        if (string.IsNullOrEmpty(folder))
        {
            return null;
        }

        Directory.CreateDirectory(folder);
        string path = Path.Combine(folder, $"AsyncUtils.Benchmarks.{className}-report-github.md");
        var report = new StringBuilder();
        report.AppendLine("```");
        report.AppendLine(CultureInfo.InvariantCulture, $"{tool.Replace(",", ";", StringComparison.Ordinal)}, {OperatingSystemName()}");
        report.AppendLine(Cpu());
        report.AppendLine(CultureInfo.InvariantCulture, $"  [Host] : {RuntimeInformation.FrameworkDescription} ({RuntimeInformation.ProcessArchitecture})");
        report.AppendLine("```");
        report.Append(table);
        File.WriteAllText(path, report.ToString());
        return path;
    }

    /// <summary>"Linux Debian GNU/Linux 12 (bookworm)", as BenchmarkDotNet writes it, or the runtime's description elsewhere.</summary>
    private static string OperatingSystemName()
    {
        const string release = "/etc/os-release";
        string? pretty = OperatingSystem.IsLinux() && File.Exists(release)
            ? File.ReadLines(release).FirstOrDefault(l => l.StartsWith("PRETTY_NAME=", StringComparison.Ordinal))
            : null;
        return pretty is null ? RuntimeInformation.OSDescription : "Linux " + pretty["PRETTY_NAME=".Length..].Trim('"');
    }

    /// <summary>"AMD EPYC, 1 CPU, 2 logical and 2 physical cores" from /proc/cpuinfo, or the logical count elsewhere.</summary>
    private static string Cpu()
    {
        const string cpuinfo = "/proc/cpuinfo";
        if (!OperatingSystem.IsLinux() || !File.Exists(cpuinfo))
        {
            return $"unknown CPU, {Environment.ProcessorCount} logical cores";
        }

        string[] lines = File.ReadAllLines(cpuinfo);
        string Value(string line) => line[(line.IndexOf(':', StringComparison.Ordinal) + 1)..].Trim();
        string model = lines.Where(l => l.StartsWith("model name", StringComparison.Ordinal)).Select(Value).FirstOrDefault() ?? "unknown CPU";
        int sockets = Math.Max(1, lines.Where(l => l.StartsWith("physical id", StringComparison.Ordinal)).Select(Value).Distinct().Count());
        int physical = lines.Where(l => l.StartsWith("physical id", StringComparison.Ordinal) || l.StartsWith("core id", StringComparison.Ordinal))
            .Select(Value).Chunk(2).Select(pair => string.Join('/', pair)).Distinct().Count();
        int logical = lines.Count(l => l.StartsWith("processor", StringComparison.Ordinal));
        return $"{model}, {sockets} CPU, {logical} logical and {Math.Max(physical, 1)} physical cores";
    }

}
