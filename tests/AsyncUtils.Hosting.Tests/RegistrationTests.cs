using System.Threading.RateLimiting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Time.Testing;

namespace AsyncUtils.Tests;

public sealed class RegistrationTests
{
    [Test]
    public async Task Unnamed_registrations_resolve_one_singleton_each()
    {
        HostApplicationBuilder builder = TestHost.Builder();
        builder.Services.AddAsyncUtilsLockout();
        builder.Services.AddAsyncUtilsSlidingLogRateLimiter().Configure(o => o.Windows.Add(new SlidingLogWindow(5, TimeSpan.FromSeconds(1))));
        builder.Services.AddAsyncUtilsPrioritySemaphore();
        builder.Services.AddAsyncUtilsTaskCache<string, int>();
        builder.Services.AddAsyncUtilsCoroutineCache<string, int>();
        builder.Services.AddAsyncUtilsLruCache<string, int>(16);
        builder.Services.AddAsyncUtilsWaterfall<int>((_, _, _) => ValueTask.CompletedTask);
        builder.Services.AddAsyncUtilsScheduler<int>((_, _, _) => ValueTask.CompletedTask);
        builder.Services.AddAsyncUtilsThreadedLoop();
        builder.Services.AddAsyncUtilsTaskGroup();
        using IHost host = builder.Build();
        await host.StartAsync();

        IServiceProvider sp = host.Services;
        static T Twice<T>(IServiceProvider sp, out T second)
            where T : notnull
        {
            second = sp.GetRequiredService<T>();
            return sp.GetRequiredService<T>();
        }

        Assert.Multiple(() =>
        {
            Assert.That(Twice(sp, out Lockout lockout), Is.SameAs(lockout));
            Assert.That(sp.GetRequiredService<RateLimiter>(), Is.SameAs(sp.GetRequiredService<SlidingLogRateLimiter>()));
            Assert.That(sp.GetRequiredService<PrioritySemaphore>().CurrentCount, Is.EqualTo(1));
            Assert.That(Twice(sp, out TaskCache<string, int> taskCache), Is.SameAs(taskCache));
            Assert.That(Twice(sp, out CoroutineCache<string, int> coroutineCache), Is.SameAs(coroutineCache));
            Assert.That(sp.GetRequiredService<LruCache<string, int>>().Capacity, Is.EqualTo(16));
            Assert.That(Twice(sp, out PayloadScheduler<int> scheduler), Is.SameAs(scheduler));
            Assert.That(Twice(sp, out TaskGroup group), Is.SameAs(group));
            Assert.That(sp.GetRequiredService<Waterfall<int>>().TryPut(1), Is.True, "a registered waterfall is running once the host has started");
            Assert.That(sp.GetServices<IHostedService>().Count(s => s.GetType().Name == "AsyncUtilsHostedService"), Is.EqualTo(1), "one lifecycle service drives them all");
        });
        await host.StopAsync();
    }

    [Test]
    public async Task Named_registrations_are_keyed_singletons_with_options_of_their_own()
    {
        HostApplicationBuilder builder = TestHost.Builder();
        builder.Services.AddAsyncUtilsLockout("github").Configure(o => o.Fifo = true);
        builder.Services.AddAsyncUtilsLockout("gitlab");
        builder.Services.AddAsyncUtilsPrioritySemaphore("db").Configure(o => o.InitialCount = 4);
        builder.Services.AddAsyncUtilsPrioritySemaphore("disk").Configure(o => o.InitialCount = 2);
        builder.Services.AddAsyncUtilsSlidingLogRateLimiter("api").Configure(o => o.Windows.Add(new SlidingLogWindow(5, TimeSpan.FromSeconds(1))));
        builder.Services.AddAsyncUtilsThreadedLoop("device-io");
        using IHost host = builder.Build();
        await host.StartAsync();

        IServiceProvider sp = host.Services;
        Lockout github = sp.GetRequiredKeyedService<Lockout>("github");
        Lockout gitlab = sp.GetRequiredKeyedService<Lockout>("gitlab");
        Assert.Multiple(() =>
        {
            Assert.That(github, Is.Not.SameAs(gitlab));
            Assert.That(github, Is.SameAs(sp.GetRequiredKeyedService<Lockout>("github")));
            Assert.That(github.IsFifo, Is.True);
            Assert.That(gitlab.IsFifo, Is.False);
            Assert.That(sp.GetService<Lockout>(), Is.Null, "no unnamed lockout was registered");
            Assert.That(sp.GetRequiredKeyedService<PrioritySemaphore>("db").CurrentCount, Is.EqualTo(4));
            Assert.That(sp.GetRequiredKeyedService<PrioritySemaphore>("disk").CurrentCount, Is.EqualTo(2));
            Assert.That(sp.GetRequiredKeyedService<RateLimiter>("api"), Is.SameAs(sp.GetRequiredKeyedService<SlidingLogRateLimiter>("api")));
            Assert.That(sp.GetRequiredKeyedService<ThreadedLoop>("device-io").Name, Is.EqualTo("device-io"), "the thread is named after the registration");
        });
        await host.StopAsync();
    }

    [Test]
    public void A_named_registration_names_its_options_unless_they_name_themselves()
    {
        var services = new ServiceCollection();
        services.AddAsyncUtilsLockout("github");
        services.AddAsyncUtilsSlidingLogRateLimiter("api").Configure(o => o.Name = "my-api");
        services.AddAsyncUtilsWaterfall<int>("writes", (_, _, _) => ValueTask.CompletedTask);
        using ServiceProvider sp = services.BuildServiceProvider();

        Assert.Multiple(() =>
        {
            Assert.That(sp.GetRequiredService<Microsoft.Extensions.Options.IOptionsMonitor<LockoutOptions>>().Get("github").Name, Is.EqualTo("github"));
            Assert.That(sp.GetRequiredService<Microsoft.Extensions.Options.IOptionsMonitor<SlidingLogRateLimiterOptions>>().Get("api").Name, Is.EqualTo("my-api"));
            Assert.That(sp.GetRequiredService<Microsoft.Extensions.Options.IOptionsMonitor<WaterfallOptions>>().Get("writes").Name, Is.EqualTo("writes"));
        });
    }

    [Test]
    public void The_RateLimiter_alias_never_replaces_a_RateLimiter_registered_before()
    {
        using var own = new ConcurrencyLimiter(new ConcurrencyLimiterOptions { PermitLimit = 1, QueueLimit = 0 });
        var services = new ServiceCollection();
        services.AddSingleton<RateLimiter>(own);
        services.AddAsyncUtilsSlidingLogRateLimiter().Configure(o => o.Windows.Add(new SlidingLogWindow(1, TimeSpan.FromSeconds(1))));
        using ServiceProvider sp = services.BuildServiceProvider();

        Assert.That(sp.GetRequiredService<RateLimiter>(), Is.SameAs(own));
        Assert.That(sp.GetRequiredService<SlidingLogRateLimiter>(), Is.Not.Null);
    }

    [Test]
    public void Registering_an_instance_twice_throws_naming_it()
    {
        var services = new ServiceCollection();
        services.AddAsyncUtilsLockout();
        services.AddAsyncUtilsLockout("a");

        Assert.Multiple(() =>
        {
            Assert.That(() => services.AddAsyncUtilsLockout(), Throws.InvalidOperationException.With.Message.Contains("without a name"));
            Assert.That(() => services.AddAsyncUtilsLockout("a"), Throws.InvalidOperationException.With.Message.Contains("'a'"));
            Assert.That(() => services.AddAsyncUtilsLockout("b"), Throws.Nothing);
        });
    }

    [Test]
    public void Bad_arguments_throw_naming_the_argument()
    {
        var services = new ServiceCollection();
        Assert.Multiple(() =>
        {
            Assert.That(() => services.AddAsyncUtilsLockout(" "), Throws.ArgumentException.With.Property("ParamName").EqualTo("name"));
            Assert.That(() => services.AddAsyncUtilsLockout(null!), Throws.ArgumentNullException.With.Property("ParamName").EqualTo("name"));
            Assert.That(() => services.AddAsyncUtilsWaterfall<int>(null!), Throws.ArgumentNullException.With.Property("ParamName").EqualTo("callback"));
            Assert.That(() => services.AddAsyncUtilsScheduler<int>(null!), Throws.ArgumentNullException.With.Property("ParamName").EqualTo("handler"));
            Assert.That(() => services.AddAsyncUtilsLruCache<int, int>(0), Throws.InstanceOf<ArgumentOutOfRangeException>().With.Property("ParamName").EqualTo("capacity"));
            Assert.That(() => AsyncUtilsServiceCollectionExtensions.AddAsyncUtilsLockout(null!), Throws.ArgumentNullException.With.Property("ParamName").EqualTo("services"));
        });
        Assert.That(services, Is.Empty, "a refused registration leaves nothing behind");
    }

    [Test]
    public async Task A_TimeProvider_in_the_container_is_the_primitives_clock()
    {
        var time = new FakeTimeProvider();
        HostApplicationBuilder builder = TestHost.Builder();
        builder.Services.AddSingleton<TimeProvider>(time);
        builder.Services.AddAsyncUtilsLockout();
        builder.Services.AddAsyncUtilsLockout("own-clock").Configure(o => o.TimeProvider = TimeProvider.System);
        using IHost host = builder.Build();

        Lockout lockout = host.Services.GetRequiredService<Lockout>();
        lockout.LockFor(TimeSpan.FromMinutes(1));
        Assert.That(lockout.IsLocked, Is.True);
        time.Advance(TimeSpan.FromMinutes(2));
        Assert.That(lockout.IsLocked, Is.False, "the lockout ended on the fake clock");

        Lockout own = host.Services.GetRequiredKeyedService<Lockout>("own-clock");
        own.LockFor(TimeSpan.FromMinutes(1));
        time.Advance(TimeSpan.FromMinutes(2));
        Assert.That(own.IsLocked, Is.True, "options that name a clock keep it");
        await Task.CompletedTask;
    }
}
