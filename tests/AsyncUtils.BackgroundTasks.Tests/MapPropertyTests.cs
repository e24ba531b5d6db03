using CsCheck;

namespace AsyncUtils.Tests;

/// <summary>Random inputs, caps, look-aheads, delays and failures: Map and MapOrdered report every item exactly once, with its own outcome.</summary>
public sealed class MapPropertyTests
{
    [Test]
    public void Map_and_MapOrdered_report_every_item_once_with_its_own_outcome()
    {
        Gen<(int Cap, int LookAhead, bool[] Yields, bool[] Fails)> cases = Gen.Select(
            Gen.Int[1, 6],
            Gen.Int[1, 8],
            Gen.Bool.Array[0, 60],
            Gen.Int[0, 9].Array[0, 60],
            (cap, lookAhead, yields, fails) => (cap, lookAhead, yields, fails.Select(f => f == 0).ToArray()));

        cases.Sample(c =>
        {
            int n = c.Yields.Length;
            bool Fails(int x) => x < c.Fails.Length && c.Fails[x];
            async Task<int> F(int x, CancellationToken ct)
            {
                if (c.Yields[x])
                {
                    await Task.Yield();
                }

                return Fails(x) ? throw new FormatException(x.ToString(System.Globalization.CultureInfo.InvariantCulture)) : x * 3;
            }

            var executor = new CurrentContextExecutor(c.Cap);
            var unordered = new List<MapResult<int, int>>();
            var ordered = new List<MapResult<int, int>>();
            Task.Run(async () =>
            {
                await foreach (MapResult<int, int> r in executor.Map(Enumerable.Range(0, n), F))
                {
                    unordered.Add(r);
                }

                await foreach (MapResult<int, int> r in executor.MapOrdered(Enumerable.Range(0, n), F, c.LookAhead))
                {
                    ordered.Add(r);
                }

                await executor.DisposeAsync();
            }).WaitAsync(TimeSpan.FromSeconds(30)).GetAwaiter().GetResult();

            if (!ordered.Select(r => r.Item).SequenceEqual(Enumerable.Range(0, n)))
            {
                throw new InvalidOperationException("MapOrdered is not in input order");
            }

            if (!unordered.Select(r => r.Item).Order().SequenceEqual(Enumerable.Range(0, n)))
            {
                throw new InvalidOperationException("Map lost or repeated an item");
            }

            foreach (MapResult<int, int> r in unordered.Concat(ordered))
            {
                bool ok = Fails(r.Item) ? r.Exception is FormatException && !r.IsSuccess : r.IsSuccess && r.Value == r.Item * 3;
                if (!ok || r.Index != r.Item)
                {
                    throw new InvalidOperationException($"wrong outcome for item {r.Item}: {r}");
                }
            }
        }, iter: 200);
    }
}
