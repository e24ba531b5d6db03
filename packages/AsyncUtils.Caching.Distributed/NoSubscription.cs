namespace AsyncUtils;

/// <summary>What <see cref="ISecondLevelCache.Subscribe"/> returns for a level without a backplane.</summary>
internal sealed class NoSubscription : IDisposable
{
    internal static readonly NoSubscription Instance = new();

    public void Dispose()
    {
    }
}
