using System.Threading.RateLimiting;
using Microsoft.Extensions.DependencyInjection;
using BclRateLimiter = System.Threading.RateLimiting.RateLimiter;

namespace AsyncUtils;

/// <summary>
/// Puts the AsyncUtils handlers on a client of <c>IHttpClientFactory</c>:
/// <c>services.AddHttpClient("api").AddPriorityConcurrency(...).AddRateLimiter(...).AddLockout(...)</c>.
/// </summary>
/// <remarks>
/// <para>
/// <b>One instance, however many handlers.</b> <c>IHttpClientFactory</c> creates a new handler
/// chain for every client name and again whenever a chain's lifetime ends (every 2 minutes by
/// default). Every handler these methods add draws on one limiter, lockout or semaphore: the
/// instance you pass, or the one your factory creates, which is called once per service provider
/// (on first use) and shared by every handler of that registration. An instance you pass stays
/// yours to dispose; one your factory created is owned, and disposed, by the service provider.
/// To share one limiter or lockout between several named clients, pass the same instance, or
/// register it as a singleton and pass <c>sp =&gt; sp.GetRequiredService&lt;T&gt;()</c>.
/// </para>
/// <para>
/// <b>Order.</b> Handlers run in the order they are added, the first outermost. With
/// <c>AddStandardResilienceHandler</c> add it first, then <see cref="AddPriorityConcurrency(IHttpClientBuilder, PrioritySemaphore)"/>,
/// <see cref="AddRateLimiter(IHttpClientBuilder, BclRateLimiter)"/>, <see cref="AddLockout(IHttpClientBuilder, Lockout)"/>:
/// every retry then takes a permit and waits out a lockout, and a request waiting to retry holds
/// no concurrency permit. The time a request waits in these handlers counts towards the
/// resilience handler's attempt and total timeouts: keep those above your longest expected wait
/// (for example <see cref="LockoutHandlerOptions.MaxLockout"/>).
/// </para>
/// </remarks>
public static class AsyncUtilsHttpClientBuilderExtensions
{
    /// <summary>Adds a <see cref="RateLimitHandler"/> that takes a permit from <paramref name="limiter"/> for every request (every attempt, when a retry handler comes before it).</summary>
    /// <param name="builder">The client's builder.</param>
    /// <param name="limiter">The limiter, shared by every handler of the client (and any other that is given it); never disposed by them.</param>
    /// <returns>The builder, for chaining.</returns>
    /// <exception cref="ArgumentNullException">An argument is <see langword="null"/>.</exception>
    public static IHttpClientBuilder AddRateLimiter(this IHttpClientBuilder builder, BclRateLimiter limiter)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(limiter);
        return builder.AddHttpMessageHandler(() => new RateLimitHandler(limiter));
    }

    /// <summary>Adds a <see cref="RateLimitHandler"/> over one limiter that <paramref name="limiterFactory"/> creates on first use and every handler of this registration shares.</summary>
    /// <param name="builder">The client's builder.</param>
    /// <param name="limiterFactory">Creates the limiter; called once per service provider, which then owns (and disposes) the limiter.</param>
    /// <returns>The builder, for chaining.</returns>
    /// <exception cref="ArgumentNullException">An argument is <see langword="null"/>.</exception>
    /// <remarks>If the factory returns <see langword="null"/>, creating the client's handlers throws <see cref="InvalidOperationException"/>.</remarks>
    public static IHttpClientBuilder AddRateLimiter(this IHttpClientBuilder builder, Func<IServiceProvider, BclRateLimiter> limiterFactory)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(limiterFactory);
        Func<IServiceProvider, BclRateLimiter> shared = Shared(builder, limiterFactory, "rate limiter");
        return builder.AddHttpMessageHandler(services => new RateLimitHandler(shared(services)));
    }

    /// <summary>
    /// Adds a <see cref="RateLimitHandler"/> that takes each request's permit from the partition
    /// <paramref name="limiter"/> chooses (per host or per key: see <see cref="HttpRateLimiterPartitions"/>).
    /// </summary>
    /// <param name="builder">The client's builder.</param>
    /// <param name="limiter">The partitioned limiter, shared by every handler of the client; never disposed by them.</param>
    /// <returns>The builder, for chaining.</returns>
    /// <exception cref="ArgumentNullException">An argument is <see langword="null"/>.</exception>
    public static IHttpClientBuilder AddRateLimiter(this IHttpClientBuilder builder, PartitionedRateLimiter<HttpRequestMessage> limiter)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(limiter);
        return builder.AddHttpMessageHandler(() => new RateLimitHandler(limiter));
    }

    /// <summary>Adds a <see cref="RateLimitHandler"/> over one partitioned limiter that <paramref name="limiterFactory"/> creates on first use and every handler of this registration shares.</summary>
    /// <param name="builder">The client's builder.</param>
    /// <param name="limiterFactory">Creates the limiter (see <see cref="HttpRateLimiterPartitions"/>); called once per service provider, which then owns (and disposes) it.</param>
    /// <returns>The builder, for chaining.</returns>
    /// <exception cref="ArgumentNullException">An argument is <see langword="null"/>.</exception>
    /// <remarks>If the factory returns <see langword="null"/>, creating the client's handlers throws <see cref="InvalidOperationException"/>.</remarks>
    public static IHttpClientBuilder AddRateLimiter(this IHttpClientBuilder builder, Func<IServiceProvider, PartitionedRateLimiter<HttpRequestMessage>> limiterFactory)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(limiterFactory);
        Func<IServiceProvider, PartitionedRateLimiter<HttpRequestMessage>> shared = Shared(builder, limiterFactory, "partitioned rate limiter");
        return builder.AddHttpMessageHandler(services => new RateLimitHandler(shared(services)));
    }

    /// <summary>Adds a <see cref="LockoutHandler"/> over <paramref name="lockout"/>, with the default settings (a lockout of at most 5 minutes, on 429 and 503).</summary>
    /// <param name="builder">The client's builder.</param>
    /// <param name="lockout">The lockout, shared by every handler of the client (and any other client given it).</param>
    /// <returns>The builder, for chaining.</returns>
    /// <exception cref="ArgumentNullException">An argument is <see langword="null"/>.</exception>
    public static IHttpClientBuilder AddLockout(this IHttpClientBuilder builder, Lockout lockout) =>
        AddLockout(builder, lockout, null);

    /// <summary>Adds a <see cref="LockoutHandler"/> over <paramref name="lockout"/>.</summary>
    /// <param name="builder">The client's builder.</param>
    /// <param name="lockout">The lockout, shared by every handler of the client (and any other client given it).</param>
    /// <param name="options">The settings, copied now; <see langword="null"/> for the defaults.</param>
    /// <returns>The builder, for chaining.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="builder"/> or <paramref name="lockout"/> is <see langword="null"/>.</exception>
    public static IHttpClientBuilder AddLockout(this IHttpClientBuilder builder, Lockout lockout, LockoutHandlerOptions? options)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(lockout);
        LockoutHandlerOptions settings = Copy(options);
        return builder.AddHttpMessageHandler(() => new LockoutHandler(lockout, settings));
    }

    /// <summary>Adds a <see cref="LockoutHandler"/> over one lockout that <paramref name="lockoutFactory"/> creates on first use and every handler of this registration shares, with the default settings.</summary>
    /// <param name="builder">The client's builder.</param>
    /// <param name="lockoutFactory">Creates the lockout; called once per service provider.</param>
    /// <returns>The builder, for chaining.</returns>
    /// <exception cref="ArgumentNullException">An argument is <see langword="null"/>.</exception>
    public static IHttpClientBuilder AddLockout(this IHttpClientBuilder builder, Func<IServiceProvider, Lockout> lockoutFactory) =>
        AddLockout(builder, lockoutFactory, null);

    /// <summary>Adds a <see cref="LockoutHandler"/> over one lockout that <paramref name="lockoutFactory"/> creates on first use and every handler of this registration shares.</summary>
    /// <param name="builder">The client's builder.</param>
    /// <param name="lockoutFactory">Creates the lockout; called once per service provider.</param>
    /// <param name="options">The settings, copied now; <see langword="null"/> for the defaults.</param>
    /// <returns>The builder, for chaining.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="builder"/> or <paramref name="lockoutFactory"/> is <see langword="null"/>.</exception>
    /// <remarks>If the factory returns <see langword="null"/>, creating the client's handlers throws <see cref="InvalidOperationException"/>.</remarks>
    public static IHttpClientBuilder AddLockout(this IHttpClientBuilder builder, Func<IServiceProvider, Lockout> lockoutFactory, LockoutHandlerOptions? options)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(lockoutFactory);
        LockoutHandlerOptions settings = Copy(options);
        Func<IServiceProvider, Lockout> shared = Shared(builder, lockoutFactory, "lockout");
        return builder.AddHttpMessageHandler(services => new LockoutHandler(shared(services), settings));
    }

    /// <summary>Adds a <see cref="PriorityConcurrencyHandler"/>: at most the semaphore's count of requests in flight, waiting requests served by priority.</summary>
    /// <param name="builder">The client's builder.</param>
    /// <param name="semaphore">The semaphore, shared by every handler of the client (and any other client given it).</param>
    /// <returns>The builder, for chaining.</returns>
    /// <exception cref="ArgumentNullException">An argument is <see langword="null"/>.</exception>
    public static IHttpClientBuilder AddPriorityConcurrency(this IHttpClientBuilder builder, PrioritySemaphore semaphore)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(semaphore);
        return builder.AddHttpMessageHandler(() => new PriorityConcurrencyHandler(semaphore));
    }

    /// <summary>Adds a <see cref="PriorityConcurrencyHandler"/> over one semaphore that <paramref name="semaphoreFactory"/> creates on first use and every handler of this registration shares.</summary>
    /// <param name="builder">The client's builder.</param>
    /// <param name="semaphoreFactory">Creates the semaphore; called once per service provider.</param>
    /// <returns>The builder, for chaining.</returns>
    /// <exception cref="ArgumentNullException">An argument is <see langword="null"/>.</exception>
    /// <remarks>If the factory returns <see langword="null"/>, creating the client's handlers throws <see cref="InvalidOperationException"/>.</remarks>
    public static IHttpClientBuilder AddPriorityConcurrency(this IHttpClientBuilder builder, Func<IServiceProvider, PrioritySemaphore> semaphoreFactory)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(semaphoreFactory);
        Func<IServiceProvider, PrioritySemaphore> shared = Shared(builder, semaphoreFactory, "priority semaphore");
        return builder.AddHttpMessageHandler(services => new PriorityConcurrencyHandler(shared(services)));
    }

    private static LockoutHandlerOptions Copy(LockoutHandlerOptions? options) =>
        options is null
            ? new LockoutHandlerOptions()
            : new LockoutHandlerOptions
            {
                MaxLockout = options.MaxLockout,
                LockoutWithoutRetryAfter = options.LockoutWithoutRetryAfter,
                LockOnServiceUnavailable = options.LockOnServiceUnavailable,
            };

    /// <summary>
    /// Registers <paramref name="factory"/> as a singleton under a key of its own, so it runs once
    /// per service provider however many handler chains the client factory builds, and returns how
    /// a handler chain gets that one instance.
    /// </summary>
    private static Func<IServiceProvider, T> Shared<T>(IHttpClientBuilder builder, Func<IServiceProvider, T> factory, string what)
        where T : class
    {
        var key = new RegistrationKey(builder.Name, what);
        builder.Services.AddKeyedSingleton<T>(key, (services, _) =>
            factory(services) ?? throw new InvalidOperationException($"The {what} factory given for the HTTP client '{key.ClientName}' returned null."));
        return services => services.GetRequiredKeyedService<T>(key);
    }

    /// <summary>A service key equal only to itself: one per registration.</summary>
    private sealed class RegistrationKey(string clientName, string what)
    {
        public string ClientName { get; } = clientName;

        public override string ToString() => $"AsyncUtils.Http {what} of the HTTP client '{ClientName}'";
    }
}
