using AsyncUtils.Docs.Snippets;
using AsyncUtils;

namespace ReadmeSnippets;

internal static class ReadmeLru
{
    public static async Task RunAsync()
    {
        await Root();
        string output = await Capture.ConsoleAsync(() => { Package(); return Task.CompletedTask; });
        Capture.Printed(output, "Hits = 0, Misses = 2, Evictions = 0, Expirations = 0");
        S3Fifo();
    }

    private static Task Root()
    {
        // <RootLru>
        var cache = new LruCache<string, User>(capacity: 10_000);
        User user = cache.GetOrAdd("alice", static name => User.Load(name));
        if (cache.TryGetValue("bob", out User? bob)) { /* a hit: bob is now the most recent */ }

        var tokens = new TtlLruCache<string, string>(1_000, TimeSpan.FromMinutes(5)); // expires 5 min after each write
        // </RootLru>

        Check.That(user.Name == "alice" && bob is null && tokens.Count == 0, "GetOrAdd stores the loaded user; bob was never added");
        return Task.CompletedTask;
    }

    private static void Package()
    {
        // <ReadmeLru>
        var users = new LruCache<int, User>(capacity: 10_000, new LruCacheOptions<int, User>
        {
            OnRemoved = (id, user, reason) => user.Dispose(), // Evicted, Expired, Removed or Replaced
            TrackStatistics = true,
        });

        User user = users.GetOrAdd(42, static id => User.Load(id));
        if (users.TryGetValue(7, out User? seven)) { /* a hit made 7 the most recent */ }
        Console.WriteLine(users.GetStatistics()); // Hits = 0, Misses = 2, Evictions = 0, Expirations = 0

        var tokens = new TtlLruCache<string, string>(capacity: 1_000, timeToLive: TimeSpan.FromMinutes(5));
        tokens["alice"] = "token";                 // readable for 5 minutes from now, reads do not extend it
        // </ReadmeLru>

        Check.That(user.Name == "42" && seven is null && tokens.GetValueOrDefault("alice", "none") == "token", "the example's cache calls");
    }

    private static void S3Fifo()
    {
        // <ReadmeS3Fifo>
        var pages = new S3FifoCache<string, string>(capacity: 10_000); // same options and calls as LruCache
        string page = pages.GetOrAdd("/home", static path => $"<h1>{path}</h1>");
        if (pages.TryGetValue("/home", out string? again)) { /* a hit: one lookup, one plain store */ }
        // </ReadmeS3Fifo>

        Check.That(page == "<h1>/home</h1>" && again == page && pages.Count == 1, "S3FifoCache stores and returns the page");
    }

    private sealed class User : IDisposable
    {
        private User(string name) => Name = name;

        public string Name { get; }

        public static User Load(string name) => new(name);

        public static User Load(int id) => new(id.ToString(System.Globalization.CultureInfo.InvariantCulture));

        public void Dispose()
        {
        }
    }
}
