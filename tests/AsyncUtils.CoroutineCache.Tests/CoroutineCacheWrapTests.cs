namespace AsyncUtils.Tests;

public sealed class CoroutineCacheWrapTests
{
    private static readonly CancellationToken None = CancellationToken.None;

    [Test]
    public async Task A_function_of_no_arguments_is_called_once_and_retried_after_a_failure()
    {
        var cache = new CoroutineCache<ValueTuple, int>();
        int calls = 0;
        Func<CancellationToken, ValueTask<int>> cached = cache.Wrap(_ => ++calls == 1 ? ValueTask.FromException<int>(new FormatException()) : ValueTask.FromResult(calls));

        await Assert.ThrowsAsync<FormatException>(async () => await cached(None).Within());
        Assert.That(await cached(None).Within(), Is.EqualTo(2));
        Assert.That(await cached(None).Within(), Is.EqualTo(2));
    }

    [Test]
    public async Task A_function_of_one_argument_is_keyed_by_the_argument()
    {
        var cache = new CoroutineCache<int, string>();
        int calls = 0;
        Func<int, CancellationToken, ValueTask<string>> cached = cache.Wrap((int id, CancellationToken _) => { calls++; return ValueTask.FromResult($"user{id}"); });

        Assert.That(await cached(1, None).Within(), Is.EqualTo("user1"));
        Assert.That(await cached(1, None).Within(), Is.EqualTo("user1"));
        Assert.That(await cached(2, None).Within(), Is.EqualTo("user2"));
        Assert.That(calls, Is.EqualTo(2));
        Assert.That(cache.Invalidate(1), Is.True);
    }

    [Test]
    public async Task Functions_of_two_three_and_four_arguments_are_keyed_by_the_tuple_of_their_arguments_in_order()
    {
        int calls = 0;
        var two = new CoroutineCache<(int, int), string>().Wrap((int a, int b, CancellationToken _) => { calls++; return ValueTask.FromResult($"{a}{b}"); });
        var three = new CoroutineCache<(int, int, int), string>().Wrap((int a, int b, int c, CancellationToken _) => { calls++; return ValueTask.FromResult($"{a}{b}{c}"); });
        var four = new CoroutineCache<(int, string, int, string), string>().Wrap((int a, string b, int c, string d, CancellationToken _) => { calls++; return ValueTask.FromResult($"{a}{b}{c}{d}"); });

        Assert.That(await two(1, 2, None).Within(), Is.EqualTo("12"));
        Assert.That(await two(2, 1, None).Within(), Is.EqualTo("21"));
        Assert.That(await two(1, 2, None).Within(), Is.EqualTo("12"));
        Assert.That(await three(1, 2, 3, None).Within(), Is.EqualTo("123"));
        Assert.That(await three(3, 2, 1, None).Within(), Is.EqualTo("321"));
        Assert.That(await three(1, 2, 3, None).Within(), Is.EqualTo("123"));
        Assert.That(await four(1, "b", 3, "d", None).Within(), Is.EqualTo("1b3d"));
        Assert.That(await four(1, "b", 3, "d", None).Within(), Is.EqualTo("1b3d"));
        Assert.That(calls, Is.EqualTo(5));
    }

    [Test]
    public async Task The_key_cache_of_a_wrapped_function_is_the_tuple_of_its_arguments()
    {
        var cache = new CoroutineCache<(string, int), int>();
        var cached = cache.Wrap(static (string s, int n, CancellationToken _) => ValueTask.FromResult(s.Length + n));
        await cached("ab", 1, None).Within();

        Assert.That(cache.Invalidate(("ab", 1)), Is.True);
        Assert.That(cache.Invalidate(("ab", 1)), Is.False);
    }

    [Test]
    public async Task A_key_selector_leaves_an_argument_out_of_the_key()
    {
        var cache = new CoroutineCache<int, string>();
        var clients = new List<string>();
        Func<string, int, CancellationToken, ValueTask<string>> cached = cache.Wrap(
            (string client, int id, CancellationToken _) => { clients.Add(client); return ValueTask.FromResult($"{client}:{id}"); },
            static (_, id) => id);

        Assert.That(await cached("client-a", 7, None).Within(), Is.EqualTo("client-a:7"));
        Assert.That(await cached("client-b", 7, None).Within(), Is.EqualTo("client-a:7"), "same key, the client is not part of it");
        Assert.That(await cached("client-b", 8, None).Within(), Is.EqualTo("client-b:8"));
        Assert.That(clients, Is.EqualTo(new[] { "client-a", "client-b" }));
    }

    [Test]
    public async Task Key_selectors_work_for_one_three_and_four_arguments()
    {
        var cache = new CoroutineCache<string, string>();
        int calls = 0;
        var one = cache.Wrap((int a, CancellationToken _) => { calls++; return ValueTask.FromResult($"one{a}"); }, static a => $"k{a % 2}");
        var three = cache.Wrap((int a, int b, int c, CancellationToken _) => { calls++; return ValueTask.FromResult($"three{a}{b}{c}"); }, static (a, _, _) => $"t{a}");
        var four = cache.Wrap((int a, int b, int c, int d, CancellationToken _) => { calls++; return ValueTask.FromResult($"four{a}{b}{c}{d}"); }, static (_, _, _, d) => $"f{d}");

        Assert.That(await one(1, None).Within(), Is.EqualTo("one1"));
        Assert.That(await one(3, None).Within(), Is.EqualTo("one1"));
        Assert.That(await three(1, 2, 3, None).Within(), Is.EqualTo("three123"));
        Assert.That(await three(1, 9, 9, None).Within(), Is.EqualTo("three123"));
        Assert.That(await four(1, 2, 3, 4, None).Within(), Is.EqualTo("four1234"));
        Assert.That(await four(9, 9, 9, 4, None).Within(), Is.EqualTo("four1234"));
        Assert.That(calls, Is.EqualTo(3));
    }

    [Test]
    public async Task The_wrapped_function_gets_the_shared_calls_token()
    {
        var cache = new CoroutineCache<int, bool>(new CoroutineCacheOptions<int, bool> { Timeout = TimeSpan.FromHours(1) });
        var cached = cache.Wrap(static (int _, CancellationToken ct) => ValueTask.FromResult(ct.CanBeCanceled));
        Assert.That(await cached(1, None).Within(), Is.True);
    }

    [Test]
    public void Wrap_rejects_null_arguments_naming_them()
    {
        var cache = new CoroutineCache<int, int>();
        var pairs = new CoroutineCache<(int, int), int>();
        Func<int, CancellationToken, ValueTask<int>> function = static (a, _) => ValueTask.FromResult(a);

        using (Assert.EnterMultipleScope())
        {
            Assert.That(() => ((CoroutineCache<int, int>)null!).Wrap(function), Throws.ArgumentNullException.With.Property("ParamName").EqualTo("cache"));
            Assert.That(() => cache.Wrap((Func<int, CancellationToken, ValueTask<int>>)null!), Throws.ArgumentNullException.With.Property("ParamName").EqualTo("function"));
            Assert.That(() => cache.Wrap(function, (Func<int, int>)null!), Throws.ArgumentNullException.With.Property("ParamName").EqualTo("keySelector"));
            Assert.That(() => new CoroutineCache<ValueTuple, int>().Wrap((Func<CancellationToken, ValueTask<int>>)null!), Throws.ArgumentNullException.With.Property("ParamName").EqualTo("function"));
            Assert.That(() => pairs.Wrap((Func<int, int, CancellationToken, ValueTask<int>>)null!), Throws.ArgumentNullException.With.Property("ParamName").EqualTo("function"));
            Assert.That(() => cache.Wrap(static (int a, int b, CancellationToken _) => ValueTask.FromResult(a + b), null!), Throws.ArgumentNullException.With.Property("ParamName").EqualTo("keySelector"));
        }
    }

    [Test]
    public async Task The_wrapped_functions_trailing_token_is_the_callers_and_stops_only_its_wait()
    {
        var cache = new CoroutineCache<int, int>();
        var gate = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        var cached = cache.Wrap((int _, CancellationToken _) => new ValueTask<int>(gate.Task));
        using var cts = new CancellationTokenSource();

        Task<int> impatient = cached(1, cts.Token).AsTask();
        Task<int> patient = cached(1, None).AsTask();
        await cts.CancelAsync();

        await Assert.ThrowsAsync(Is.InstanceOf<OperationCanceledException>(), async () => await impatient.Within());
        gate.SetResult(8);
        Assert.That(await patient.Within(), Is.EqualTo(8));
    }
}
