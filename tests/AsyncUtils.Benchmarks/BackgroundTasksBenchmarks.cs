using AsyncUtils;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;

namespace AsyncUtils.Benchmarks;

/// <summary>
/// AsyncUtils.BackgroundTasks. "Map": N trivial items (an already-completed Task per item) with 8
/// at a time, consumed as results, against Parallel.ForEachAsync with MaxDegreeOfParallelism 8
/// summing the same results (baseline); N = 100,000 and 1,000,000 show whether the cost per item
/// and the allocation per item stay flat as the input grows 10x. The TaskGroup benchmark, which
/// does not depend on N, is <see cref="TaskGroupBenchmarks"/>.
/// </summary>
[MemoryDiagnoser]
[GroupBenchmarksBy(BenchmarkLogicalGroupRule.ByCategory, BenchmarkLogicalGroupRule.ByParams)]
[CategoriesColumn]
public class BackgroundTasksBenchmarks
{
    private static readonly Func<int, CancellationToken, Task<int>> Work = static (x, _) => Task.FromResult(x & 0xFF);

    [Params(100_000, 1_000_000)]
    public int N { get; set; }

    [Benchmark(Baseline = true), BenchmarkCategory("Map")]
    public async Task<long> ParallelForEachAsync()
    {
        long sum = 0;
        await Parallel.ForEachAsync(
            Enumerable.Range(0, N),
            new ParallelOptions { MaxDegreeOfParallelism = 8 },
            async (x, ct) => Interlocked.Add(ref sum, await Work(x, ct).ConfigureAwait(false))).ConfigureAwait(false);
        return sum;
    }

    [Benchmark, BenchmarkCategory("Map")]
    public async Task<long> ExecutorMap()
    {
        long sum = 0;
        await using var executor = new CurrentContextExecutor(8);
        await foreach (MapResult<int, int> r in executor.Map(Enumerable.Range(0, N), Work).ConfigureAwait(false))
        {
            sum += r.Value;
        }

        return sum;
    }

    [Benchmark, BenchmarkCategory("Map")]
    public async Task<long> ExecutorMapOrdered()
    {
        long sum = 0;
        await using var executor = new CurrentContextExecutor(8);
        await foreach (MapResult<int, int> r in executor.MapOrdered(Enumerable.Range(0, N), Work, lookAhead: 64).ConfigureAwait(false))
        {
            sum += r.Value;
        }

        return sum;
    }

}

/// <summary>
/// AsyncUtils.BackgroundTasks "Group": the overhead per task of a TaskGroup over 1,000 tasks that
/// each yield once, against Task.WhenAll (baseline). A class of its own: it used to share
/// <see cref="BackgroundTasksBenchmarks"/>, whose N parameter it ignored by returning at once for
/// N = 1,000,000, so that row divided an empty method by OperationsPerInvoke (0.0055 ns per task).
/// </summary>
[MemoryDiagnoser]
[System.Diagnostics.CodeAnalysis.SuppressMessage("Performance", "CA1822:Mark members as static", Justification = "BenchmarkDotNet runs instance methods.")]
public class TaskGroupBenchmarks
{
    private const int GroupTasks = 1000;

    [Benchmark(Baseline = true, OperationsPerInvoke = GroupTasks)]
    public async Task TaskWhenAll()
    {
        var tasks = new Task[GroupTasks];
        for (int i = 0; i < GroupTasks; i++)
        {
            tasks[i] = YieldOnce(CancellationToken.None);
        }

        await Task.WhenAll(tasks).ConfigureAwait(false);
    }

    [Benchmark(OperationsPerInvoke = GroupTasks)]
    public async Task TaskGroupStart()
    {
        var group = new TaskGroup();
        await using (group.ConfigureAwait(false))
        {
            for (int i = 0; i < GroupTasks; i++)
            {
                group.Start(YieldOnce);
            }
        }
    }

    private static async Task YieldOnce(CancellationToken cancellationToken) => await Task.Yield();
}
