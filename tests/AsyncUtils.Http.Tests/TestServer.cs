using System.Net;
using System.Net.Sockets;
using System.Text;

namespace AsyncUtils.Http.Tests;

/// <summary>A request as the server saw it: its number (from 1), path, and arrival time on <see cref="TestServer.Clock"/>.</summary>
internal sealed record TestRequest(int Number, string Path, DateTimeOffset At);

/// <summary>What the server answers: a status, and a Retry-After header when given.</summary>
internal sealed record TestReply(HttpStatusCode Status, string? RetryAfter = null)
{
    public static TestReply Ok { get; } = new(HttpStatusCode.OK);
}

/// <summary>
/// An HTTP server on 127.0.0.1 and a free port, in the test process (no outside network): it
/// records every request (number, path, arrival time on <see cref="Clock"/>) and answers what
/// <see cref="Respond"/> says; by default 200 with the path as the body.
/// </summary>
internal sealed class TestServer : IAsyncDisposable
{
    private readonly HttpListener _listener;
    private readonly Task _loop;
    private readonly object _gate = new();
    private readonly List<TestRequest> _requests = [];
    private int _inFlight;
    private int _maxInFlight;

    private TestServer(HttpListener listener, Uri baseAddress)
    {
        _listener = listener;
        BaseAddress = baseAddress;
        _loop = Task.Run(AcceptLoopAsync);
    }

    public Uri BaseAddress { get; }

    /// <summary>Stamps arrivals; a <c>FakeTimeProvider</c> in tests on fake time.</summary>
    public TimeProvider Clock { get; set; } = TimeProvider.System;

    /// <summary>Decides each answer; it may wait (to hold a request on the wire).</summary>
    public Func<TestRequest, Task<TestReply>> Respond { get; set; } = _ => Task.FromResult(TestReply.Ok);

    public int Count
    {
        get
        {
            lock (_gate)
            {
                return _requests.Count;
            }
        }
    }

    public int InFlight => Volatile.Read(ref _inFlight);

    public int MaxInFlight => Volatile.Read(ref _maxInFlight);

    public IReadOnlyList<TestRequest> Requests
    {
        get
        {
            lock (_gate)
            {
                return [.. _requests];
            }
        }
    }

    public Uri Url(string path) => new(BaseAddress, path);

    /// <summary>Answers the requests numbered in <paramref name="script"/> (from 1) as given, every other request 200.</summary>
    public void Script(params (int Number, TestReply Reply)[] script) =>
        Respond = request => Task.FromResult(script.FirstOrDefault(s => s.Number == request.Number).Reply ?? TestReply.Ok);

    public static TestServer Start()
    {
        // HttpListener cannot bind port 0: take a free port from the OS, retry if someone takes it first.
        for (int attempt = 1; ; attempt++)
        {
            int port = FreePort();
            var listener = new HttpListener();
            var baseAddress = new Uri($"http://127.0.0.1:{port}/");
            listener.Prefixes.Add(baseAddress.ToString());
            try
            {
                listener.Start();
                return new TestServer(listener, baseAddress);
            }
            catch (HttpListenerException) when (attempt < 10)
            {
                listener.Close();
            }
        }
    }

    /// <summary>A loopback port nobody listens on (connections to it are refused).</summary>
    public static int FreePort()
    {
        using var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        return ((IPEndPoint)probe.LocalEndpoint).Port;
    }

    public async ValueTask DisposeAsync()
    {
        _listener.Close();
        await _loop;
    }

    private async Task AcceptLoopAsync()
    {
        while (true)
        {
            HttpListenerContext context;
            try
            {
                context = await _listener.GetContextAsync();
            }
            catch (Exception e) when (e is HttpListenerException or ObjectDisposedException or InvalidOperationException)
            {
                return;
            }

            _ = Task.Run(() => AnswerAsync(context));
        }
    }

    private async Task AnswerAsync(HttpListenerContext context)
    {
        TestRequest request;
        lock (_gate)
        {
            request = new TestRequest(_requests.Count + 1, context.Request.Url?.AbsolutePath ?? "/", Clock.GetUtcNow());
            _requests.Add(request);
        }

        int inFlight = Interlocked.Increment(ref _inFlight);
        for (int max = Volatile.Read(ref _maxInFlight); inFlight > max; max = Volatile.Read(ref _maxInFlight))
        {
            Interlocked.CompareExchange(ref _maxInFlight, inFlight, max);
        }

        HttpListenerResponse response = context.Response;
        try
        {
            TestReply reply = await Respond(request);
            response.StatusCode = (int)reply.Status;
            if (reply.RetryAfter is not null)
            {
                response.AddHeader("Retry-After", reply.RetryAfter);
            }

            byte[] body = Encoding.UTF8.GetBytes(request.Path);
            response.ContentLength64 = body.Length;
            await response.OutputStream.WriteAsync(body);
            response.Close();
        }
        catch (Exception e) when (e is HttpListenerException or ObjectDisposedException or IOException or InvalidOperationException)
        {
            response.Abort(); // the client went away
        }
        finally
        {
            Interlocked.Decrement(ref _inFlight);
        }
    }
}

internal static class Wait
{
    /// <summary>Polls until <paramref name="condition"/> holds (for state reached on other threads), failing after 10 s.</summary>
    public static async Task UntilAsync(Func<bool> condition, string what)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                Assert.Fail($"Timed out waiting until {what}.");
            }

            await Task.Delay(5);
        }
    }

    /// <summary>Gives other threads a moment, for checks that something does NOT happen.</summary>
    public static Task BrieflyAsync() => Task.Delay(100);
}
