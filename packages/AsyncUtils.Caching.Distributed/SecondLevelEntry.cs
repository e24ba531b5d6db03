namespace AsyncUtils;

/// <summary>What <see cref="ISecondLevelCache.ReadAsync"/> found.</summary>
public readonly struct SecondLevelEntry : IEquatable<SecondLevelEntry>
{
    /// <summary>Creates an entry.</summary>
    /// <param name="value">The stored bytes, or <see langword="null"/> on a miss.</param>
    /// <param name="version">The key's version; a negative version means "do not store this call's result".</param>
    public SecondLevelEntry(byte[]? value, long version)
    {
        Value = value;
        Version = version;
    }

    /// <summary>The stored bytes, or <see langword="null"/> on a miss.</summary>
    public byte[]? Value { get; }

    /// <summary>The key's version when it was read; negative means the result must not be stored.</summary>
    public long Version { get; }

    /// <inheritdoc />
    public bool Equals(SecondLevelEntry other) => ReferenceEquals(Value, other.Value) && Version == other.Version;

    /// <inheritdoc />
    public override bool Equals(object? obj) => obj is SecondLevelEntry other && Equals(other);

    /// <inheritdoc />
    public override int GetHashCode() => HashCode.Combine(Value, Version);

    /// <summary>Compares two entries (same bytes instance, same version).</summary>
    /// <param name="left">The first entry.</param>
    /// <param name="right">The second entry.</param>
    /// <returns>Whether they are equal.</returns>
    public static bool operator ==(SecondLevelEntry left, SecondLevelEntry right) => left.Equals(right);

    /// <summary>Compares two entries.</summary>
    /// <param name="left">The first entry.</param>
    /// <param name="right">The second entry.</param>
    /// <returns>Whether they differ.</returns>
    public static bool operator !=(SecondLevelEntry left, SecondLevelEntry right) => !left.Equals(right);
}
