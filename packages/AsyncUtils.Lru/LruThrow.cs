namespace AsyncUtils;

/// <summary>Builds exceptions away from the inlined hot paths.</summary>
internal static class LruThrow
{
    internal static KeyNotFoundException KeyNotFound<TKey>(TKey key) =>
        new($"The key '{key}' was not found in the cache.");
}
