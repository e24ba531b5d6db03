using System.Diagnostics;
using System.Globalization;
using AsyncUtils;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;

namespace AsyncUtils.Benchmarks;

/// <summary>
/// AsyncUtils.Scheduler at scale. "Schedule": 1,000,000 payloads with scrambled due times within
/// a day, per payload (Allocated = bytes per pending payload, heap growth included), against the
/// BCL PriorityQueue (baseline: a heap with no cancel, no timer, no consumers) and a
/// System.Threading.Timer per payload (what Task.Delay per item costs). "ScheduleCancel": the
/// same, then cancelling every payload, per payload. "Lateness": 10,000 payloads due over one
/// second on the real clock (10,000 due per second) consumed by one await foreach; the median, p99
/// and maximum lateness over every payload of the run are report columns
/// (<see cref="SchedulerLatenessColumn"/>; the class must run --inProcess for them) and are printed
/// by the global cleanup.
/// </summary>
[MemoryDiagnoser]
[Config(typeof(SchedulerLatenessColumn.Config))]
[GroupBenchmarksBy(BenchmarkLogicalGroupRule.ByCategory)]
[CategoriesColumn]
public class SchedulerBenchmarks
{
    private const int N = 1_000_000;
    private const int LatenessPayloads = 10_000;

    // Static: the report's lateness columns read it after the run, in the same process (--inProcess).
    private static readonly List<double> LatenessMs = [];

    private readonly TimeSpan[] _delays = new TimeSpan[N];
    private readonly List<double> _latenessMs = LatenessMs; // the shared store, reached through the instance

    /// <summary>The lateness in milliseconds at <paramref name="quantile"/> (1 = the maximum) over every payload recorded so far, or null before any.</summary>
    internal static double? LatenessQuantileMs(double quantile)
    {
        lock (LatenessMs)
        {
            if (LatenessMs.Count == 0)
            {
                return null;
            }

            LatenessMs.Sort();
            return LatenessMs[Math.Min(LatenessMs.Count - 1, (int)(LatenessMs.Count * quantile))];
        }
    }

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
        if (LatenessQuantileMs(0.5) is { } median)
        {
            Console.WriteLine(
                $"// Scheduler lateness over {_latenessMs.Count} payloads at 10,000/s so far: median {median:F3} ms, "
                + $"p99 {LatenessQuantileMs(0.99):F3} ms, max {LatenessQuantileMs(1.0):F3} ms");
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

/// <summary>
/// A report column with one percentile of the lateness that <see cref="SchedulerBenchmarks"/>'s
/// Lateness benchmark records (how long after its due time each payload reached the consumer), so
/// that the percentiles are in BenchmarkDotNet's report and the generated tables rather than copied
/// from the log. (In this file, not its own: a build narrowed by AsyncUtilsOnly compiles only the
/// listed packages' *Benchmarks.cs files.) The benchmark records into a static list, which is why the class runs
/// <c>--inProcess</c> (build/bench.sh does so); out of process the column shows "?".
/// </summary>
internal sealed class SchedulerLatenessColumn(string name, double quantile) : IColumn
{
    /// <summary>The config that adds the median, p99 and maximum lateness columns.</summary>
    internal sealed class Config : ManualConfig
    {
        public Config() => AddColumn(
            new SchedulerLatenessColumn("Lateness p50", 0.5),
            new SchedulerLatenessColumn("Lateness p99", 0.99),
            new SchedulerLatenessColumn("Lateness max", 1.0));
    }

    public string Id => nameof(SchedulerLatenessColumn) + "." + ColumnName;

    public string ColumnName => name;

    public bool AlwaysShow => true;

    public ColumnCategory Category => ColumnCategory.Custom;

    public int PriorityInCategory => (int)(quantile * 100);

    public bool IsNumeric => true;

    public UnitType UnitType => UnitType.Dimensionless;

    public string Legend => $"How late a payload reached the consumer (quantile {quantile.ToString(CultureInfo.InvariantCulture)}), over every payload of every invocation in the run, warm-up included";

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase) => GetValue(summary, benchmarkCase, SummaryStyle.Default);

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style)
    {
        if (benchmarkCase.Descriptor.WorkloadMethod.Name != nameof(SchedulerBenchmarks.PayloadScheduler_Lateness_10k_per_second))
        {
            return "-";
        }

        double? ms = SchedulerBenchmarks.LatenessQuantileMs(quantile);
        return ms is { } value ? value.ToString("0.00", CultureInfo.InvariantCulture) + " ms" : "?";
    }

    public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;

    public bool IsAvailable(Summary summary) => true;
}
