using AsyncUtils;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using BitFaster.Caching.Lru;
using Microsoft.Extensions.Caching.Memory;

namespace AsyncUtils.Benchmarks;

/// <summary>
/// AsyncUtils.Lru (the exact LruCache and the S3-FIFO S3FifoCache) against its anchors, per operation: a hit over a 1,000-key working set read in a
/// scrambled order (every hit changes the recency order, the expensive case for an exact LRU), a
/// miss that evicts, and hits from two threads at once (over the working set, and on one hot key). Each category's baseline is BitFaster's
/// ConcurrentLru (ConcurrentTLru for the TTL hit).
/// </summary>
[MemoryDiagnoser]
[GroupBenchmarksBy(BenchmarkLogicalGroupRule.ByCategory)]
[CategoriesColumn]
public class LruBenchmarks : IDisposable
{
    private const int Capacity = 1000;
    private const int Ops = 1000;
    private const int ContendedOpsPerThread = 100_000;

    private readonly int[] _keys = new int[Ops];
    private LruCache<int, int> _ours = null!;
    private S3FifoCache<int, int> _s3Fifo = null!;
    private TtlLruCache<int, int> _oursTtl = null!;
    private ConcurrentLru<int, int> _bitfaster = null!;
    private ConcurrentTLru<int, int> _bitfasterTtl = null!;
    private MemoryCache _memoryCache = null!;
    private LockedLinkedListLru<int, int> _locked = null!;
    private int _next;

    [GlobalSetup]
    public void Setup()
    {
        for (int i = 0; i < Ops; i++)
        {
            _keys[i] = (int)((i * 7919L) % Capacity); // a fixed scramble of 0..999
        }

        _ours = new LruCache<int, int>(Capacity);
        _s3Fifo = new S3FifoCache<int, int>(Capacity);
        _oursTtl = new TtlLruCache<int, int>(Capacity, TimeSpan.FromHours(1));
        _bitfaster = new ConcurrentLru<int, int>(Capacity);
        _bitfasterTtl = new ConcurrentTLru<int, int>(Capacity, TimeSpan.FromHours(1));
        _memoryCache = new MemoryCache(new MemoryCacheOptions { SizeLimit = Capacity });
        _locked = new LockedLinkedListLru<int, int>(Capacity);
        for (int k = 0; k < Capacity; k++)
        {
            _ours[k] = k;
            _s3Fifo[k] = k;
            _oursTtl[k] = k;
            _bitfaster.AddOrUpdate(k, k);
            _bitfasterTtl.AddOrUpdate(k, k);
            _memoryCache.Set(k, k, new MemoryCacheEntryOptions { Size = 1 });
            _locked.Set(k, k);
        }

        _next = Capacity;

        // The Hit rows must hit: a cache that dropped part of the working set on the way in would
        // measure misses under a hit's name.
        foreach (int k in _keys)
        {
            if (!_ours.TryGetValue(k, out _) || !_s3Fifo.TryGetValue(k, out _) || !_oursTtl.TryGetValue(k, out _) || !_bitfaster.TryGet(k, out _)
                || !_bitfasterTtl.TryGet(k, out _) || !_memoryCache.TryGetValue(k, out _) || !_locked.TryGetValue(k, out _))
            {
                throw new InvalidOperationException($"Key {k} of the working set is not cached after setup.");
            }
        }
    }

    [GlobalCleanup]
    public void Dispose()
    {
        _memoryCache.Dispose();
        GC.SuppressFinalize(this);
    }

    // ------------------------------------------------------------------ hit

    [Benchmark(OperationsPerInvoke = Ops), BenchmarkCategory("Hit")]
    public int Hit_AsyncUtils_LruCache()
    {
        int sum = 0;
        foreach (int k in _keys)
        {
            _ours.TryGetValue(k, out int v);
            sum += v;
        }

        return sum;
    }

    [Benchmark(OperationsPerInvoke = Ops), BenchmarkCategory("Hit")]
    public int Hit_AsyncUtils_S3FifoCache()
    {
        int sum = 0;
        foreach (int k in _keys)
        {
            _s3Fifo.TryGetValue(k, out int v);
            sum += v;
        }

        return sum;
    }

    [Benchmark(OperationsPerInvoke = Ops, Baseline = true), BenchmarkCategory("Hit")]
    public int Hit_BitFaster_ConcurrentLru()
    {
        int sum = 0;
        foreach (int k in _keys)
        {
            _bitfaster.TryGet(k, out int v);
            sum += v;
        }

        return sum;
    }

    [Benchmark(OperationsPerInvoke = Ops), BenchmarkCategory("Hit")]
    public int Hit_MemoryCache()
    {
        int sum = 0;
        foreach (int k in _keys)
        {
            _memoryCache.TryGetValue(k, out int v);
            sum += v;
        }

        return sum;
    }

    [Benchmark(OperationsPerInvoke = Ops), BenchmarkCategory("Hit")]
    public int Hit_Locked_Dictionary_LinkedList()
    {
        int sum = 0;
        foreach (int k in _keys)
        {
            _locked.TryGetValue(k, out int v);
            sum += v;
        }

        return sum;
    }

    [Benchmark(OperationsPerInvoke = Ops), BenchmarkCategory("HitSameKey")]
    public int HitSameKey_AsyncUtils_LruCache()
    {
        int sum = 0;
        for (int i = 0; i < Ops; i++)
        {
            _ours.TryGetValue(42, out int v);
            sum += v;
        }

        return sum;
    }

    [Benchmark(OperationsPerInvoke = Ops), BenchmarkCategory("HitSameKey")]
    public int HitSameKey_AsyncUtils_S3FifoCache()
    {
        int sum = 0;
        for (int i = 0; i < Ops; i++)
        {
            _s3Fifo.TryGetValue(42, out int v);
            sum += v;
        }

        return sum;
    }

    [Benchmark(OperationsPerInvoke = Ops, Baseline = true), BenchmarkCategory("HitSameKey")]
    public int HitSameKey_BitFaster_ConcurrentLru()
    {
        int sum = 0;
        for (int i = 0; i < Ops; i++)
        {
            _bitfaster.TryGet(42, out int v);
            sum += v;
        }

        return sum;
    }

    [Benchmark(OperationsPerInvoke = Ops), BenchmarkCategory("TtlHit")]
    public int TtlHit_AsyncUtils_TtlLruCache()
    {
        int sum = 0;
        foreach (int k in _keys)
        {
            _oursTtl.TryGetValue(k, out int v);
            sum += v;
        }

        return sum;
    }

    [Benchmark(OperationsPerInvoke = Ops, Baseline = true), BenchmarkCategory("TtlHit")]
    public int TtlHit_BitFaster_ConcurrentTLru()
    {
        int sum = 0;
        foreach (int k in _keys)
        {
            _bitfasterTtl.TryGet(k, out int v);
            sum += v;
        }

        return sum;
    }

    // ------------------------------------------------------------------ miss with eviction

    [Benchmark(OperationsPerInvoke = Ops), BenchmarkCategory("MissEvict")]
    public int MissEvict_AsyncUtils_LruCache()
    {
        int sum = 0;
        for (int i = 0; i < Ops; i++)
        {
            sum += _ours.GetOrAdd(_next++, 1);
        }

        return sum;
    }

    [Benchmark(OperationsPerInvoke = Ops), BenchmarkCategory("MissEvict")]
    public int MissEvict_AsyncUtils_S3FifoCache()
    {
        int sum = 0;
        for (int i = 0; i < Ops; i++)
        {
            sum += _s3Fifo.GetOrAdd(_next++, 1);
        }

        return sum;
    }

    [Benchmark(OperationsPerInvoke = Ops, Baseline = true), BenchmarkCategory("MissEvict")]
    public int MissEvict_BitFaster_ConcurrentLru()
    {
        int sum = 0;
        for (int i = 0; i < Ops; i++)
        {
            sum += _bitfaster.GetOrAdd(_next++, static _ => 1);
        }

        return sum;
    }

    [Benchmark(OperationsPerInvoke = Ops), BenchmarkCategory("MissEvict")]
    public int MissEvict_MemoryCache()
    {
        int sum = 0;
        for (int i = 0; i < Ops; i++)
        {
            sum += _memoryCache.GetOrCreate(_next++, static e => { e.Size = 1; return 1; });
        }

        return sum;
    }

    [Benchmark(OperationsPerInvoke = Ops), BenchmarkCategory("MissEvict")]
    public int MissEvict_Locked_Dictionary_LinkedList()
    {
        int sum = 0;
        for (int i = 0; i < Ops; i++)
        {
            sum += _locked.GetOrAdd(_next++, 1);
        }

        return sum;
    }

    // ------------------------------------------------------------------ two threads hitting

    [Benchmark(OperationsPerInvoke = 2 * ContendedOpsPerThread), BenchmarkCategory("ContendedHit")]
    public void ContendedHit_AsyncUtils_LruCache() => OnTwoThreads(() =>
    {
        for (int i = 0; i < ContendedOpsPerThread; i++)
        {
            _ours.TryGetValue(_keys[i % Ops], out _);
        }
    });

    [Benchmark(OperationsPerInvoke = 2 * ContendedOpsPerThread), BenchmarkCategory("ContendedHit")]
    public void ContendedHit_AsyncUtils_S3FifoCache() => OnTwoThreads(() =>
    {
        for (int i = 0; i < ContendedOpsPerThread; i++)
        {
            _s3Fifo.TryGetValue(_keys[i % Ops], out _);
        }
    });

    [Benchmark(OperationsPerInvoke = 2 * ContendedOpsPerThread, Baseline = true), BenchmarkCategory("ContendedHit")]
    public void ContendedHit_BitFaster_ConcurrentLru() => OnTwoThreads(() =>
    {
        for (int i = 0; i < ContendedOpsPerThread; i++)
        {
            _bitfaster.TryGet(_keys[i % Ops], out _);
        }
    });

    [Benchmark(OperationsPerInvoke = 2 * ContendedOpsPerThread), BenchmarkCategory("ContendedHit")]
    public void ContendedHit_MemoryCache() => OnTwoThreads(() =>
    {
        for (int i = 0; i < ContendedOpsPerThread; i++)
        {
            _memoryCache.TryGetValue(_keys[i % Ops], out int _);
        }
    });

    [Benchmark(OperationsPerInvoke = 2 * ContendedOpsPerThread), BenchmarkCategory("ContendedHit")]
    public void ContendedHit_Locked_Dictionary_LinkedList() => OnTwoThreads(() =>
    {
        for (int i = 0; i < ContendedOpsPerThread; i++)
        {
            _locked.TryGetValue(_keys[i % Ops], out _);
        }
    });

    [Benchmark(OperationsPerInvoke = 2 * ContendedOpsPerThread), BenchmarkCategory("ContendedHitSameKey")]
    public void ContendedHitSameKey_AsyncUtils_LruCache() => OnTwoThreads(() =>
    {
        for (int i = 0; i < ContendedOpsPerThread; i++)
        {
            _ours.TryGetValue(42, out _);
        }
    });

    [Benchmark(OperationsPerInvoke = 2 * ContendedOpsPerThread), BenchmarkCategory("ContendedHitSameKey")]
    public void ContendedHitSameKey_AsyncUtils_S3FifoCache() => OnTwoThreads(() =>
    {
        for (int i = 0; i < ContendedOpsPerThread; i++)
        {
            _s3Fifo.TryGetValue(42, out _);
        }
    });

    [Benchmark(OperationsPerInvoke = 2 * ContendedOpsPerThread, Baseline = true), BenchmarkCategory("ContendedHitSameKey")]
    public void ContendedHitSameKey_BitFaster_ConcurrentLru() => OnTwoThreads(() =>
    {
        for (int i = 0; i < ContendedOpsPerThread; i++)
        {
            _bitfaster.TryGet(42, out _);
        }
    });

    private static void OnTwoThreads(Action work) => Parallel.Invoke(new ParallelOptions { MaxDegreeOfParallelism = 2 }, work, work);
}

/// <summary>The textbook exact LRU: a Dictionary and a LinkedList under one lock.</summary>
internal sealed class LockedLinkedListLru<TKey, TValue>(int capacity)
    where TKey : notnull
{
    private readonly Dictionary<TKey, LinkedListNode<(TKey Key, TValue Value)>> _map = new(capacity);
    private readonly LinkedList<(TKey Key, TValue Value)> _list = new();
    private readonly Lock _sync = new();

    public bool TryGetValue(TKey key, out TValue value)
    {
        lock (_sync)
        {
            if (_map.TryGetValue(key, out LinkedListNode<(TKey Key, TValue Value)>? node))
            {
                _list.Remove(node);
                _list.AddFirst(node);
                value = node.Value.Value;
                return true;
            }
        }

        value = default!;
        return false;
    }

    public void Set(TKey key, TValue value)
    {
        lock (_sync)
        {
            if (_map.Remove(key, out LinkedListNode<(TKey Key, TValue Value)>? old))
            {
                _list.Remove(old);
            }
            else if (_map.Count >= capacity)
            {
                _map.Remove(_list.Last!.Value.Key);
                _list.RemoveLast();
            }

            _map[key] = _list.AddFirst((key, value));
        }
    }

    public TValue GetOrAdd(TKey key, TValue value)
    {
        if (TryGetValue(key, out TValue existing))
        {
            return existing;
        }

        Set(key, value);
        return value;
    }
}
