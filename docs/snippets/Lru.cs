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
        return Task.CompletedTask;
    }
}
