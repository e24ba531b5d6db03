using System.Diagnostics;

namespace AsyncUtils.Tests;

/// <summary>Bounded randomized runs: sources that sometimes yield to the thread pool, consumers that leave at random.</summary>
public sealed class MergeStressTests
{
    private const int Sources = 8;
    private const int Each = 300;
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);

    [Test]
    public async Task Every_item_comes_exactly_once_in_its_source_order([Values] bool batches)
    {
        var clock = Stopwatch.StartNew();
        for (int round = 0; round < 10 && clock.Elapsed < TimeSpan.FromSeconds(3); round++)
        {
            var random = new Random(round);
            Instrumented<int>[] sources = MakeSources(random, out Counter[] produced);
            var last = new int[Sources];
            Array.Fill(last, -1);
            int count = 0;
            await foreach (int item in Items(sources, batches).WithCancellation(CancellationToken.None))
            {
                Assert.That(item, Is.GreaterThan(last[item / Each]));
                last[item / Each] = item;
                count++;
            }

            Assert.That(count, Is.EqualTo(Sources * Each));
            AssertClean(sources);
        }
    }

    [Test]
    public async Task Leaving_at_a_random_point_never_over_consumes_and_disposes_everything([Values] bool batches)
    {
        var clock = Stopwatch.StartNew();
        for (int round = 0; round < 40 && clock.Elapsed < TimeSpan.FromSeconds(3); round++)
        {
            var random = new Random(1000 + round);
            Instrumented<int>[] sources = MakeSources(random, out Counter[] produced);
            int leaveAfter = random.Next(Sources * Each);
            var consumed = new int[Sources];
            int count = 0;
            await foreach (int item in Items(sources, batches).WithCancellation(CancellationToken.None))
            {
                consumed[item / Each]++;
                if (++count >= leaveAfter && (!batches || random.Next(3) == 0))
                {
                    break;
                }
            }

            for (int i = 0; i < Sources; i++)
            {
                Assert.That(produced[i].Value, Is.LessThanOrEqualTo(consumed[i] + 1), $"source {i} produced more than one item beyond what was consumed");
            }

            AssertClean(sources);
        }
    }

    [Test]
    public async Task Cancelling_at_a_random_moment_ends_cleanly([Values] bool batches)
    {
        var clock = Stopwatch.StartNew();
        for (int round = 0; round < 40 && clock.Elapsed < TimeSpan.FromSeconds(3); round++)
        {
            var random = new Random(2000 + round);
            Instrumented<int>[] sources = MakeSources(random, out _);
            using var cts = new CancellationTokenSource();
            int cancelAt = random.Next(Sources * Each);
            int count = 0;
            Task consume = Task.Run(async () =>
            {
                await foreach (int item in Items(sources, batches).WithCancellation(cts.Token))
                {
                    if (Interlocked.Increment(ref count) == cancelAt)
                    {
                        _ = Task.Run(cts.Cancel);
                    }
                }
            });

            try
            {
                await consume.WaitAsync(Bound);
            }
            catch (OperationCanceledException ex)
            {
                Assert.That(ex.CancellationToken, Is.EqualTo(cts.Token));
            }

            AssertClean(sources);
        }
    }

    private static async IAsyncEnumerable<int> Items(Instrumented<int>[] sources, bool batches)
    {
        if (!batches)
        {
            await foreach (int item in AsyncMerge.Merge(sources))
            {
                yield return item;
            }

            yield break;
        }

        await foreach (IReadOnlyList<int> batch in AsyncMerge.MergeBatches(sources))
        {
            Assert.That(batch, Is.Not.Empty);
            Assert.That(batch.Select(x => x / Each).Distinct().Count(), Is.EqualTo(batch.Count), "at most one item per source in a batch");
            foreach (int item in batch)
            {
                yield return item;
            }
        }
    }

    private static Instrumented<int>[] MakeSources(Random random, out Counter[] produced)
    {
        var sources = new Instrumented<int>[Sources];
        produced = new Counter[Sources];
        for (int i = 0; i < Sources; i++)
        {
            produced[i] = new Counter();
            sources[i] = new Instrumented<int>(Generate(i * Each, Each, random.Next(1, 4), produced[i]));
        }

        return sources;
    }

    private static async IAsyncEnumerable<int> Generate(int start, int count, int yieldEvery, Counter produced, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        for (int i = 0; i < count; i++)
        {
            if (i % yieldEvery == 0)
            {
                await Task.Yield();
            }

            cancellationToken.ThrowIfCancellationRequested();
            Interlocked.Increment(ref produced.Value);
            yield return start + i;
        }
    }

    private static void AssertClean(Instrumented<int>[] sources)
    {
        foreach (Instrumented<int> source in sources)
        {
            Assert.That(source.Violations, Is.Zero, "two steps at once, or a disposal while a step was pending");
            Assert.That(source.Disposed, Is.True);
        }
    }

    private sealed class Counter
    {
        public int Value;
    }
}
