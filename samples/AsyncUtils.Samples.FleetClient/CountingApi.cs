using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace FleetClientSample;

/// <summary>
/// A small HTTP API on 127.0.0.1 and a free port that enforces its own rate limit, the way a real
/// one does: at most <c>limit</c> requests in any <c>window</c>, counted on arrival, whoever sends
/// them; a request over it gets <c>429 Too Many Requests</c> with <c>Retry-After: 1</c>. On top of
/// that, request number <c>lockAt</c> gets a 429 with <c>Retry-After: 1</c> on purpose (as an API
/// under load does), and so does every request that arrives before that second is over. It records
/// every arrival, so that it can say afterwards how many requests it saw in its worst window.
/// </summary>
internal sealed class CountingApi : IAsyncDisposable
{
    private readonly HttpListener _listener;
    private readonly int _limit;
    private readonly TimeSpan _window;
    private readonly int _lockAt;
    private readonly Task _loop;
    private readonly Lock _lock = new();
    private readonly List<long> _arrivals = [];
    private readonly List<TimeSpan> _arrivalsDuringLockout = [];
    private long _lockedFrom;
    private long _lockedUntil;
    private int _overLimit;
    private int _tooMany;

    private CountingApi(HttpListener listener, Uri baseAddress, int limit, TimeSpan window, int lockAt)
    {
        _listener = listener;
        BaseAddress = baseAddress;
        _limit = limit;
        _window = window;
        _lockAt = lockAt;
        _loop = Task.Run(AcceptLoopAsync);
    }

    public Uri BaseAddress { get; }

    public static CountingApi Start(int limit, TimeSpan window, int lockAt)
    {
        // HttpListener cannot bind port 0, so ask the OS for a free port and take it; if another
        // process takes it in between, try another.
        for (int attempt = 1; ; attempt++)
        {
            int port;
            using (var probe = new TcpListener(IPAddress.Loopback, 0))
            {
                probe.Start();
                port = ((IPEndPoint)probe.LocalEndpoint).Port;
            }

            var listener = new HttpListener();
            var baseAddress = new Uri($"http://127.0.0.1:{port}/");
            listener.Prefixes.Add(baseAddress.ToString());
            try
            {
                listener.Start();
                return new CountingApi(listener, baseAddress, limit, window, lockAt);
            }
            catch (HttpListenerException) when (attempt < 10)
            {
                listener.Close();
            }
        }
    }

    /// <summary>What the API saw: requests, the most in any window, and the 429s it sent and why.</summary>
    public ApiReport Report()
    {
        lock (_lock)
        {
            long[] sorted = [.. _arrivals.Order()];
            long width = (long)(_window.TotalSeconds * Stopwatch.Frequency);
            int most = 0;
            for (int i = 0, j = 0; i < sorted.Length; i++)
            {
                while (j < sorted.Length && sorted[j] < sorted[i] + width)
                {
                    j++;
                }

                most = Math.Max(most, j - i);
            }

            return new ApiReport(sorted.Length, most, _overLimit, _tooMany, [.. _arrivalsDuringLockout]);
        }
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
                return; // the listener was closed
            }

            long arrived = Stopwatch.GetTimestamp();
            _ = Task.Run(() => AnswerAsync(context, arrived));
        }
    }

    private async Task AnswerAsync(HttpListenerContext context, long now)
    {
        string? retryAfter = null;
        int n;
        lock (_lock)
        {
            _arrivals.Add(now);
            n = _arrivals.Count;
            long windowStart = now - (long)(_window.TotalSeconds * Stopwatch.Frequency);
            if (_arrivals.Count(t => t > windowStart) > _limit)
            {
                // The API's own limit: this is what the fleet must never cause.
                _overLimit++;
                retryAfter = "1";
            }
            else if (n == _lockAt)
            {
                _lockedFrom = now;
                _lockedUntil = now + Stopwatch.Frequency; // Retry-After: 1
                retryAfter = "1";
            }
            else if (now < _lockedUntil)
            {
                _arrivalsDuringLockout.Add(Stopwatch.GetElapsedTime(_lockedFrom, now));
                retryAfter = Math.Max(1, (int)Math.Ceiling(Stopwatch.GetElapsedTime(now, _lockedUntil).TotalSeconds)).ToString(CultureInfo.InvariantCulture);
            }

            if (retryAfter is not null)
            {
                _tooMany++;
            }
        }

        HttpListenerResponse response = context.Response;
        try
        {
            if (retryAfter is not null)
            {
                response.StatusCode = (int)HttpStatusCode.TooManyRequests;
                response.AddHeader("Retry-After", retryAfter);
                response.Close();
                return;
            }

            await Task.Delay(20); // the API's work
            byte[] body = Encoding.UTF8.GetBytes($"{context.Request.Url?.AbsolutePath} (request #{n})");
            response.ContentType = "text/plain; charset=utf-8";
            response.ContentLength64 = body.Length;
            await response.OutputStream.WriteAsync(body);
            response.Close();
        }
        catch (Exception e) when (e is HttpListenerException or ObjectDisposedException or IOException)
        {
            response.Abort(); // the client went away
        }
    }
}

/// <summary>What the API saw.</summary>
/// <param name="Requests">Every request that arrived.</param>
/// <param name="MostInAnyWindow">The most requests that arrived in any window of the API's length, over every window position.</param>
/// <param name="OverLimit">Requests refused because they were over the API's limit.</param>
/// <param name="TooMany">Every 429 sent (over the limit, the planned one, and during its Retry-After).</param>
/// <param name="ArrivalsDuringLockout">For each request that arrived during the planned Retry-After: how long after the 429 it came.</param>
internal sealed record ApiReport(int Requests, int MostInAnyWindow, int OverLimit, int TooMany, TimeSpan[] ArrivalsDuringLockout);
