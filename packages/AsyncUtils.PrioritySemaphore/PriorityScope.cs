using System.Runtime.InteropServices;

namespace AsyncUtils;

/// <summary>
/// An ambient priority set by <see cref="PriorityContext.Enter(int)"/>; disposing it restores the
/// priority that was in effect before. A struct, so entering a scope allocates nothing beyond what
/// <see cref="AsyncLocal{T}"/> itself needs.
/// </summary>
[StructLayout(LayoutKind.Auto)]
public readonly struct PriorityScope : IDisposable, IEquatable<PriorityScope>
{
    private readonly int _previous;
    private readonly bool _active;

    internal PriorityScope(int previous)
    {
        _previous = previous;
        _active = true;
    }

    /// <summary>Restores the priority in effect before the scope was entered. Disposing a default value does nothing.</summary>
    public void Dispose()
    {
        if (_active)
        {
            PriorityContext.Restore(_previous);
        }
    }

    /// <inheritdoc/>
    public bool Equals(PriorityScope other) => _previous == other._previous && _active == other._active;

    /// <inheritdoc/>
    public override bool Equals(object? obj) => obj is PriorityScope other && Equals(other);

    /// <inheritdoc/>
    public override int GetHashCode() => HashCode.Combine(_previous, _active);

    /// <summary>Whether two scopes restore the same priority.</summary>
    /// <param name="left">The first scope.</param>
    /// <param name="right">The second scope.</param>
    public static bool operator ==(PriorityScope left, PriorityScope right) => left.Equals(right);

    /// <summary>Whether two scopes restore different priorities.</summary>
    /// <param name="left">The first scope.</param>
    /// <param name="right">The second scope.</param>
    public static bool operator !=(PriorityScope left, PriorityScope right) => !left.Equals(right);
}
