using System.Diagnostics;
using StackExchange.Redis;

namespace AsyncUtils.Lockout.Redis.Tests;

[TestFixture]
public sealed class RedisLockoutTests : RedisLockoutTestBase
{
    /// <summary>Slack for reading two clocks one after the other on a loaded machine.</summary>
    private static readonly TimeSpan ReadSlack = TimeSpan.FromMilliseconds(5);

    [Test]
    public async Task A_lock_in_one_process_holds_back_the_others_within_the_stated_bound()
    {
        RedisLockout a = await ProcessAsync();
        RedisLockout b = await ProcessAsync();
        RedisLockout c = await ProcessAsync();
        Assert.That(b.IsLocked || c.IsLocked, Is.False);

        var watch = Stopwatch.StartNew();
        a.LockFor(TimeSpan.FromSeconds(3));
        Assert.That(a.IsLocked, Is.True, "the locking process is locked at once");
        TimeSpan propagation = await WaitUntilAsync(() => b.IsLocked && c.IsLocked, "B and C are locked");
        watch.Stop();

        // Stated bound: each other process's end is within its clock-offset uncertainty of the shared
        // end, which is at most the propagation (one trip to Redis) after the locking process's end.
        DateTimeOffset aEnd = a.LockedUntil!.Value;
        foreach (RedisLockout other in new[] { b, c })
        {
            TimeSpan difference = other.LockedUntil!.Value - aEnd;
            TimeSpan uncertainty = other.ClockOffsetUncertainty + ReadSlack;
            Assert.That(difference, Is.InRange(-uncertainty, propagation + uncertainty), $"propagation {propagation}, uncertainty {other.ClockOffsetUncertainty}");
        }

        TestContext.Out.WriteLine($"propagation (upper bound, 1 ms polling) {propagation.TotalMilliseconds:F2} ms; offset uncertainty B {b.ClockOffsetUncertainty.TotalMilliseconds:F3} ms, C {c.ClockOffsetUncertainty.TotalMilliseconds:F3} ms");
        Assert.That(propagation, Is.LessThan(TimeSpan.FromSeconds(2)), "seen through pub/sub, not a periodic resync (30 s)");
    }

    [Test]
    public async Task A_shorter_lock_from_another_process_never_shortens_the_shared_end()
    {
        ConnectionMultiplexer observer = await ConnectAsync();
        RedisLockout a = await ProcessAsync();
        RedisLockout b = await ProcessAsync();

        a.LockFor(TimeSpan.FromSeconds(6));
        await WaitUntilAsync(() => b.IsLocked, "B is locked");
        DateTimeOffset? shared = await SharedEndAsync(observer);
        DateTimeOffset aEnd = a.LockedUntil!.Value;
        DateTimeOffset bEnd = b.LockedUntil!.Value;

        b.LockFor(TimeSpan.FromSeconds(1));

        Assert.Multiple(async () =>
        {
            Assert.That(b.LockedUntil!.Value - bEnd, Is.InRange(-ReadSlack, ReadSlack), "B's own shorter lock does not shorten it");
            Assert.That(a.LockedUntil!.Value - aEnd, Is.InRange(-ReadSlack, ReadSlack));
            Assert.That(await SharedEndAsync(observer), Is.EqualTo(shared));
        });
    }

    [Test]
    public async Task A_shorter_lock_sent_to_the_server_takes_the_longer_shared_end_back()
    {
        ConnectionMultiplexer observer = await ConnectAsync();
        RedisLockout a = await ProcessAsync();
        SetKeySilently(10_000);
        DateTimeOffset? shared = await SharedEndAsync(observer);
        int syncs = a.SyncCount;

        a.LockFor(TimeSpan.FromSeconds(1));

        // A did not know the longer end, so it sent its lock; the script keeps the later end and A takes it.
        await WaitUntilAsync(() => Remaining(a) > TimeSpan.FromSeconds(5), "A has the 10 s shared end");
        Assert.Multiple(async () =>
        {
            Assert.That(a.SyncCount, Is.GreaterThan(syncs));
            Assert.That(await SharedEndAsync(observer), Is.EqualTo(shared), "the key is unchanged");
            Assert.That(a.LockedUntil!.Value - shared!.Value, Is.InRange(-(a.ClockOffsetUncertainty + ReadSlack), a.ClockOffsetUncertainty + ReadSlack));
        });
    }

    [Test]
    public async Task A_lock_set_on_Local_stays_local_also_when_a_shared_lock_is_sent_or_on_reconnect()
    {
        ConnectionMultiplexer observer = await ConnectAsync();
        RedisLockout a = await ProcessAsync();
        RedisLockout b = await ProcessAsync();

        a.Local.LockFor(TimeSpan.FromSeconds(60));
        a.LockFor(TimeSpan.FromSeconds(8));

        await WaitUntilAsync(() => b.IsLocked, "B has the shared lock");
        Assert.That(Remaining(b), Is.LessThan(TimeSpan.FromSeconds(9)), "only the shared lock was sent");

        Server.Restart(); // empty: the processes send their shared lockout again on reconnect
        await WaitUntilAsync(() => observer.GetDatabase().KeyExists(Key), "the shared lock was sent again");
        Assert.That(await observer.GetDatabase().KeyTimeToLiveAsync(Key), Is.LessThan(TimeSpan.FromSeconds(9)), "the reconnect sent the shared lock only");
        Assert.That(Remaining(a), Is.GreaterThan(TimeSpan.FromSeconds(50)), "A's own gate keeps its local lock");
    }

    [Test]
    public async Task The_key_expires_when_the_shared_lockout_ends()
    {
        ConnectionMultiplexer observer = await ConnectAsync();
        RedisLockout a = await ProcessAsync();

        a.LockFor(TimeSpan.FromMilliseconds(2000));
        await WaitUntilAsync(() => observer.GetDatabase().KeyExists(Key), "the lock reached Redis");
        TimeSpan? ttl = await observer.GetDatabase().KeyTimeToLiveAsync(Key);
        DateTimeOffset? shared = await SharedEndAsync(observer);

        Assert.That(ttl, Is.Not.Null.And.InRange(TimeSpan.FromMilliseconds(1000), TimeSpan.FromMilliseconds(2001)));
        Assert.That(shared!.Value - DateTimeOffset.UtcNow - ttl!.Value, Is.InRange(TimeSpan.FromMilliseconds(-50), TimeSpan.FromMilliseconds(50)), "it expires at the shared end");
    }

    [Test]
    public async Task A_lockout_created_after_the_lock_catches_up_at_start()
    {
        RedisLockout a = await ProcessAsync();
        a.LockFor(TimeSpan.FromSeconds(5));
        ConnectionMultiplexer observer = await ConnectAsync();
        await WaitUntilAsync(() => observer.GetDatabase().KeyExists(Key), "the lock reached Redis");

        RedisLockout late = await ProcessAsync();

        Assert.That(late.IsLocked, Is.True, "locked as soon as CreateAsync returns");
        Assert.That(late.LockedUntil!.Value - a.LockedUntil!.Value, Is.InRange(-(late.ClockOffsetUncertainty + ReadSlack), TimeSpan.FromSeconds(1)));
    }

    [Test]
    public async Task A_lockout_set_on_the_server_while_a_process_was_disconnected_is_caught_up_on_reconnect()
    {
        RedisLockout b = await ProcessAsync(configure: o => o.ResyncInterval = Timeout.InfiniteTimeSpan);

        // Set the key without publishing and save it, so the restarted server starts with it.
        SetKeySilently(20_000);
        Assert.That(Server.Command("SAVE"), Is.EqualTo("+OK"));
        Assert.That(b.IsLocked, Is.False, "nothing was published");

        Server.Restart();

        await WaitUntilAsync(() => b.IsLocked, "B caught up after reconnecting");
        Assert.That(Remaining(b), Is.GreaterThan(TimeSpan.FromSeconds(5)));
    }

    [Test]
    public async Task A_lock_set_while_Redis_is_down_is_sent_when_it_comes_back()
    {
        RedisLockout a = await ProcessAsync(configure: o => o.ResyncInterval = Timeout.InfiniteTimeSpan);
        RedisLockout b = await ProcessAsync(configure: o => o.ResyncInterval = Timeout.InfiniteTimeSpan);

        Server.Kill();
        var watch = Stopwatch.StartNew();
        a.LockFor(TimeSpan.FromSeconds(30));
        Assert.That(watch.Elapsed, Is.LessThan(TimeSpan.FromMilliseconds(500)), "LockFor never waits for Redis");
        Assert.That(a.IsLocked, Is.True, "local lockouts keep working");
        Assert.That(b.IsLocked, Is.False);

        Server.Restart();

        await WaitUntilAsync(() => b.IsLocked, "B got A's lock after Redis came back");
        RedisLockout late = await ProcessAsync();
        Assert.That(late.IsLocked, Is.True, "the key holds it again");
    }

    [Test]
    public async Task Created_while_Redis_is_down_it_works_locally_and_joins_the_fleet_when_Redis_comes_back()
    {
        ConnectionMultiplexer connection = await ConnectAsync();
        Server.Kill();
        await WaitUntilAsync(() => !connection.IsConnected, "the connection noticed");

        var watch = Stopwatch.StartNew();
        RedisLockout b = await LockoutOnAsync(connection, configure: o =>
        {
            o.ResyncInterval = Timeout.InfiniteTimeSpan;
            o.Local = new LockoutOptions { Fifo = true };
        });
        Assert.Multiple(() =>
        {
            Assert.That(watch.Elapsed, Is.LessThan(TimeSpan.FromSeconds(1)), "CreateAsync does not wait for a Redis that is down");
            Assert.That(b.ClockOffset, Is.Null, "not measured yet");
            Assert.That(b.Local.IsFifo, Is.True, "the local options reach the gate");
            Assert.That(b.TryEnter(), Is.True);
        });
        b.Local.LockFor(TimeSpan.FromMilliseconds(1)); // local only; harmless

        Server.Restart();
        RedisLockout a = await ProcessAsync();
        a.LockFor(TimeSpan.FromSeconds(20));

        await WaitUntilAsync(() => b.IsLocked, "B joined the fleet");
        Assert.That(b.ClockOffset, Is.Not.Null);
    }

    [Test]
    public async Task A_server_restart_that_lost_the_key_does_not_lose_the_lockout()
    {
        RedisLockout a = await ProcessAsync();
        RedisLockout b = await ProcessAsync();
        a.LockFor(TimeSpan.FromSeconds(30));
        await WaitUntilAsync(() => b.IsLocked, "B is locked");

        Server.Restart(); // empty: the key is gone

        ConnectionMultiplexer observer = await ConnectAsync();
        await WaitUntilAsync(() => observer.GetDatabase().KeyExists(Key), "a process sent its lockout again after reconnecting");
        RedisLockout late = await ProcessAsync();
        Assert.That(late.IsLocked, Is.True);
        Assert.That(Remaining(late), Is.GreaterThan(TimeSpan.FromSeconds(20)));
    }

    [Test]
    public async Task A_lost_message_is_caught_up_by_the_periodic_resync()
    {
        RedisLockout b = await ProcessAsync(configure: o => o.ResyncInterval = TimeSpan.FromMilliseconds(200));
        SetKeySilently(10_000);

        await WaitUntilAsync(() => b.IsLocked, "B re-read the key", TimeSpan.FromSeconds(5));
    }

    [TestCase(300)]
    [TestCase(-180)]
    public async Task A_process_with_a_skewed_clock_ends_its_lockout_at_the_same_real_moment(int skewSeconds)
    {
        var skewed = new SkewedTimeProvider(TimeSpan.FromSeconds(skewSeconds));
        RedisLockout a = await ProcessAsync();
        RedisLockout b = await ProcessAsync(skewed);
        Assert.That(b.ClockOffset!.Value.TotalSeconds, Is.EqualTo(-skewSeconds).Within(0.1), "the offset is measured");

        a.LockFor(TimeSpan.FromMilliseconds(1500));
        TimeSpan propagation = await WaitUntilAsync(() => b.IsLocked, "the skewed process is locked");

        // On its own clock B's end is the shared end shifted by its skew.
        TimeSpan endDifference = (b.LockedUntil!.Value - TimeSpan.FromSeconds(skewSeconds)) - a.LockedUntil!.Value;
        TimeSpan bound = b.ClockOffsetUncertainty + ReadSlack;
        Assert.That(endDifference, Is.InRange(-bound, propagation + bound));

        // And both gates open at the same real moment (timers on a loaded machine may be late).
        Task<DateTimeOffset> aOpens = OpensAtAsync(a);
        Task<DateTimeOffset> bOpens = OpensAtAsync(b);
        TimeSpan opened = await bOpens - await aOpens;
        TimeSpan timerSlack = TimeSpan.FromMilliseconds(300);
        Assert.That(opened, Is.InRange(-(bound + timerSlack), propagation + bound + timerSlack));

        static async Task<DateTimeOffset> OpensAtAsync(RedisLockout lockout)
        {
            await lockout.EnterAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(10));
            return DateTimeOffset.UtcNow;
        }
    }

    [Test]
    public async Task With_Redis_down_a_local_lock_still_locks_and_entering_does_no_IO()
    {
        ConnectionMultiplexer connection = await ConnectAsync();
        RedisLockout a = await LockoutOnAsync(connection);
        Server.Kill();
        await WaitUntilAsync(() => !connection.IsConnected, "the connection noticed");

        int syncs = a.SyncCount;
        a.TryEnter();
        await a.EnterAsync();
        a.EnterOrThrow();
        long allocated = GC.GetAllocatedBytesForCurrentThread();
        bool allEntered = true;
        for (int i = 0; i < 1000; i++)
        {
            allEntered &= a.TryEnter();
            ValueTask entry = a.EnterAsync();
            allEntered &= entry.IsCompletedSuccessfully;
            a.EnterOrThrow();
        }

        allocated = GC.GetAllocatedBytesForCurrentThread() - allocated;
        Assert.Multiple(() =>
        {
            Assert.That(allEntered, Is.True, "an unlocked gate lets everyone in synchronously");
            Assert.That(allocated, Is.Zero);
            Assert.That(a.SyncCount, Is.EqualTo(syncs), "entering never talks to Redis");
        });

        a.LockFor(TimeSpan.FromSeconds(2));

        Assert.Multiple(() =>
        {
            Assert.That(a.IsLocked, Is.True);
            Assert.That(a.TryEnter(), Is.False);
            Assert.That(() => a.EnterOrThrow(), Throws.TypeOf<LockoutActiveException>());
        });
    }

    [Test]
    public async Task Dispose_unsubscribes_and_stops_applying_shared_lockouts()
    {
        ConnectionMultiplexer observer = await ConnectAsync();
        RedisLockout a = await ProcessAsync();
        RedisLockout b = await ProcessAsync();
        RedisLockout c = await ProcessAsync();
        Assert.That(Subscribers(), Is.EqualTo(3));

        await b.DisposeAsync();

        await WaitUntilAsync(() => Subscribers() == 2, "B's subscription is gone");
        a.LockFor(TimeSpan.FromSeconds(3));
        await WaitUntilAsync(() => c.IsLocked, "C is locked");
        Assert.Multiple(() =>
        {
            Assert.That(b.IsLocked, Is.False, "a disposed lockout applies nothing");
            Assert.That(() => b.LockFor(TimeSpan.FromSeconds(1)), Throws.TypeOf<ObjectDisposedException>());
        });
        b.Local.LockFor(TimeSpan.FromSeconds(1));
        Assert.That(b.IsLocked, Is.True, "the local gate keeps working");
        b.Dispose(); // twice is fine

        long Subscribers()
        {
            var reply = (RedisResult[])observer.GetDatabase().Execute("PUBSUB", "NUMSUB", Channel)!;
            return (long)reply[1];
        }
    }

    [Test]
    public async Task A_burst_of_locks_is_coalesced_and_the_latest_is_shared()
    {
        RedisLockout a = await ProcessAsync();
        RedisLockout b = await ProcessAsync();
        int syncs = a.SyncCount;

        for (int i = 1; i <= 1000; i++)
        {
            a.LockFor(TimeSpan.FromMilliseconds(2000 + i));
        }

        DateTimeOffset aEnd = a.LockedUntil!.Value;
        await WaitUntilAsync(() => b.LockedUntil >= aEnd - b.ClockOffsetUncertainty - ReadSlack, "B has the latest lock");
        Assert.That(a.SyncCount - syncs, Is.LessThan(500), "one script in flight at a time, not one per call");
    }

    [Test]
    public async Task Concurrent_locks_from_four_processes_settle_on_the_latest_end_everywhere()
    {
        RedisLockout[] processes = await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => ProcessAsync()));
        long latestTicks = 0;
        var watch = Stopwatch.StartNew();
        await Task.WhenAll(processes.SelectMany(p => Enumerable.Range(0, 4).Select(seed => Task.Run(() =>
        {
            var random = new Random(seed);
            for (int i = 0; i < 200; i++)
            {
                TimeSpan duration = TimeSpan.FromMilliseconds(random.Next(500, 3000));
                p.LockFor(duration);
                long end = (DateTimeOffset.UtcNow + duration).UtcTicks; // read after: an upper bound of this lock's end
                long seen;
                while ((seen = Interlocked.Read(ref latestTicks)) < end && Interlocked.CompareExchange(ref latestTicks, end, seen) != seen)
                {
                }
            }
        }))));
        TimeSpan elapsed = watch.Elapsed;

        var latest = new DateTimeOffset(latestTicks, TimeSpan.Zero);
        foreach (RedisLockout p in processes)
        {
            TimeSpan uncertainty = p.ClockOffsetUncertainty + ReadSlack;
            await WaitUntilAsync(() => p.LockedUntil >= latest - TimeSpan.FromMilliseconds(50) - uncertainty, "every process has the latest end");
            Assert.That(p.LockedUntil!.Value - latest, Is.LessThan(elapsed + TimeSpan.FromSeconds(1)), "no end beyond what was asked (plus the trips to Redis)");
        }
    }

    [Test]
    public async Task A_lock_made_while_another_is_being_sent_is_sent_next()
    {
        RedisLockout a = await ProcessAsync();
        RedisLockout b = await ProcessAsync();
        int syncs = a.SyncCount;

        a.LockFor(TimeSpan.FromSeconds(1));
        SpinWait.SpinUntil(() => a.SyncCount > syncs, TimeSpan.FromSeconds(10)); // the first is on its way
        a.LockFor(TimeSpan.FromSeconds(4));

        DateTimeOffset aEnd = a.LockedUntil!.Value;
        await WaitUntilAsync(() => b.LockedUntil >= aEnd - b.ClockOffsetUncertainty - ReadSlack, "B has the second lock");
        Assert.That(Remaining(b), Is.GreaterThan(TimeSpan.FromSeconds(2)));
    }

    [Test]
    public async Task Lockouts_are_cut_to_MaxDuration_when_set_and_when_received()
    {
        RedisLockout a = await ProcessAsync(configure: o => o.MaxDuration = TimeSpan.FromSeconds(4));
        RedisLockout b = await ProcessAsync(configure: o => o.MaxDuration = TimeSpan.FromSeconds(2));

        a.LockFor(TimeSpan.FromHours(5));

        Assert.That(Remaining(a), Is.InRange(TimeSpan.FromSeconds(3), TimeSpan.FromSeconds(4)));
        await WaitUntilAsync(() => b.IsLocked, "B is locked");
        Assert.That(Remaining(b), Is.LessThanOrEqualTo(TimeSpan.FromSeconds(2)));
    }

    [Test]
    public async Task LockForRetryAfter_locks_the_fleet_for_the_capped_delay()
    {
        RedisLockout a = await ProcessAsync();
        RedisLockout b = await ProcessAsync();

        Assert.Multiple(() =>
        {
            Assert.That(a.LockForRetryAfter("120", maxDuration: TimeSpan.FromSeconds(3)), Is.EqualTo(TimeSpan.FromSeconds(3)));
            Assert.That(a.LockForRetryAfter("nonsense", maxDuration: TimeSpan.FromSeconds(3)), Is.EqualTo(TimeSpan.Zero));
            Assert.That(a.LockForRetryAfter((System.Net.Http.Headers.RetryConditionHeaderValue?)null, TimeSpan.FromSeconds(3)), Is.EqualTo(TimeSpan.Zero));
        });
        await WaitUntilAsync(() => b.IsLocked, "B is locked");
        Assert.That(Remaining(b), Is.InRange(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(3) + b.ClockOffsetUncertainty + TimeSpan.FromMilliseconds(500)));
    }

    [Test]
    public async Task LockUntil_locks_the_fleet_until_a_local_time()
    {
        RedisLockout a = await ProcessAsync();
        RedisLockout b = await ProcessAsync();

        a.LockUntil(DateTimeOffset.UtcNow + TimeSpan.FromSeconds(3));
        a.LockUntil(DateTimeOffset.UtcNow - TimeSpan.FromSeconds(3));

        await WaitUntilAsync(() => b.IsLocked, "B is locked");
        Assert.That(Remaining(b), Is.InRange(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(4)));
    }

    [Test]
    public async Task Bad_input_gets_a_clear_exception_naming_the_argument_and_leaves_the_lockout_usable()
    {
        ConnectionMultiplexer connection = await ConnectAsync();
        Assert.Multiple(() =>
        {
            Assert.That(() => RedisLockout.CreateAsync(null!, new RedisLockoutOptions { Name = "x" }),
                Throws.ArgumentNullException.With.Property("ParamName").EqualTo("connection"));
            Assert.That(() => RedisLockout.CreateAsync(connection, null!),
                Throws.ArgumentNullException.With.Property("ParamName").EqualTo("options"));
            foreach (string? name in new[] { null, "", "  " })
            {
                Assert.That(() => RedisLockout.CreateAsync(connection, new RedisLockoutOptions { Name = name! }),
                    Throws.ArgumentException.With.Property("ParamName").EqualTo("options").And.Message.Contains("Name"));
            }

            foreach (TimeSpan max in new[] { TimeSpan.Zero, TimeSpan.FromSeconds(-1), TimeSpan.FromDays(40_000) })
            {
                Assert.That(() => RedisLockout.CreateAsync(connection, new RedisLockoutOptions { Name = "x", MaxDuration = max }),
                    Throws.TypeOf<ArgumentOutOfRangeException>().With.Message.Contains("MaxDuration"));
            }

            Assert.That(() => RedisLockout.CreateAsync(connection, new RedisLockoutOptions { Name = "x", ResyncInterval = TimeSpan.Zero }),
                Throws.TypeOf<ArgumentOutOfRangeException>().With.Message.Contains("ResyncInterval"));
        });

        RedisLockout a = await LockoutOnAsync(connection);
        Assert.Multiple(() =>
        {
            Assert.That(() => a.LockFor(TimeSpan.FromSeconds(-1)), Throws.TypeOf<ArgumentOutOfRangeException>().With.Property("ParamName").EqualTo("duration"));
            Assert.That(() => a.LockFor(Timeout.InfiniteTimeSpan), Throws.TypeOf<ArgumentOutOfRangeException>().With.Property("ParamName").EqualTo("duration"));
            Assert.That(() => a.LockForRetryAfter("5", TimeSpan.Zero), Throws.TypeOf<ArgumentOutOfRangeException>().With.Property("ParamName").EqualTo("maxDuration"));
        });
        Assert.That(a.IsLocked, Is.False);
        a.LockFor(TimeSpan.FromSeconds(1));
        Assert.That(a.IsLocked, Is.True);
    }

    [TestCase("&*", "-eval", TestName = "A_server_that_refuses_the_script_fails_CreateAsync_with_the_servers_error")]
    [TestCase("resetchannels", "+eval", TestName = "A_server_that_refuses_the_subscription_fails_CreateAsync_with_the_servers_error")]
    public async Task A_server_that_refuses_a_command_fails_CreateAsync_with_the_servers_error(string channels, string eval)
    {
        Assert.That(Server.Command("ACL", "SETUSER", "noscripts", "on", ">secret", "~*", channels, "+@all", eval, eval + "sha"), Is.EqualTo("+OK"));
        ConnectionMultiplexer connection = await ConnectionMultiplexer.ConnectAsync(Server.ConnectionString + ",user=noscripts,password=secret");
        try
        {
            Assert.That(connection.IsConnected, Is.True);
            Assert.That(() => RedisLockout.CreateAsync(connection, new RedisLockoutOptions { Name = Name }),
                Throws.InstanceOf<RedisServerException>().With.Message.Contains("NOPERM"));
            var reply = (RedisResult[])connection.GetDatabase().Execute("PUBSUB", "NUMSUB", Channel)!;
            Assert.That((long)reply[1], Is.Zero, "the failed lockout unsubscribed");
        }
        finally
        {
            await connection.DisposeAsync();
        }
    }

    [Test]
    public async Task A_cancelled_create_throws_and_leaves_no_subscription()
    {
        ConnectionMultiplexer connection = await ConnectAsync();
        using var cts = new CancellationTokenSource();
        await cts.CancelAsync();

        Assert.That(() => RedisLockout.CreateAsync(connection, new RedisLockoutOptions { Name = Name }, cts.Token), Throws.InstanceOf<OperationCanceledException>());
        var reply = (RedisResult[])connection.GetDatabase().Execute("PUBSUB", "NUMSUB", Channel)!;
        Assert.That((long)reply[1], Is.Zero);
    }
}
