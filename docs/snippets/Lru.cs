using AsyncUtils;

namespace AsyncUtils.Docs.Snippets;

internal static class LruSnippets
{
    public static Task RunAsync()
    {
        // <LruBasic>
        var cache = new LruCache<string, string>(capacity: 2);
        cache["alice"] = "Alice Liddell";
        cache["bob"] = "Bob Dylan";

        // A read makes "alice" the most recently used entry...
        if (cache.TryGetValue("alice", out string? alice))
        {
            Console.WriteLine($"hit: {alice}");
        }

        // ...so adding a third key evicts "bob", the least recently used one.
        string carol = cache.GetOrAdd("carol", static name => name.ToUpperInvariant());
        Console.WriteLine($"bob still cached: {cache.TryGetValue("bob", out _)}"); // False
        // </LruBasic>

        Check.That(alice == "Alice Liddell" && carol == "CAROL", "GetOrAdd stores the factory's value");
        Check.That(!cache.TryGetValue("bob", out _) && cache.Count == 2, "the least recently used key is evicted");

        // <LruTtl>
        var tokens = new TtlLruCache<string, string>(capacity: 1_000, timeToLive: TimeSpan.FromMinutes(5));
        tokens["service-a"] = "token-1"; // expires 5 minutes after this write; reads do not extend it
        string token = tokens.GetValueOrDefault("service-a", defaultValue: "none");
        // </LruTtl>

        Check.That(token == "token-1", "a fresh TTL entry is returned");

        // <LruS3Fifo>
        var pages = new S3FifoCache<int, string>(capacity: 100);
        for (int round = 0; round < 3; round++)
        {
            for (int id = 0; id < 50; id++)
            {
                pages.GetOrAdd(id, static i => $"page {i}"); // a hot set, read again and again
            }
        }

        for (int id = 1_000; id < 2_000; id++)
        {
            pages.GetOrAdd(id, static i => $"page {i}"); // a one-pass scan, ten times the capacity
        }

        bool hotSetKept = pages.TryGetValue(0, out _) && pages.TryGetValue(49, out _); // True: the scan went through the small queue
        // </LruS3Fifo>

        Check.That(hotSetKept && pages.Count == 100, "S3-FIFO keeps the hot set through a scan");
        return Task.CompletedTask;
    }
}
