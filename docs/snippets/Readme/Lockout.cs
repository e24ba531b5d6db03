using System.Net;
using AsyncUtils.Docs.Snippets;
using AsyncUtils;

namespace ReadmeSnippets;

internal static class ReadmeLockout
{
    public static async Task RunAsync()
    {
        await Root();
        await Package();
    }

    private static async Task Root()
    {
        using var http = new HttpClient(new TooManyRequestsThenOk(retryAfterSeconds: 30, tooManyRequests: 1));
        CancellationToken ct = CancellationToken.None;
        static HttpRequestMessage CreateRequest() => new(HttpMethod.Get, "http://api.example/items");

        // <RootLockout>
        var lockout = new Lockout();
        await lockout.EnterAsync(ct);
        using HttpResponseMessage response = await http.SendAsync(CreateRequest(), ct);
        if (response.StatusCode == HttpStatusCode.TooManyRequests)
        {
            lockout.LockForRetryAfter(response.Headers.RetryAfter, maxDuration: TimeSpan.FromMinutes(5));
        }
        // </RootLockout>

        Check.That(lockout.IsLocked, "a 429 with Retry-After locks everyone out");
    }

    private static async Task Package()
    {
        using var http = new HttpClient(new TooManyRequestsThenOk(retryAfterSeconds: 1, tooManyRequests: 1));

        // <ReadmeLockout>
        var lockout = new Lockout();                       // or new Lockout(new LockoutOptions { Fifo = true })

        async Task<HttpResponseMessage> SendAsync(Func<HttpRequestMessage> createRequest, CancellationToken ct)
        {
            while (true)
            {
                await lockout.EnterAsync(ct);              // free and allocation-free when not locked out
                HttpResponseMessage response = await http.SendAsync(createRequest(), ct);
                if (response.StatusCode != HttpStatusCode.TooManyRequests)
                {
                    return response;
                }

                // Seconds or an HTTP date; capped so that an absurd value cannot lock you out for days.
                lockout.LockForRetryAfter(response.Headers.RetryAfter, maxDuration: TimeSpan.FromMinutes(5));
                response.Dispose();
            }
        }

        // Fail fast instead of waiting:
        try
        {
            lockout.EnterOrThrow();
        }
        catch (LockoutActiveException ex)
        {
            Console.WriteLine($"locked out until {ex.LockedUntil:O}, retry in {ex.RetryAfter}");
        }
        // </ReadmeLockout>

        // The first answer is a 429 with Retry-After: 1, so the helper waits a second and retries.
        Task<HttpResponseMessage> send = SendAsync(() => new HttpRequestMessage(HttpMethod.Get, "http://api.example/items"), CancellationToken.None);
        while (!lockout.IsLocked && !send.IsCompleted)
        {
            await Task.Delay(5);
        }

        bool threw = false;
        try
        {
            lockout.EnterOrThrow();
        }
        catch (LockoutActiveException)
        {
            threw = true;
        }

        using HttpResponseMessage ok = await send.WaitAsync(TimeSpan.FromSeconds(30));
        Check.That(threw && ok.StatusCode == HttpStatusCode.OK, "the 429 locks out (EnterOrThrow throws), and the retry after it succeeds");
    }

    private sealed class TooManyRequestsThenOk(int retryAfterSeconds, int tooManyRequests) : HttpMessageHandler
    {
        private int _remaining = tooManyRequests;

        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            request.Dispose();
            if (Interlocked.Decrement(ref _remaining) >= 0)
            {
                var limited = new HttpResponseMessage(HttpStatusCode.TooManyRequests);
                limited.Headers.RetryAfter = new System.Net.Http.Headers.RetryConditionHeaderValue(TimeSpan.FromSeconds(retryAfterSeconds));
                return Task.FromResult(limited);
            }

            return Task.FromResult(new HttpResponseMessage(HttpStatusCode.OK));
        }
    }
}
