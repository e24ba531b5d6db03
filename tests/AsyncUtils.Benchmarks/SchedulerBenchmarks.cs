using System.Diagnostics;
using AsyncUtils;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;

namespace AsyncUtils.Benchmarks;

/// <summary>
/// AsyncUtils.Scheduler at scale. "Schedule": 1,000,000 payloads with scrambled due times within
/// a day, per payload (Allocated = bytes per pending payload, heap growth included), against the
/// BCL PriorityQueue (baseline: a heap with no cancel, no timer, no consumers) and a
/// System.Threading.Timer per payload (what Task.Delay per item costs). "ScheduleCancel": the
/// same, then cancelling every payload, per payload. "Lateness": 10,000 payloads due over one
/// second on the real clock (10,000 due per second) consumed by one await foreach; the median and
/// p99 lateness are printed by the global cleanup.
/// </summary>
[MemoryDiagnoser]
[GroupBenchmarksBy(BenchmarkLogicalGroupRule.ByCategory)]
[CategoriesColumn]
public class SchedulerBenchmarks
{
    private const int N = 1_000_000;
    private const int LatenessPayloads = 10_000;

    private readonly TimeSpan[] _delays = new TimeSpan[N];
    private readonly List<double> _latenessMs = [];

    [GlobalSetup]
    public void Setup()
    {
        for (int i = 0; i < N; i++)
        {
            _delays[i] = TimeSpan.FromMilliseconds(((i * 7919L) % 86_400_000) + 60_000); // a fixed scramble within a day, at least a minute out
        }
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        if (_latenessMs.Count > 0)
        {
            _latenessMs.Sort();
            Console.WriteLine(
                $"// Scheduler lateness over {_latenessMs.Count} payloads at 10,000/s: median {_latenessMs[_latenessMs.Count / 2]:F3} ms, "
                + $"p99 {_latenessMs[(int)(_latenessMs.Count * 0.99)]:F3} ms, max {_latenessMs[^1]:F3} ms");
        }
    }

    [Benchmark(Baseline = true, OperationsPerInvoke = N), BenchmarkCategory("Schedule")]
    public int PriorityQueue_Enqueue()
    {
        var queue = new PriorityQueue<int, (long, long)>();
        long now = DateTimeOffset.UtcNow.UtcTicks;
        for (int i = 0; i < N; i++)
        {
            queue.Enqueue(i, (now + _delays[i].Ticks, i));
        }

        return queue.Count;
    }

    [Benchmark(OperationsPerInvoke = N), BenchmarkCategory("Schedule")]
    public int PayloadScheduler_Schedule()
    {
        using var scheduler = new PayloadScheduler<int>();
        for (int i = 0; i < N; i++)
        {
            scheduler.Schedule(_delays[i], i);
        }

        return scheduler.Count;
    }

    [Benchmark(OperationsPerInvoke = N), BenchmarkCategory("Schedule")]
    public int TimerPerPayload_Create()
    {
        var timers = new ITimer[N];
        for (int i = 0; i < N; i++)
        {
            timers[i] = TimeProvider.System.CreateTimer(static _ => { }, null, _delays[i], Timeout.InfiniteTimeSpan);
        }

        foreach (ITimer timer in timers)
        {
            timer.Dispose();
        }

        return timers.Length;
    }

    [Benchmark(Baseline = true, OperationsPerInvoke = N), BenchmarkCategory("ScheduleCancel")]
    public int PayloadScheduler_ScheduleThenCancel()
    {
        using var scheduler = new PayloadScheduler<int>();
        var handles = new ScheduledPayload<int>[N];
        for (int i = 0; i < N; i++)
        {
            handles[i] = scheduler.Schedule(_delays[i], i);
        }

        // Cancel in a scrambled order, so most removals come from the middle of the heap.
        for (int i = 0; i < N; i++)
        {
            handles[(int)((i * 104_729L) % N)].Cancel();
        }

        return scheduler.Count;
    }

    [Benchmark(OperationsPerInvoke = LatenessPayloads), BenchmarkCategory("Lateness")]
    public async Task PayloadScheduler_Lateness_10k_per_second()
    {
        using var scheduler = new PayloadScheduler<long>();
        DateTimeOffset start = TimeProvider.System.GetUtcNow().AddMilliseconds(20);
        for (int i = 0; i < LatenessPayloads; i++)
        {
            DateTimeOffset due = start.AddTicks(i * (TimeSpan.TicksPerSecond / LatenessPayloads));
            scheduler.Schedule(due, due.UtcTicks);
        }

        scheduler.Complete();
        var lateness = new double[LatenessPayloads];
        int n = 0;
        await foreach (long dueTicks in scheduler.ConfigureAwait(false))
        {
            lateness[n++] = (TimeProvider.System.GetUtcNow().UtcTicks - dueTicks) / (double)TimeSpan.TicksPerMillisecond;
        }

        Debug.Assert(n == LatenessPayloads, "every payload arrives");
        lock (_latenessMs)
        {
            _latenessMs.AddRange(lateness);
        }
    }
}
