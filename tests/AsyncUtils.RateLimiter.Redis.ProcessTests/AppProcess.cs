using System.Diagnostics;
using System.Reflection;
using System.Text;

namespace AsyncUtils.Tests;

/// <summary>
/// A real child process started with <c>dotnet DLL ARGS</c>: standard output read line by line,
/// standard input open for commands, every wait bounded, and the process killed on dispose if it is
/// still running.
/// </summary>
internal sealed class AppProcess : IAsyncDisposable
{
    /// <summary>How long any one wait on a child may take before the test fails.</summary>
    public static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);

    private readonly Process _process;
    private readonly List<string> _all = [];
    private readonly StringBuilder _errors = new();
    private readonly TaskCompletionSource _outputEnded = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private AppProcess(Process process, string label)
    {
        _process = process;
        Label = label;
    }

    /// <summary>The worker app's dll (tests/AsyncUtils.Redis.ProcessTests.App), built with these tests.</summary>
    public static string TestApp => Metadata("RedisProcessTestApp");

    /// <summary>A name for failure messages.</summary>
    public string Label { get; }

    public int Id => _process.Id;

    /// <summary>Every line the child has printed so far, in order.</summary>
    public IReadOnlyList<string> Lines
    {
        get
        {
            lock (_all)
            {
                return [.. _all];
            }
        }
    }

    /// <summary>What the child wrote to standard error so far.</summary>
    public string Errors
    {
        get
        {
            lock (_errors)
            {
                return _errors.ToString();
            }
        }
    }

    public static string Metadata(string key)
    {
        string path = typeof(AppProcess).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == key).Value!;
        Assert.That(File.Exists(path), Is.True, $"{key} was not built at {path}");
        return path;
    }

    /// <summary>Starts <c>dotnet <paramref name="dll"/> <paramref name="args"/></c>.</summary>
    public static AppProcess Start(string dll, string label, params string[] args)
    {
        var info = new ProcessStartInfo(DotnetHost())
        {
            RedirectStandardOutput = true,
            RedirectStandardInput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        info.ArgumentList.Add(dll);
        foreach (string arg in args)
        {
            info.ArgumentList.Add(arg);
        }

        var process = new Process { StartInfo = info };
        var child = new AppProcess(process, label);
        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is null)
            {
                child._outputEnded.TrySetResult();
                return;
            }

            lock (child._all)
            {
                child._all.Add(e.Data);
            }
        };
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is not null)
            {
                lock (child._errors)
                {
                    child._errors.AppendLine(e.Data);
                }
            }
        };
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return child;
    }

    /// <summary>
    /// Waits until some line printed so far (from the first, in any order with others) matches;
    /// fails with the last lines printed if none does within <paramref name="within"/>.
    /// </summary>
    public async Task<string> WaitForLineAsync(Func<string, bool> match, string what, TimeSpan? within = null)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (true)
        {
            lock (_all)
            {
                foreach (string line in _all)
                {
                    if (match(line))
                    {
                        return line;
                    }
                }
            }

            if (clock.Elapsed > (within ?? Bound) || _outputEnded.Task.IsCompleted)
            {
                break;
            }

            await Task.Delay(5);
        }

        lock (_all)
        {
            string? last = _all.FirstOrDefault(match);
            if (last is not null)
            {
                return last;
            }
        }

        Assert.Fail($"{Label} never printed {what}; it printed:\n{string.Join("\n", Lines.TakeLast(40))}\nstderr:\n{Errors}");
        return string.Empty;
    }

    /// <summary>Reads lines until one starts with <paramref name="prefix"/>.</summary>
    public Task<string> WaitForLineStartingAsync(string prefix, TimeSpan? within = null) =>
        WaitForLineAsync(line => line.StartsWith(prefix, StringComparison.Ordinal), $"a line starting '{prefix}'", within);

    public async Task WriteLineAsync(string line)
    {
        await _process.StandardInput.WriteLineAsync(line);
        await _process.StandardInput.FlushAsync();
    }

    /// <summary>Waits for the child to exit and its output to end; returns the exit code.</summary>
    public async Task<int> WaitForExitAsync(TimeSpan? within = null)
    {
        try
        {
            await _process.WaitForExitAsync().WaitAsync(within ?? Bound);
            await _outputEnded.Task.WaitAsync(within ?? Bound);
        }
        catch (TimeoutException)
        {
            Assert.Fail($"{Label} did not exit within {within ?? Bound}; it printed:\n{string.Join("\n", Lines.TakeLast(40))}\nstderr:\n{Errors}");
        }

        return _process.ExitCode;
    }

    /// <summary>Kills the child at once, as a crash would.</summary>
    public void Kill()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
        }
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
