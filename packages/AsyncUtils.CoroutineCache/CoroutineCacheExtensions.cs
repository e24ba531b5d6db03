namespace AsyncUtils;

/// <summary>
/// Turns a <see cref="ValueTask{TResult}"/>-returning function of 0 to 4 arguments into a cached
/// function with the same signature (the <c>@corocache</c> / <c>@lrucorocache</c> of the Python library async-utils
/// decorators), backed by a <see cref="CoroutineCache{TKey, TResult}"/> that keeps its options,
/// invalidation and counters.
/// </summary>
/// <remarks>
/// <para>
/// Without a key selector the key is the arguments themselves, in order: the argument for one
/// parameter, a value tuple for several (<c>(T1, T2)</c>, ...), and <see cref="ValueTuple"/> for
/// none, so the cache's key type says exactly what is keyed. With a key selector the key is what
/// the selector returns, so an argument such as a client handle can be left out of the key.
/// </para>
/// <para>
/// The wrapped function takes a trailing <see cref="CancellationToken"/>: the shared call's token,
/// cancelled only by <see cref="CoroutineCacheOptions{TKey, TResult}.Timeout"/> or
/// <see cref="CoroutineCacheOptions{TKey, TResult}.CancelWhenAllWaitersCancel"/> (name it <c>_</c>
/// if the function cannot be cancelled). The returned delegate has the same signature, but its
/// trailing token is the caller's: it stops that caller's wait, never the shared call. A
/// Task-returning function is adapted for free: <c>(a, ct) =&gt; new ValueTask&lt;T&gt;(LoadAsync(a, ct))</c>.
/// Each wrapper is allocated once; calling it allocates nothing on a hit.
/// </para>
/// </remarks>
public static class CoroutineCacheExtensions
{
    /// <summary>Caches a function of no arguments: one call shared and kept (an async lazy value that retries failures, and whose callers can each stop waiting).</summary>
    /// <typeparam name="TResult">The result type.</typeparam>
    /// <param name="cache">The cache that holds the result, keyed by the empty <see cref="ValueTuple"/>.</param>
    /// <param name="function">The function; it receives the shared call's token.</param>
    /// <returns>The cached function; its trailing token is the caller's.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="cache"/> or <paramref name="function"/> is <see langword="null"/>.</exception>
    public static Func<CancellationToken, ValueTask<TResult>> Wrap<TResult>(this CoroutineCache<ValueTuple, TResult> cache, Func<CancellationToken, ValueTask<TResult>> function)
    {
        ArgumentNullException.ThrowIfNull(cache);
        ArgumentNullException.ThrowIfNull(function);
        return cancellationToken => cache.GetOrAddAsync(default, static (_, f, ct) => f(ct), function, cancellationToken);
    }

    /// <summary>Caches a function of one argument, keyed by the argument.</summary>
    /// <typeparam name="T1">The argument's type, and the key type.</typeparam>
    /// <typeparam name="TResult">The result type.</typeparam>
    /// <param name="cache">The cache that holds the results.</param>
    /// <param name="function">The function; it receives the argument and the shared call's token.</param>
    /// <returns>The cached function; its trailing token is the caller's.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="cache"/> or <paramref name="function"/> is <see langword="null"/>.</exception>
    public static Func<T1, CancellationToken, ValueTask<TResult>> Wrap<T1, TResult>(this CoroutineCache<T1, TResult> cache, Func<T1, CancellationToken, ValueTask<TResult>> function)
        where T1 : notnull
    {
        ArgumentNullException.ThrowIfNull(cache);
        ArgumentNullException.ThrowIfNull(function);
        return (arg1, cancellationToken) => cache.GetOrAddAsync(arg1, function, cancellationToken);
    }

    /// <summary>Caches a function of two arguments, keyed by the tuple of the arguments (order matters).</summary>
    /// <typeparam name="T1">The first argument's type.</typeparam>
    /// <typeparam name="T2">The second argument's type.</typeparam>
    /// <typeparam name="TResult">The result type.</typeparam>
    /// <param name="cache">The cache that holds the results.</param>
    /// <param name="function">The function; it receives the arguments and the shared call's token.</param>
    /// <returns>The cached function; its trailing token is the caller's.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="cache"/> or <paramref name="function"/> is <see langword="null"/>.</exception>
    public static Func<T1, T2, CancellationToken, ValueTask<TResult>> Wrap<T1, T2, TResult>(this CoroutineCache<(T1, T2), TResult> cache, Func<T1, T2, CancellationToken, ValueTask<TResult>> function)
    {
        ArgumentNullException.ThrowIfNull(cache);
        ArgumentNullException.ThrowIfNull(function);
        return (arg1, arg2, cancellationToken) => cache.GetOrAddAsync((arg1, arg2), static (k, f, ct) => f(k.Item1, k.Item2, ct), function, cancellationToken);
    }

    /// <summary>Caches a function of three arguments, keyed by the tuple of the arguments (order matters).</summary>
    /// <typeparam name="T1">The first argument's type.</typeparam>
    /// <typeparam name="T2">The second argument's type.</typeparam>
    /// <typeparam name="T3">The third argument's type.</typeparam>
    /// <typeparam name="TResult">The result type.</typeparam>
    /// <param name="cache">The cache that holds the results.</param>
    /// <param name="function">The function; it receives the arguments and the shared call's token.</param>
    /// <returns>The cached function; its trailing token is the caller's.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="cache"/> or <paramref name="function"/> is <see langword="null"/>.</exception>
    public static Func<T1, T2, T3, CancellationToken, ValueTask<TResult>> Wrap<T1, T2, T3, TResult>(this CoroutineCache<(T1, T2, T3), TResult> cache, Func<T1, T2, T3, CancellationToken, ValueTask<TResult>> function)
    {
        ArgumentNullException.ThrowIfNull(cache);
        ArgumentNullException.ThrowIfNull(function);
        return (arg1, arg2, arg3, cancellationToken) => cache.GetOrAddAsync((arg1, arg2, arg3), static (k, f, ct) => f(k.Item1, k.Item2, k.Item3, ct), function, cancellationToken);
    }

    /// <summary>Caches a function of four arguments, keyed by the tuple of the arguments (order matters).</summary>
    /// <typeparam name="T1">The first argument's type.</typeparam>
    /// <typeparam name="T2">The second argument's type.</typeparam>
    /// <typeparam name="T3">The third argument's type.</typeparam>
    /// <typeparam name="T4">The fourth argument's type.</typeparam>
    /// <typeparam name="TResult">The result type.</typeparam>
    /// <param name="cache">The cache that holds the results.</param>
    /// <param name="function">The function; it receives the arguments and the shared call's token.</param>
    /// <returns>The cached function; its trailing token is the caller's.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="cache"/> or <paramref name="function"/> is <see langword="null"/>.</exception>
    public static Func<T1, T2, T3, T4, CancellationToken, ValueTask<TResult>> Wrap<T1, T2, T3, T4, TResult>(this CoroutineCache<(T1, T2, T3, T4), TResult> cache, Func<T1, T2, T3, T4, CancellationToken, ValueTask<TResult>> function)
    {
        ArgumentNullException.ThrowIfNull(cache);
        ArgumentNullException.ThrowIfNull(function);
        return (arg1, arg2, arg3, arg4, cancellationToken) => cache.GetOrAddAsync((arg1, arg2, arg3, arg4), static (k, f, ct) => f(k.Item1, k.Item2, k.Item3, k.Item4, ct), function, cancellationToken);
    }

    /// <summary>Caches a function of one argument, keyed by what <paramref name="keySelector"/> returns for it.</summary>
    /// <typeparam name="T1">The argument's type.</typeparam>
    /// <typeparam name="TKey">The key type.</typeparam>
    /// <typeparam name="TResult">The result type.</typeparam>
    /// <param name="cache">The cache that holds the results.</param>
    /// <param name="function">The function; it receives the argument and the shared call's token.</param>
    /// <param name="keySelector">Maps the argument to the key; it runs on every call, on the caller's thread.</param>
    /// <returns>The cached function; its trailing token is the caller's.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="cache"/>, <paramref name="function"/> or <paramref name="keySelector"/> is <see langword="null"/>.</exception>
    public static Func<T1, CancellationToken, ValueTask<TResult>> Wrap<T1, TKey, TResult>(this CoroutineCache<TKey, TResult> cache, Func<T1, CancellationToken, ValueTask<TResult>> function, Func<T1, TKey> keySelector)
        where TKey : notnull
    {
        ArgumentNullException.ThrowIfNull(cache);
        ArgumentNullException.ThrowIfNull(function);
        ArgumentNullException.ThrowIfNull(keySelector);
        return (arg1, cancellationToken) => cache.GetOrAddAsync(keySelector(arg1), static (_, s, ct) => s.Function(s.Arg1, ct), (Function: function, Arg1: arg1), cancellationToken);
    }

    /// <summary>Caches a function of two arguments, keyed by what <paramref name="keySelector"/> returns for them.</summary>
    /// <typeparam name="T1">The first argument's type.</typeparam>
    /// <typeparam name="T2">The second argument's type.</typeparam>
    /// <typeparam name="TKey">The key type.</typeparam>
    /// <typeparam name="TResult">The result type.</typeparam>
    /// <param name="cache">The cache that holds the results.</param>
    /// <param name="function">The function; it receives the arguments and the shared call's token.</param>
    /// <param name="keySelector">Maps the arguments to the key; it runs on every call, on the caller's thread.</param>
    /// <returns>The cached function; its trailing token is the caller's.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="cache"/>, <paramref name="function"/> or <paramref name="keySelector"/> is <see langword="null"/>.</exception>
    public static Func<T1, T2, CancellationToken, ValueTask<TResult>> Wrap<T1, T2, TKey, TResult>(this CoroutineCache<TKey, TResult> cache, Func<T1, T2, CancellationToken, ValueTask<TResult>> function, Func<T1, T2, TKey> keySelector)
        where TKey : notnull
    {
        ArgumentNullException.ThrowIfNull(cache);
        ArgumentNullException.ThrowIfNull(function);
        ArgumentNullException.ThrowIfNull(keySelector);
        return (arg1, arg2, cancellationToken) => cache.GetOrAddAsync(
            keySelector(arg1, arg2),
            static (_, s, ct) => s.Function(s.Arg1, s.Arg2, ct),
            (Function: function, Arg1: arg1, Arg2: arg2),
            cancellationToken);
    }

    /// <summary>Caches a function of three arguments, keyed by what <paramref name="keySelector"/> returns for them.</summary>
    /// <typeparam name="T1">The first argument's type.</typeparam>
    /// <typeparam name="T2">The second argument's type.</typeparam>
    /// <typeparam name="T3">The third argument's type.</typeparam>
    /// <typeparam name="TKey">The key type.</typeparam>
    /// <typeparam name="TResult">The result type.</typeparam>
    /// <param name="cache">The cache that holds the results.</param>
    /// <param name="function">The function; it receives the arguments and the shared call's token.</param>
    /// <param name="keySelector">Maps the arguments to the key; it runs on every call, on the caller's thread.</param>
    /// <returns>The cached function; its trailing token is the caller's.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="cache"/>, <paramref name="function"/> or <paramref name="keySelector"/> is <see langword="null"/>.</exception>
    public static Func<T1, T2, T3, CancellationToken, ValueTask<TResult>> Wrap<T1, T2, T3, TKey, TResult>(this CoroutineCache<TKey, TResult> cache, Func<T1, T2, T3, CancellationToken, ValueTask<TResult>> function, Func<T1, T2, T3, TKey> keySelector)
        where TKey : notnull
    {
        ArgumentNullException.ThrowIfNull(cache);
        ArgumentNullException.ThrowIfNull(function);
        ArgumentNullException.ThrowIfNull(keySelector);
        return (arg1, arg2, arg3, cancellationToken) => cache.GetOrAddAsync(
            keySelector(arg1, arg2, arg3),
            static (_, s, ct) => s.Function(s.Arg1, s.Arg2, s.Arg3, ct),
            (Function: function, Arg1: arg1, Arg2: arg2, Arg3: arg3),
            cancellationToken);
    }

    /// <summary>Caches a function of four arguments, keyed by what <paramref name="keySelector"/> returns for them.</summary>
    /// <typeparam name="T1">The first argument's type.</typeparam>
    /// <typeparam name="T2">The second argument's type.</typeparam>
    /// <typeparam name="T3">The third argument's type.</typeparam>
    /// <typeparam name="T4">The fourth argument's type.</typeparam>
    /// <typeparam name="TKey">The key type.</typeparam>
    /// <typeparam name="TResult">The result type.</typeparam>
    /// <param name="cache">The cache that holds the results.</param>
    /// <param name="function">The function; it receives the arguments and the shared call's token.</param>
    /// <param name="keySelector">Maps the arguments to the key; it runs on every call, on the caller's thread.</param>
    /// <returns>The cached function; its trailing token is the caller's.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="cache"/>, <paramref name="function"/> or <paramref name="keySelector"/> is <see langword="null"/>.</exception>
    public static Func<T1, T2, T3, T4, CancellationToken, ValueTask<TResult>> Wrap<T1, T2, T3, T4, TKey, TResult>(this CoroutineCache<TKey, TResult> cache, Func<T1, T2, T3, T4, CancellationToken, ValueTask<TResult>> function, Func<T1, T2, T3, T4, TKey> keySelector)
        where TKey : notnull
    {
        ArgumentNullException.ThrowIfNull(cache);
        ArgumentNullException.ThrowIfNull(function);
        ArgumentNullException.ThrowIfNull(keySelector);
        return (arg1, arg2, arg3, arg4, cancellationToken) => cache.GetOrAddAsync(
            keySelector(arg1, arg2, arg3, arg4),
            static (_, s, ct) => s.Function(s.Arg1, s.Arg2, s.Arg3, s.Arg4, ct),
            (Function: function, Arg1: arg1, Arg2: arg2, Arg3: arg3, Arg4: arg4),
            cancellationToken);
    }
}
