using AsyncUtils.Lru;

// Installing one primitive: `dotnet add package AsyncUtils.Lru` brings exactly that, nothing else.
var cache = new LruCache<string, int>(capacity: 2);
cache["a"] = 1;
cache["b"] = 2;
cache.TryGetValue("a", out _); // "a" is now the most recently used
cache["c"] = 3;                // so "b" is evicted

Console.WriteLine($"Lru: a={cache.GetValueOrDefault("a", -1)} b={cache.GetValueOrDefault("b", -1)} c={cache.GetValueOrDefault("c", -1)}");
Console.WriteLine($"Loaded: {string.Join(", ", AppDomain.CurrentDomain.GetAssemblies().Select(a => a.GetName().Name).Where(n => n!.StartsWith("AsyncUtils.", StringComparison.Ordinal) && n != "AsyncUtils.Samples.PickAndChoose").Order())}");
