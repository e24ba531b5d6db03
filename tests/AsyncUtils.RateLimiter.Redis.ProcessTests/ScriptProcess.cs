using System.Globalization;
using AsyncUtils.Testing;

namespace AsyncUtils.Tests;

/// <summary>
/// A worker process in <c>ours-script</c> mode: one RedisSlidingLogRateLimiter on its own connection,
/// driven line by line (<c>acquire ID PERMITS</c>, <c>cancel ID</c>, <c>dispose</c>, <c>exit</c>).
/// </summary>
internal sealed class ScriptProcess : IAsyncDisposable
{
    private ScriptProcess(AppProcess process)
    {
        Process = process;
    }

    public AppProcess Process { get; }

    public static async Task<ScriptProcess> StartAsync(
        RedisServer server, string label, string name, int limit, TimeSpan window, int queueLimit, int skewMs = 0, TimeSpan? ticketTimeout = null)
    {
        var args = new List<string>
        {
            "ours-script", server.ConnectionString, name, Fleet.Text(limit), Fleet.Text((long)window.TotalMilliseconds),
            Fleet.Text(queueLimit), Fleet.Text(skewMs),
        };
        if (ticketTimeout is { } timeout)
        {
            args.Add(Fleet.Text((long)timeout.TotalMilliseconds));
        }

        var process = new ScriptProcess(AppProcess.Start(AppProcess.TestApp, label, [.. args]));
        await process.Process.WaitForLineStartingAsync("ready");
        return process;
    }

    /// <summary>Starts an acquire and waits until the process has sent it.</summary>
    public async Task AcquireAsync(string id, int permits = 1)
    {
        await Process.WriteLineAsync($"acquire {id} {permits.ToString(CultureInfo.InvariantCulture)}");
        await Process.WaitForLineAsync(line => line == $"sent {id}" || line.StartsWith($"failed {id} ", StringComparison.Ordinal), $"sent {id}");
    }

    public Task CancelAsync(string id) => Process.WriteLineAsync($"cancel {id}");

    /// <summary>Waits for the outcome of <paramref name="id"/>: the whole line (granted, refused, cancelled or failed).</summary>
    public Task<string> OutcomeAsync(string id, TimeSpan? within = null) =>
        Process.WaitForLineAsync(
            line => line.Split(' ') is [_, var lineId, ..] && lineId == id && !line.StartsWith("sent ", StringComparison.Ordinal),
            $"an outcome for {id}",
            within);

    /// <summary>Waits for <paramref name="id"/> to be granted and returns the server decision time (Unix µs).</summary>
    public async Task<long> GrantedAsync(string id, TimeSpan? within = null)
    {
        string line = await OutcomeAsync(id, within);
        Assert.That(line, Does.StartWith($"granted {id} "), $"{Process.Label}: {id} was not granted");
        return long.Parse(line.Split(' ')[2], CultureInfo.InvariantCulture);
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            await Process.WriteLineAsync("exit");
        }
        catch (IOException)
        {
            // Already gone (killed by the test).
        }
        catch (InvalidOperationException)
        {
        }

        await Process.DisposeAsync();
    }
}
