using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace AsyncUtils.Samples.Worker;

/// <summary>
/// A tiny HTTP API on 127.0.0.1 and a free port, in this process: it answers every GET with 200
/// and the request's number as text, except the third request, which gets 429 Too Many Requests
/// with <c>Retry-After: 1</c> (so that the client's lockout shows).
/// </summary>
internal sealed class ApiServer : IAsyncDisposable
{
    private const int TooManyAt = 3;

    private readonly HttpListener _listener;
    private readonly Task _loop;
    private int _requests;

    private ApiServer(HttpListener listener, Uri baseAddress)
    {
        _listener = listener;
        BaseAddress = baseAddress;
        _loop = Task.Run(AcceptLoopAsync);
    }

    public Uri BaseAddress { get; }

    /// <summary>The requests the server has received.</summary>
    public int Requests => Volatile.Read(ref _requests);

    public static ApiServer Start()
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
                return new ApiServer(listener, baseAddress);
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
        HttpListenerResponse response = context.Response;
        try
        {
            if (n == TooManyAt)
            {
                response.StatusCode = (int)HttpStatusCode.TooManyRequests;
                response.AddHeader("Retry-After", "1");
                response.Close();
                return;
            }

            byte[] body = Encoding.UTF8.GetBytes(n.ToString(CultureInfo.InvariantCulture));
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
