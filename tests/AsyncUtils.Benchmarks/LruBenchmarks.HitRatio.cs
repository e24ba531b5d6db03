using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using BitFaster.Caching.Lfu;
using BitFaster.Caching.Lru;
using BitFaster.Caching.Scheduler;
using Microsoft.Extensions.Caching.Memory;

namespace AsyncUtils.Benchmarks;

/// <summary>
/// <c>--hit-ratio DIR</c>: replays seeded key streams through each policy on one thread (no
/// BenchmarkDotNet: the result is a ratio, not a time) and writes
/// DIR/AsyncUtils.Benchmarks.HitRatioBenchmarks-report-github.md in the shape build/bench-tables.py
/// imports. Each request is a read; a miss inserts the key. SIEVE is simulated here only (it is not
/// a product type) to check the choice of S3-FIFO. MemoryCache runs with SizeLimit = capacity and
/// Size = 1 per entry; its compaction is asynchronous and approximate (while it is over the limit
/// it refuses inserts), so its figure varies a little from run to run. ConcurrentLfu runs its
/// maintenance on the caller's thread, so its figure is deterministic.
/// </summary>
internal static class HitRatioSimulation
{
    private const string Version = "Hit-ratio simulation v1";

    internal static int Run(string directory)
    {
        var rows = new List<(string Method, string Workload, int Capacity, double Ratio)>();
        foreach ((string workload, int capacity, int[] keys) in Workloads())
        {
            foreach ((string method, Func<int, ICachePolicy> create) in Policies())
            {
                ICachePolicy policy = create(capacity);
                long hits = 0;
                foreach (int key in keys)
                {
                    if (policy.Request(key))
                    {
                        hits++;
                    }
                }

                (policy as IDisposable)?.Dispose();
                double ratio = 100.0 * hits / keys.Length;
                rows.Add((method, workload, capacity, ratio));
                Console.WriteLine($"{workload,-34} {capacity,7} {method,-26} {ratio,7:F2}%");
            }
        }

        Directory.CreateDirectory(directory);
        string path = Path.Combine(directory, "AsyncUtils.Benchmarks.HitRatioBenchmarks-report-github.md");
        File.WriteAllText(path, Report(rows));
        Console.WriteLine($"Wrote {path}");
        return 0;
    }

    private static IEnumerable<(string Workload, int Capacity, int[] Keys)> Workloads()
    {
        const int Requests = 1_000_000;
        foreach (int capacity in new[] { 1_000, 10_000 })
        {
            int keySpace = capacity == 1_000 ? 100 * capacity : 10 * capacity;
            foreach (double alpha in new[] { 0.7, 0.9, 1.0 })
            {
                yield return ($"Zipf {alpha:0.0###}, {keySpace:N0} keys", capacity, ZipfKeys.Generate(Requests, keySpace, alpha, seed: 7));
            }

            // Zipf 0.9 with a one-pass scan of fresh keys (5 x capacity) in the middle.
            int scan = 5 * capacity;
            int[] zipf = ZipfKeys.Generate(Requests, keySpace, 0.9, seed: 11);
            var keys = new int[Requests + scan];
            Array.Copy(zipf, 0, keys, 0, Requests / 2);
            for (int i = 0; i < scan; i++)
            {
                keys[(Requests / 2) + i] = keySpace + i; // never requested before or after
            }

            Array.Copy(zipf, Requests / 2, keys, (Requests / 2) + scan, Requests - (Requests / 2));
            yield return ($"Zipf 0.9 + scan of {scan:N0}, {keySpace:N0} keys", capacity, keys);
        }
    }

    private static IEnumerable<(string Method, Func<int, ICachePolicy> Create)> Policies()
    {
        yield return ("AsyncUtils_LruCache", static c => new LruPolicy(c));
        yield return ("AsyncUtils_S3FifoCache", static c => new S3FifoPolicy(c));
        yield return ("SIEVE_simulated", static c => new SievePolicy(c));
        yield return ("BitFaster_ConcurrentLru", static c => new ConcurrentLruPolicy(c));
        yield return ("BitFaster_ConcurrentLfu", static c => new ConcurrentLfuPolicy(c));
        yield return ("MemoryCache", static c => new MemoryCachePolicy(c));
    }

    private static string Report(List<(string Method, string Workload, int Capacity, double Ratio)> rows)
    {
        var text = new StringBuilder();
        text.Append("```\n\n");
        text.Append(CultureInfo.InvariantCulture, $"{Version}, {OsDescription()}\n");
        text.Append(CultureInfo.InvariantCulture, $"CPU: {CpuModel()}, {Environment.ProcessorCount} logical cores\n");
        text.Append(CultureInfo.InvariantCulture, $"  [Host] : {RuntimeInformation.FrameworkDescription} ({RuntimeInformation.ProcessArchitecture})\n");
        text.Append("\nEach request reads the key and inserts it on a miss; one thread; seeded streams.\n");
        text.Append("MemoryCache: SizeLimit = capacity, Size = 1 per entry; its compaction is asynchronous and approximate.\n");
        text.Append("```\n");
        text.Append("| Method | Workload | Capacity | Hit ratio |\n");
        text.Append("|------- |--------- |---------:|----------:|\n");
        foreach ((string method, string workload, int capacity, double ratio) in rows)
        {
            text.Append(CultureInfo.InvariantCulture, $"| {method} | {workload} | {capacity} | {ratio:F2}% |\n");
        }

        return text.ToString();
    }

    private static string OsDescription()
    {
        if (File.Exists("/etc/os-release"))
        {
            foreach (string line in File.ReadLines("/etc/os-release"))
            {
                if (line.StartsWith("PRETTY_NAME=", StringComparison.Ordinal))
                {
                    return "Linux " + line["PRETTY_NAME=".Length..].Trim('"');
                }
            }
        }

        return RuntimeInformation.OSDescription;
    }

    private static string CpuModel()
    {
        if (File.Exists("/proc/cpuinfo"))
        {
            foreach (string line in File.ReadLines("/proc/cpuinfo"))
            {
                if (line.StartsWith("model name", StringComparison.Ordinal) && line.Contains(':', StringComparison.Ordinal))
                {
                    return line[(line.IndexOf(':', StringComparison.Ordinal) + 1)..].Trim();
                }
            }
        }

        return "unknown model";
    }

    private interface ICachePolicy
    {
        /// <summary>Reads the key, inserting it on a miss; true on a hit.</summary>
        public bool Request(int key);
    }

    private sealed class LruPolicy(int capacity) : ICachePolicy
    {
        private readonly LruCache<int, int> _cache = new(capacity);

        public bool Request(int key)
        {
            if (_cache.TryGetValue(key, out _))
            {
                return true;
            }

            _cache[key] = key;
            return false;
        }
    }

    private sealed class S3FifoPolicy(int capacity) : ICachePolicy
    {
        private readonly S3FifoCache<int, int> _cache = new(capacity);

        public bool Request(int key)
        {
            if (_cache.TryGetValue(key, out _))
            {
                return true;
            }

            _cache[key] = key;
            return false;
        }
    }

    private sealed class ConcurrentLruPolicy(int capacity) : ICachePolicy
    {
        private readonly ConcurrentLru<int, int> _cache = new(capacity);

        public bool Request(int key)
        {
            if (_cache.TryGet(key, out _))
            {
                return true;
            }

            _cache.AddOrUpdate(key, key);
            return false;
        }
    }

    private sealed class ConcurrentLfuPolicy(int capacity) : ICachePolicy
    {
        private readonly ConcurrentLfu<int, int> _cache = new(1, capacity, new ForegroundScheduler(), EqualityComparer<int>.Default);

        public bool Request(int key)
        {
            if (_cache.TryGet(key, out _))
            {
                return true;
            }

            _cache.AddOrUpdate(key, key);
            return false;
        }
    }

    private sealed class MemoryCachePolicy(int capacity) : ICachePolicy, IDisposable
    {
        private readonly MemoryCache _cache = new(new MemoryCacheOptions { SizeLimit = capacity });
        private readonly MemoryCacheEntryOptions _entry = new() { Size = 1 };

        public bool Request(int key)
        {
            if (_cache.TryGetValue(key, out _))
            {
                return true;
            }

            _cache.Set(key, key, _entry);
            return false;
        }

        public void Dispose() => _cache.Dispose();
    }

    /// <summary>
    /// SIEVE (Zhang et al., NSDI 2024), single-threaded: one FIFO queue and a hand that moves from the
    /// oldest entry towards the newest, clearing visited bits, and evicts the first unvisited entry.
    /// </summary>
    private sealed class SievePolicy(int capacity) : ICachePolicy
    {
        private readonly Dictionary<int, Node> _map = new(capacity);
        private Node? _head; // newest
        private Node? _tail; // oldest
        private Node? _hand;

        public bool Request(int key)
        {
            if (_map.TryGetValue(key, out Node? node))
            {
                node.Visited = true;
                return true;
            }

            if (_map.Count >= capacity)
            {
                Evict();
            }

            node = new Node(key) { Next = _head };
            if (_head is null)
            {
                _tail = node;
            }
            else
            {
                _head.Prev = node;
            }

            _head = node;
            _map[key] = node;
            return false;
        }

        private void Evict()
        {
            Node victim = _hand ?? _tail!;
            while (victim.Visited)
            {
                victim.Visited = false;
                victim = victim.Prev ?? _tail!;
            }

            _hand = victim.Prev;
            if (victim.Prev is null)
            {
                _head = victim.Next;
            }
            else
            {
                victim.Prev.Next = victim.Next;
            }

            if (victim.Next is null)
            {
                _tail = victim.Prev;
            }
            else
            {
                victim.Next.Prev = victim.Prev;
            }

            _map.Remove(victim.Key);
        }

        private sealed class Node(int key)
        {
            public int Key { get; } = key;

            public bool Visited { get; set; }

            public Node? Prev { get; set; }

            public Node? Next { get; set; }
        }
    }
}
