using System.Net;
using System.Net.Sockets;

namespace AsyncUtils.Docs.Tests;

/// <summary>Serves a folder over HTTP on 127.0.0.1 with an ephemeral port, in process.</summary>
internal sealed class StaticFileServer : IDisposable
{
    private static readonly Dictionary<string, string> ContentTypes = new(StringComparer.OrdinalIgnoreCase)
    {
        [".html"] = "text/html; charset=utf-8",
        [".css"] = "text/css",
        [".js"] = "text/javascript",
        [".mjs"] = "text/javascript",
        [".json"] = "application/json",
        [".svg"] = "image/svg+xml",
        [".png"] = "image/png",
        [".ico"] = "image/x-icon",
        [".woff"] = "font/woff",
        [".woff2"] = "font/woff2",
        [".ttf"] = "font/ttf",
        [".map"] = "application/json",
        [".xml"] = "application/xml",
        [".txt"] = "text/plain",
    };

    private readonly string _root;
    private readonly HttpListener _listener;
    private readonly Task _loop;

    public StaticFileServer(string root)
    {
        _root = Path.GetFullPath(root);
        (_listener, Port) = StartOnFreePort();
        BaseUrl = $"http://127.0.0.1:{Port}/";
        _loop = Task.Run(ServeAsync);
    }

    public int Port { get; }

    public string BaseUrl { get; }

    public void Dispose()
    {
        _listener.Stop();
        _listener.Close();
        _loop.Wait(TimeSpan.FromSeconds(10));
    }

    private static (HttpListener, int) StartOnFreePort()
    {
        for (int attempt = 0; ; attempt++)
        {
            // Ask the OS for a free port, then listen on it (another process may take it in between: retry).
            using var probe = new TcpListener(IPAddress.Loopback, 0);
            probe.Start();
            int port = ((IPEndPoint)probe.LocalEndpoint).Port;
            probe.Stop();

            var listener = new HttpListener();
            listener.Prefixes.Add($"http://127.0.0.1:{port}/");
            try
            {
                listener.Start();
                return (listener, port);
            }
            catch (HttpListenerException) when (attempt < 5)
            {
                listener.Close();
            }
        }
    }

    private async Task ServeAsync()
    {
        while (_listener.IsListening)
        {
            HttpListenerContext context;
            try
            {
                context = await _listener.GetContextAsync();
            }
            catch (Exception ex) when (ex is HttpListenerException or ObjectDisposedException or InvalidOperationException)
            {
                return; // stopped
            }

            try
            {
                await RespondAsync(context);
            }
            catch (Exception ex) when (ex is HttpListenerException or IOException)
            {
                // The browser went away mid-response.
            }
        }
    }

    private async Task RespondAsync(HttpListenerContext context)
    {
        using HttpListenerResponse response = context.Response;
        string relative = Uri.UnescapeDataString(context.Request.Url!.AbsolutePath).TrimStart('/');
        string path = Path.GetFullPath(Path.Combine(_root, relative));
        if (Directory.Exists(path))
        {
            path = Path.Combine(path, "index.html");
        }

        if (!path.StartsWith(_root, StringComparison.Ordinal) || !File.Exists(path))
        {
            response.StatusCode = 404;
            return;
        }

        response.ContentType = ContentTypes.GetValueOrDefault(Path.GetExtension(path), "application/octet-stream");
        byte[] body = await File.ReadAllBytesAsync(path);
        response.ContentLength64 = body.Length;
        await response.OutputStream.WriteAsync(body);
    }
}
