using System.Net;
using System.Net.Sockets;
using System.Text;

namespace RateLimitedClientSample;

/// <summary>
/// A small HTTP API on 127.0.0.1 and a free port, in this process: it answers every request with
/// 200 and a short text after 40 ms of "work", except every <c>tooManyEvery</c>-th request, which
/// gets 429 Too Many Requests with <c>Retry-After: 1</c>.
/// </summary>
internal sealed class FlakyServer : IAsyncDisposable
{
    private readonly HttpListener _listener;
    private readonly int _tooManyEvery;
    private readonly Action<string, string> _log;
    private readonly Task _loop;
    private int _requests;
    private int _tooMany;

    private FlakyServer(HttpListener listener, Uri baseAddress, int tooManyEvery, Action<string, string> log)
    {
        _listener = listener;
        BaseAddress = baseAddress;
        _tooManyEvery = tooManyEvery;
        _log = log;
        _loop = Task.Run(AcceptLoopAsync);
    }

    public Uri BaseAddress { get; }

    public int Requests => Volatile.Read(ref _requests);

    public int TooManyRequests => Volatile.Read(ref _tooMany);

    public static FlakyServer Start(int tooManyEvery, Action<string, string> log)
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
                return new FlakyServer(listener, baseAddress, tooManyEvery, log);
            }
            catch (HttpListenerException) when (attempt < 10)
            {
                listener.Close();
            }
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

            _ = Task.Run(() => AnswerAsync(context));
        }
    }

    private async Task AnswerAsync(HttpListenerContext context)
    {
        int n = Interlocked.Increment(ref _requests);
        string path = context.Request.Url?.AbsolutePath ?? "/";
        HttpListenerResponse response = context.Response;
        try
        {
            if (n % _tooManyEvery == 0)
            {
                Interlocked.Increment(ref _tooMany);
                _log("server", $"request #{n}: GET {path} -> 429 Too Many Requests, Retry-After: 1");
                response.StatusCode = (int)HttpStatusCode.TooManyRequests;
                response.AddHeader("Retry-After", "1");
                response.Close();
                return;
            }

            await Task.Delay(40); // the server's work
            _log("server", $"request #{n}: GET {path} -> 200");
            byte[] body = Encoding.UTF8.GetBytes($"{path} (served as request #{n})");
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
