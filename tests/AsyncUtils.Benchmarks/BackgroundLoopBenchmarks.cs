using AsyncUtils;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using Nito.AsyncEx;

namespace AsyncUtils.Benchmarks;

/// <summary>
/// AsyncUtils.BackgroundLoop: the schedule-and-complete round trip of one piece of work on the
/// loop thread, against Nito's AsyncContextThread used directly (the baseline of each category)
/// and Task.Run. "Blocking" waits for the result synchronously; "Await" awaits it from the thread
/// pool; "AsyncWork" schedules an async function that yields once on the loop.
/// </summary>
[MemoryDiagnoser]
[System.Diagnostics.CodeAnalysis.SuppressMessage("Performance", "CA1822:Mark members as static", Justification = "BenchmarkDotNet runs instance methods.")]
[GroupBenchmarksBy(BenchmarkLogicalGroupRule.ByCategory)]
[CategoriesColumn]
public class BackgroundLoopBenchmarks : IDisposable
{
    private ThreadedLoop _loop = null!;
    private AsyncContextThread _nito = null!;

    [GlobalSetup]
    public void Setup()
    {
        _loop = new ThreadedLoop();
        _nito = new AsyncContextThread();
    }

    [GlobalCleanup]
    public void Dispose()
    {
        _loop?.Dispose();
        _nito?.Join();
        GC.SuppressFinalize(this);
    }

    [Benchmark(Baseline = true), BenchmarkCategory("Blocking")]
    public int Nito_Blocking() => _nito.Factory.Run(static () => 1).GetAwaiter().GetResult();

    [Benchmark, BenchmarkCategory("Blocking")]
    public int ThreadedLoop_Blocking() => _loop.Schedule(static _ => 1).GetAwaiter().GetResult();

    [Benchmark, BenchmarkCategory("Blocking")]
    public int TaskRun_Blocking() => Task.Run(static () => 1).GetAwaiter().GetResult();

    [Benchmark(Baseline = true), BenchmarkCategory("Await")]
    public async Task<int> Nito_Await() => await _nito.Factory.Run(static () => 1).ConfigureAwait(false);

    [Benchmark, BenchmarkCategory("Await")]
    public async Task<int> ThreadedLoop_Await() => await _loop.Schedule(static _ => 1).ConfigureAwait(false);

    [Benchmark, BenchmarkCategory("Await")]
    public async Task<int> TaskRun_Await() => await Task.Run(static () => 1).ConfigureAwait(false);

    [Benchmark(Baseline = true), BenchmarkCategory("AsyncWork")]
    public int Nito_AsyncWork() => _nito.Factory.Run(static async () =>
    {
        await Task.Yield();
        return 1;
    }).GetAwaiter().GetResult();

    [Benchmark, BenchmarkCategory("AsyncWork")]
    public int ThreadedLoop_AsyncWork() => _loop.Schedule(static async _ =>
    {
        await Task.Yield();
        return 1;
    }).GetAwaiter().GetResult();
}
