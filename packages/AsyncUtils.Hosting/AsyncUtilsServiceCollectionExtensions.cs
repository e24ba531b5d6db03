using System.Diagnostics.CodeAnalysis;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace AsyncUtils;

/// <summary>
/// Registers the AsyncUtils primitives that are singletons in a service. Every method comes in
/// two forms: without a name it registers the one instance of its type (resolve it by type); with
/// a name it registers a keyed singleton (resolve it with <c>GetRequiredKeyedService</c> or
/// <c>[FromKeyedServices("name")]</c>) whose options are the named options of that name. Each
/// returns the <see cref="OptionsBuilder{TOptions}"/> of the instance's options, for
/// <c>.Configure(...)</c>, <c>.FromConfiguration(section)</c> (no reflection) or validation. A
/// <see cref="TimeProvider"/> registered in the container is the primitives' clock unless the
/// options name another. Waterfalls, schedulers, threaded loops and task groups also live with
/// the host (see <c>AddAsyncUtilsWaterfall</c>), and their failures are logged through
/// <c>ILogger</c> when an <c>ILoggerFactory</c> is registered.
/// </summary>
public static class AsyncUtilsServiceCollectionExtensions
{
    /// <summary>Registers the <see cref="Lockout"/> singleton.</summary>
    /// <param name="services">The services.</param>
    /// <returns>The builder of its <see cref="LockoutOptions"/>.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="services"/> is <see langword="null"/>.</exception>
    /// <exception cref="InvalidOperationException">A <see cref="Lockout"/> without a name is already registered.</exception>
    public static OptionsBuilder<LockoutOptions> AddAsyncUtilsLockout(this IServiceCollection services)
        => AddLockout(services, null);

    /// <summary>Registers a <see cref="Lockout"/> singleton keyed by <paramref name="name"/>.</summary>
    /// <param name="services">The services.</param>
    /// <param name="name">The service key, and the name of its options.</param>
    /// <returns>The builder of its <see cref="LockoutOptions"/>.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="services"/> or <paramref name="name"/> is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentException"><paramref name="name"/> is empty or white space.</exception>
    /// <exception cref="InvalidOperationException">A <see cref="Lockout"/> of that name is already registered.</exception>
    public static OptionsBuilder<LockoutOptions> AddAsyncUtilsLockout(this IServiceCollection services, string name)
        => AddLockout(services, CheckName(name));

    /// <summary>Registers the <see cref="SlidingLogRateLimiter"/> singleton, also resolvable as <see cref="System.Threading.RateLimiting.RateLimiter"/>.</summary>
    /// <param name="services">The services.</param>
    /// <returns>The builder of its <see cref="SlidingLogRateLimiterOptions"/> (add at least one window).</returns>
    /// <exception cref="ArgumentNullException"><paramref name="services"/> is <see langword="null"/>.</exception>
    /// <exception cref="InvalidOperationException">A <see cref="SlidingLogRateLimiter"/> without a name is already registered.</exception>
    public static OptionsBuilder<SlidingLogRateLimiterOptions> AddAsyncUtilsSlidingLogRateLimiter(this IServiceCollection services)
        => AddRateLimiter(services, null);

    /// <summary>Registers a <see cref="SlidingLogRateLimiter"/> singleton keyed by <paramref name="name"/>, also resolvable as a keyed <see cref="System.Threading.RateLimiting.RateLimiter"/>.</summary>
    /// <param name="services">The services.</param>
    /// <param name="name">The service key, and the name of its options.</param>
    /// <returns>The builder of its <see cref="SlidingLogRateLimiterOptions"/> (add at least one window).</returns>
    /// <exception cref="ArgumentNullException"><paramref name="services"/> or <paramref name="name"/> is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentException"><paramref name="name"/> is empty or white space.</exception>
    /// <exception cref="InvalidOperationException">A <see cref="SlidingLogRateLimiter"/> of that name is already registered.</exception>
    public static OptionsBuilder<SlidingLogRateLimiterOptions> AddAsyncUtilsSlidingLogRateLimiter(this IServiceCollection services, string name)
        => AddRateLimiter(services, CheckName(name));

    /// <summary>Registers the <see cref="PrioritySemaphore"/> singleton.</summary>
    /// <param name="services">The services.</param>
    /// <returns>The builder of its <see cref="PrioritySemaphoreHostingOptions"/> (one permit by default).</returns>
    /// <exception cref="ArgumentNullException"><paramref name="services"/> is <see langword="null"/>.</exception>
    /// <exception cref="InvalidOperationException">A <see cref="PrioritySemaphore"/> without a name is already registered.</exception>
    public static OptionsBuilder<PrioritySemaphoreHostingOptions> AddAsyncUtilsPrioritySemaphore(this IServiceCollection services)
        => AddPrioritySemaphore(services, null);

    /// <summary>Registers a <see cref="PrioritySemaphore"/> singleton keyed by <paramref name="name"/>.</summary>
    /// <param name="services">The services.</param>
    /// <param name="name">The service key, and the name of its options.</param>
    /// <returns>The builder of its <see cref="PrioritySemaphoreHostingOptions"/> (one permit by default).</returns>
    /// <exception cref="ArgumentNullException"><paramref name="services"/> or <paramref name="name"/> is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentException"><paramref name="name"/> is empty or white space.</exception>
    /// <exception cref="InvalidOperationException">A <see cref="PrioritySemaphore"/> of that name is already registered.</exception>
    public static OptionsBuilder<PrioritySemaphoreHostingOptions> AddAsyncUtilsPrioritySemaphore(this IServiceCollection services, string name)
        => AddPrioritySemaphore(services, CheckName(name));

    /// <summary>Registers the <see cref="TaskCache{TKey, TResult}"/> singleton.</summary>
    /// <typeparam name="TKey">The cache key.</typeparam>
    /// <typeparam name="TResult">The cached result.</typeparam>
    /// <param name="services">The services.</param>
    /// <returns>The builder of its <see cref="TaskCacheOptions{TKey, TResult}"/>.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="services"/> is <see langword="null"/>.</exception>
    /// <exception cref="InvalidOperationException">Such a cache without a name is already registered.</exception>
    public static OptionsBuilder<TaskCacheOptions<TKey, TResult>> AddAsyncUtilsTaskCache<TKey, TResult>(this IServiceCollection services)
        where TKey : notnull
        => AddTaskCache<TKey, TResult>(services, null);

    /// <summary>Registers a <see cref="TaskCache{TKey, TResult}"/> singleton keyed by <paramref name="name"/>.</summary>
    /// <typeparam name="TKey">The cache key.</typeparam>
    /// <typeparam name="TResult">The cached result.</typeparam>
    /// <param name="services">The services.</param>
    /// <param name="name">The service key, and the name of its options.</param>
    /// <returns>The builder of its <see cref="TaskCacheOptions{TKey, TResult}"/>.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="services"/> or <paramref name="name"/> is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentException"><paramref name="name"/> is empty or white space.</exception>
    /// <exception cref="InvalidOperationException">Such a cache of that name is already registered.</exception>
    public static OptionsBuilder<TaskCacheOptions<TKey, TResult>> AddAsyncUtilsTaskCache<TKey, TResult>(this IServiceCollection services, string name)
        where TKey : notnull
        => AddTaskCache<TKey, TResult>(services, CheckName(name));

    /// <summary>Registers the <see cref="CoroutineCache{TKey, TResult}"/> singleton.</summary>
    /// <typeparam name="TKey">The cache key.</typeparam>
    /// <typeparam name="TResult">The cached result.</typeparam>
    /// <param name="services">The services.</param>
    /// <returns>The builder of its <see cref="CoroutineCacheOptions{TKey, TResult}"/>.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="services"/> is <see langword="null"/>.</exception>
    /// <exception cref="InvalidOperationException">Such a cache without a name is already registered.</exception>
    public static OptionsBuilder<CoroutineCacheOptions<TKey, TResult>> AddAsyncUtilsCoroutineCache<TKey, TResult>(this IServiceCollection services)
        where TKey : notnull
        => AddCoroutineCache<TKey, TResult>(services, null);

    /// <summary>Registers a <see cref="CoroutineCache{TKey, TResult}"/> singleton keyed by <paramref name="name"/>.</summary>
    /// <typeparam name="TKey">The cache key.</typeparam>
    /// <typeparam name="TResult">The cached result.</typeparam>
    /// <param name="services">The services.</param>
    /// <param name="name">The service key, and the name of its options.</param>
    /// <returns>The builder of its <see cref="CoroutineCacheOptions{TKey, TResult}"/>.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="services"/> or <paramref name="name"/> is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentException"><paramref name="name"/> is empty or white space.</exception>
    /// <exception cref="InvalidOperationException">Such a cache of that name is already registered.</exception>
    public static OptionsBuilder<CoroutineCacheOptions<TKey, TResult>> AddAsyncUtilsCoroutineCache<TKey, TResult>(this IServiceCollection services, string name)
        where TKey : notnull
        => AddCoroutineCache<TKey, TResult>(services, CheckName(name));

    /// <summary>Registers the <see cref="LruCache{TKey, TValue}"/> singleton.</summary>
    /// <typeparam name="TKey">The cache key.</typeparam>
    /// <typeparam name="TValue">The cached value.</typeparam>
    /// <param name="services">The services.</param>
    /// <param name="capacity">The most entries the cache holds; one or more (checked when the cache is created).</param>
    /// <returns>The builder of its <see cref="LruCacheOptions{TKey, TValue}"/>.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="services"/> is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="capacity"/> is less than one.</exception>
    /// <exception cref="InvalidOperationException">Such a cache without a name is already registered.</exception>
    public static OptionsBuilder<LruCacheOptions<TKey, TValue>> AddAsyncUtilsLruCache<TKey, TValue>(this IServiceCollection services, int capacity)
        where TKey : notnull
        => AddLruCache<TKey, TValue>(services, null, capacity);

    /// <summary>Registers a <see cref="LruCache{TKey, TValue}"/> singleton keyed by <paramref name="name"/>.</summary>
    /// <typeparam name="TKey">The cache key.</typeparam>
    /// <typeparam name="TValue">The cached value.</typeparam>
    /// <param name="services">The services.</param>
    /// <param name="name">The service key, and the name of its options.</param>
    /// <param name="capacity">The most entries the cache holds; one or more.</param>
    /// <returns>The builder of its <see cref="LruCacheOptions{TKey, TValue}"/>.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="services"/> or <paramref name="name"/> is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentException"><paramref name="name"/> is empty or white space.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="capacity"/> is less than one.</exception>
    /// <exception cref="InvalidOperationException">Such a cache of that name is already registered.</exception>
    public static OptionsBuilder<LruCacheOptions<TKey, TValue>> AddAsyncUtilsLruCache<TKey, TValue>(this IServiceCollection services, string name, int capacity)
        where TKey : notnull
        => AddLruCache<TKey, TValue>(services, CheckName(name), capacity);

    /// <summary>
    /// Registers the <see cref="Waterfall{T}"/> singleton, started when it is created, and makes it
    /// live with the host: it is created before any hosted service starts and stopped after every
    /// hosted service has stopped (and after the schedulers, threaded loops and task groups
    /// registered here), so every item put by them is delivered, within the host's shutdown
    /// timeout; a stop that outlasts it is logged, not waited for. A failed batch is logged (event
    /// <c>WaterfallCallbackFailed</c>). The options' <see cref="WaterfallOptions.Name"/> defaults
    /// to the registration's name.
    /// </summary>
    /// <typeparam name="T">The item.</typeparam>
    /// <param name="services">The services.</param>
    /// <param name="callback">Receives each batch with the root service provider and the callbacks' token (cancelled after <see cref="WaterfallOptions.FinalizeTimeout"/> into a stop).</param>
    /// <returns>The builder of its <see cref="WaterfallOptions"/>.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="services"/> or <paramref name="callback"/> is <see langword="null"/>.</exception>
    /// <exception cref="InvalidOperationException">A <see cref="Waterfall{T}"/> without a name is already registered.</exception>
    public static OptionsBuilder<WaterfallOptions> AddAsyncUtilsWaterfall<T>(this IServiceCollection services, Func<IServiceProvider, IReadOnlyList<T>, CancellationToken, ValueTask> callback)
        => AddWaterfall(services, null, callback);

    /// <summary>
    /// Registers a <see cref="Waterfall{T}"/> singleton keyed by <paramref name="name"/>, living with
    /// the host as described for the unnamed form.
    /// </summary>
    /// <typeparam name="T">The item.</typeparam>
    /// <param name="services">The services.</param>
    /// <param name="name">The service key, the name of its options and the default <see cref="WaterfallOptions.Name"/>.</param>
    /// <param name="callback">Receives each batch with the root service provider and the callbacks' token.</param>
    /// <returns>The builder of its <see cref="WaterfallOptions"/>.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="services"/>, <paramref name="name"/> or <paramref name="callback"/> is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentException"><paramref name="name"/> is empty or white space.</exception>
    /// <exception cref="InvalidOperationException">A <see cref="Waterfall{T}"/> of that name is already registered.</exception>
    public static OptionsBuilder<WaterfallOptions> AddAsyncUtilsWaterfall<T>(this IServiceCollection services, string name, Func<IServiceProvider, IReadOnlyList<T>, CancellationToken, ValueTask> callback)
        => AddWaterfall(services, CheckName(name), callback);

    /// <summary>
    /// Registers the <see cref="PayloadScheduler{T}"/> singleton and consumers, started once the
    /// host has started, that hand each due payload to <paramref name="handler"/>. A handler that
    /// throws is logged (event <c>SchedulerHandlerFailed</c>) and the consumer goes on. When the
    /// host stops, the scheduler is completed (later <c>Schedule</c> calls throw) and stopped
    /// first, before the threaded loops, task groups and waterfalls registered here, as described
    /// by <see cref="PayloadSchedulerHostingOptions.DeliverPendingOnStop"/>.
    /// </summary>
    /// <typeparam name="T">The payload.</typeparam>
    /// <param name="services">The services.</param>
    /// <param name="handler">Handles one due payload, with the root service provider and a token cancelled when the host's shutdown timeout has passed.</param>
    /// <returns>The builder of its <see cref="PayloadSchedulerHostingOptions"/>.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="services"/> or <paramref name="handler"/> is <see langword="null"/>.</exception>
    /// <exception cref="InvalidOperationException">A <see cref="PayloadScheduler{T}"/> without a name is already registered.</exception>
    public static OptionsBuilder<PayloadSchedulerHostingOptions> AddAsyncUtilsScheduler<T>(this IServiceCollection services, Func<IServiceProvider, T, CancellationToken, ValueTask> handler)
        => AddScheduler(services, null, handler);

    /// <summary>Registers a <see cref="PayloadScheduler{T}"/> singleton keyed by <paramref name="name"/>, with consumers as described for the unnamed form.</summary>
    /// <typeparam name="T">The payload.</typeparam>
    /// <param name="services">The services.</param>
    /// <param name="name">The service key, and the name of its options.</param>
    /// <param name="handler">Handles one due payload.</param>
    /// <returns>The builder of its <see cref="PayloadSchedulerHostingOptions"/>.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="services"/>, <paramref name="name"/> or <paramref name="handler"/> is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentException"><paramref name="name"/> is empty or white space.</exception>
    /// <exception cref="InvalidOperationException">A <see cref="PayloadScheduler{T}"/> of that name is already registered.</exception>
    public static OptionsBuilder<PayloadSchedulerHostingOptions> AddAsyncUtilsScheduler<T>(this IServiceCollection services, string name, Func<IServiceProvider, T, CancellationToken, ValueTask> handler)
        => AddScheduler(services, CheckName(name), handler);

    /// <summary>
    /// Registers the <see cref="ThreadedLoop"/> singleton and makes it live with the host: posted
    /// work that fails is logged (event <c>ThreadedLoopUnhandledException</c>), and when the host
    /// stops, after the hosted services and schedulers, the loop is drained (every piece of work
    /// finishes) and disposed; at the host's shutdown timeout what is left is cancelled, the stop
    /// is logged and the disposal goes on in the background.
    /// </summary>
    /// <param name="services">The services.</param>
    /// <returns>The builder of its <see cref="ThreadedLoopOptions"/>; <see cref="ThreadedLoopOptions.ThreadName"/> defaults to the registration's name.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="services"/> is <see langword="null"/>.</exception>
    /// <exception cref="InvalidOperationException">A <see cref="ThreadedLoop"/> without a name is already registered.</exception>
    public static OptionsBuilder<ThreadedLoopOptions> AddAsyncUtilsThreadedLoop(this IServiceCollection services)
        => AddThreadedLoop(services, null);

    /// <summary>Registers a <see cref="ThreadedLoop"/> singleton keyed by <paramref name="name"/>, living with the host as described for the unnamed form.</summary>
    /// <param name="services">The services.</param>
    /// <param name="name">The service key, the name of its options and the default thread name.</param>
    /// <returns>The builder of its <see cref="ThreadedLoopOptions"/>.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="services"/> or <paramref name="name"/> is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentException"><paramref name="name"/> is empty or white space.</exception>
    /// <exception cref="InvalidOperationException">A <see cref="ThreadedLoop"/> of that name is already registered.</exception>
    public static OptionsBuilder<ThreadedLoopOptions> AddAsyncUtilsThreadedLoop(this IServiceCollection services, string name)
        => AddThreadedLoop(services, CheckName(name));

    /// <summary>
    /// Registers the <see cref="TaskGroup"/> singleton, with the default options, and makes it live
    /// with the host; see <see cref="AddAsyncUtilsTaskGroup(IServiceCollection, string, TaskGroupOptions)"/>.
    /// </summary>
    /// <param name="services">The services.</param>
    /// <returns><paramref name="services"/>.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="services"/> is <see langword="null"/>.</exception>
    /// <exception cref="InvalidOperationException">A <see cref="TaskGroup"/> without a name is already registered.</exception>
    public static IServiceCollection AddAsyncUtilsTaskGroup(this IServiceCollection services)
        => AddTaskGroup(services, null, new TaskGroupOptions());

    /// <summary>
    /// Registers the <see cref="TaskGroup"/> singleton and makes it live with the host; see
    /// <see cref="AddAsyncUtilsTaskGroup(IServiceCollection, string, TaskGroupOptions)"/>.
    /// </summary>
    /// <param name="services">The services.</param>
    /// <param name="options">The group's options, read now.</param>
    /// <returns><paramref name="services"/>.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="services"/> or <paramref name="options"/> is <see langword="null"/>.</exception>
    /// <exception cref="InvalidOperationException">A <see cref="TaskGroup"/> without a name is already registered.</exception>
    public static IServiceCollection AddAsyncUtilsTaskGroup(this IServiceCollection services, TaskGroupOptions options)
        => AddTaskGroup(services, null, options);

    /// <summary>
    /// Registers a <see cref="TaskGroup"/> singleton keyed by <paramref name="name"/>, with the
    /// default options, and makes it live with the host; see
    /// <see cref="AddAsyncUtilsTaskGroup(IServiceCollection, string, TaskGroupOptions)"/>.
    /// </summary>
    /// <param name="services">The services.</param>
    /// <param name="name">The service key.</param>
    /// <returns><paramref name="services"/>.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="services"/> or <paramref name="name"/> is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentException"><paramref name="name"/> is empty or white space.</exception>
    /// <exception cref="InvalidOperationException">A <see cref="TaskGroup"/> of that name is already registered.</exception>
    public static IServiceCollection AddAsyncUtilsTaskGroup(this IServiceCollection services, string name)
        => AddTaskGroup(services, CheckName(name), new TaskGroupOptions());

    /// <summary>
    /// Registers a <see cref="TaskGroup"/> singleton keyed by <paramref name="name"/> and makes it
    /// live with the host: when the host stops, after the hosted services and schedulers, the
    /// group is awaited (its tasks' token is cancelled after <see cref="TaskGroupOptions.ExitTimeout"/>,
    /// and at the host's shutdown timeout at the latest) and every fault is logged (event
    /// <c>TaskGroupTaskFaulted</c>). The group is created here, from <paramref name="options"/>,
    /// and is not disposed by the container (whose disposal would rethrow the faults already
    /// logged): the host's stop is its exit. A group's options therefore do not come from the
    /// options system; its clock is <see cref="TaskGroupOptions.TimeProvider"/>, not a
    /// <see cref="TimeProvider"/> registered in the container.
    /// </summary>
    /// <param name="services">The services.</param>
    /// <param name="name">The service key.</param>
    /// <param name="options">The group's options, read now.</param>
    /// <returns><paramref name="services"/>.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="services"/>, <paramref name="name"/> or <paramref name="options"/> is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentException"><paramref name="name"/> is empty or white space.</exception>
    /// <exception cref="InvalidOperationException">A <see cref="TaskGroup"/> of that name is already registered.</exception>
    public static IServiceCollection AddAsyncUtilsTaskGroup(this IServiceCollection services, string name, TaskGroupOptions options)
        => AddTaskGroup(services, CheckName(name), options);

    private static string CheckName(string name)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        return name;
    }

    private static OptionsBuilder<LockoutOptions> AddLockout(IServiceCollection services, string? name)
    {
        OptionsBuilder<LockoutOptions> options = Begin<Lockout, LockoutOptions>(services, name);
        options.PostConfigure<IServiceProvider>((o, sp) =>
        {
            o.TimeProvider ??= sp.GetService<TimeProvider>();
            o.Name ??= name;
        });
        AddSingleton(services, name, sp => new Lockout(CreateOptions<LockoutOptions>(sp, name)));
        return options;
    }

    private static OptionsBuilder<SlidingLogRateLimiterOptions> AddRateLimiter(IServiceCollection services, string? name)
    {
        OptionsBuilder<SlidingLogRateLimiterOptions> options = Begin<SlidingLogRateLimiter, SlidingLogRateLimiterOptions>(services, name);
        options.PostConfigure<IServiceProvider>((o, sp) =>
        {
            o.TimeProvider ??= sp.GetService<TimeProvider>();
            o.Name ??= name;
        });
        AddSingleton(services, name, sp => new SlidingLogRateLimiter(CreateOptions<SlidingLogRateLimiterOptions>(sp, name)));
        // The alias never replaces a RateLimiter registered by someone else.
        if (name is null)
        {
            services.TryAddSingleton<System.Threading.RateLimiting.RateLimiter>(sp => sp.GetRequiredService<SlidingLogRateLimiter>());
        }
        else
        {
            services.TryAddKeyedSingleton<System.Threading.RateLimiting.RateLimiter>(name, (sp, _) => sp.GetRequiredKeyedService<SlidingLogRateLimiter>(name));
        }
        return options;
    }

    private static OptionsBuilder<PrioritySemaphoreHostingOptions> AddPrioritySemaphore(IServiceCollection services, string? name)
    {
        OptionsBuilder<PrioritySemaphoreHostingOptions> options = Begin<PrioritySemaphore, PrioritySemaphoreHostingOptions>(services, name);
        AddSingleton(services, name, sp =>
        {
            PrioritySemaphoreHostingOptions o = CreateOptions<PrioritySemaphoreHostingOptions>(sp, name);
            return new PrioritySemaphore(o.InitialCount, o.MaxCount, sp.GetService<TimeProvider>() ?? TimeProvider.System);
        });
        return options;
    }

    private static OptionsBuilder<TaskCacheOptions<TKey, TResult>> AddTaskCache<TKey, TResult>(IServiceCollection services, string? name)
        where TKey : notnull
    {
        OptionsBuilder<TaskCacheOptions<TKey, TResult>> options = Begin<TaskCache<TKey, TResult>, TaskCacheOptions<TKey, TResult>>(services, name);
        options.PostConfigure<IServiceProvider>((o, sp) =>
        {
            o.TimeProvider ??= sp.GetService<TimeProvider>();
            o.Name ??= name;
        });
        AddSingleton(services, name, sp => new TaskCache<TKey, TResult>(CreateOptions<TaskCacheOptions<TKey, TResult>>(sp, name)));
        return options;
    }

    private static OptionsBuilder<CoroutineCacheOptions<TKey, TResult>> AddCoroutineCache<TKey, TResult>(IServiceCollection services, string? name)
        where TKey : notnull
    {
        OptionsBuilder<CoroutineCacheOptions<TKey, TResult>> options = Begin<CoroutineCache<TKey, TResult>, CoroutineCacheOptions<TKey, TResult>>(services, name);
        options.PostConfigure<IServiceProvider>((o, sp) =>
        {
            o.TimeProvider ??= sp.GetService<TimeProvider>();
            o.Name ??= name;
        });
        AddSingleton(services, name, sp => new CoroutineCache<TKey, TResult>(CreateOptions<CoroutineCacheOptions<TKey, TResult>>(sp, name)));
        return options;
    }

    private static OptionsBuilder<LruCacheOptions<TKey, TValue>> AddLruCache<TKey, TValue>(IServiceCollection services, string? name, int capacity)
        where TKey : notnull
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        OptionsBuilder<LruCacheOptions<TKey, TValue>> options = Begin<LruCache<TKey, TValue>, LruCacheOptions<TKey, TValue>>(services, name);
        options.PostConfigure(o => o.Name ??= name);
        AddSingleton(services, name, sp => new LruCache<TKey, TValue>(capacity, CreateOptions<LruCacheOptions<TKey, TValue>>(sp, name)));
        return options;
    }

    private static OptionsBuilder<WaterfallOptions> AddWaterfall<T>(IServiceCollection services, string? name, Func<IServiceProvider, IReadOnlyList<T>, CancellationToken, ValueTask> callback)
    {
        ArgumentNullException.ThrowIfNull(callback);
        OptionsBuilder<WaterfallOptions> options = Begin<Waterfall<T>, WaterfallOptions>(services, name);
        options.PostConfigure<IServiceProvider>((o, sp) =>
        {
            o.TimeProvider ??= sp.GetService<TimeProvider>();
            o.Name ??= name;
        });
        AddSingleton(services, name, sp =>
        {
            WaterfallOptions o = CreateOptions<WaterfallOptions>(sp, name);
            var logger = HostedComponent.CreateLogger(sp, "AsyncUtils.Waterfall");
            var waterfall = new Waterfall<T>((batch, cancellationToken) => callback(sp, batch, cancellationToken), o);
            waterfall.CallbackFailed += (_, e) => Log.CallbackFailed(logger, name, e.Batch.Count, e.Reason, e.Exception);
            waterfall.Start();
            return waterfall;
        });
        AddComponent(services, sp => new WaterfallComponent<T>(sp, name));
        return options;
    }

    private static OptionsBuilder<PayloadSchedulerHostingOptions> AddScheduler<T>(IServiceCollection services, string? name, Func<IServiceProvider, T, CancellationToken, ValueTask> handler)
    {
        ArgumentNullException.ThrowIfNull(handler);
        OptionsBuilder<PayloadSchedulerHostingOptions> options = Begin<PayloadScheduler<T>, PayloadSchedulerHostingOptions>(services, name);
        AddSingleton(services, name, sp => new PayloadScheduler<T>(sp.GetService<TimeProvider>()));
        AddComponent(services, sp => new SchedulerComponent<T>(sp, name, handler));
        return options;
    }

    private static OptionsBuilder<ThreadedLoopOptions> AddThreadedLoop(IServiceCollection services, string? name)
    {
        OptionsBuilder<ThreadedLoopOptions> options = Begin<ThreadedLoop, ThreadedLoopOptions>(services, name);
        options.PostConfigure<IServiceProvider>((o, sp) =>
        {
            o.TimeProvider ??= sp.GetService<TimeProvider>();
            o.ThreadName ??= name;
        });
        AddSingleton(services, name, sp =>
        {
            var logger = HostedComponent.CreateLogger(sp, "AsyncUtils.ThreadedLoop");
            var loop = new ThreadedLoop(CreateOptions<ThreadedLoopOptions>(sp, name));
            loop.UnhandledException += (_, e) => Log.LoopUnhandledException(logger, name, e.Exception);
            return loop;
        });
        AddComponent(services, sp => new ThreadedLoopComponent(sp, name));
        return options;
    }

    private static IServiceCollection AddTaskGroup(IServiceCollection services, string? name, TaskGroupOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        CheckNotRegistered<TaskGroup>(services, name);

        // An instance registration: the container does not dispose what it did not create.
        var group = new TaskGroup(options.Name is null && name is not null
            ? new TaskGroupOptions { ExitTimeout = options.ExitTimeout, FailFast = options.FailFast, TimeProvider = options.TimeProvider, Name = name }
            : options);
        if (name is null)
        {
            services.AddSingleton(group);
        }
        else
        {
            services.AddKeyedSingleton(name, group);
        }

        AddComponent(services, sp => new TaskGroupComponent(sp, name));
        return services;
    }

    /// <summary>Checks that the instance is not registered yet and returns the builder of its named options.</summary>
    private static OptionsBuilder<TOptions> Begin<TService, TOptions>(IServiceCollection services, string? name)
        where TOptions : class
    {
        CheckNotRegistered<TService>(services, name);
        services.AddOptions();
        return new OptionsBuilder<TOptions>(services, name ?? Options.DefaultName);
    }

    private static void CheckNotRegistered<TService>(IServiceCollection services, string? name)
    {
        ArgumentNullException.ThrowIfNull(services);
        foreach (ServiceDescriptor descriptor in services)
        {
            if (descriptor.ServiceType == typeof(TService) && (name is null ? !descriptor.IsKeyedService : descriptor.IsKeyedService && Equals(descriptor.ServiceKey, name)))
            {
                throw new InvalidOperationException(name is null
                    ? $"A {typeof(TService).Name} without a name is already registered; register further ones with a name."
                    : $"A {typeof(TService).Name} named '{name}' is already registered.");
            }
        }
    }

    private static void AddSingleton<TService>(IServiceCollection services, string? name, Func<IServiceProvider, TService> create)
        where TService : class
    {
        if (name is null)
        {
            services.AddSingleton(create);
        }
        else
        {
            services.AddKeyedSingleton(name, (sp, _) => create(sp));
        }
    }

    private static void AddComponent(IServiceCollection services, Func<IServiceProvider, HostedComponent> create)
    {
        services.AddSingleton(create);
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IHostedService, AsyncUtilsHostedService>());
    }

    private static TOptions CreateOptions<[DynamicallyAccessedMembers(DynamicallyAccessedMemberTypes.PublicParameterlessConstructor)] TOptions>(IServiceProvider services, string? name)
        where TOptions : class
        => services.GetRequiredService<IOptionsFactory<TOptions>>().Create(name ?? Options.DefaultName);
}
