using AsyncUtils.Docs.Snippets;
using AsyncUtils;

namespace ReadmeSnippets;

internal static class ReadmeTaskCache
{
    public static async Task RunAsync()
    {
        await Root();
        await Package();
    }

    private static async Task Root()
    {
        var db = new Database();

        // <RootTaskCache>
        var users = new TaskCache<int, User>(new TaskCacheOptions<int, User>
        {
            TimeToLive = TimeSpan.FromMinutes(5),
            MaxSize = 10_000,
            Timeout = TimeSpan.FromSeconds(10),
        });
        Task<User> user = users.GetOrAddAsync(42, static (id, db, ct) => db.LoadUserAsync(id, ct), db);

        // The decorator of the Python library async-utils: a cached function keyed by its arguments.
        var cache = new TaskCache<(int, string), Report>();
        Func<int, string, Task<Report>> report = cache.Wrap(
            static (int year, string region, CancellationToken ct) => BuildReportAsync(year, region, ct));
        // </RootTaskCache>

        Check.That((await user).Id == 42, "the cached call loads user 42");
        Check.That(ReferenceEquals(await report(2026, "EU"), await report(2026, "EU")), "the wrapped function shares one call per arguments");
    }

    private static async Task Package()
    {
        var db = new Database();

        // <ReadmeTaskCache>
        var users = new TaskCache<int, User>(new TaskCacheOptions<int, User>
        {
            TimeToLive = TimeSpan.FromMinutes(5),   // counted from when the call completed
            MaxSize = 10_000,                       // least recently used entries are evicted
            Timeout = TimeSpan.FromSeconds(10),     // cancels the call for real and frees the key
        });

        // State is passed without a closure; the function gets the shared call's token.
        Task<User> user = users.GetOrAddAsync(42, static (id, db, ct) => db.LoadUserAsync(id, ct), db);

        // Or the Python library async-utils' decorator: a cached function keyed by its arguments, (int, string) here.
        var cache = new TaskCache<(int, string), Report>();
        Func<int, string, Task<Report>> report = cache.Wrap(
            static (int year, string region, CancellationToken ct) => BuildReportAsync(year, region, ct));

        users.Invalidate(42);                 // the next caller starts a new call
        // </ReadmeTaskCache>

        User first = await user;
        User second = await users.GetOrAddAsync(42, static (id, db, ct) => db.LoadUserAsync(id, ct), db);
        Check.That(!ReferenceEquals(first, second) && db.Loads == 2, "after Invalidate the next caller starts a new call");
        Check.That((await report(2026, "EU")).Region == "EU", "the wrapped function passes its arguments");
    }

    private static Task<Report> BuildReportAsync(int year, string region, CancellationToken ct) =>
        Task.FromResult(new Report(year, region));

    private sealed record Report(int Year, string Region);

    private sealed record User(int Id);

    private sealed class Database
    {
        private int _loads;

        public int Loads => _loads;

        public async Task<User> LoadUserAsync(int id, CancellationToken ct)
        {
            Interlocked.Increment(ref _loads);
            await Task.Yield();
            return new User(id);
        }
    }
}
