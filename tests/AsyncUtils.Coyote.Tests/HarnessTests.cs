using System.Reflection;

namespace AsyncUtils.Coyote.Tests;

/// <summary>
/// Guards the harness itself: a harness whose assemblies are not rewritten, or whose scheduler
/// explores nothing, would pass every test while testing nothing.
/// </summary>
public sealed class HarnessTests
{
    [Test]
    public void Our_assemblies_are_rewritten_by_Coyote()
    {
        CoyoteRunner.AssertRewritten(
            typeof(HarnessTests).Assembly,
            typeof(Lockout).Assembly,
            typeof(PrioritySemaphore).Assembly,
            typeof(DualQueue<>).Assembly,
            typeof(TaskCache<,>).Assembly,
            typeof(CoroutineCache<,>).Assembly,
            typeof(SlidingLogRateLimiter).Assembly,
            typeof(Waterfall<>).Assembly,
            typeof(TaskGroup).Assembly);
    }

    [Test]
    public void The_runtime_is_not_rewritten()
    {
        Assert.That(typeof(object).Assembly.GetCustomAttribute<Microsoft.Coyote.Rewriting.RewritingSignatureAttribute>(), Is.Null);
        Assert.That(typeof(Task).Assembly.GetCustomAttribute<Microsoft.Coyote.Rewriting.RewritingSignatureAttribute>(), Is.Null);
    }

    [Test]
    public void Coyote_finds_a_lost_update_across_an_await()
    {
        string bug = CoyoteRunner.AssertFindsBug(100, async () =>
        {
            var counter = new RacyCounter();
            await Task.WhenAll(Task.Run(counter.IncrementAsync), Task.Run(counter.IncrementAsync));
            Check.That(counter.Value == 2, "an increment was lost");
        });
        Assert.That(bug, Does.Contain("an increment was lost"));
    }

    [Test]
    public void Coyote_finds_a_check_then_act_race_between_two_locked_sections()
    {
        // No await at all: only the interleaving of Monitor enters (what the packages' net8.0
        // builds use) exposes it, so this proves that lock statements are scheduling points.
        string bug = CoyoteRunner.AssertFindsBug(100, async () =>
        {
            var stock = new RacyStock(1);
            await Task.WhenAll(Task.Run(stock.TakeIfAvailable), Task.Run(stock.TakeIfAvailable));
            Check.That(stock.Available >= 0, "oversold");
        });
        Assert.That(bug, Does.Contain("oversold"));
    }

    /// <summary>A deliberately racy counter: read, await, write.</summary>
    private sealed class RacyCounter
    {
        private int _value;

        public int Value => Volatile.Read(ref _value);

        public async Task IncrementAsync()
        {
            int seen = Volatile.Read(ref _value);
            await Task.Yield();
            Volatile.Write(ref _value, seen + 1);
        }
    }

    /// <summary>A deliberately racy stock: checks availability under one lock, takes under another.</summary>
    private sealed class RacyStock(int available)
    {
        private readonly object _gate = new();
        private int _available = available;

        public int Available
        {
            get
            {
                lock (_gate)
                {
                    return _available;
                }
            }
        }

        public void TakeIfAvailable()
        {
            bool ok;
            lock (_gate)
            {
                ok = _available > 0;
            }

            lock (_gate)
            {
                if (ok)
                {
                    _available--;
                }
            }
        }
    }
}
