namespace AsyncUtils.Docs.Snippets;

/// <summary>
/// Every runnable documentation sample, by name. A page per package means a file per package here
/// (<c>Lru.cs</c> for <c>docs/packages/Lru.md</c>) and one line in this list; the docs tests run
/// each entry.
/// </summary>
public static class SnippetCatalog
{
    /// <summary>The samples, in the order of the site's table of contents.</summary>
    public static IReadOnlyList<(string Name, Func<Task> Run)> All { get; } =
    [
        ("Lru", LruSnippets.RunAsync),
        ("TaskCache", TaskCacheSnippets.RunAsync),
        ("CoroutineCache", CoroutineCacheSnippets.RunAsync),
        ("RateLimiter", RateLimiterSnippets.RunAsync),
        ("Lockout", LockoutSnippets.RunAsync),
        ("PrioritySemaphore", PrioritySemaphoreSnippets.RunAsync),
        ("BackgroundLoop", BackgroundLoopSnippets.RunAsync),
        ("BackgroundTasks", BackgroundTasksSnippets.RunAsync),
        ("Scheduler", SchedulerSnippets.RunAsync),
        ("DualColor", DualColorSnippets.RunAsync),
        ("GenTransform", GenTransformSnippets.RunAsync),
        ("MergeGens", MergeGensSnippets.RunAsync),
        ("Waterfall", WaterfallSnippets.RunAsync),
        ("SignalService and the graceful shutdown guide", GracefulShutdownGuide.RunAsync),
        ("Http", HttpSnippets.RunAsync),
        ("Hosting", HostingSnippets.RunAsync),
        ("RateLimiter.Redis", RateLimiterRedisSnippets.RunAsync),
        ("Lockout.Redis", LockoutRedisSnippets.RunAsync),
        ("Guide: rate-limited HTTP API", RateLimitedHttpGuide.RunAsync),
        ("Guide: choosing a queue", ChoosingAQueueGuide.RunAsync),
        .. ReadmeSnippets.ReadmeCatalog.All, // the README examples (docs/snippets/Readme)
    ];
}
