using AsyncUtils;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using Nito.AsyncEx;

namespace AsyncUtils.Benchmarks;

/// <summary>
/// An uncontended wait and release, and a two-task ping-pong in which nearly every wait queues,
/// against <see cref="SemaphoreSlim"/> and Nito.AsyncEx's <see cref="AsyncSemaphore"/>.
/// </summary>
[MemoryDiagnoser]
[GroupBenchmarksBy(BenchmarkLogicalGroupRule.ByCategory)]
[CategoriesColumn]
public class PrioritySemaphoreBenchmarks : IDisposable
{
    private const int RoundTrips = 1000;

    private readonly SemaphoreSlim _slim = new(1, 1);
    private readonly AsyncSemaphore _nito = new(1);
    private readonly PrioritySemaphore _ours = new(1);

    [Benchmark(Baseline = true, Description = "SemaphoreSlim")]
    [BenchmarkCategory("Uncontended WaitAsync+Release")]
    public void Slim_Uncontended()
    {
        _slim.WaitAsync().GetAwaiter().GetResult();
        _slim.Release();
    }

    [Benchmark(Description = "Nito AsyncSemaphore")]
    [BenchmarkCategory("Uncontended WaitAsync+Release")]
    public void Nito_Uncontended()
    {
        _nito.WaitAsync().GetAwaiter().GetResult();
        _nito.Release();
    }

    [Benchmark(Description = "PrioritySemaphore")]
    [BenchmarkCategory("Uncontended WaitAsync+Release")]
    public void Ours_Uncontended()
    {
        ValueTask wait = _ours.WaitAsync();
        if (!wait.IsCompletedSuccessfully)
        {
            wait.AsTask().GetAwaiter().GetResult();
        }

        _ours.Release();
    }

    public void Dispose()
    {
        _slim.Dispose();
        GC.SuppressFinalize(this);
    }

    [Benchmark(Baseline = true, OperationsPerInvoke = RoundTrips, Description = "SemaphoreSlim")]
    [BenchmarkCategory("Ping-pong, 2 tasks (per round trip)")]
    public Task Slim_PingPong()
    {
        var ping = new SemaphoreSlim(0);
        var pong = new SemaphoreSlim(0);
        return RunAndDispose(Task.WhenAll(Task.Run(Serve), Task.Run(Answer)), ping, pong);

        async Task Serve()
        {
            for (int i = 0; i < RoundTrips; i++)
            {
                ping.Release();
                await pong.WaitAsync().ConfigureAwait(false);
            }
        }

        async Task Answer()
        {
            for (int i = 0; i < RoundTrips; i++)
            {
                await ping.WaitAsync().ConfigureAwait(false);
                pong.Release();
            }
        }
    }

    [Benchmark(OperationsPerInvoke = RoundTrips, Description = "Nito AsyncSemaphore")]
    [BenchmarkCategory("Ping-pong, 2 tasks (per round trip)")]
    public Task Nito_PingPong()
    {
        var ping = new AsyncSemaphore(0);
        var pong = new AsyncSemaphore(0);
        return Task.WhenAll(Task.Run(Serve), Task.Run(Answer));

        async Task Serve()
        {
            for (int i = 0; i < RoundTrips; i++)
            {
                ping.Release();
                await pong.WaitAsync().ConfigureAwait(false);
            }
        }

        async Task Answer()
        {
            for (int i = 0; i < RoundTrips; i++)
            {
                await ping.WaitAsync().ConfigureAwait(false);
                pong.Release();
            }
        }
    }

    [Benchmark(OperationsPerInvoke = RoundTrips, Description = "PrioritySemaphore")]
    [BenchmarkCategory("Ping-pong, 2 tasks (per round trip)")]
    public Task Ours_PingPong()
    {
        var ping = new PrioritySemaphore(0);
        var pong = new PrioritySemaphore(0);
        return Task.WhenAll(Task.Run(Serve), Task.Run(Answer));

        async Task Serve()
        {
            for (int i = 0; i < RoundTrips; i++)
            {
                ping.Release();
                await pong.WaitAsync().ConfigureAwait(false);
            }
        }

        async Task Answer()
        {
            for (int i = 0; i < RoundTrips; i++)
            {
                await ping.WaitAsync().ConfigureAwait(false);
                pong.Release();
            }
        }
    }

    private static async Task RunAndDispose(Task run, SemaphoreSlim ping, SemaphoreSlim pong)
    {
        await run.ConfigureAwait(false);
        ping.Dispose();
        pong.Dispose();
    }
}
