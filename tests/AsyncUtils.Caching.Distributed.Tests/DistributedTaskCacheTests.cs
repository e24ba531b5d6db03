using System.Buffers;
using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json.Serialization;

namespace AsyncUtils.Caching.Distributed.Tests;

public sealed record Person(string Name, int Age);

[JsonSerializable(typeof(Person))]
internal sealed partial class TestJsonContext : JsonSerializerContext;

public sealed class DistributedTaskCacheTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(10);

    private static Func<string, CancellationToken, Task<string>> Counting(StrongBox<int> calls, string result = "value") =>
        (key, ct) =>
        {
            Interlocked.Increment(ref calls.Value);
            return Task.FromResult(result + ":" + key);
        };

    [Test]
    public async Task Miss_of_both_levels_calls_once_and_writes_the_result_to_the_second_level()
    {
        var store = new FakeDistributedCache();
        using var cache = new DistributedTaskCache<string>(new DistributedCacheSecondLevel(store, "p:"));
        var calls = new StrongBox<int>();

        Task<string>[] tasks = [.. Enumerable.Range(0, 50).Select(_ => cache.GetOrAddAsync("k", Counting(calls)))];
        string[] results = await Task.WhenAll(tasks);

        Assert.That(results, Is.All.EqualTo("value:k"));
        Assert.That(calls.Value, Is.EqualTo(1));
        Assert.That(Encoding.UTF8.GetString(store.Get("p:k")!), Is.EqualTo("value:k"));
    }

    [Test]
    public async Task Another_process_reads_the_second_level_instead_of_calling()
    {
        var store = new FakeDistributedCache();
        using var first = new DistributedTaskCache<string>(new DistributedCacheSecondLevel(store));
        using var second = new DistributedTaskCache<string>(new DistributedCacheSecondLevel(store));
        var calls = new StrongBox<int>();

        await first.GetOrAddAsync("k", Counting(calls, "one"));
        string fromL2 = await second.GetOrAddAsync("k", Counting(calls, "two"));

        Assert.That(fromL2, Is.EqualTo("one:k"));
        Assert.That(calls.Value, Is.EqualTo(1));
    }

    [Test]
    public async Task An_L1_hit_does_not_touch_the_second_level()
    {
        var store = new FakeDistributedCache();
        using var cache = new DistributedTaskCache<string>(new DistributedCacheSecondLevel(store));
        await cache.GetOrAddAsync("k", Counting(new StrongBox<int>()));
        int gets = store.Gets;

        for (int i = 0; i < 10; i++)
        {
            await cache.GetOrAddAsync("k", Counting(new StrongBox<int>()));
        }

        Assert.That(store.Gets, Is.EqualTo(gets));
    }

    [Test]
    public async Task A_failure_is_never_written_and_reaches_the_callers()
    {
        var store = new FakeDistributedCache();
        using var cache = new DistributedTaskCache<string>(new DistributedCacheSecondLevel(store));

        await Assert.ThrowsAsync<InvalidOperationException>(() => cache.GetOrAddAsync("k", (_, _) => Task.FromException<string>(new InvalidOperationException("boom"))));
        Assert.That(store.Contains("k"), Is.False);
        Assert.That(store.Sets, Is.Zero);
    }

    [Test]
    public async Task The_time_to_live_is_given_to_the_store_relative_to_completion()
    {
        var store = new FakeDistributedCache();
        using var cache = new DistributedTaskCache<string>(
            new DistributedCacheSecondLevel(store),
            new DistributedCacheOptions<string> { TimeToLive = TimeSpan.FromMinutes(7) });

        await cache.GetOrAddAsync("k", Counting(new StrongBox<int>()));

        Assert.That(store.Options["k"].AbsoluteExpirationRelativeToNow, Is.EqualTo(TimeSpan.FromMinutes(7)));
        Assert.That(store.Options["k"].AbsoluteExpiration, Is.Null);
    }

    [Test]
    public async Task The_time_to_live_selector_can_skip_the_write_or_choose_a_duration()
    {
        var store = new FakeDistributedCache();
        using var cache = new DistributedTaskCache<string>(
            new DistributedCacheSecondLevel(store),
            new DistributedCacheOptions<string>
            {
                TimeToLive = TimeSpan.FromMinutes(7),
                TimeToLiveSelector = static (key, _) => key == "skip" ? TimeSpan.Zero : key == "long" ? TimeSpan.FromHours(1) : null,
            });

        await cache.GetOrAddAsync("skip", Counting(new StrongBox<int>()));
        await cache.GetOrAddAsync("long", Counting(new StrongBox<int>()));
        await cache.GetOrAddAsync("default", Counting(new StrongBox<int>()));

        Assert.That(store.Contains("skip"), Is.False);
        Assert.That(store.Options["long"].AbsoluteExpirationRelativeToNow, Is.EqualTo(TimeSpan.FromHours(1)));
        Assert.That(store.Options["default"].AbsoluteExpirationRelativeToNow, Is.EqualTo(TimeSpan.FromMinutes(7)));
    }

    [Test]
    public async Task A_value_larger_than_MaxValueBytes_reaches_the_caller_is_not_written_and_is_reported()
    {
        var store = new FakeDistributedCache();
        var failures = new ConcurrentQueue<(string Key, Exception Error)>();
        using var cache = new DistributedTaskCache<string>(
            new DistributedCacheSecondLevel(store),
            new DistributedCacheOptions<string> { MaxValueBytes = 10, SecondLevelFailed = (k, e) => failures.Enqueue((k, e)) });

        string value = await cache.GetOrAddAsync("big", (_, _) => Task.FromResult(new string('x', 11)));
        string small = await cache.GetOrAddAsync("small", (_, _) => Task.FromResult("ok"));

        Assert.That(value, Has.Length.EqualTo(11));
        Assert.That(small, Is.EqualTo("ok"));
        Assert.That(store.Contains("big"), Is.False);
        Assert.That(store.Contains("small"), Is.True);
        Assert.That(failures, Has.Count.EqualTo(1));
        Assert.That(failures.Single().Key, Is.EqualTo("big"));
        Assert.That(failures.Single().Error.Message, Does.Contain("MaxValueBytes"));
    }

    [Test]
    public async Task A_value_that_fails_to_serialize_reaches_the_caller_and_is_reported_even_by_a_throwing_callback()
    {
        var store = new FakeDistributedCache();
        int reported = 0;
        using var cache = new DistributedTaskCache<Person>(
            new DistributedCacheSecondLevel(store),
            new DistributedCacheOptions<Person>
            {
                Serializer = new ThrowingSerializer(),
                SecondLevelFailed = (_, _) =>
                {
                    Interlocked.Increment(ref reported);
                    throw new InvalidOperationException("observer bug");
                },
            });

        Person person = await cache.GetOrAddAsync("k", (_, _) => Task.FromResult(new Person("Ada", 36)));

        Assert.That(person, Is.EqualTo(new Person("Ada", 36)));
        Assert.That(store.Contains("k"), Is.False);
        Assert.That(reported, Is.EqualTo(1));
    }

    [Test]
    public async Task A_store_that_is_down_leaves_the_cache_working_on_the_first_level()
    {
        var store = new FakeDistributedCache { Fail = true };
        var failures = new ConcurrentQueue<Exception>();
        using var cache = new DistributedTaskCache<string>(
            new DistributedCacheSecondLevel(store),
            new DistributedCacheOptions<string> { SecondLevelFailed = (_, e) => failures.Enqueue(e) });
        var calls = new StrongBox<int>();

        string first = await cache.GetOrAddAsync("k", Counting(calls));
        string second = await cache.GetOrAddAsync("k", Counting(calls));
        bool invalidated = await cache.InvalidateAsync("k");

        Assert.That(first, Is.EqualTo("value:k"));
        Assert.That(second, Is.EqualTo("value:k"));
        Assert.That(calls.Value, Is.EqualTo(1));
        Assert.That(invalidated, Is.False);
        Assert.That(failures, Is.Not.Empty);

        store.Fail = false;
        await cache.GetOrAddAsync("k", Counting(calls));
        Assert.That(store.Contains("k"), Is.True, "recovers when the store comes back");
    }

    [Test]
    public async Task Invalidate_removes_both_levels()
    {
        var store = new FakeDistributedCache();
        using var cache = new DistributedTaskCache<string>(new DistributedCacheSecondLevel(store));
        var calls = new StrongBox<int>();
        await cache.GetOrAddAsync("k", Counting(calls));

        bool removed = await cache.InvalidateAsync("k");

        Assert.That(removed, Is.True);
        Assert.That(store.Contains("k"), Is.False);
        Assert.That(cache.FirstLevel.Count, Is.Zero);
        await cache.GetOrAddAsync("k", Counting(calls));
        Assert.That(calls.Value, Is.EqualTo(2));
    }

    [Test]
    public async Task A_call_started_before_Invalidate_never_leaves_its_value_in_the_second_level()
    {
        var store = new FakeDistributedCache();
        using var cache = new DistributedTaskCache<string>(new DistributedCacheSecondLevel(store));
        var release = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);

        Task<string> stale = cache.GetOrAddAsync("k", (_, _) => release.Task);
        await cache.InvalidateAsync("k");
        release.SetResult("stale");

        Assert.That(await stale.WaitAsync(Patience), Is.EqualTo("stale"), "its callers still get it");
        Assert.That(store.Contains("k"), Is.False);
        Assert.That(store.Sets, Is.Zero);
    }

    [Test]
    public async Task An_invalidation_during_the_write_removes_what_the_write_stored()
    {
        var store = new FakeDistributedCache { HoldSets = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously) };
        using var cache = new DistributedTaskCache<string>(new DistributedCacheSecondLevel(store));

        Task<string> stale = cache.GetOrAddAsync("k", (_, _) => Task.FromResult("stale"));
        await store.SetEntered.Task.WaitAsync(Patience); // the write is held inside SetAsync, after the version check
        await cache.InvalidateAsync("k");
        store.HoldSets.SetResult();
        await stale.WaitAsync(Patience);

        Assert.That(store.Sets, Is.EqualTo(1), "the write passed the first check");
        Assert.That(store.Contains("k"), Is.False, "and was removed by the re-check");
    }

    [Test]
    public async Task Stored_bytes_that_fail_to_deserialize_count_as_a_miss()
    {
        var store = new FakeDistributedCache();
        store.Put("k", Encoding.UTF8.GetBytes("not json"));
        var failures = new ConcurrentQueue<Exception>();
        using var cache = new DistributedTaskCache<Person>(
            new DistributedCacheSecondLevel(store),
            new DistributedCacheOptions<Person> { Serializer = CacheSerializers.Json(TestJsonContext.Default.Person), SecondLevelFailed = (_, e) => failures.Enqueue(e) });

        Person person = await cache.GetOrAddAsync("k", (_, _) => Task.FromResult(new Person("Bob", 40)));

        Assert.That(person, Is.EqualTo(new Person("Bob", 40)));
        Assert.That(failures, Has.Count.EqualTo(1));
        using var other = new DistributedTaskCache<Person>(
            new DistributedCacheSecondLevel(store),
            new DistributedCacheOptions<Person> { Serializer = CacheSerializers.Json(TestJsonContext.Default.Person) });
        Assert.That(await other.GetOrAddAsync("k", (_, _) => Task.FromResult(new Person("never", 0))), Is.EqualTo(new Person("Bob", 40)));
    }

    [Test]
    public void A_value_type_without_a_serializer_is_rejected_naming_the_options()
    {
        var level = new DistributedCacheSecondLevel(new FakeDistributedCache());

        var error = Assert.Throws<ArgumentException>(() => _ = new DistributedTaskCache<Person>(level));
        Assert.That(error!.ParamName, Is.EqualTo("options"));
        Assert.Throws<ArgumentOutOfRangeException>(() => _ = new DistributedTaskCache<string>(level, new DistributedCacheOptions<string> { MaxValueBytes = 0 }));
        Assert.Throws<ArgumentNullException>(() => _ = new DistributedTaskCache<string>(null!));
    }

    [Test]
    public async Task Byte_arrays_round_trip_through_the_default_serializer()
    {
        var store = new FakeDistributedCache();
        using var first = new DistributedTaskCache<byte[]>(new DistributedCacheSecondLevel(store));
        using var second = new DistributedTaskCache<byte[]>(new DistributedCacheSecondLevel(store));

        await first.GetOrAddAsync("k", (_, _) => Task.FromResult(new byte[] { 1, 2, 3 }));

        Assert.That(await second.GetOrAddAsync("k", (_, _) => Task.FromResult(Array.Empty<byte>())), Is.EqualTo(new byte[] { 1, 2, 3 }));
    }

    private sealed class ThrowingSerializer : ICacheSerializer<Person>
    {
        public Person Deserialize(ReadOnlySequence<byte> source) => throw new NotSupportedException();

        public void Serialize(Person value, IBufferWriter<byte> target) => throw new NotSupportedException("cannot serialize");
    }
}
