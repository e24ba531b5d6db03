using System.Runtime.InteropServices;
using System.Threading.RateLimiting;

namespace AsyncUtils;

/// <summary>
/// A granted permit held for the length of a <c>using</c> or <c>await using</c> block; made by
/// <see cref="RateLimiterExtensions.EnterAsync(System.Threading.RateLimiting.RateLimiter, CancellationToken)"/>.
/// Disposing it disposes the lease (which, for a sliding-log limiter, does nothing: the permit
/// frees itself when it leaves the window; for a concurrency limiter it returns the permit).
/// </summary>
/// <remarks>
/// A struct, so entering allocates nothing. Dispose one copy only: copies share the same lease.
/// </remarks>
[StructLayout(LayoutKind.Auto)]
public readonly struct RateLimitScope : IDisposable, IAsyncDisposable, IEquatable<RateLimitScope>
{
    internal RateLimitScope(RateLimitLease lease) => Lease = lease;

    /// <summary>The granted lease, for reading its metadata (for example <see cref="MetadataName.RetryAfter"/>).</summary>
    public RateLimitLease Lease { get; }

    /// <summary>Disposes the lease.</summary>
    public void Dispose() => Lease?.Dispose();

    /// <summary>Disposes the lease; completes synchronously.</summary>
    /// <returns>A completed task.</returns>
    public ValueTask DisposeAsync()
    {
        Lease?.Dispose();
        return default;
    }

    /// <inheritdoc/>
    public bool Equals(RateLimitScope other) => ReferenceEquals(Lease, other.Lease);

    /// <inheritdoc/>
    public override bool Equals(object? obj) => obj is RateLimitScope other && Equals(other);

    /// <inheritdoc/>
    public override int GetHashCode() => Lease is null ? 0 : Lease.GetHashCode();

    /// <summary>Whether two scopes hold the same lease.</summary>
    /// <param name="left">The first scope.</param>
    /// <param name="right">The second scope.</param>
    public static bool operator ==(RateLimitScope left, RateLimitScope right) => left.Equals(right);

    /// <summary>Whether two scopes hold different leases.</summary>
    /// <param name="left">The first scope.</param>
    /// <param name="right">The second scope.</param>
    public static bool operator !=(RateLimitScope left, RateLimitScope right) => !left.Equals(right);
}
