using AsyncUtils;

// Installing single primitives: `dotnet add package AsyncUtils.Lru` and
// `dotnet add package AsyncUtils.Lockout` bring exactly those two, nothing else.
var cache = new LruCache<string, int>(capacity: 2);
cache["a"] = 1;
cache["b"] = 2;
cache.TryGetValue("a", out _); // "a" is now the most recently used
cache["c"] = 3;                // so "b" is evicted

Console.WriteLine($"Lru: a={cache.GetValueOrDefault("a", -1)} b={cache.GetValueOrDefault("b", -1)} c={cache.GetValueOrDefault("c", -1)}");

// A server said "Retry-After: 120"; we never wait longer than 30 s, and nobody enters meanwhile.
var lockout = new Lockout();
TimeSpan applied = lockout.LockForRetryAfter("120", maxDuration: TimeSpan.FromSeconds(30));
Console.WriteLine($"Lockout: Retry-After 120 capped to {applied.TotalSeconds:0}s, locked={lockout.IsLocked}, entered={lockout.TryEnter()}");

Console.WriteLine($"Loaded: {string.Join(", ", AppDomain.CurrentDomain.GetAssemblies().Select(a => a.GetName().Name).Where(n => n!.StartsWith("AsyncUtils.", StringComparison.Ordinal) && n != "AsyncUtils.Samples.PickAndChoose").Order())}");
