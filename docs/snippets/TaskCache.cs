using AsyncUtils;

namespace AsyncUtils.Docs.Snippets;

internal static class TaskCacheSnippets
{
    public static async Task RunAsync()
    {
        int calls = 0;

        // <TaskCacheBasic>
        var profiles = new TaskCache<int, string>(new TaskCacheOptions<int, string>
        {
            MaxSize = 10_000,                      // least recently used entries are evicted beyond this
            TimeToLive = TimeSpan.FromMinutes(1),  // a completed result is kept this long
        });

        async Task<string> LoadProfileAsync(int id, CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref calls);
            await Task.Delay(10, cancellationToken); // stands for a database or HTTP call
            return $"profile {id}";
        }

        // Three concurrent callers for the same key share one call (stampede protection).
        Task<string> first = profiles.GetOrAddAsync(42, (id, ct) => LoadProfileAsync(id, ct));
        Task<string> second = profiles.GetOrAddAsync(42, (id, ct) => LoadProfileAsync(id, ct));
        Task<string> third = profiles.GetOrAddAsync(42, (id, ct) => LoadProfileAsync(id, ct));
        string[] results = await Task.WhenAll(first, second, third);
        Console.WriteLine($"{results[0]}; the loader ran {calls} time(s)"); // profile 42; ... 1 time(s)
        // </TaskCacheBasic>

        Check.That(calls == 1 && results.All(r => r == "profile 42"), "concurrent callers share one call");

        // <TaskCacheWrap>
        var squares = new TaskCache<int, int>();
        Func<int, Task<int>> cachedSquare = squares.Wrap(static async (int x, CancellationToken _) =>
        {
            await Task.Yield();
            return x * x;
        });
        int nine = await cachedSquare(3); // computed once, then served from the cache
        // </TaskCacheWrap>

        Check.That(nine == 9 && squares.Count == 1, "the wrapped function caches by argument");
    }
}
