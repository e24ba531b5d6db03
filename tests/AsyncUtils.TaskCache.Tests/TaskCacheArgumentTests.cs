namespace AsyncUtils.Tests;

public sealed class TaskCacheArgumentTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);

    [Test]
    public async Task A_null_function_is_rejected_naming_the_argument_and_the_cache_stays_usable()
    {
        var cache = new TaskCache<string, int>();

        Assert.That(() => cache.GetOrAddAsync("a", null!), Throws.ArgumentNullException.With.Property("ParamName").EqualTo("function"));
        Assert.That(() => cache.GetOrAddAsync<int>("a", null!, 1), Throws.ArgumentNullException.With.Property("ParamName").EqualTo("function"));
        Assert.That(await cache.GetOrAddAsync("a", static (_, _) => Task.FromResult(1)).WaitAsync(Bound), Is.EqualTo(1));
    }

    [Test]
    public void A_null_key_is_rejected_naming_the_argument()
    {
        var unbounded = new TaskCache<string, int>();
        var bounded = new TaskCache<string, int>(new TaskCacheOptions<string, int> { MaxSize = 4 });
        var s3Fifo = new TaskCache<string, int>(new TaskCacheOptions<string, int> { MaxSize = 4, EvictionPolicy = CacheEvictionPolicy.S3Fifo });

        using (Assert.EnterMultipleScope())
        {
            Assert.That(() => unbounded.GetOrAddAsync(null!, static (_, _) => Task.FromResult(1)), Throws.ArgumentNullException.With.Property("ParamName").EqualTo("key"));
            Assert.That(() => bounded.GetOrAddAsync(null!, static (_, _) => Task.FromResult(1)), Throws.ArgumentNullException.With.Property("ParamName").EqualTo("key"));
            Assert.That(() => unbounded.Invalidate(null!), Throws.ArgumentNullException.With.Property("ParamName").EqualTo("key"));
            Assert.That(() => bounded.Invalidate(null!), Throws.ArgumentNullException.With.Property("ParamName").EqualTo("key"));
            Assert.That(() => s3Fifo.GetOrAddAsync(null!, static (_, _) => Task.FromResult(1)), Throws.ArgumentNullException.With.Property("ParamName").EqualTo("key"));
            Assert.That(() => s3Fifo.Invalidate(null!), Throws.ArgumentNullException.With.Property("ParamName").EqualTo("key"));
        }
    }

    [TestCase(-1L)]
    [TestCase(-10_000_001L)]
    public void A_negative_time_to_live_is_rejected_naming_the_option(long ticks)
    {
        var options = new TaskCacheOptions<int, int>();
        Assert.That(() => options.TimeToLive = TimeSpan.FromTicks(ticks), Throws.TypeOf<ArgumentOutOfRangeException>().With.Property("ParamName").EqualTo("TimeToLive"));
        Assert.That(options.TimeToLive, Is.Null, "the options are left as they were");
    }

    [Test]
    public void Zero_infinite_and_null_time_to_live_are_accepted()
    {
        var options = new TaskCacheOptions<int, int> { TimeToLive = TimeSpan.Zero };
        options.TimeToLive = Timeout.InfiniteTimeSpan;
        options.TimeToLive = null;
        Assert.That(options.TimeToLive, Is.Null);
    }

    [TestCase(0)]
    [TestCase(-1)]
    public void A_maximum_size_that_is_not_positive_is_rejected_naming_the_option(int size)
    {
        var options = new TaskCacheOptions<int, int>();
        Assert.That(() => options.MaxSize = size, Throws.TypeOf<ArgumentOutOfRangeException>().With.Property("ParamName").EqualTo("MaxSize"));
    }

    [TestCase(-1)]
    [TestCase(2)]
    [TestCase(int.MaxValue)]
    public void An_eviction_policy_that_is_not_defined_is_rejected_naming_the_option_and_the_options_stay_usable(int value)
    {
        var options = new TaskCacheOptions<int, int> { MaxSize = 2, EvictionPolicy = CacheEvictionPolicy.S3Fifo };
        Assert.That(() => options.EvictionPolicy = (CacheEvictionPolicy)value, Throws.TypeOf<ArgumentOutOfRangeException>().With.Property("ParamName").EqualTo("EvictionPolicy"));
        Assert.That(options.EvictionPolicy, Is.EqualTo(CacheEvictionPolicy.S3Fifo), "the rejected value was not stored");

        options.EvictionPolicy = CacheEvictionPolicy.Lru;
        Assert.That(options.EvictionPolicy, Is.EqualTo(CacheEvictionPolicy.Lru));
    }

    [TestCase(0L)]
    [TestCase(-1L)]
    public void A_timeout_that_is_not_positive_is_rejected_naming_the_option(long ticks)
    {
        var options = new TaskCacheOptions<int, int>();
        Assert.That(() => options.Timeout = TimeSpan.FromTicks(ticks), Throws.TypeOf<ArgumentOutOfRangeException>().With.Property("ParamName").EqualTo("Timeout"));
    }

    [Test]
    public void An_infinite_timeout_means_none()
    {
        var cache = new TaskCache<int, bool>(new TaskCacheOptions<int, bool> { Timeout = Timeout.InfiniteTimeSpan });
        Assert.That(cache.GetOrAddAsync(1, static (_, ct) => Task.FromResult(ct.CanBeCanceled)).Result, Is.False);
    }

    [Test]
    public void The_options_are_copied_when_the_cache_is_created()
    {
        var options = new TaskCacheOptions<int, int> { TimeToLive = TimeSpan.Zero };
        var cache = new TaskCache<int, int>(options);
        options.TimeToLive = null;

        _ = cache.GetOrAddAsync(1, static (_, _) => Task.FromResult(1));
        Assert.That(cache.Count, Is.Zero, "still keeps nothing");
    }

    [Test]
    public void The_defaults_evict_failures_and_track_nothing()
    {
        var options = new TaskCacheOptions<int, int>();
        using (Assert.EnterMultipleScope())
        {
            Assert.That(options.EvictOnException, Is.True);
            Assert.That(options.TrackStatistics, Is.False);
            Assert.That(options.TimeToLive, Is.Null);
            Assert.That(options.MaxSize, Is.Null);
            Assert.That(options.EvictionPolicy, Is.EqualTo(CacheEvictionPolicy.Lru));
            Assert.That(options.Timeout, Is.Null);
        }
    }
}
