namespace AsyncUtils.Tests;

public sealed class CoroutineCacheArgumentTests
{
    [Test]
    public async Task A_null_function_is_rejected_naming_the_argument_and_the_cache_stays_usable()
    {
        var cache = new CoroutineCache<string, int>();

        Assert.That(() => cache.GetOrAddAsync("a", null!), Throws.ArgumentNullException.With.Property("ParamName").EqualTo("function"));
        Assert.That(() => cache.GetOrAddAsync<int>("a", null!, 1), Throws.ArgumentNullException.With.Property("ParamName").EqualTo("function"));
        Assert.That(() => cache.GetOrAddAsync("a", (Func<string, CancellationToken, ValueTask<int>>)null!, CancellationToken.None), Throws.ArgumentNullException.With.Property("ParamName").EqualTo("function"));
        Assert.That(() => cache.GetOrAddAsync<int>("a", null!, 1, CancellationToken.None), Throws.ArgumentNullException.With.Property("ParamName").EqualTo("function"));
        Assert.That(await cache.GetOrAddAsync("a", static (_, _) => ValueTask.FromResult(1)).Within(), Is.EqualTo(1));
    }

    [Test]
    public void A_null_key_is_rejected_naming_the_argument()
    {
        var unbounded = new CoroutineCache<string, int>();
        var bounded = new CoroutineCache<string, int>(new CoroutineCacheOptions<string, int> { MaxSize = 4 });
        var s3Fifo = new CoroutineCache<string, int>(new CoroutineCacheOptions<string, int> { MaxSize = 4, EvictionPolicy = CacheEvictionPolicy.S3Fifo });

        using (Assert.EnterMultipleScope())
        {
            Assert.That(() => unbounded.GetOrAddAsync(null!, static (_, _) => ValueTask.FromResult(1)), Throws.ArgumentNullException.With.Property("ParamName").EqualTo("key"));
            Assert.That(() => bounded.GetOrAddAsync(null!, static (_, _) => ValueTask.FromResult(1)), Throws.ArgumentNullException.With.Property("ParamName").EqualTo("key"));
            Assert.That(() => unbounded.Invalidate(null!), Throws.ArgumentNullException.With.Property("ParamName").EqualTo("key"));
            Assert.That(() => bounded.Invalidate(null!), Throws.ArgumentNullException.With.Property("ParamName").EqualTo("key"));
            Assert.That(() => s3Fifo.GetOrAddAsync(null!, static (_, _) => ValueTask.FromResult(1)), Throws.ArgumentNullException.With.Property("ParamName").EqualTo("key"));
            Assert.That(() => s3Fifo.Invalidate(null!), Throws.ArgumentNullException.With.Property("ParamName").EqualTo("key"));
        }
    }

    [TestCase(-1L)]
    [TestCase(-10_000_001L)]
    public void A_negative_time_to_live_is_rejected_naming_the_option(long ticks)
    {
        var options = new CoroutineCacheOptions<int, int>();
        Assert.That(() => options.TimeToLive = TimeSpan.FromTicks(ticks), Throws.TypeOf<ArgumentOutOfRangeException>().With.Property("ParamName").EqualTo("TimeToLive"));
        Assert.That(options.TimeToLive, Is.Null, "the options are left as they were");
    }

    [Test]
    public void Zero_infinite_and_null_time_to_live_are_accepted()
    {
        var options = new CoroutineCacheOptions<int, int> { TimeToLive = TimeSpan.Zero };
        options.TimeToLive = Timeout.InfiniteTimeSpan;
        options.TimeToLive = null;
        Assert.That(options.TimeToLive, Is.Null);
    }

    [TestCase(0)]
    [TestCase(-1)]
    public void A_maximum_size_that_is_not_positive_is_rejected_naming_the_option(int size)
    {
        var options = new CoroutineCacheOptions<int, int>();
        Assert.That(() => options.MaxSize = size, Throws.TypeOf<ArgumentOutOfRangeException>().With.Property("ParamName").EqualTo("MaxSize"));
    }

    [TestCase(-1)]
    [TestCase(2)]
    [TestCase(int.MaxValue)]
    public void An_eviction_policy_that_is_not_defined_is_rejected_naming_the_option_and_the_options_stay_usable(int value)
    {
        var options = new CoroutineCacheOptions<int, int> { MaxSize = 2, EvictionPolicy = CacheEvictionPolicy.S3Fifo };
        Assert.That(() => options.EvictionPolicy = (CacheEvictionPolicy)value, Throws.TypeOf<ArgumentOutOfRangeException>().With.Property("ParamName").EqualTo("EvictionPolicy"));
        Assert.That(options.EvictionPolicy, Is.EqualTo(CacheEvictionPolicy.S3Fifo), "the rejected value was not stored");

        options.EvictionPolicy = CacheEvictionPolicy.Lru;
        Assert.That(options.EvictionPolicy, Is.EqualTo(CacheEvictionPolicy.Lru));
    }

    [TestCase(0L)]
    [TestCase(-1L)]
    public void A_timeout_that_is_not_positive_is_rejected_naming_the_option(long ticks)
    {
        var options = new CoroutineCacheOptions<int, int>();
        Assert.That(() => options.Timeout = TimeSpan.FromTicks(ticks), Throws.TypeOf<ArgumentOutOfRangeException>().With.Property("ParamName").EqualTo("Timeout"));
    }

    [Test]
    public async Task An_infinite_timeout_means_none()
    {
        var cache = new CoroutineCache<int, bool>(new CoroutineCacheOptions<int, bool> { Timeout = Timeout.InfiniteTimeSpan });
        Assert.That(await cache.GetOrAddAsync(1, static (_, ct) => ValueTask.FromResult(ct.CanBeCanceled)).Within(), Is.False);
    }

    [Test]
    public void The_options_are_copied_when_the_cache_is_created()
    {
        var options = new CoroutineCacheOptions<int, int> { TimeToLive = TimeSpan.Zero };
        var cache = new CoroutineCache<int, int>(options);
        options.TimeToLive = null;

        Assert.That(cache.GetOrAddAsync(1, static (_, _) => ValueTask.FromResult(1)).Completed(), Is.EqualTo(1));
        Assert.That(cache.Count, Is.Zero, "still keeps nothing");
    }

    [Test]
    public void The_defaults_evict_failures_and_track_nothing()
    {
        var options = new CoroutineCacheOptions<int, int>();
        using (Assert.EnterMultipleScope())
        {
            Assert.That(options.EvictOnException, Is.True);
            Assert.That(options.TrackStatistics, Is.False);
            Assert.That(options.TimeToLive, Is.Null);
            Assert.That(options.MaxSize, Is.Null);
            Assert.That(options.EvictionPolicy, Is.EqualTo(CacheEvictionPolicy.Lru));
            Assert.That(options.Timeout, Is.Null);
            Assert.That(options.CancelWhenAllWaitersCancel, Is.False);
        }
    }
}
