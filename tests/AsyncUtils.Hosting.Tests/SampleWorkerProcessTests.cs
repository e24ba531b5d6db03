using System.Diagnostics;
using System.Globalization;
using System.Reflection;
using System.Text.RegularExpressions;
using Microsoft.Data.Sqlite;

namespace AsyncUtils.Tests;

/// <summary>
/// End-to-end: the sample worker service (samples/AsyncUtils.Samples.Worker, a Generic Host with
/// a registered Waterfall writing to SQLite) runs as a real process and is stopped with a real
/// SIGTERM sent by <c>kill</c>, as <c>docker stop</c> or systemd would. Every record it put must
/// be a row, counted here from the database file. One producer fetches its records from a local
/// HTTP API through the AsyncUtils.Http handlers: every item fetched is a row too, and the sample's
/// metrics (read with a MeterListener) agree with the counts.
/// </summary>
[Platform("Linux,MacOsX", Reason = "Sends SIGTERM with kill(1).")]
public sealed class SampleWorkerProcessTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(60);
    private const int ApiProducer = 100; // ApiFetcher.Producer in the sample

    [Test]
    public async Task SIGTERM_stops_the_sample_worker_with_every_record_put_written_to_SQLite()
    {
        string folder = Directory.CreateTempSubdirectory("asyncutils-worker-test-").FullName;
        string db = Path.Combine(folder, "records.db");
        string app = typeof(SampleWorkerProcessTests).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
            .Single(a => a.Key == "SampleWorker").Value!;
        Assert.That(File.Exists(app), Is.True, $"the sample was not built at {app}");

        var lines = new List<string>();
        var ready = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var outputEnded = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var process = new Process
        {
            StartInfo = new ProcessStartInfo(DotnetHost(), [app, "--db", db])
            {
                RedirectStandardOutput = true,
                UseShellExecute = false,
            },
        };
        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is null)
            {
                outputEnded.TrySetResult();
                return;
            }

            lock (lines)
            {
                lines.Add(e.Data);
            }

            if (e.Data == "ready")
            {
                ready.TrySetResult();
            }
        };

        try
        {
            process.Start();
            process.BeginOutputReadLine();
            await ready.Task.WaitAsync(Bound);

            // Let the producers put records and the waterfall write some, so the stop meets
            // records put but not yet written (including some fetched from the API).
            await WaitForRowsAsync(db, process);
            await SignalAsync(process.Id, "TERM");
            await process.WaitForExitAsync().WaitAsync(Bound);
            await outputEnded.Task.WaitAsync(Bound);
        }
        finally
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
            }
        }

        string output;
        lock (lines)
        {
            output = string.Join("\n", lines);
        }

        string? putLine = lines.SingleOrDefault(l => l.StartsWith("put ", StringComparison.Ordinal));
        Assert.That(putLine, Is.Not.Null, $"the worker did not report what it put; it printed:\n{output}");
        long put = long.Parse(putLine!["put ".Length..], CultureInfo.InvariantCulture);
        long rows = CountRows(db);
        long apiRows = CountRows(db, ApiProducer);
        Directory.Delete(folder, recursive: true);

        long apiRequests = Number(output, @"^api requests (\d+)$");
        long apiFetched = Number(output, @"^api fetched (\d+) ");
        long items = Number(output, @"^Metrics: asyncutils\.waterfall\.items=(\d+),");
        long granted = Number(output, @"asyncutils\.rate_limiter\.leases granted=(\d+) ");
        Assert.Multiple(() =>
        {
            Assert.That(process.ExitCode, Is.Zero, output);
            Assert.That(put, Is.GreaterThan(0));
            Assert.That(rows, Is.EqualTo(put), "every record put is a row");
            Assert.That(apiFetched, Is.GreaterThan(0), output);
            Assert.That(apiRows, Is.EqualTo(apiFetched), "every item fetched from the API is a row");
            Assert.That(items, Is.EqualTo(put), "the waterfall's items metric counts every record put");
            Assert.That(granted, Is.EqualTo(apiRequests), "the rate limiter granted one lease per request the API received");
        });
    }

    private static async Task WaitForRowsAsync(string db, Process process)
    {
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < Bound && !process.HasExited)
        {
            if (File.Exists(db) && TryCountRows(db, ApiProducer) > 0)
            {
                return;
            }

            await Task.Delay(100);
        }

        Assert.Fail("the worker wrote no row fetched from the API");
    }

    private static long Number(string output, string pattern)
    {
        Match match = Regex.Match(output, pattern, RegexOptions.Multiline);
        Assert.That(match.Success, Is.True, $"no line matches {pattern}; the worker printed:\n{output}");
        return long.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture);
    }

    private static long TryCountRows(string db, int producer)
    {
        try
        {
            return CountRows(db, producer);
        }
        catch (SqliteException)
        {
            return 0; // the table is not there yet, or the writer holds the lock
        }
    }

    private static long CountRows(string db, int? producer = null)
    {
        using var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = db, Pooling = false, Mode = SqliteOpenMode.ReadOnly }.ToString());
        connection.Open();
        using SqliteCommand count = connection.CreateCommand();
        count.CommandText = producer is null ? "SELECT COUNT(*) FROM records" : "SELECT COUNT(*) FROM records WHERE producer = $producer";
        count.Parameters.AddWithValue("$producer", producer ?? 0);
        return (long)count.ExecuteScalar()!;
    }

    private static async Task SignalAsync(int pid, string name)
    {
        using var kill = Process.Start(new ProcessStartInfo("kill", [$"-{name}", pid.ToString(CultureInfo.InvariantCulture)]) { UseShellExecute = false })!;
        await kill.WaitForExitAsync().WaitAsync(Bound);
        Assert.That(kill.ExitCode, Is.Zero, $"kill -{name} {pid} failed");
    }

    private static string DotnetHost() =>
        Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host && File.Exists(host) ? host : "dotnet";
}
