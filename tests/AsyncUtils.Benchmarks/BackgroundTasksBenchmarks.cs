using AsyncUtils.BackgroundTasks;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;

namespace AsyncUtils.Benchmarks;

/// <summary>
/// AsyncUtils.BackgroundTasks. "Map": N trivial items (an already-completed Task per item) with 8
/// at a time, consumed as results, against Parallel.ForEachAsync with MaxDegreeOfParallelism 8
/// summing the same results (baseline); N = 100,000 and 1,000,000 show whether the cost per item
/// and the allocation per item stay flat as the input grows 10x. "Group": the overhead per task
/// of a TaskGroup over 1,000 tasks that each yield once, against Task.WhenAll (baseline).
/// </summary>
[MemoryDiagnoser]
[GroupBenchmarksBy(BenchmarkLogicalGroupRule.ByCategory, BenchmarkLogicalGroupRule.ByParams)]
[CategoriesColumn]
public class BackgroundTasksBenchmarks
{
    private const int GroupTasks = 1000;

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

    [Benchmark(Baseline = true, OperationsPerInvoke = GroupTasks), BenchmarkCategory("Group")]
    public async Task TaskWhenAll()
    {
        if (N != 100_000)
        {
            return; // the group benchmark does not depend on N; run it once
        }

        var tasks = new Task[GroupTasks];
        for (int i = 0; i < GroupTasks; i++)
        {
            tasks[i] = YieldOnce(CancellationToken.None);
        }

        await Task.WhenAll(tasks).ConfigureAwait(false);
    }

    [Benchmark(OperationsPerInvoke = GroupTasks), BenchmarkCategory("Group")]
    public async Task TaskGroupStart()
    {
        if (N != 100_000)
        {
            return;
        }

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
