using System.Collections.Concurrent;
using Microsoft.Extensions.Caching.Distributed;

namespace AsyncUtils.Caching.Distributed.Tests;

/// <summary>An in-memory <see cref="IDistributedCache"/> that records what it was asked and can fail or hold writes.</summary>
internal sealed class FakeDistributedCache : IDistributedCache
{
    private readonly ConcurrentDictionary<string, byte[]> _values = new();

    public ConcurrentDictionary<string, DistributedCacheEntryOptions> Options { get; } = new();

    public int Gets;
    public int Sets;

    public bool Fail { get; set; }

    /// <summary>When set, every SetAsync waits for it before storing.</summary>
    public TaskCompletionSource? HoldSets { get; set; }

    /// <summary>Completed when a SetAsync starts waiting for <see cref="HoldSets"/>.</summary>
    public TaskCompletionSource SetEntered { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public bool Contains(string key) => _values.ContainsKey(key);

    public void Put(string key, byte[] value) => _values[key] = value;

    public byte[]? Get(string key)
    {
        ThrowIfFailing();
        Interlocked.Increment(ref Gets);
        return _values.TryGetValue(key, out byte[]? value) ? value : null;
    }

    public Task<byte[]?> GetAsync(string key, CancellationToken token = default) => Task.FromResult(Get(key));

    public void Refresh(string key) => ThrowIfFailing();

    public Task RefreshAsync(string key, CancellationToken token = default)
    {
        Refresh(key);
        return Task.CompletedTask;
    }

    public void Remove(string key)
    {
        ThrowIfFailing();
        _values.TryRemove(key, out _);
    }

    public Task RemoveAsync(string key, CancellationToken token = default)
    {
        Remove(key);
        return Task.CompletedTask;
    }

    public void Set(string key, byte[] value, DistributedCacheEntryOptions options)
    {
        ThrowIfFailing();
        Interlocked.Increment(ref Sets);
        _values[key] = value;
        Options[key] = options;
    }

    public async Task SetAsync(string key, byte[] value, DistributedCacheEntryOptions options, CancellationToken token = default)
    {
        if (HoldSets is { } hold)
        {
            SetEntered.TrySetResult();
            await hold.Task.ConfigureAwait(false);
        }

        Set(key, value, options);
    }

    private void ThrowIfFailing()
    {
        if (Fail)
        {
            throw new InvalidOperationException("The store is down.");
        }
    }
}
