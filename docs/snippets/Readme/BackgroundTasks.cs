using System.Net;
using AsyncUtils;
using AsyncUtils.Docs.Snippets;

namespace ReadmeSnippets;

internal static class ReadmeBackgroundTasks
{
    public static async Task RunAsync()
    {
        await Root();
        await Package();
    }

    private static async Task Root()
    {
        Uri[] feeds = [new("http://feeds.example/a"), new("http://feeds.example/b")];
        Uri[] urls = [new("http://files.example/1"), new("http://files.example/missing"), new("http://files.example/3")];
        using var http = new HttpClient(new Files());
        int refreshed = 0;
        var saved = new List<Uri>();
        var failed = new List<Uri>();
        Task RefreshAsync(Uri feed, CancellationToken ct)
        {
            Interlocked.Increment(ref refreshed);
            return Task.CompletedTask;
        }

        void Save(Uri url, byte[] bytes) => saved.Add(url);
        void Report(Uri url, Exception exception) => failed.Add(url);

        // <RootBackgroundTasks>
        var group = new TaskGroup(new TaskGroupOptions { ExitTimeout = TimeSpan.FromSeconds(30) });
        await using (group)
        {
            foreach (Uri feed in feeds) group.Start(ct => RefreshAsync(feed, ct));
        }   // waits for all; failures thrown together as one AggregateException

        await using var executor = new CurrentContextExecutor(maxConcurrency: 8);
        await foreach (MapResult<Uri, byte[]> r in executor.Map(urls, (u, ct) => http.GetByteArrayAsync(u, ct)))
            if (r.IsSuccess) Save(r.Item, r.Value); else Report(r.Item, r.Exception!);
        // </RootBackgroundTasks>

        Check.That(refreshed == 2 && saved.Count == 2 && failed.Single() == urls[1], "every feed refreshed; two downloads saved, the missing one reported");
    }

    private static async Task Package()
    {
        Uri[] feeds = [new("http://feeds.example/a"), new("http://feeds.example/b")];
        Uri[] urls = [new("http://files.example/1"), new("http://files.example/missing")];
        using var http = new HttpClient(new Files());
        int refreshed = 0;
        var saved = new List<Uri>();
        Task RefreshAsync(Uri feed, CancellationToken ct)
        {
            Interlocked.Increment(ref refreshed);
            return Task.CompletedTask;
        }

        void Save(Uri url, byte[] bytes) => saved.Add(url);

        // <ReadmeBackgroundTasks>
        // Leaving the block waits for every task; failures are thrown together at the end.
        var group = new TaskGroup(new TaskGroupOptions { ExitTimeout = TimeSpan.FromSeconds(30) });
        await using (group)
        {
            foreach (Uri feed in feeds)
            {
                group.Start(ct => RefreshAsync(feed, ct));   // one failing feed does not stop the others
            }
        }

        // At most 8 downloads at once; results as they complete; the input is pulled lazily.
        await using var executor = new CurrentContextExecutor(maxConcurrency: 8);
        await foreach (MapResult<Uri, byte[]> r in executor.Map(urls, (url, ct) => http.GetByteArrayAsync(url, ct)))
        {
            if (r.IsSuccess) Save(r.Item, r.Value);
            else Console.Error.WriteLine($"{r.Item}: {r.Exception!.Message}");
        }
        // </ReadmeBackgroundTasks>

        Check.That(refreshed == 2 && saved.Single() == urls[0], "every feed refreshed; the download that exists is saved");
    }

    /// <summary>Answers 404 for a path containing "missing", otherwise three bytes.</summary>
    private sealed class Files : HttpMessageHandler
    {
        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken) =>
            Task.FromResult(request.RequestUri!.AbsolutePath.Contains("missing", StringComparison.Ordinal)
                ? new HttpResponseMessage(HttpStatusCode.NotFound)
                : new HttpResponseMessage(HttpStatusCode.OK) { Content = new ByteArrayContent([1, 2, 3]) });
    }
}
