using AsyncUtils.Testing;

namespace AsyncUtils.Tests;

/// <summary>One redis-server for the assembly's tests that do not restart it; each test uses its own limiter names.</summary>
[SetUpFixture]
public sealed class RedisFixture
{
    private static RedisServer? s_server;

    /// <summary>The shared server (started once, before any test of this assembly).</summary>
    internal static RedisServer Server => s_server ?? throw new InvalidOperationException("The Redis fixture did not start.");

    /// <summary>A limiter name no other test uses.</summary>
    internal static string UniqueName(string prefix) => $"{prefix}-{Guid.NewGuid():N}";

    [OneTimeSetUp]
    public void StartRedis() => s_server = RedisServer.Start();

    [OneTimeTearDown]
    public void StopRedis() => s_server?.Dispose();
}
