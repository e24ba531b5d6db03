// A real redis-server for the tests, started on a free loopback port with a temporary directory and
// stopped when disposed. Shared by the Redis test projects as a linked source file:
//   <Compile Include="../Shared/RedisServer.cs" Link="Shared/RedisServer.cs" />
// Without redis-server on PATH it throws with the install command: the Redis tests then fail and
// say why, they are never skipped silently.

#nullable enable

using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace AsyncUtils.Testing;

/// <summary>A <c>redis-server</c> process owned by a test: a free loopback port, no persistence.</summary>
internal sealed class RedisServer : IDisposable
{
    private readonly string _executable;
    private readonly string _directory;
    private Process? _process;

    private RedisServer(string executable, int port)
    {
        _executable = executable;
        Port = port;
        _directory = Path.Combine(Path.GetTempPath(), "asyncutils-redis-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(_directory);
    }

    /// <summary>The loopback port the server listens on (kept across <see cref="Restart"/>).</summary>
    public int Port { get; }

    /// <summary>A StackExchange.Redis configuration string for this server.</summary>
    public string ConnectionString => $"127.0.0.1:{Port},abortConnect=false,connectRetry=5,connectTimeout=2000,syncTimeout=5000";

    /// <summary>The process id of the running server, for tests that kill it.</summary>
    public int ProcessId => _process?.Id ?? -1;

    /// <summary>The install command printed when <c>redis-server</c> is missing.</summary>
    public const string InstallHint =
        "redis-server was not found on PATH. The Redis tests need a real server: install Debian's package with " +
        "`sudo apt-get update && sudo apt-get install -y redis-server` (bash build/test.sh does this when run as root).";

    /// <summary>Starts a server on a free loopback port and waits until it answers PING.</summary>
    public static RedisServer Start()
    {
        string executable = FindExecutable() ?? throw new InvalidOperationException(InstallHint);
        Exception? last = null;
        for (int attempt = 0; attempt < 5; attempt++)
        {
            var server = new RedisServer(executable, FreePort());
            try
            {
                server.StartProcess();
                return server;
            }
            catch (Exception ex) when (ex is IOException or SocketException or TimeoutException or InvalidOperationException)
            {
                // Another process may have taken the port between choosing and binding it: try another.
                last = ex;
                server.Dispose();
            }
        }

        throw new InvalidOperationException("redis-server did not start: " + last?.Message, last);
    }

    /// <summary>Kills the server (as a crash would: no SHUTDOWN, nothing saved).</summary>
    public void Kill()
    {
        Process? process = _process;
        _process = null;
        if (process is null)
        {
            return;
        }

        try
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
                process.WaitForExit(10_000);
            }
        }
        catch (InvalidOperationException)
        {
            // Already gone.
        }
        finally
        {
            process.Dispose();
        }
    }

    /// <summary>Kills the server and starts an empty one on the same port (a restart that lost its data).</summary>
    public void Restart()
    {
        Kill();
        var deadline = Stopwatch.StartNew();
        while (true)
        {
            try
            {
                StartProcess();
                return;
            }
            catch (Exception) when (deadline.Elapsed < TimeSpan.FromSeconds(10))
            {
                // The old socket may still be closing: retry briefly.
                Thread.Sleep(100);
            }
        }
    }

    /// <summary>Sends one command over a fresh connection and returns the raw first reply line (for example <c>+PONG</c>).</summary>
    public string Command(params string[] args)
    {
        using var client = new TcpClient();
        client.Connect(IPAddress.Loopback, Port);
        client.ReceiveTimeout = 5000;
        using NetworkStream stream = client.GetStream();
        var request = new StringBuilder();
        request.Append('*').Append(args.Length).Append("\r\n");
        foreach (string arg in args)
        {
            request.Append('$').Append(Encoding.UTF8.GetByteCount(arg)).Append("\r\n").Append(arg).Append("\r\n");
        }

        byte[] bytes = Encoding.UTF8.GetBytes(request.ToString());
        stream.Write(bytes, 0, bytes.Length);
        var reply = new StringBuilder();
        int b;
        while ((b = stream.ReadByte()) >= 0 && b != '\n')
        {
            if (b != '\r')
            {
                reply.Append((char)b);
            }
        }

        return reply.ToString();
    }

    /// <inheritdoc />
    public void Dispose()
    {
        Kill();
        try
        {
            Directory.Delete(_directory, recursive: true);
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }

    private void StartProcess()
    {
        var info = new ProcessStartInfo(_executable)
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = _directory,
        };
        foreach (string arg in new[]
        {
            "--port", Port.ToString(System.Globalization.CultureInfo.InvariantCulture),
            "--bind", "127.0.0.1",
            "--dir", _directory,
            "--save", "",
            "--appendonly", "no",
            "--daemonize", "no",
            "--protected-mode", "yes",
            "--loglevel", "warning",
        })
        {
            info.ArgumentList.Add(arg);
        }

        var process = Process.Start(info) ?? throw new InvalidOperationException("redis-server did not start.");
        process.OutputDataReceived += static (_, _) => { };
        process.ErrorDataReceived += static (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        _process = process;

        var watch = Stopwatch.StartNew();
        while (watch.Elapsed < TimeSpan.FromSeconds(10))
        {
            if (process.HasExited)
            {
                _process = null;
                throw new IOException($"redis-server exited with code {process.ExitCode} while starting on port {Port}.");
            }

            try
            {
                if (Command("PING") == "+PONG")
                {
                    return;
                }
            }
            catch (Exception ex) when (ex is SocketException or IOException)
            {
                // Not listening yet.
            }

            Thread.Sleep(20);
        }

        Kill();
        throw new TimeoutException($"redis-server did not answer PING on port {Port} within 10 s.");
    }

    private static string? FindExecutable()
    {
        string path = Environment.GetEnvironmentVariable("PATH") ?? string.Empty;
        foreach (string dir in path.Split(Path.PathSeparator).Concat(new[] { "/usr/bin", "/usr/sbin", "/usr/local/bin" }))
        {
            if (dir.Length == 0)
            {
                continue;
            }

            string candidate = Path.Combine(dir, "redis-server");
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        return null;
    }

    private static int FreePort()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        int port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }
}
