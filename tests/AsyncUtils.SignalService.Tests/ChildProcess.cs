using System.Diagnostics;
using System.Reflection;
using System.Threading.Channels;

namespace AsyncUtils.Tests;

/// <summary>
/// The SignalService test app (tests/AsyncUtils.SignalService.TestApp) running as a real child
/// process: its standard output read line by line, real signals sent with <c>kill</c>, every wait
/// bounded, and the process killed on dispose if it is still running.
/// </summary>
internal sealed class ChildProcess : IAsyncDisposable
{
    /// <summary>How long any one wait on the child may take before the test fails.</summary>
    public static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);

    private readonly Process _process;
    private readonly Channel<string> _lines = Channel.CreateUnbounded<string>();
    private readonly List<string> _seen = [];
    private readonly TaskCompletionSource _outputEnded = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private ChildProcess(Process process)
    {
        _process = process;
    }

    /// <summary>Every line the child has printed that a wait has read so far, in order.</summary>
    public IReadOnlyList<string> Lines
    {
        get
        {
            lock (_seen)
            {
                return [.. _seen];
            }
        }
    }

    public int Id => _process.Id;

    public bool HasExited => _process.HasExited;

    public static ChildProcess Start(string scenario)
    {
        string app = typeof(ChildProcess).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
            .Single(a => a.Key == "SignalServiceTestApp").Value!;
        Assert.That(File.Exists(app), Is.True, $"the test app was not built at {app}");

        var info = new ProcessStartInfo(DotnetHost(), [app, scenario])
        {
            RedirectStandardOutput = true,
            RedirectStandardInput = true,
            RedirectStandardError = false,
            UseShellExecute = false,
        };

        var process = new Process { StartInfo = info };
        var child = new ChildProcess(process);
        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is null)
            {
                child._lines.Writer.TryComplete();
                child._outputEnded.TrySetResult();
            }
            else
            {
                child._lines.Writer.TryWrite(e.Data);
            }
        };
        process.Start();
        process.BeginOutputReadLine();
        return child;
    }

    /// <summary>Reads lines until one equal to <paramref name="line"/>; fails with everything printed so far if it does not come.</summary>
    public async Task WaitForLineAsync(string line)
    {
        using var timeout = new CancellationTokenSource(Bound);
        try
        {
            while (await _lines.Reader.WaitToReadAsync(timeout.Token))
            {
                while (_lines.Reader.TryRead(out string? next))
                {
                    lock (_seen)
                    {
                        _seen.Add(next);
                    }

                    if (next == line)
                    {
                        return;
                    }
                }
            }
        }
        catch (OperationCanceledException) when (timeout.IsCancellationRequested)
        {
        }

        Assert.Fail($"the child never printed '{line}'; it printed:\n{string.Join("\n", Lines)}");
    }

    /// <summary>Sends a signal with <c>kill -NAME pid</c>, the way an operator or supervisor would.</summary>
    public async Task SignalAsync(string name)
    {
        using var kill = Process.Start(new ProcessStartInfo("kill", [$"-{name}", _process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)])
        {
            UseShellExecute = false,
        })!;
        await kill.WaitForExitAsync().WaitAsync(Bound);
        Assert.That(kill.ExitCode, Is.Zero, $"kill -{name} {_process.Id} failed");
    }

    public async Task WriteLineAsync(string line)
    {
        await _process.StandardInput.WriteLineAsync(line);
        await _process.StandardInput.FlushAsync();
    }

    /// <summary>Waits for the child to exit and for its output to end, then returns its exit code; the remaining lines join <see cref="Lines"/>.</summary>
    public async Task<int> WaitForExitAsync()
    {
        try
        {
            await _process.WaitForExitAsync().WaitAsync(Bound);
            await _outputEnded.Task.WaitAsync(Bound);
        }
        catch (TimeoutException)
        {
            Assert.Fail($"the child did not exit within {Bound}; it printed:\n{string.Join("\n", Lines)}");
        }

        while (_lines.Reader.TryRead(out string? next))
        {
            lock (_seen)
            {
                _seen.Add(next);
            }
        }

        return _process.ExitCode;
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
                await _process.WaitForExitAsync().WaitAsync(Bound);
            }
        }
        finally
        {
            _process.Dispose();
        }
    }

    /// <summary>The dotnet host running these tests when it is known (the SDK sets DOTNET_HOST_PATH), else dotnet from PATH.</summary>
    private static string DotnetHost() =>
        Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host && File.Exists(host) ? host : "dotnet";
}
