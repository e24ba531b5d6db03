namespace AsyncUtils.Benchmarks;

/// <summary>Seeded Zipf-distributed key sequences: rank r (0-based) is drawn with weight 1 / (r + 1)^alpha.</summary>
internal static class ZipfKeys
{
    /// <summary>Draws <paramref name="count"/> keys in [0, <paramref name="keySpace"/>) with the given skew; the same arguments give the same array.</summary>
    internal static int[] Generate(int count, int keySpace, double alpha, int seed)
    {
        var cdf = new double[keySpace];
        double total = 0;
        for (int r = 0; r < keySpace; r++)
        {
            total += 1.0 / Math.Pow(r + 1, alpha);
            cdf[r] = total;
        }

        // Ranks are scattered over the key space, so that popular keys are not neighbours.
        var permutation = new int[keySpace];
        for (int i = 0; i < keySpace; i++)
        {
            permutation[i] = i;
        }

        var random = new Random(seed);
        random.Shuffle(permutation);

        var keys = new int[count];
        for (int i = 0; i < count; i++)
        {
            int rank = Array.BinarySearch(cdf, random.NextDouble() * total);
            rank = rank < 0 ? ~rank : rank;
            keys[i] = permutation[Math.Min(rank, keySpace - 1)];
        }

        return keys;
    }
}
