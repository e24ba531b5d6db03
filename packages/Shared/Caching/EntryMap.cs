using System.Collections.Concurrent;
using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using AsyncUtils;

namespace AsyncUtils.Shared.Caching;

/// <summary>
/// Where the entries live: a <see cref="ConcurrentDictionary{TKey, TValue}"/> when the size is
/// unbounded; when it is bounded, an <see cref="LruCache{TKey, TValue}"/> (exact recency) or an
/// <see cref="S3FifoCache{TKey, TValue}"/> (S3-FIFO), as the <see cref="CacheEvictionPolicy"/> says.
/// Reads are lock-free in all three. Every write is conditional on the entry now stored for the key
/// (compare-and-swap), so a stale completion or a stale expiry can never remove or replace a newer
/// entry: the dictionary does that atomically by itself; for the bounded stores a short lock makes
/// the check and the write one step (reads of the store do not take that lock). Every entry that
/// leaves the map, whatever the way (removed, replaced, evicted, cleared), is reported once to the
/// optional <c>onLeft</c> callback, after the map's change and on the thread that made it; it must
/// not throw nor call back into the map.
/// </summary>
internal sealed class EntryMap<TKey, TEntry>
    where TKey : notnull
    where TEntry : class
{
    private readonly ConcurrentDictionary<TKey, TEntry>? _dictionary;
    private readonly LruCache<TKey, TEntry>? _lru;
    private readonly S3FifoCache<TKey, TEntry>? _s3Fifo;
    private readonly Action<TEntry>? _onLeft;
    private long _evictions;
#if NET9_0_OR_GREATER
    private readonly Lock _boundedWrite = new();
#else
    private readonly object _boundedWrite = new();
#endif

    internal EntryMap(int? maxSize, CacheEvictionPolicy policy, IEqualityComparer<TKey>? comparer, Action<TEntry>? onLeft = null)
    {
        _onLeft = onLeft;
        if (maxSize is int capacity)
        {
            // The bounded store reports every entry it lets go of (evicted, replaced, removed,
            // cleared), after its lock is released; evictions are counted here for the metrics
            // (writes only).
            var options = new LruCacheOptions<TKey, TEntry>
            {
                Comparer = comparer,
                OnRemoved = (_, entry, reason) =>
                {
                    if (reason == CacheRemovalReason.Evicted)
                    {
                        Interlocked.Increment(ref _evictions);
                    }

                    _onLeft?.Invoke(entry);
                },
            };
            if (policy == CacheEvictionPolicy.S3Fifo)
            {
                _s3Fifo = new S3FifoCache<TKey, TEntry>(capacity, options);
            }
            else
            {
                _lru = new LruCache<TKey, TEntry>(capacity, options);
            }
        }
        else
        {
            _dictionary = new ConcurrentDictionary<TKey, TEntry>(comparer);
        }
    }

    internal int Count => _dictionary?.Count ?? _s3Fifo?.Count ?? _lru!.Count;

    /// <summary>The entries the size bound evicted, or -1 when there is no bound.</summary>
    internal long Evictions => _dictionary is not null ? -1 : Interlocked.Read(ref _evictions);

    /// <summary>The dictionary when the size is unbounded, so that the hit path can read it without a detour.</summary>
    internal ConcurrentDictionary<TKey, TEntry>? Dictionary => _dictionary;

    /// <summary>The exact LRU when the size is bounded with <see cref="CacheEvictionPolicy.Lru"/>, so that the bounded hit can read it without a detour.</summary>
    internal LruCache<TKey, TEntry>? Lru => _lru;

    /// <summary>The S3-FIFO store when the size is bounded with <see cref="CacheEvictionPolicy.S3Fifo"/>, so that the bounded hit can read it without a detour.</summary>
    internal S3FifoCache<TKey, TEntry>? S3Fifo => _s3Fifo;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal bool TryGet(TKey key, [MaybeNullWhen(false)] out TEntry entry) =>
        _dictionary is not null ? _dictionary.TryGetValue(key, out entry) : TryGetBounded(key, out entry);

    /// <summary>
    /// The bounded read, kept out of line: inlined into the lookup it would bring the store's
    /// recency bookkeeping with it and make the unbounded lookup pay for registers it does not use.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    internal bool TryGetBounded(TKey key, [MaybeNullWhen(false)] out TEntry entry) =>
        _s3Fifo is not null ? _s3Fifo.TryGetValue(key, out entry) : _lru!.TryGetValue(key, out entry);

    /// <summary>Stores <paramref name="entry"/> if the key now maps to <paramref name="expected"/> (<see langword="null"/>: absent).</summary>
    internal bool TryReplace(TKey key, TEntry? expected, TEntry entry)
    {
        if (_dictionary is not null)
        {
            if (expected is null)
            {
                return _dictionary.TryAdd(key, entry);
            }

            if (!_dictionary.TryUpdate(key, entry, expected))
            {
                return false;
            }

            _onLeft?.Invoke(expected);
            return true;
        }

        lock (_boundedWrite)
        {
            TryGetBounded(key, out TEntry? current);
            if (!ReferenceEquals(current, expected))
            {
                return false;
            }

            // May evict an entry: the least recently used one, or the one S3-FIFO picks.
            if (_s3Fifo is not null)
            {
                _s3Fifo[key] = entry;
            }
            else
            {
                _lru![key] = entry;
            }

            return true;
        }
    }

    /// <summary>Removes the key only if it still maps to <paramref name="entry"/>.</summary>
    internal bool RemoveIfCurrent(TKey key, TEntry entry)
    {
        if (_dictionary is not null)
        {
            if (!_dictionary.TryRemove(KeyValuePair.Create(key, entry)))
            {
                return false;
            }

            _onLeft?.Invoke(entry);
            return true;
        }

        lock (_boundedWrite)
        {
            if (TryGetBounded(key, out TEntry? current) && ReferenceEquals(current, entry))
            {
                return _s3Fifo?.Remove(key) ?? _lru!.Remove(key);
            }

            return false;
        }
    }

    internal bool Remove(TKey key, [MaybeNullWhen(false)] out TEntry entry)
    {
        if (_dictionary is not null)
        {
            if (!_dictionary.TryRemove(key, out entry))
            {
                return false;
            }

            _onLeft?.Invoke(entry);
            return true;
        }

        lock (_boundedWrite)
        {
            return _s3Fifo is not null ? _s3Fifo.Remove(key, out entry) : _lru!.Remove(key, out entry);
        }
    }

    internal void Clear()
    {
        if (_dictionary is not null)
        {
            if (_onLeft is null)
            {
                _dictionary.Clear();
                return;
            }

            // Entry by entry, so that each one that leaves is reported (and none added meanwhile is).
            foreach (KeyValuePair<TKey, TEntry> pair in _dictionary)
            {
                if (_dictionary.TryRemove(pair))
                {
                    _onLeft(pair.Value);
                }
            }

            return;
        }

        lock (_boundedWrite)
        {
            if (_s3Fifo is not null)
            {
                _s3Fifo.Clear();
            }
            else
            {
                _lru!.Clear();
            }
        }
    }
}
