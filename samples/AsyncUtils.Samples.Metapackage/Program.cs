using AsyncUtils.Lru;

// Installing the family: `dotnet add package AsyncUtils.All` brings every member package.
var ttl = new TtlLruCache<string, string>(capacity: 16, timeToLive: TimeSpan.FromMinutes(1));
Console.WriteLine($"All: {ttl.GetOrAdd("greeting", "hello from AsyncUtils.All")}");
