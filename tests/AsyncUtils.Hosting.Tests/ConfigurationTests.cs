using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace AsyncUtils.Tests;

public sealed class ConfigurationTests
{
    private static IConfiguration Config(params (string Key, string Value)[] values)
        => new ConfigurationBuilder().AddInMemoryCollection(values.Select(v => new KeyValuePair<string, string?>(v.Key, v.Value))).Build();

    [Test]
    public async Task Options_come_from_an_in_memory_configuration()
    {
        IConfiguration config = Config(
            ("AsyncUtils:Lockouts:github:Fifo", "true"),
            ("AsyncUtils:Limiter:QueueLimit", "7"),
            ("AsyncUtils:Limiter:Windows:0:PermitLimit", "10"),
            ("AsyncUtils:Limiter:Windows:0:Period", "00:00:01"),
            ("AsyncUtils:Limiter:Windows:1:PermitLimit", "100"),
            ("AsyncUtils:Limiter:Windows:1:Period", "00:01:00"),
            ("AsyncUtils:Db:InitialCount", "3"),
            ("AsyncUtils:Db:MaxCount", "5"),
            ("AsyncUtils:Loop:ThreadName", "from-config"),
            ("AsyncUtils:Cache:MaxSize", "2"),
            ("AsyncUtils:Writes:MaxBatchSize", "3"),
            ("AsyncUtils:Writes:MaxWait", "01:00:00"));
        var batches = new System.Collections.Concurrent.ConcurrentQueue<int>();

        HostApplicationBuilder builder = TestHost.Builder();
        builder.Services.AddAsyncUtilsLockout("github").FromConfiguration(config.GetSection("AsyncUtils:Lockouts:github"));
        builder.Services.AddAsyncUtilsSlidingLogRateLimiter()
            .Configure(o => o.Windows.Add(new SlidingLogWindow(1, TimeSpan.FromDays(1))))   // replaced by the configured windows
            .FromConfiguration(config.GetSection("AsyncUtils:Limiter"));
        builder.Services.AddAsyncUtilsPrioritySemaphore().FromConfiguration(config.GetSection("AsyncUtils:Db"));
        builder.Services.AddAsyncUtilsThreadedLoop().FromConfiguration(config.GetSection("AsyncUtils:Loop"));
        builder.Services.AddAsyncUtilsTaskCache<int, int>().FromConfiguration(config.GetSection("AsyncUtils:Cache"));
        builder.Services.AddAsyncUtilsWaterfall<int>((_, batch, _) =>
            {
                batches.Enqueue(batch.Count);
                return ValueTask.CompletedTask;
            })
            .FromConfiguration(config.GetSection("AsyncUtils:Writes"));
        using IHost host = builder.Build();
        await host.StartAsync();

        IServiceProvider sp = host.Services;
        SlidingLogRateLimiter limiter = sp.GetRequiredService<SlidingLogRateLimiter>();
        PrioritySemaphore semaphore = sp.GetRequiredService<PrioritySemaphore>();
        TaskCache<int, int> cache = sp.GetRequiredService<TaskCache<int, int>>();
        for (int i = 0; i < 5; i++)
        {
            await cache.GetOrAddAsync(i, (k, _) => Task.FromResult(k));
        }

        Waterfall<int> waterfall = sp.GetRequiredService<Waterfall<int>>();
        for (int i = 0; i < 7; i++)
        {
            waterfall.Put(i);
        }

        Assert.Multiple(() =>
        {
            Assert.That(sp.GetRequiredKeyedService<Lockout>("github").IsFifo, Is.True);
            Assert.That(limiter.QueueLimit, Is.EqualTo(7));
            Assert.That(limiter.Windows, Is.EqualTo(new[] { new SlidingLogWindow(10, TimeSpan.FromSeconds(1)), new SlidingLogWindow(100, TimeSpan.FromMinutes(1)) }));
            Assert.That(semaphore.CurrentCount, Is.EqualTo(3));
            Assert.That(semaphore.MaxCount, Is.EqualTo(5));
            Assert.That(sp.GetRequiredService<ThreadedLoop>().Name, Is.EqualTo("from-config"));
            Assert.That(cache.Count, Is.EqualTo(2), "MaxSize bounds the cache");
        });

        await host.StopAsync();
        Assert.That(batches.Sum(), Is.EqualTo(7));
        Assert.That(batches.Max(), Is.EqualTo(3), "MaxBatchSize came from the configuration");
    }

    [Test]
    public void A_value_that_does_not_parse_fails_the_creation_naming_its_path()
    {
        IConfiguration config = Config(("Writes:MaxBatchSize", "lots"));
        var services = new ServiceCollection();
        services.AddAsyncUtilsWaterfall<int>((_, _, _) => ValueTask.CompletedTask).FromConfiguration(config.GetSection("Writes"));
        using ServiceProvider sp = services.BuildServiceProvider();

        Assert.That(() => sp.GetRequiredService<Waterfall<int>>(),
            Throws.InvalidOperationException.With.Message.Contains("'lots'").And.Message.Contains("Writes:MaxBatchSize"));
    }

    [Test]
    public void A_window_without_its_period_fails_naming_its_path()
    {
        IConfiguration config = Config(("Limiter:Windows:0:PermitLimit", "3"));
        var services = new ServiceCollection();
        services.AddAsyncUtilsSlidingLogRateLimiter().FromConfiguration(config.GetSection("Limiter"));
        using ServiceProvider sp = services.BuildServiceProvider();

        Assert.That(() => sp.GetRequiredService<SlidingLogRateLimiter>(),
            Throws.InvalidOperationException.With.Message.Contains("Limiter:Windows:0"));
    }

    [Test]
    public void Absent_keys_leave_the_options_as_configured_in_code()
    {
        IConfiguration config = Config(("Other:Key", "1"));
        var services = new ServiceCollection();
        services.AddAsyncUtilsLockout().Configure(o => o.Fifo = true).FromConfiguration(config.GetSection("Missing"));
        using ServiceProvider sp = services.BuildServiceProvider();

        Assert.That(sp.GetRequiredService<Lockout>().IsFifo, Is.True);
    }

    [Test]
    public void The_caches_eviction_policy_comes_from_the_configuration_by_name()
    {
        IConfiguration config = Config(("Tasks:MaxSize", "10"), ("Tasks:EvictionPolicy", "S3Fifo"), ("Coroutines:EvictionPolicy", "s3fifo"));
        var services = new ServiceCollection();
        services.AddAsyncUtilsTaskCache<int, int>().FromConfiguration(config.GetSection("Tasks"));
        services.AddAsyncUtilsCoroutineCache<int, int>().FromConfiguration(config.GetSection("Coroutines"));
        using ServiceProvider sp = services.BuildServiceProvider();

        Assert.Multiple(() =>
        {
            Assert.That(sp.GetRequiredService<IOptions<TaskCacheOptions<int, int>>>().Value.EvictionPolicy, Is.EqualTo(CacheEvictionPolicy.S3Fifo));
            Assert.That(sp.GetRequiredService<IOptions<CoroutineCacheOptions<int, int>>>().Value.EvictionPolicy, Is.EqualTo(CacheEvictionPolicy.S3Fifo));
        });
    }

    [TestCase("Sieve")]
    [TestCase("7")]
    public void An_eviction_policy_that_is_not_a_policy_name_fails_naming_its_path(string value)
    {
        IConfiguration config = Config(("Tasks:EvictionPolicy", value));
        var services = new ServiceCollection();
        services.AddAsyncUtilsTaskCache<int, int>().FromConfiguration(config.GetSection("Tasks"));
        using ServiceProvider sp = services.BuildServiceProvider();

        Assert.That(() => sp.GetRequiredService<TaskCache<int, int>>(),
            Throws.InvalidOperationException.With.Message.Contains($"'{value}'").And.Message.Contains("Tasks:EvictionPolicy"));
    }
}
