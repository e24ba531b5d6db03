namespace AsyncUtils.Tests;

/// <summary>
/// A deliberately simple reference for the caches' documented behaviour: lists searched linearly,
/// no concurrency, no cleverness. Model-based and linearizability tests compare the real caches
/// against it operation by operation, including the removal notifications.
/// </summary>
internal sealed class LruModel
{
    private readonly int _capacity;
    private readonly long _ttl; // 0 = no expiry
    private readonly List<Entry> _recency = []; // index 0 = most recent
    private readonly List<Entry> _writes = []; // oldest write first

    public LruModel(int capacity, long ttl = 0)
    {
        _capacity = capacity;
        _ttl = ttl;
    }

    public long Now { get; set; }

    public List<(int Key, int Value, CacheRemovalReason Reason)> Removals { get; } = [];

    public int Count => _recency.Count;

    public bool TryGetValue(int key, out int value)
    {
        Entry? e = Find(key);
        if (e is not null && Alive(e))
        {
            _recency.Remove(e);
            _recency.Insert(0, e);
            value = e.Value;
            return true;
        }

        if (e is not null)
        {
            Drop(e, CacheRemovalReason.Expired);
            PurgeExpired();
        }

        value = 0;
        return false;
    }

    public void Set(int key, int value)
    {
        PurgeExpired();
        Entry? old = Find(key);
        if (old is not null)
        {
            Drop(old, Alive(old) ? CacheRemovalReason.Replaced : CacheRemovalReason.Expired);
            Add(key, value);
            return;
        }

        Insert(key, value);
    }

    public int GetOrAdd(int key, int value)
    {
        if (TryGetValue(key, out int existing))
        {
            return existing;
        }

        PurgeExpired();
        Entry? stale = Find(key);
        if (stale is not null)
        {
            Drop(stale, CacheRemovalReason.Expired);
        }

        Insert(key, value);
        return value;
    }

    public bool Remove(int key, out int value)
    {
        value = 0;
        bool found = false;
        Entry? e = Find(key);
        if (e is not null)
        {
            found = Alive(e);
            value = found ? e.Value : 0;
            Drop(e, found ? CacheRemovalReason.Removed : CacheRemovalReason.Expired);
        }

        PurgeExpired();
        return found;
    }

    public void Clear()
    {
        foreach (Entry e in _recency)
        {
            Removals.Add((e.Key, e.Value, CacheRemovalReason.Removed));
        }

        _recency.Clear();
        _writes.Clear();
    }

    private void Insert(int key, int value)
    {
        if (_recency.Count >= _capacity)
        {
            Entry victim = _recency[^1];
            Drop(victim, Alive(victim) ? CacheRemovalReason.Evicted : CacheRemovalReason.Expired);
        }

        Add(key, value);
    }

    private void Add(int key, int value)
    {
        var e = new Entry(key, value, _ttl == 0 ? long.MaxValue : Now + _ttl);
        _recency.Insert(0, e);
        _writes.Add(e);
    }

    private void PurgeExpired()
    {
        for (int i = 0; i < 2 && _writes.Count > 0 && !Alive(_writes[0]); i++)
        {
            Drop(_writes[0], CacheRemovalReason.Expired);
        }
    }

    private void Drop(Entry e, CacheRemovalReason reason)
    {
        _recency.Remove(e);
        _writes.Remove(e);
        Removals.Add((e.Key, e.Value, reason));
    }

    private bool Alive(Entry e) => Now < e.ExpiresAt;

    private Entry? Find(int key) => _recency.Find(e => e.Key == key);

    private sealed record Entry(int Key, int Value, long ExpiresAt);
}
