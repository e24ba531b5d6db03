using System.Runtime.InteropServices;

namespace AsyncUtils;

/// <summary>
/// A permit held for the length of a <c>using</c> block, returned by
/// <see cref="PrioritySemaphore.AcquireAsync()"/>: disposing it calls
/// <see cref="PrioritySemaphore.Release()"/> once.
/// </summary>
/// <remarks>A struct, so acquiring allocates nothing. Dispose one copy only: each copy releases.</remarks>
[StructLayout(LayoutKind.Auto)]
public readonly struct PrioritySemaphoreReleaser : IDisposable, IEquatable<PrioritySemaphoreReleaser>
{
    private readonly PrioritySemaphore? _semaphore;

    internal PrioritySemaphoreReleaser(PrioritySemaphore semaphore) => _semaphore = semaphore;

    /// <summary>Releases the permit. Disposing a default value does nothing.</summary>
    public void Dispose() => _semaphore?.Release();

    /// <inheritdoc/>
    public bool Equals(PrioritySemaphoreReleaser other) => ReferenceEquals(_semaphore, other._semaphore);

    /// <inheritdoc/>
    public override bool Equals(object? obj) => obj is PrioritySemaphoreReleaser other && Equals(other);

    /// <inheritdoc/>
    public override int GetHashCode() => _semaphore is null ? 0 : _semaphore.GetHashCode();

    /// <summary>Whether two releasers release the same semaphore.</summary>
    /// <param name="left">The first releaser.</param>
    /// <param name="right">The second releaser.</param>
    public static bool operator ==(PrioritySemaphoreReleaser left, PrioritySemaphoreReleaser right) => left.Equals(right);

    /// <summary>Whether two releasers release different semaphores.</summary>
    /// <param name="left">The first releaser.</param>
    /// <param name="right">The second releaser.</param>
    public static bool operator !=(PrioritySemaphoreReleaser left, PrioritySemaphoreReleaser right) => !left.Equals(right);
}
