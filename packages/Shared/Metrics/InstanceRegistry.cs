using System.Diagnostics.Metrics;

namespace AsyncUtils.Shared.Metrics;

/// <summary>
/// The live instances of one primitive, held weakly, so an observable instrument of the package's
/// static <see cref="Meter"/> can read their existing counters when a listener asks (and only then).
/// Registration costs one small allocation when an instance is made; hot paths pay nothing, and an
/// instance nobody references is collected as if it were never registered.
/// </summary>
/// <typeparam name="T">The primitive's type.</typeparam>
internal sealed class InstanceRegistry<T>
    where T : class
{
    private readonly object _lock = new();
    private readonly List<WeakReference<T>> _items = [];
    private int _pruneAt = 64;

    /// <summary>Registers a new instance. Thread-safe.</summary>
    public void Add(T instance)
    {
        lock (_lock)
        {
            if (_items.Count >= _pruneAt)
            {
                _items.RemoveAll(static w => !w.TryGetTarget(out _));
                _pruneAt = Math.Max(64, _items.Count * 2);
            }

            _items.Add(new WeakReference<T>(instance));
        }
    }

    /// <summary>The instances alive now (a snapshot, taken under the registry's lock and returned outside it).</summary>
    public List<T> Snapshot()
    {
        var live = new List<T>();
        lock (_lock)
        {
            foreach (WeakReference<T> weak in _items)
            {
                if (weak.TryGetTarget(out T? item))
                {
                    live.Add(item);
                }
            }
        }

        return live;
    }

    /// <summary>
    /// One measurement per live instance for an observable instrument: <paramref name="read"/> gives
    /// the value, and the instance's name (when it has one) becomes the <paramref name="nameTag"/> tag.
    /// Runs when a listener collects, never on a primitive's own path.
    /// </summary>
    public IEnumerable<Measurement<long>> Observe(Func<T, long> read, Func<T, string?> name, string nameTag)
    {
        foreach (T item in Snapshot())
        {
            string? n = name(item);
            yield return n is null
                ? new Measurement<long>(read(item))
                : new Measurement<long>(read(item), new KeyValuePair<string, object?>(nameTag, n));
        }
    }
}
