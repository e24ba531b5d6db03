using AsyncUtils.Docs.Snippets;
using AsyncUtils;

namespace ReadmeSnippets;

internal static class ReadmeAll
{
    public static async Task RunAsync()
    {
        var api = new UserApi();
        string output = await Capture.ConsoleAsync(() => Package(api));
        Capture.Printed(output, "Ada, Ada; API calls: 1");
    }

    private static async Task Package(UserApi api)
    {
        // <ReadmeAll>
        // At most 10 API calls a second (RateLimiter), one call per user shared by all callers
        // and cached for a minute (TaskCache).
        using var limiter = new SlidingLogRateLimiter(new SlidingLogRateLimiterOptions
        {
            Windows = { new(10, TimeSpan.FromSeconds(1)) },
            QueueLimit = 100,
        });
        var names = new TaskCache<int, string>(new TaskCacheOptions<int, string> { TimeToLive = TimeSpan.FromMinutes(1) });

        Task<string> GetNameAsync(int id) => names.GetOrAddAsync(id, async (id, ct) =>
        {
            await using (await limiter.EnterAsync(ct))
            {
                return await api.GetNameAsync(id, ct);
            }
        });

        string[] both = await Task.WhenAll(GetNameAsync(1), GetNameAsync(1));
        Console.WriteLine($"{both[0]}, {both[1]}; API calls: {api.Calls}"); // Ada, Ada; API calls: 1
        // </ReadmeAll>
    }

    private sealed class UserApi
    {
        public int Calls { get; private set; }

        public async Task<string> GetNameAsync(int id, CancellationToken ct)
        {
            Calls++;
            await Task.Delay(10, ct);
            return id == 1 ? "Ada" : "someone";
        }
    }
}
