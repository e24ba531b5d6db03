using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;

namespace AsyncUtils;

/// <summary>
/// Binds the options of the AsyncUtils registrations from a configuration section, by hand
/// (no reflection, no configuration binder: trimming- and NativeAOT-safe, no warnings). Keys are
/// the options' property names; a key that is absent or empty leaves that option as it was;
/// numbers and booleans are read in the invariant culture and time spans in the
/// <c>[d.]hh:mm:ss[.fff]</c> form, as the configuration binder reads them. A value that does not
/// parse makes the creation of the instance throw <see cref="InvalidOperationException"/> naming
/// the key's path. The values are read when the instance is created (once: the primitives are
/// singletons); later changes to the configuration do not reach it.
/// </summary>
public static class AsyncUtilsConfigurationExtensions
{
    /// <summary>Reads <c>Fifo</c>.</summary>
    /// <param name="builder">The options builder returned by <c>AddAsyncUtilsLockout</c>.</param>
    /// <param name="section">The section holding the settings.</param>
    /// <returns><paramref name="builder"/>.</returns>
    /// <exception cref="ArgumentNullException">An argument is <see langword="null"/>.</exception>
    public static OptionsBuilder<LockoutOptions> FromConfiguration(this OptionsBuilder<LockoutOptions> builder, IConfiguration section)
    {
        Check(builder, section);
        return builder.Configure(o => ConfigurationValues.Bool(section, nameof(LockoutOptions.Fifo), v => o.Fifo = v));
    }

    /// <summary>
    /// Reads <c>QueueLimit</c> and <c>Windows</c>, a list of <c>{ "PermitLimit": 10, "Period": "00:00:01" }</c>
    /// entries; when the section lists windows, they replace any configured before.
    /// </summary>
    /// <param name="builder">The options builder returned by <c>AddAsyncUtilsSlidingLogRateLimiter</c>.</param>
    /// <param name="section">The section holding the settings.</param>
    /// <returns><paramref name="builder"/>.</returns>
    /// <exception cref="ArgumentNullException">An argument is <see langword="null"/>.</exception>
    public static OptionsBuilder<SlidingLogRateLimiterOptions> FromConfiguration(this OptionsBuilder<SlidingLogRateLimiterOptions> builder, IConfiguration section)
    {
        Check(builder, section);
        return builder.Configure(o =>
        {
            ConfigurationValues.Int(section, nameof(SlidingLogRateLimiterOptions.QueueLimit), v => o.QueueLimit = v);
            var windows = new List<SlidingLogWindow>();
            foreach (IConfigurationSection window in section.GetSection(nameof(SlidingLogRateLimiterOptions.Windows)).GetChildren())
            {
                int permitLimit = 0;
                TimeSpan period = TimeSpan.Zero;
                bool hasLimit = false;
                bool hasPeriod = false;
                ConfigurationValues.Int(window, nameof(SlidingLogWindow.PermitLimit), v => (permitLimit, hasLimit) = (v, true));
                ConfigurationValues.Duration(window, nameof(SlidingLogWindow.Period), v => (period, hasPeriod) = (v, true));
                if (!hasLimit || !hasPeriod)
                {
                    throw new InvalidOperationException($"The rate limit window at '{window.Path}' needs both PermitLimit and Period.");
                }

                windows.Add(new SlidingLogWindow(permitLimit, period));
            }

            if (windows.Count > 0)
            {
                o.Windows.Clear();
                foreach (SlidingLogWindow window in windows)
                {
                    o.Windows.Add(window);
                }
            }
        });
    }

    /// <summary>Reads <c>InitialCount</c> and <c>MaxCount</c>.</summary>
    /// <param name="builder">The options builder returned by <c>AddAsyncUtilsPrioritySemaphore</c>.</param>
    /// <param name="section">The section holding the settings.</param>
    /// <returns><paramref name="builder"/>.</returns>
    /// <exception cref="ArgumentNullException">An argument is <see langword="null"/>.</exception>
    public static OptionsBuilder<PrioritySemaphoreHostingOptions> FromConfiguration(this OptionsBuilder<PrioritySemaphoreHostingOptions> builder, IConfiguration section)
    {
        Check(builder, section);
        return builder.Configure(o =>
        {
            ConfigurationValues.Int(section, nameof(PrioritySemaphoreHostingOptions.MaxCount), v => o.MaxCount = v);
            ConfigurationValues.Int(section, nameof(PrioritySemaphoreHostingOptions.InitialCount), v => o.InitialCount = v);
        });
    }

    /// <summary>Reads <c>MaxSize</c>, <c>EvictionPolicy</c> (<c>Lru</c> or <c>S3Fifo</c>), <c>TimeToLive</c>, <c>Timeout</c>, <c>EvictOnException</c> and <c>TrackStatistics</c>.</summary>
    /// <typeparam name="TKey">The cache key.</typeparam>
    /// <typeparam name="TResult">The cached result.</typeparam>
    /// <param name="builder">The options builder returned by <c>AddAsyncUtilsTaskCache</c>.</param>
    /// <param name="section">The section holding the settings.</param>
    /// <returns><paramref name="builder"/>.</returns>
    /// <exception cref="ArgumentNullException">An argument is <see langword="null"/>.</exception>
    public static OptionsBuilder<TaskCacheOptions<TKey, TResult>> FromConfiguration<TKey, TResult>(this OptionsBuilder<TaskCacheOptions<TKey, TResult>> builder, IConfiguration section)
        where TKey : notnull
    {
        Check(builder, section);
        return builder.Configure(o =>
        {
            ConfigurationValues.Int(section, nameof(o.MaxSize), v => o.MaxSize = v);
            ConfigurationValues.Enum<CacheEvictionPolicy>(section, nameof(o.EvictionPolicy), v => o.EvictionPolicy = v);
            ConfigurationValues.Duration(section, nameof(o.TimeToLive), v => o.TimeToLive = v);
            ConfigurationValues.Duration(section, nameof(o.Timeout), v => o.Timeout = v);
            ConfigurationValues.Bool(section, nameof(o.EvictOnException), v => o.EvictOnException = v);
            ConfigurationValues.Bool(section, nameof(o.TrackStatistics), v => o.TrackStatistics = v);
        });
    }

    /// <summary>Reads <c>MaxSize</c>, <c>EvictionPolicy</c> (<c>Lru</c> or <c>S3Fifo</c>), <c>TimeToLive</c>, <c>Timeout</c>, <c>EvictOnException</c>, <c>CancelWhenAllWaitersCancel</c> and <c>TrackStatistics</c>.</summary>
    /// <typeparam name="TKey">The cache key.</typeparam>
    /// <typeparam name="TResult">The cached result.</typeparam>
    /// <param name="builder">The options builder returned by <c>AddAsyncUtilsCoroutineCache</c>.</param>
    /// <param name="section">The section holding the settings.</param>
    /// <returns><paramref name="builder"/>.</returns>
    /// <exception cref="ArgumentNullException">An argument is <see langword="null"/>.</exception>
    public static OptionsBuilder<CoroutineCacheOptions<TKey, TResult>> FromConfiguration<TKey, TResult>(this OptionsBuilder<CoroutineCacheOptions<TKey, TResult>> builder, IConfiguration section)
        where TKey : notnull
    {
        Check(builder, section);
        return builder.Configure(o =>
        {
            ConfigurationValues.Int(section, nameof(o.MaxSize), v => o.MaxSize = v);
            ConfigurationValues.Enum<CacheEvictionPolicy>(section, nameof(o.EvictionPolicy), v => o.EvictionPolicy = v);
            ConfigurationValues.Duration(section, nameof(o.TimeToLive), v => o.TimeToLive = v);
            ConfigurationValues.Duration(section, nameof(o.Timeout), v => o.Timeout = v);
            ConfigurationValues.Bool(section, nameof(o.EvictOnException), v => o.EvictOnException = v);
            ConfigurationValues.Bool(section, nameof(o.CancelWhenAllWaitersCancel), v => o.CancelWhenAllWaitersCancel = v);
            ConfigurationValues.Bool(section, nameof(o.TrackStatistics), v => o.TrackStatistics = v);
        });
    }

    /// <summary>Reads <c>TrackStatistics</c>.</summary>
    /// <typeparam name="TKey">The cache key.</typeparam>
    /// <typeparam name="TValue">The cached value.</typeparam>
    /// <param name="builder">The options builder returned by <c>AddAsyncUtilsLruCache</c>.</param>
    /// <param name="section">The section holding the settings.</param>
    /// <returns><paramref name="builder"/>.</returns>
    /// <exception cref="ArgumentNullException">An argument is <see langword="null"/>.</exception>
    public static OptionsBuilder<LruCacheOptions<TKey, TValue>> FromConfiguration<TKey, TValue>(this OptionsBuilder<LruCacheOptions<TKey, TValue>> builder, IConfiguration section)
        where TKey : notnull
    {
        Check(builder, section);
        return builder.Configure(o => ConfigurationValues.Bool(section, nameof(o.TrackStatistics), v => o.TrackStatistics = v));
    }

    /// <summary>Reads <c>MaxBatchSize</c>, <c>MaxWait</c>, <c>MaxConcurrentBatches</c>, <c>OrderedDelivery</c>, <c>FinalizeTimeout</c> and <c>Name</c>.</summary>
    /// <param name="builder">The options builder returned by <c>AddAsyncUtilsWaterfall</c>.</param>
    /// <param name="section">The section holding the settings.</param>
    /// <returns><paramref name="builder"/>.</returns>
    /// <exception cref="ArgumentNullException">An argument is <see langword="null"/>.</exception>
    public static OptionsBuilder<WaterfallOptions> FromConfiguration(this OptionsBuilder<WaterfallOptions> builder, IConfiguration section)
    {
        Check(builder, section);
        return builder.Configure(o =>
        {
            ConfigurationValues.Int(section, nameof(WaterfallOptions.MaxBatchSize), v => o.MaxBatchSize = v);
            ConfigurationValues.Duration(section, nameof(WaterfallOptions.MaxWait), v => o.MaxWait = v);
            ConfigurationValues.Int(section, nameof(WaterfallOptions.MaxConcurrentBatches), v => o.MaxConcurrentBatches = v);
            ConfigurationValues.Bool(section, nameof(WaterfallOptions.OrderedDelivery), v => o.OrderedDelivery = v);
            ConfigurationValues.Duration(section, nameof(WaterfallOptions.FinalizeTimeout), v => o.FinalizeTimeout = v);
            ConfigurationValues.String(section, nameof(WaterfallOptions.Name), v => o.Name = v);
        });
    }

    /// <summary>Reads <c>MaxConcurrency</c> and <c>DeliverPendingOnStop</c>.</summary>
    /// <param name="builder">The options builder returned by <c>AddAsyncUtilsScheduler</c>.</param>
    /// <param name="section">The section holding the settings.</param>
    /// <returns><paramref name="builder"/>.</returns>
    /// <exception cref="ArgumentNullException">An argument is <see langword="null"/>.</exception>
    public static OptionsBuilder<PayloadSchedulerHostingOptions> FromConfiguration(this OptionsBuilder<PayloadSchedulerHostingOptions> builder, IConfiguration section)
    {
        Check(builder, section);
        return builder.Configure(o =>
        {
            ConfigurationValues.Int(section, nameof(PayloadSchedulerHostingOptions.MaxConcurrency), v => o.MaxConcurrency = v);
            ConfigurationValues.Bool(section, nameof(PayloadSchedulerHostingOptions.DeliverPendingOnStop), v => o.DeliverPendingOnStop = v);
        });
    }

    /// <summary>Reads <c>ThreadName</c>, <c>DisposeTimeout</c> and <c>CancellationGracePeriod</c>.</summary>
    /// <param name="builder">The options builder returned by <c>AddAsyncUtilsThreadedLoop</c>.</param>
    /// <param name="section">The section holding the settings.</param>
    /// <returns><paramref name="builder"/>.</returns>
    /// <exception cref="ArgumentNullException">An argument is <see langword="null"/>.</exception>
    public static OptionsBuilder<ThreadedLoopOptions> FromConfiguration(this OptionsBuilder<ThreadedLoopOptions> builder, IConfiguration section)
    {
        Check(builder, section);
        return builder.Configure(o =>
        {
            ConfigurationValues.String(section, nameof(ThreadedLoopOptions.ThreadName), v => o.ThreadName = v);
            ConfigurationValues.Duration(section, nameof(ThreadedLoopOptions.DisposeTimeout), v => o.DisposeTimeout = v);
            ConfigurationValues.Duration(section, nameof(ThreadedLoopOptions.CancellationGracePeriod), v => o.CancellationGracePeriod = v);
        });
    }

    private static void Check<TOptions>(OptionsBuilder<TOptions> builder, IConfiguration section)
        where TOptions : class
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(section);
    }
}
