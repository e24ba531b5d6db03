using System.Globalization;
using System.Net;
using Microsoft.Extensions.Time.Testing;

namespace AsyncUtils.Http.Tests;

public sealed class LockoutHandlerTests
{
    private static readonly TimeSpan Second = TimeSpan.FromSeconds(1);

    [Test]
    public async Task One_429_locks_out_every_client_sharing_the_lockout_until_its_Retry_After_seconds_have_passed()
    {
        FakeTimeProvider clock = Clients.FakeClock();
        await using TestServer server = TestServer.Start();
        server.Clock = clock;
        server.Script((1, new TestReply(HttpStatusCode.TooManyRequests, "5")));
        var lockout = new Lockout(new LockoutOptions { TimeProvider = clock });
        using HttpClient a = Clients.Over(server, new LockoutHandler(lockout));
        using HttpClient b = Clients.Over(server, new LockoutHandler(lockout));

        using (HttpResponseMessage tooMany = await a.GetAsync(new Uri("/first", UriKind.Relative)))
        {
            Assert.That(tooMany.StatusCode, Is.EqualTo(HttpStatusCode.TooManyRequests), "the 429 is returned as it came");
            Assert.That(tooMany.Headers.RetryAfter?.Delta, Is.EqualTo(5 * Second));
        }

        Assert.That(lockout.LockedUntil, Is.EqualTo(Clients.Start + (5 * Second)));
        Task<HttpResponseMessage> fromA = a.GetAsync(new Uri("/a", UriKind.Relative));
        Task<HttpResponseMessage> fromB = b.GetAsync(new Uri("/b", UriKind.Relative));
        await Wait.UntilAsync(() => lockout.WaitingCount == 2, "both clients waiting");

        clock.Advance(TimeSpan.FromMilliseconds(4_999));
        await Wait.BrieflyAsync();
        Assert.That((server.Count, lockout.WaitingCount), Is.EqualTo((1, 2)), "nobody sends before Retry-After has passed");

        clock.Advance(TimeSpan.FromMilliseconds(1));
        using HttpResponseMessage okA = await fromA.WaitAsync(TimeSpan.FromSeconds(10));
        using HttpResponseMessage okB = await fromB.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.That((okA.StatusCode, okB.StatusCode), Is.EqualTo((HttpStatusCode.OK, HttpStatusCode.OK)));
        Assert.That(server.Requests.Skip(1).Select(r => r.At), Is.All.EqualTo(Clients.Start + (5 * Second)));
    }

    [Test]
    public async Task A_Retry_After_HTTP_date_locks_out_until_that_date()
    {
        FakeTimeProvider clock = Clients.FakeClock();
        await using TestServer server = TestServer.Start();
        server.Clock = clock;
        DateTimeOffset until = Clients.Start + TimeSpan.FromSeconds(10);
        server.Script((1, new TestReply(HttpStatusCode.TooManyRequests, until.ToString("R", CultureInfo.InvariantCulture))));
        var lockout = new Lockout(new LockoutOptions { TimeProvider = clock });
        using HttpClient http = Clients.Over(server, new LockoutHandler(lockout));

        (await http.GetAsync(new Uri("/first", UriKind.Relative))).Dispose();

        Assert.That(lockout.LockedUntil, Is.EqualTo(until));
        Task<HttpResponseMessage> next = http.GetAsync(new Uri("/next", UriKind.Relative));
        await Wait.UntilAsync(() => lockout.WaitingCount == 1, "the next request waiting");
        clock.Advance(TimeSpan.FromSeconds(10));
        (await next.WaitAsync(TimeSpan.FromSeconds(10))).Dispose();
        Assert.That(server.Requests[1].At, Is.EqualTo(until));
    }

    [Test]
    public async Task A_503_with_Retry_After_locks_out_unless_LockOnServiceUnavailable_is_off()
    {
        FakeTimeProvider clock = Clients.FakeClock();
        await using TestServer server = TestServer.Start();
        server.Respond = _ => Task.FromResult(new TestReply(HttpStatusCode.ServiceUnavailable, "7"));
        var locking = new Lockout(new LockoutOptions { TimeProvider = clock });
        var notLocking = new Lockout(new LockoutOptions { TimeProvider = clock });
        using HttpClient http = Clients.Over(server, new LockoutHandler(locking));
        using HttpClient off = Clients.Over(server, new LockoutHandler(notLocking, new LockoutHandlerOptions { LockOnServiceUnavailable = false }));

        (await http.GetAsync(new Uri("/", UriKind.Relative))).Dispose();
        (await off.GetAsync(new Uri("/", UriKind.Relative))).Dispose();

        Assert.That(locking.LockedUntil, Is.EqualTo(Clients.Start + TimeSpan.FromSeconds(7)));
        Assert.That(notLocking.IsLocked, Is.False);
    }

    [Test]
    public async Task A_Retry_After_beyond_MaxLockout_is_capped_to_it()
    {
        FakeTimeProvider clock = Clients.FakeClock();
        await using TestServer server = TestServer.Start();
        server.Script((1, new TestReply(HttpStatusCode.TooManyRequests, "3600")));
        var lockout = new Lockout(new LockoutOptions { TimeProvider = clock });
        using HttpClient http = Clients.Over(server, new LockoutHandler(lockout, new LockoutHandlerOptions { MaxLockout = TimeSpan.FromSeconds(30) }));

        (await http.GetAsync(new Uri("/first", UriKind.Relative))).Dispose();

        Assert.That(lockout.LockedUntil, Is.EqualTo(Clients.Start + TimeSpan.FromSeconds(30)));
        Task<HttpResponseMessage> next = http.GetAsync(new Uri("/next", UriKind.Relative));
        await Wait.UntilAsync(() => lockout.WaitingCount == 1, "the next request waiting");
        clock.Advance(TimeSpan.FromSeconds(30));
        (await next.WaitAsync(TimeSpan.FromSeconds(10))).Dispose();
        Assert.That(server.Count, Is.EqualTo(2));
    }

    [Test]
    public async Task Without_a_Retry_After_nothing_is_locked_out_unless_LockoutWithoutRetryAfter_is_set()
    {
        FakeTimeProvider clock = Clients.FakeClock();
        await using TestServer server = TestServer.Start();
        server.Respond = _ => Task.FromResult(new TestReply(HttpStatusCode.TooManyRequests));
        var plain = new Lockout(new LockoutOptions { TimeProvider = clock });
        var withDefault = new Lockout(new LockoutOptions { TimeProvider = clock });
        var capped = new Lockout(new LockoutOptions { TimeProvider = clock });
        using HttpClient a = Clients.Over(server, new LockoutHandler(plain));
        using HttpClient b = Clients.Over(server, new LockoutHandler(withDefault, new LockoutHandlerOptions { LockoutWithoutRetryAfter = TimeSpan.FromSeconds(2) }));
        using HttpClient c = Clients.Over(server, new LockoutHandler(capped, new LockoutHandlerOptions { LockoutWithoutRetryAfter = TimeSpan.FromSeconds(20), MaxLockout = TimeSpan.FromSeconds(3) }));

        (await a.GetAsync(new Uri("/", UriKind.Relative))).Dispose();
        (await b.GetAsync(new Uri("/", UriKind.Relative))).Dispose();
        (await c.GetAsync(new Uri("/", UriKind.Relative))).Dispose();

        Assert.That(plain.IsLocked, Is.False);
        Assert.That(withDefault.LockedUntil, Is.EqualTo(Clients.Start + TimeSpan.FromSeconds(2)));
        Assert.That(capped.LockedUntil, Is.EqualTo(Clients.Start + TimeSpan.FromSeconds(3)));
    }

    [Test]
    public async Task A_cancelled_wait_for_the_lockout_throws_leaves_no_waiter_and_sends_nothing()
    {
        FakeTimeProvider clock = Clients.FakeClock();
        await using TestServer server = TestServer.Start();
        var lockout = new Lockout(new LockoutOptions { TimeProvider = clock });
        lockout.LockFor(TimeSpan.FromMinutes(1));
        using HttpClient http = Clients.Over(server, new LockoutHandler(lockout));
        using var cts = new CancellationTokenSource();

        Task<HttpResponseMessage> waiting = http.GetAsync(new Uri("/", UriKind.Relative), cts.Token);
        await Wait.UntilAsync(() => lockout.WaitingCount == 1, "the request waiting");
        await cts.CancelAsync();

        await Assert.ThrowsAsync(Is.InstanceOf<OperationCanceledException>(), () => waiting);
        Assert.That(lockout.WaitingCount, Is.Zero);
        clock.Advance(TimeSpan.FromMinutes(1));
        await Wait.BrieflyAsync();
        Assert.That(server.Count, Is.Zero);
    }

    [Test]
    public void Bad_options_and_null_arguments_are_refused_naming_them_and_leave_the_options_usable()
    {
        var options = new LockoutHandlerOptions();
        Assert.That(Assert.Throws<ArgumentOutOfRangeException>(() => options.MaxLockout = TimeSpan.Zero)!.ParamName, Is.EqualTo("MaxLockout"));
        Assert.That(Assert.Throws<ArgumentOutOfRangeException>(() => options.MaxLockout = TimeSpan.FromSeconds(-1))!.ParamName, Is.EqualTo("MaxLockout"));
        Assert.That(Assert.Throws<ArgumentOutOfRangeException>(() => options.LockoutWithoutRetryAfter = TimeSpan.FromTicks(-1))!.ParamName, Is.EqualTo("LockoutWithoutRetryAfter"));
        Assert.That((options.MaxLockout, options.LockoutWithoutRetryAfter, options.LockOnServiceUnavailable), Is.EqualTo((TimeSpan.FromMinutes(5), TimeSpan.Zero, true)));
        Assert.That(Assert.Throws<ArgumentNullException>(() => _ = new LockoutHandler(null!))!.ParamName, Is.EqualTo("lockout"));
        Assert.That(Assert.Throws<ArgumentNullException>(() => _ = new PriorityConcurrencyHandler(null!))!.ParamName, Is.EqualTo("semaphore"));
    }
}
