using Microsoft.Extensions.Caching.Distributed;
using Microsoft.Extensions.Caching.Hybrid;
using Microsoft.Extensions.Caching.StackExchangeRedis;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using StackExchange.Redis;
using ZiggyCreatures.Caching.Fusion;
using ZiggyCreatures.Caching.Fusion.Backplane.StackExchangeRedis;
using ZiggyCreatures.Caching.Fusion.Serialization.SystemTextJson;

namespace AsyncUtils.Redis.ProcessTests.App;

/// <summary>
/// One process's two-level cache of strings, for <see cref="CacheMode"/>: ours or an anchor, each on this
/// process's own connection, L1 and L2 entries living 10 minutes (so nothing expires during a run).
/// </summary>
public abstract class CacheUnderTest : IAsyncDisposable
{
    private static readonly TimeSpan Life = TimeSpan.FromMinutes(10);

    /// <summary>Builds the cache named by <paramref name="impl"/>: ours, hybrid or fusion.</summary>
    public static CacheUnderTest Create(string impl, IConnectionMultiplexer connection, string prefix, TimeSpan lease, Output output) => impl switch
    {
        "ours" => new Ours(connection, prefix, lease, output),
        "hybrid" => new Hybrid(connection, prefix),
        "fusion" => new Fusion(connection, prefix),
        _ => throw new ArgumentException($"unknown cache {impl}", nameof(impl)),
    };

    /// <summary>The value of <paramref name="key"/>, from the cache or one call of <paramref name="load"/>.</summary>
    public abstract Task<string> GetAsync(string key, Func<string, Task<string>> load);

    /// <summary>Removes <paramref name="key"/> from this process's L1 and from L2 (and, with a backplane, from the others' L1).</summary>
    public abstract Task<bool> InvalidateAsync(string key);

    /// <inheritdoc />
    public abstract ValueTask DisposeAsync();

    private static RedisCache RedisDistributedCache(IConnectionMultiplexer connection, string prefix) => new(Options.Create(new RedisCacheOptions
    {
        ConnectionMultiplexerFactory = () => Task.FromResult(connection),
        InstanceName = prefix,
    }));

    private sealed class Ours : CacheUnderTest
    {
        private readonly RedisSecondLevelCache _level;
        private readonly DistributedTaskCache<string> _cache;

        public Ours(IConnectionMultiplexer connection, string prefix, TimeSpan lease, Output output)
        {
            _level = new RedisSecondLevelCache(connection, prefix, lease);
            _cache = new DistributedTaskCache<string>(
                _level,
                new DistributedCacheOptions<string>
                {
                    TimeToLive = Life,
                    SecondLevelFailed = (key, ex) => output.Line($"l2failed {key} {ex.GetType().Name}"),
                },
                new TaskCacheOptions<string, string> { TimeToLive = Life });
        }

        public override Task<string> GetAsync(string key, Func<string, Task<string>> load) =>
            _cache.GetOrAddAsync(key, static (k, l, _) => l(k), load);

        public override Task<bool> InvalidateAsync(string key) => _cache.InvalidateAsync(key);

        public override ValueTask DisposeAsync()
        {
            _cache.Dispose();
            _level.Dispose();
            return ValueTask.CompletedTask;
        }
    }

    private sealed class Hybrid : CacheUnderTest
    {
        private static readonly HybridCacheEntryOptions Entry = new() { Expiration = Life, LocalCacheExpiration = Life };
        private readonly ServiceProvider _services;
        private readonly HybridCache _cache;

        public Hybrid(IConnectionMultiplexer connection, string prefix)
        {
            var services = new ServiceCollection();
            services.AddSingleton<IDistributedCache>(RedisDistributedCache(connection, prefix));
            services.AddHybridCache(o => o.DefaultEntryOptions = Entry);
            _services = services.BuildServiceProvider();
            _cache = _services.GetRequiredService<HybridCache>();
        }

        public override async Task<string> GetAsync(string key, Func<string, Task<string>> load) =>
            await _cache.GetOrCreateAsync(key, (key, load), static async (s, _) => await s.load(s.key), Entry);

        public override async Task<bool> InvalidateAsync(string key)
        {
            await _cache.RemoveAsync(key);
            return true;
        }

        public override ValueTask DisposeAsync() => _services.DisposeAsync();
    }

    private sealed class Fusion : CacheUnderTest
    {
        private readonly FusionCache _cache;

        public Fusion(IConnectionMultiplexer connection, string prefix)
        {
            _cache = new FusionCache(new FusionCacheOptions
            {
                CacheName = prefix,
                CacheKeyPrefix = prefix,
                DefaultEntryOptions = new FusionCacheEntryOptions { Duration = Life },
            });
            _cache.SetupDistributedCache(RedisDistributedCache(connection, prefix), new FusionCacheSystemTextJsonSerializer());
            _cache.SetupBackplane(new RedisBackplane(new RedisBackplaneOptions { ConnectionMultiplexerFactory = () => Task.FromResult(connection) }));
        }

        public override async Task<string> GetAsync(string key, Func<string, Task<string>> load) =>
            await _cache.GetOrSetAsync<string>(key, (_, _) => load(key));

        public override async Task<bool> InvalidateAsync(string key)
        {
            await _cache.RemoveAsync(key);
            return true;
        }

        public override ValueTask DisposeAsync()
        {
            _cache.Dispose();
            return ValueTask.CompletedTask;
        }
    }
}
