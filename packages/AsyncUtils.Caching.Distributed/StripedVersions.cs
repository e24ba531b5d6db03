namespace AsyncUtils;

/// <summary>
/// Invalidation within one process for a second level whose store has no compare-and-set: 1,024
/// striped counters (no per-key memory). A call reads its key's stripe before the call, writes only
/// if the stripe has not moved, and checks again after its write (removing what it wrote if an
/// invalidation slipped in). An invalidation of another key on the same stripe only costs a later miss.
/// </summary>
internal sealed class StripedVersions
{
    private const int StripeCount = 1024;
    private readonly long[] _versions = new long[StripeCount];

    /// <summary>The key's version now, to hand back to <see cref="IsCurrent"/> after the call.</summary>
    internal long Read(string key) => Volatile.Read(ref _versions[Stripe(key)]);

    /// <summary>Whether no invalidation on the key's stripe happened since <paramref name="version"/> was read.</summary>
    internal bool IsCurrent(string key, long version) => version >= 0 && Volatile.Read(ref _versions[Stripe(key)]) == version;

    /// <summary>Moves the key's stripe on, so that every call that read it before stores nothing.</summary>
    internal void Invalidate(string key) => Interlocked.Increment(ref _versions[Stripe(key)]);

    private static int Stripe(string key) => (int)((uint)StringComparer.Ordinal.GetHashCode(key) % StripeCount);
}
