using System.Runtime.CompilerServices;
using AsyncUtils;
using Microsoft.Extensions.Time.Testing;

namespace AsyncUtils.Samples.Tour;

internal static class LruTour
{
    [ModuleInitializer]
    internal static void Register() => TourSections.Add(10, "AsyncUtils.Lru", RunAsync);

    public static Task RunAsync()
    {
        var cache = new LruCache<string, string>(capacity: 2, new LruCacheOptions<string, string>
        {
            OnRemoved = (key, value, reason) => Console.WriteLine($"  (removed '{key}' = '{value}' because: {reason})"),
            TrackStatistics = true,
        });

        Console.WriteLine("An LruCache with room for 2 entries.");
        cache["alice"] = "admin";
        cache["bob"] = "viewer";
        Console.WriteLine("Stored alice and bob. Reading alice makes her the most recently used...");
        cache.TryGetValue("alice", out _);
        Console.WriteLine("...so storing carol evicts bob, the least recently used:");
        cache["carol"] = "editor";
        Console.WriteLine($"  bob still cached? {cache.TryGetValue("bob", out _)}; alice? {cache.TryGetValue("alice", out _)}");
        Console.WriteLine($"GetOrAdd(\"dave\", \"guest\") stores and returns '{cache.GetOrAdd("dave", "guest")}' (evicting carol).");
        Console.WriteLine($"Counters: {cache.GetStatistics()}");

        // A fake clock stands in for time passing, so the tour does not have to wait.
        var clock = new FakeTimeProvider();
        var sessions = new TtlLruCache<string, int>(capacity: 100, timeToLive: TimeSpan.FromMinutes(5), clock);
        sessions["token-1"] = 42;
        clock.Advance(TimeSpan.FromMinutes(4));
        Console.WriteLine();
        Console.WriteLine("A TtlLruCache keeps each entry 5 minutes after it was written.");
        Console.WriteLine($"  After 4 minutes token-1 is {(sessions.TryGetValue("token-1", out int user) ? $"alive (user {user})" : "gone")}.");
        clock.Advance(TimeSpan.FromMinutes(1));
        Console.WriteLine($"  At 5 minutes it is {(sessions.TryGetValue("token-1", out _) ? "alive" : "gone: reads never extend an entry's life")}.");
        return Task.CompletedTask;
    }
}
