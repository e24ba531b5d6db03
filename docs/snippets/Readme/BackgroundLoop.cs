using AsyncUtils;
using AsyncUtils.Docs.Snippets;

namespace ReadmeSnippets;

internal static class ReadmeBackgroundLoop
{
    public static async Task RunAsync()
    {
        await Root();
        await Package();
    }

    private static async Task Root()
    {
        var log = new Log();
        var device = new Device();
        var cache = new Cache();
        CancellationToken cancellationToken = CancellationToken.None;

        // <RootBackgroundLoop>
        await using var loop = new ThreadedLoop(new ThreadedLoopOptions { ThreadName = "device-io" });
        loop.UnhandledException += (_, e) => log.Error(e.Exception);
        int value = await loop.RunAsync(async ct =>
        {
            await device.ConnectAsync(ct);      // continues on "device-io"
            return await device.ReadAsync(ct);  // still "device-io"
        }, cancellationToken);
        loop.Post(_ => cache.Refresh());        // fire-and-forget; faults go to the event
        // </RootBackgroundLoop>

        Check.That(loop.WaitAll(TimeSpan.FromSeconds(5)), "the posted refresh finishes");
        Check.That(value == 42 && device.Threads.All(t => t == "device-io") && cache.Refreshed == 1 && log.Errors == 0,
            "the device calls ran on the loop thread, and the posted refresh ran");
    }

    private static async Task Package()
    {
        var device = new Device();
        var cache = new Cache();
        CancellationToken cancellationToken = CancellationToken.None;

        // <ReadmeBackgroundLoop>
        await using var loop = new ThreadedLoop(new ThreadedLoopOptions { ThreadName = "device-io" });
        loop.UnhandledException += (_, e) => Console.Error.WriteLine(e.Exception);

        // Runs on the loop thread; so does everything after each await inside it.
        int reading = await loop.RunAsync(async ct =>
        {
            await device.ConnectAsync(ct);       // continues on "device-io"
            return await device.ReadAsync(ct);   // continues on "device-io"
        }, cancellationToken);

        loop.Post(_ => cache.Refresh());         // fire-and-forget; a throw goes to UnhandledException
        bool idle = loop.WaitAll(TimeSpan.FromSeconds(5));
        // Leaving the block waits for outstanding work, stops the loop and joins the thread.
        // </ReadmeBackgroundLoop>

        Check.That(reading == 42 && idle && cache.Refreshed == 1 && device.Threads.All(t => t == "device-io"),
            "the device calls ran on the loop thread; WaitAll saw the posted refresh done");
    }

    private sealed class Log
    {
        public int Errors { get; private set; }

        public void Error(Exception exception) => Errors++;
    }

    private sealed class Cache
    {
        private int _refreshed;

        public int Refreshed => Volatile.Read(ref _refreshed);

        public void Refresh() => Interlocked.Increment(ref _refreshed);
    }

    private sealed class Device
    {
        public List<string?> Threads { get; } = [];

        public async Task ConnectAsync(CancellationToken ct)
        {
            await Task.Yield();
            Threads.Add(Thread.CurrentThread.Name);
        }

        public async Task<int> ReadAsync(CancellationToken ct)
        {
            await Task.Delay(1, ct);
            Threads.Add(Thread.CurrentThread.Name);
            return 42;
        }
    }
}
