using AsyncUtils;
using AsyncUtils.Testing;
using BenchmarkDotNet.Attributes;
using Microsoft.Extensions.Caching.Distributed;
using Microsoft.Extensions.Caching.Hybrid;
using Microsoft.Extensions.Caching.StackExchangeRedis;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using StackExchange.Redis;
using ZiggyCreatures.Caching.Fusion;
using ZiggyCreatures.Caching.Fusion.Backplane.StackExchangeRedis;
using ZiggyCreatures.Caching.Fusion.Serialization.SystemTextJson;

// The file is named after its package (Caching.Redis), so that -p:AsyncUtilsOnly=Caching.Redis builds it
// alone (build/OnlySome.props); the class is named after what it measures.
namespace AsyncUtils.Benchmarks;

/// <summary>
/// The first-level hit of the two-level caches, each set up as a fleet would use it, over one real
/// redis-server started here (tests/Shared/RedisServer.cs): ours (<see cref="DistributedTaskCache{TValue}"/>
/// and <see cref="DistributedCoroutineCache{TValue}"/> over <see cref="RedisSecondLevelCache"/>), HybridCache
/// over the Redis <c>IDistributedCache</c> (the baseline), and FusionCache with the Redis distributed cache
/// and its Redis backplane. 1,000 string keys, all warmed (in L1 and in Redis), read in a scrambled
/// order; per read. Ours must not allocate on a hit. The multi-process figures (L2 hit latency,
/// calls in a 4-process stampede, time for an invalidation to reach the other processes) come from
/// CacheFleetBenchmark in tests/AsyncUtils.Caching.Redis.ProcessTests.
/// </summary>
[MemoryDiagnoser]
public class DistributedCacheBenchmarks : IDisposable
{
    private const int Keys = 1000;
    private static readonly TimeSpan Life = TimeSpan.FromHours(1);
    private static readonly HybridCacheEntryOptions HybridEntry = new() { Expiration = Life, LocalCacheExpiration = Life };
    private static readonly Func<string, CancellationToken, Task<string>> Load = static (k, _) => Task.FromResult(k);
    private static readonly Func<string, CancellationToken, ValueTask<string>> LoadValue = static (k, _) => new ValueTask<string>(k);
    private static readonly Func<string, CancellationToken, ValueTask<string>> LoadHybrid = static (k, _) => new ValueTask<string>(k);
    private static readonly Func<FusionCacheFactoryExecutionContext<string>, CancellationToken, Task<string>> LoadFusion = static (_, _) => Task.FromResult("fusion");

    private readonly string[] _keys = new string[Keys];
    private RedisServer _server = null!;
    private ConnectionMultiplexer _connection = null!;
    private RedisSecondLevelCache _level = null!;
    private DistributedTaskCache<string> _ours = null!;
    private RedisSecondLevelCache _coroutineLevel = null!;
    private DistributedCoroutineCache<string> _oursCoroutine = null!;
    private ServiceProvider _services = null!;
    private HybridCache _hybrid = null!;
    private FusionCache _fusion = null!;

    [GlobalSetup]
    public void Setup()
    {
        _server = RedisServer.Start();
        _connection = ConnectionMultiplexer.Connect(_server.ConnectionString);
        for (int i = 0; i < Keys; i++)
        {
            _keys[i] = $"key:{(i * 7919L) % Keys}"; // a fixed scramble of 0..999
        }

        _level = new RedisSecondLevelCache(_connection, "bench:ours:");
        _ours = new DistributedTaskCache<string>(_level, new DistributedCacheOptions<string> { TimeToLive = Life }, new TaskCacheOptions<string, string> { TimeToLive = Life });
        _coroutineLevel = new RedisSecondLevelCache(_connection, "bench:ourscoroutine:");
        _oursCoroutine = new DistributedCoroutineCache<string>(
            _coroutineLevel, new DistributedCacheOptions<string> { TimeToLive = Life }, new CoroutineCacheOptions<string, string> { TimeToLive = Life });

        var services = new ServiceCollection();
        services.AddSingleton<IDistributedCache>(RedisDistributedCache("bench:hybrid:"));
        services.AddHybridCache(o => o.DefaultEntryOptions = HybridEntry);
        _services = services.BuildServiceProvider();
        _hybrid = _services.GetRequiredService<HybridCache>();

        _fusion = new FusionCache(new FusionCacheOptions
        {
            CacheName = "bench",
            CacheKeyPrefix = "bench:fusion:",
            DefaultEntryOptions = new FusionCacheEntryOptions { Duration = Life },
        });
        _fusion.SetupDistributedCache(RedisDistributedCache("bench:fusion:"), new FusionCacheSystemTextJsonSerializer());
        _fusion.SetupBackplane(new RedisBackplane(new RedisBackplaneOptions { ConnectionMultiplexerFactory = () => Task.FromResult<IConnectionMultiplexer>(_connection) }));

        foreach (string key in _keys)
        {
            _ours.GetOrAddAsync(key, Load).GetAwaiter().GetResult();
            _oursCoroutine.GetOrAddAsync(key, LoadValue).AsTask().GetAwaiter().GetResult();
            _hybrid.GetOrCreateAsync(key, key, LoadHybrid, HybridEntry).AsTask().GetAwaiter().GetResult();
            _fusion.GetOrSetAsync<string>(key, LoadFusion, default(MaybeValue<string>)).AsTask().GetAwaiter().GetResult();
        }
    }

    [GlobalCleanup]
    public void Dispose()
    {
        _fusion.Dispose();
        _services.Dispose();
        _oursCoroutine.Dispose();
        _coroutineLevel.Dispose();
        _ours.Dispose();
        _level.Dispose();
        _connection.Dispose();
        _server.Dispose();
        GC.SuppressFinalize(this);
    }

    [Benchmark(OperationsPerInvoke = Keys, Baseline = true)]
    public int Hit_HybridCache_GetOrCreateAsync()
    {
        int sum = 0;
        foreach (string key in _keys)
        {
            sum += Sync(_hybrid.GetOrCreateAsync(key, key, LoadHybrid, HybridEntry)).Length;
        }

        return sum;
    }

    [Benchmark(OperationsPerInvoke = Keys)]
    public int Hit_FusionCache_GetOrSetAsync()
    {
        int sum = 0;
        foreach (string key in _keys)
        {
            sum += Sync(_fusion.GetOrSetAsync<string>(key, LoadFusion, default(MaybeValue<string>))).Length;
        }

        return sum;
    }

    [Benchmark(OperationsPerInvoke = Keys)]
    public int Hit_DistributedTaskCache()
    {
        int sum = 0;
        foreach (string key in _keys)
        {
            sum += _ours.GetOrAddAsync(key, Load).Result.Length;
        }

        return sum;
    }

    [Benchmark(OperationsPerInvoke = Keys)]
    public int Hit_DistributedCoroutineCache()
    {
        int sum = 0;
        foreach (string key in _keys)
        {
            sum += Sync(_oursCoroutine.GetOrAddAsync(key, LoadValue)).Length;
        }

        return sum;
    }

    private static string Sync(ValueTask<string> task) => task.IsCompletedSuccessfully ? task.Result : task.AsTask().GetAwaiter().GetResult();

    private RedisCache RedisDistributedCache(string prefix) => new(Options.Create(new RedisCacheOptions
    {
        ConnectionMultiplexerFactory = () => Task.FromResult<IConnectionMultiplexer>(_connection),
        InstanceName = prefix,
    }));
}
