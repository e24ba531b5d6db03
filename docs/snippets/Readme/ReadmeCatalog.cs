namespace ReadmeSnippets;

/// <summary>
/// The examples of README.md and packages/*/README.md (one file per package here), run by
/// <c>SnippetCatalog</c>. A README shows a region's text under a
/// <c>&lt;!-- snippet: docs/snippets/Readme/File.cs#Region --&gt;</c> marker: see docs/README.md.
/// </summary>
public static class ReadmeCatalog
{
    /// <summary>The README examples, by package.</summary>
    public static IReadOnlyList<(string Name, Func<Task> Run)> All { get; } =
    [
        ("README: Lru", ReadmeLru.RunAsync),
        ("README: TaskCache", ReadmeTaskCache.RunAsync),
        ("README: CoroutineCache", ReadmeCoroutineCache.RunAsync),
        ("README: RateLimiter", ReadmeRateLimiter.RunAsync),
        ("README: Lockout", ReadmeLockout.RunAsync),
        ("README: PrioritySemaphore", ReadmePrioritySemaphore.RunAsync),
        ("README: BackgroundLoop", ReadmeBackgroundLoop.RunAsync),
        ("README: BackgroundTasks", ReadmeBackgroundTasks.RunAsync),
        ("README: Scheduler", ReadmeScheduler.RunAsync),
        ("README: DualColor", ReadmeDualColor.RunAsync),
        ("README: GenTransform", ReadmeGenTransform.RunAsync),
        ("README: Waterfall", ReadmeWaterfall.RunAsync),
        ("README: SignalService", ReadmeSignalService.RunAsync),
        ("README: MergeGens", ReadmeMergeGens.RunAsync),
        ("README: Http", ReadmeHttp.RunAsync),
        ("README: Hosting", ReadmeHosting.RunAsync),
        ("README: RateLimiter.Redis", ReadmeRateLimiterRedis.RunAsync),
        ("README: Lockout.Redis", ReadmeLockoutRedis.RunAsync),
        ("README: Caching.Distributed", ReadmeCachingDistributed.RunAsync),
        ("README: Caching.Redis", ReadmeCachingRedis.RunAsync),
        ("README: All", ReadmeAll.RunAsync),
    ];
}
