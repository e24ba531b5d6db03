namespace AsyncUtils.Tests;

public sealed class TaskCacheWrapTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);

    [Test]
    public async Task A_function_of_no_arguments_is_called_once_and_retried_after_a_failure()
    {
        var cache = new TaskCache<ValueTuple, int>();
        int calls = 0;
        Func<Task<int>> cached = cache.Wrap(_ => ++calls == 1 ? Task.FromException<int>(new FormatException()) : Task.FromResult(calls));

        await Assert.ThrowsAsync<FormatException>(async () => await cached().WaitAsync(Bound));
        Assert.That(await cached().WaitAsync(Bound), Is.EqualTo(2));
        Assert.That(await cached().WaitAsync(Bound), Is.EqualTo(2));
    }

    [Test]
    public async Task A_function_of_one_argument_is_keyed_by_the_argument()
    {
        var cache = new TaskCache<int, string>();
        int calls = 0;
        Func<int, Task<string>> cached = cache.Wrap((int id, CancellationToken _) => { calls++; return Task.FromResult($"user{id}"); });

        Assert.That(await cached(1).WaitAsync(Bound), Is.EqualTo("user1"));
        Assert.That(await cached(1).WaitAsync(Bound), Is.EqualTo("user1"));
        Assert.That(await cached(2).WaitAsync(Bound), Is.EqualTo("user2"));
        Assert.That(calls, Is.EqualTo(2));
        Assert.That(cache.Invalidate(1), Is.True);
    }

    [Test]
    public async Task Functions_of_two_three_and_four_arguments_are_keyed_by_the_tuple_of_their_arguments_in_order()
    {
        int calls = 0;
        var two = new TaskCache<(int, int), string>().Wrap((int a, int b, CancellationToken _) => { calls++; return Task.FromResult($"{a}{b}"); });
        var three = new TaskCache<(int, int, int), string>().Wrap((int a, int b, int c, CancellationToken _) => { calls++; return Task.FromResult($"{a}{b}{c}"); });
        var four = new TaskCache<(int, string, int, string), string>().Wrap((int a, string b, int c, string d, CancellationToken _) => { calls++; return Task.FromResult($"{a}{b}{c}{d}"); });

        Assert.That(await two(1, 2).WaitAsync(Bound), Is.EqualTo("12"));
        Assert.That(await two(2, 1).WaitAsync(Bound), Is.EqualTo("21"));
        Assert.That(await two(1, 2).WaitAsync(Bound), Is.EqualTo("12"));
        Assert.That(await three(1, 2, 3).WaitAsync(Bound), Is.EqualTo("123"));
        Assert.That(await three(3, 2, 1).WaitAsync(Bound), Is.EqualTo("321"));
        Assert.That(await three(1, 2, 3).WaitAsync(Bound), Is.EqualTo("123"));
        Assert.That(await four(1, "b", 3, "d").WaitAsync(Bound), Is.EqualTo("1b3d"));
        Assert.That(await four(1, "b", 3, "d").WaitAsync(Bound), Is.EqualTo("1b3d"));
        Assert.That(calls, Is.EqualTo(5));
    }

    [Test]
    public async Task The_key_cache_of_a_wrapped_function_is_the_tuple_of_its_arguments()
    {
        var cache = new TaskCache<(string, int), int>();
        var cached = cache.Wrap(static (string s, int n, CancellationToken _) => Task.FromResult(s.Length + n));
        await cached("ab", 1).WaitAsync(Bound);

        Assert.That(cache.Invalidate(("ab", 1)), Is.True);
        Assert.That(cache.Invalidate(("ab", 1)), Is.False);
    }

    [Test]
    public async Task A_key_selector_leaves_an_argument_out_of_the_key()
    {
        var cache = new TaskCache<int, string>();
        var clients = new List<string>();
        Func<string, int, Task<string>> cached = cache.Wrap(
            (string client, int id, CancellationToken _) => { clients.Add(client); return Task.FromResult($"{client}:{id}"); },
            static (_, id) => id);

        Assert.That(await cached("client-a", 7).WaitAsync(Bound), Is.EqualTo("client-a:7"));
        Assert.That(await cached("client-b", 7).WaitAsync(Bound), Is.EqualTo("client-a:7"), "same key, the client is not part of it");
        Assert.That(await cached("client-b", 8).WaitAsync(Bound), Is.EqualTo("client-b:8"));
        Assert.That(clients, Is.EqualTo(new[] { "client-a", "client-b" }));
    }

    [Test]
    public async Task Key_selectors_work_for_one_three_and_four_arguments()
    {
        var cache = new TaskCache<string, string>();
        int calls = 0;
        var one = cache.Wrap((int a, CancellationToken _) => { calls++; return Task.FromResult($"one{a}"); }, static a => $"k{a % 2}");
        var three = cache.Wrap((int a, int b, int c, CancellationToken _) => { calls++; return Task.FromResult($"three{a}{b}{c}"); }, static (a, _, _) => $"t{a}");
        var four = cache.Wrap((int a, int b, int c, int d, CancellationToken _) => { calls++; return Task.FromResult($"four{a}{b}{c}{d}"); }, static (_, _, _, d) => $"f{d}");

        Assert.That(await one(1).WaitAsync(Bound), Is.EqualTo("one1"));
        Assert.That(await one(3).WaitAsync(Bound), Is.EqualTo("one1"));
        Assert.That(await three(1, 2, 3).WaitAsync(Bound), Is.EqualTo("three123"));
        Assert.That(await three(1, 9, 9).WaitAsync(Bound), Is.EqualTo("three123"));
        Assert.That(await four(1, 2, 3, 4).WaitAsync(Bound), Is.EqualTo("four1234"));
        Assert.That(await four(9, 9, 9, 4).WaitAsync(Bound), Is.EqualTo("four1234"));
        Assert.That(calls, Is.EqualTo(3));
    }

    [Test]
    public async Task The_wrapped_function_gets_the_shared_calls_token()
    {
        var cache = new TaskCache<int, bool>(new TaskCacheOptions<int, bool> { Timeout = TimeSpan.FromHours(1) });
        var cached = cache.Wrap(static (int _, CancellationToken ct) => Task.FromResult(ct.CanBeCanceled));
        Assert.That(await cached(1).WaitAsync(Bound), Is.True);
    }

    [Test]
    public void Wrap_rejects_null_arguments_naming_them()
    {
        var cache = new TaskCache<int, int>();
        var pairs = new TaskCache<(int, int), int>();
        Func<int, CancellationToken, Task<int>> function = static (a, _) => Task.FromResult(a);

        using (Assert.EnterMultipleScope())
        {
            Assert.That(() => ((TaskCache<int, int>)null!).Wrap(function), Throws.ArgumentNullException.With.Property("ParamName").EqualTo("cache"));
            Assert.That(() => cache.Wrap((Func<int, CancellationToken, Task<int>>)null!), Throws.ArgumentNullException.With.Property("ParamName").EqualTo("function"));
            Assert.That(() => cache.Wrap(function, (Func<int, int>)null!), Throws.ArgumentNullException.With.Property("ParamName").EqualTo("keySelector"));
            Assert.That(() => new TaskCache<ValueTuple, int>().Wrap((Func<CancellationToken, Task<int>>)null!), Throws.ArgumentNullException.With.Property("ParamName").EqualTo("function"));
            Assert.That(() => pairs.Wrap((Func<int, int, CancellationToken, Task<int>>)null!), Throws.ArgumentNullException.With.Property("ParamName").EqualTo("function"));
            Assert.That(() => cache.Wrap(static (int a, int b, CancellationToken _) => Task.FromResult(a + b), null!), Throws.ArgumentNullException.With.Property("ParamName").EqualTo("keySelector"));
        }
    }
}
