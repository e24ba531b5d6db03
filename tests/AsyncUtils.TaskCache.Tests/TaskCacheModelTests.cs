using CsCheck;
using Microsoft.Extensions.Time.Testing;

namespace AsyncUtils.Tests;

/// <summary>
/// Random sequences of operations against a plain model: which requests start a call and which get
/// the cached result must match exactly, one operation at a time.
/// </summary>
public sealed class TaskCacheModelTests
{
    private const int Ttl = 5;

    private enum Op
    {
        Get,
        Invalidate,
        Advance,
        Clear,
    }

    private static readonly Gen<(Op Op, int Key)[]> Ops =
        Gen.Select(Gen.Int[0, 9], Gen.Int[0, 4], (kind, key) => (kind switch
        {
            < 6 => Op.Get,
            6 => Op.Invalidate,
            < 9 => Op.Advance,
            _ => Op.Clear,
        }, key)).Array[1, 60];

    [Test]
    public void Time_to_live_and_invalidation_match_a_dictionary_model()
    {
        Ops.Sample(ops =>
        {
            var time = new FakeTimeProvider();
            var cache = new TaskCache<int, int>(new TaskCacheOptions<int, int> { TimeToLive = TimeSpan.FromSeconds(Ttl), TimeProvider = time });
            var model = new Dictionary<int, (int Version, long ExpiresAt)>();
            long now = 0;
            int version = 0;

            foreach ((Op op, int key) in ops)
            {
                switch (op)
                {
                    case Op.Get:
                        int got = cache.GetOrAddAsync(key, (_, _) => Task.FromResult(++version)).Result;
                        if (!model.TryGetValue(key, out var entry) || now >= entry.ExpiresAt)
                        {
                            entry = (version, now + Ttl);
                            model[key] = entry;
                        }

                        if (got != entry.Version)
                        {
                            throw new InvalidOperationException($"Get({key}) returned {got}, model {entry.Version}");
                        }

                        break;
                    case Op.Invalidate:
                        cache.Invalidate(key);
                        model.Remove(key);
                        break;
                    case Op.Advance:
                        time.Advance(TimeSpan.FromSeconds(key + 1));
                        now += key + 1;
                        break;
                    default:
                        cache.Clear();
                        model.Clear();
                        break;
                }
            }
        }, iter: 300);
    }

    [TestCase(CacheEvictionPolicy.Lru)]
    [TestCase(CacheEvictionPolicy.S3Fifo)]
    public void A_maximum_size_is_never_exceeded_and_a_request_gets_only_its_keys_latest_live_result(CacheEvictionPolicy policy)
    {
        const int maxSize = 3;
        Ops.Sample(ops =>
        {
            var time = new FakeTimeProvider();
            var cache = new TaskCache<int, int>(new TaskCacheOptions<int, int>
            {
                MaxSize = maxSize,
                EvictionPolicy = policy,
                TimeToLive = TimeSpan.FromSeconds(Ttl),
                TimeProvider = time,
            });
            var model = new Dictionary<int, (int Version, long ExpiresAt)>(); // what the cache may still hold
            long now = 0;
            int version = 0;

            foreach ((Op op, int key) in ops)
            {
                switch (op)
                {
                    case Op.Get:
                        int before = version;
                        int got = cache.GetOrAddAsync(key, (_, _) => Task.FromResult(++version)).Result;
                        if (version != before)
                        {
                            // A call started: the key was absent, evicted or expired.
                            if (got != version)
                            {
                                throw new InvalidOperationException($"Get({key}) started call {version} but returned {got}");
                            }

                            model[key] = (version, now + Ttl);
                        }
                        else if (!model.TryGetValue(key, out var entry) || now >= entry.ExpiresAt || got != entry.Version)
                        {
                            throw new InvalidOperationException($"Get({key}) returned {got} without a call, but the key's latest live result is {(model.TryGetValue(key, out var e) && now < e.ExpiresAt ? e.Version : "none")}");
                        }

                        break;
                    case Op.Invalidate:
                        cache.Invalidate(key);
                        model.Remove(key);
                        break;
                    case Op.Advance:
                        time.Advance(TimeSpan.FromSeconds(key + 1));
                        now += key + 1;
                        break;
                    default:
                        cache.Clear();
                        model.Clear();
                        break;
                }

                if (cache.Count > maxSize)
                {
                    throw new InvalidOperationException($"Count {cache.Count} exceeds MaxSize {maxSize}");
                }
            }
        }, iter: 300);
    }

    [Test]
    public void A_maximum_size_evicts_exactly_the_least_recently_used_key_like_a_list_model()
    {
        const int maxSize = 3;
        Ops.Sample(ops =>
        {
            var cache = new TaskCache<int, int>(new TaskCacheOptions<int, int> { MaxSize = maxSize });
            var recency = new List<(int Key, int Version)>(); // most recent first
            int version = 0;

            foreach ((Op op, int key) in ops)
            {
                switch (op)
                {
                    case Op.Get or Op.Advance:
                        int got = cache.GetOrAddAsync(key, (_, _) => Task.FromResult(++version)).Result;
                        int index = recency.FindIndex(e => e.Key == key);
                        (int Key, int Version) entry;
                        if (index >= 0)
                        {
                            entry = recency[index];
                            recency.RemoveAt(index);
                        }
                        else
                        {
                            entry = (key, version);
                            if (recency.Count == maxSize)
                            {
                                recency.RemoveAt(maxSize - 1);
                            }
                        }

                        recency.Insert(0, entry);
                        if (got != entry.Version)
                        {
                            throw new InvalidOperationException($"Get({key}) returned {got}, model {entry.Version}");
                        }

                        break;
                    case Op.Invalidate:
                        cache.Invalidate(key);
                        recency.RemoveAll(e => e.Key == key);
                        break;
                    default:
                        cache.Clear();
                        recency.Clear();
                        break;
                }

                if (cache.Count != recency.Count)
                {
                    throw new InvalidOperationException($"Count {cache.Count}, model {recency.Count}");
                }
            }
        }, iter: 300);
    }
}
