using AsyncUtils.Docs.Snippets;
using AsyncUtils;

namespace ReadmeSnippets;

internal static class ReadmePrioritySemaphore
{
    public static async Task RunAsync()
    {
        await Root();
        await Package();
    }

    private static async Task Root()
    {
        CancellationToken ct = CancellationToken.None;
        int ran = 0;
        Task RunReportQueryAsync(CancellationToken token)
        {
            ran++;
            return Task.CompletedTask;
        }

        // <RootPrioritySemaphore>
        var database = new PrioritySemaphore(initialCount: 4);
        using (PriorityContext.Enter(10))                  // background work queues behind requests at 0
        {
            using (await database.AcquireAsync(ct))
            {
                await RunReportQueryAsync(ct);
            }
        }
        // </RootPrioritySemaphore>

        Check.That(ran == 1 && database.CurrentCount == 4, "the query ran and its permit came back");
    }

    private static async Task Package()
    {
        CancellationToken ct = CancellationToken.None;
        int calls = 0;
        Task<Report> BuildReportAsync(CancellationToken token) => Task.FromResult(new Report(PriorityContext.Current));
        Task<Row> RunAsync(string sql, CancellationToken token) => Task.FromResult(new Row(sql));
        Task HealthCheckAsync(CancellationToken token)
        {
            calls++;
            return Task.CompletedTask;
        }

        Task RefreshAsync(CancellationToken token)
        {
            calls++;
            return Task.CompletedTask;
        }

        void Refresh() => calls++;

        // <ReadmePrioritySemaphore>
        var database = new PrioritySemaphore(initialCount: 4);          // 4 concurrent queries

        async Task<Report> NightlyReportAsync(CancellationToken ct)
        {
            using (PriorityContext.Enter(10))                            // background work waits behind users
            {
                return await BuildReportAsync(ct);                       // every wait inside queues at 10
            }
        }

        async Task<Row> QueryAsync(string sql, CancellationToken ct)
        {
            using (await database.AcquireAsync(ct))                      // ambient priority (0 by default)
            {
                return await RunAsync(sql, ct);
            }
        }

        await database.WaitAsync(priority: -5, ct);                      // or an explicit priority
        try { await HealthCheckAsync(ct); } finally { database.Release(); }

        if (await database.WaitAsync(TimeSpan.FromSeconds(2), ct))       // with a timeout: true when held
        {
            try { await RefreshAsync(ct); } finally { database.Release(); }
        }

        database.Wait(ct);                                                // blocking callers too
        try { Refresh(); } finally { database.Release(); }
        // </ReadmePrioritySemaphore>

        Report report = await NightlyReportAsync(ct);
        Row row = await QueryAsync("SELECT 1", ct);
        Check.That(calls == 3 && report.Priority == 10 && row.Sql == "SELECT 1" && database.CurrentCount == 4,
            "every wait ran its work and handed its permit back; the nightly report ran at priority 10");
    }

    private sealed record Report(int Priority);

    private sealed record Row(string Sql);
}
