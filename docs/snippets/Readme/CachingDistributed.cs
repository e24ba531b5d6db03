using System.Text.Json.Serialization;
using AsyncUtils;
using AsyncUtils.Docs.Snippets;
using Microsoft.Extensions.Caching.Distributed;
using Microsoft.Extensions.Caching.Memory;
using Microsoft.Extensions.Options;

namespace ReadmeSnippets;

internal static class ReadmeCachingDistributed
{
    public static async Task RunAsync()
    {
        // Any IDistributedCache: Redis, SQL Server, Postgres, Garnet; the in-memory one here.
        IDistributedCache distributedCache = new MemoryDistributedCache(Options.Create(new MemoryDistributedCacheOptions()));
        var db = new UserDatabase();

        // <ReadmeCachingDistributed>
        var level = new DistributedCacheSecondLevel(distributedCache, keyPrefix: "users:");
        using var users = new DistributedTaskCache<CachedUser>(
            level,
            new DistributedCacheOptions<CachedUser>
            {
                Serializer = CacheSerializers.Json(CachedUserJsonContext.Default.CachedUser), // source-generated, no reflection
                TimeToLive = TimeSpan.FromMinutes(10),                                      // in the distributed cache
            },
            new TaskCacheOptions<string, CachedUser> { TimeToLive = TimeSpan.FromMinutes(1), MaxSize = 10_000 }); // in this process

        // L1 miss -> L2 -> your function; the result is written to L2 for the other processes.
        CachedUser user = await users.GetOrAddAsync("42", (id, ct) => db.LoadUserAsync(id, ct));

        await users.InvalidateAsync("42"); // drops L1 at once, then removes the key from L2
        // </ReadmeCachingDistributed>

        Check.That(user.Name == "user 42" && db.Loads == 1, "the first call loads from the database");

        // Another process, sharing the distributed cache: its L1 misses, L2 answers.
        await users.GetOrAddAsync("42", (id, ct) => db.LoadUserAsync(id, ct)); // reloads after the invalidation
        using var otherProcess = new DistributedTaskCache<CachedUser>(
            new DistributedCacheSecondLevel(distributedCache, keyPrefix: "users:"),
            new DistributedCacheOptions<CachedUser> { Serializer = CacheSerializers.Json(CachedUserJsonContext.Default.CachedUser), TimeToLive = TimeSpan.FromMinutes(10) });
        CachedUser fromL2 = await otherProcess.GetOrAddAsync("42", (id, ct) => db.LoadUserAsync(id, ct));
        Check.That(fromL2 == user && db.Loads == 2, "after the invalidation the key is loaded once more, and another process reads it from L2 without loading");
    }

    private sealed class UserDatabase
    {
        private int _loads;

        public int Loads => Volatile.Read(ref _loads);

        public Task<CachedUser> LoadUserAsync(string id, CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref _loads);
            return Task.FromResult(new CachedUser(id, "user " + id));
        }
    }
}

internal sealed record CachedUser(string Id, string Name);

[JsonSerializable(typeof(CachedUser))]
internal sealed partial class CachedUserJsonContext : JsonSerializerContext;
