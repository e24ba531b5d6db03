using CsCheck;
using Microsoft.Extensions.Time.Testing;

namespace AsyncUtils.Tests;

/// <summary>
/// Random operation sequences run against the real caches and against <see cref="LruModel"/>;
/// every return value, the count and every removal notification must agree at every step.
/// CsCheck shrinks a failing sequence to a minimal one.
/// </summary>
public sealed class LruModelBasedTests
{
    private const long TtlTicks = 100;

    private static readonly Gen<Op> GenOp =
        Gen.Select(Gen.Int[0, 9], Gen.Int[0, 7], Gen.Int[0, 1000], Gen.Long[0, TtlTicks * 2])
           .Select((kind, key, value, advance) => new Op(kind, key, value, advance));

    private static readonly Gen<(int Capacity, Op[] Ops)> GenCase =
        Gen.Select(Gen.Int[1, 6], GenOp.Array[0, 120]);

    [Test]
    public void LruCache_matches_the_reference_model_on_random_operation_sequences()
    {
        GenCase.Sample(c =>
        {
            var removals = new List<(int, int, CacheRemovalReason)>();
            var cache = new LruCache<int, int>(c.Capacity, new LruCacheOptions<int, int>
            {
                OnRemoved = (k, v, r) => removals.Add((k, v, r)),
            });
            var model = new LruModel(c.Capacity);
            foreach (Op op in c.Ops)
            {
                Apply(op, cache.TryGetValue, cache.GetOrAdd, (k, v) => cache[k] = v, cache.Remove, cache.Clear, () => cache.Count, model, removals, advance: null);
            }
        }, iter: 2000);
    }

    [Test]
    public void TtlLruCache_matches_the_reference_model_on_random_operation_sequences_with_time_passing()
    {
        GenCase.Sample(c =>
        {
            var time = new FakeTimeProvider();
            var removals = new List<(int, int, CacheRemovalReason)>();
            var cache = new TtlLruCache<int, int>(c.Capacity, TimeSpan.FromTicks(TtlTicks), time, new LruCacheOptions<int, int>
            {
                OnRemoved = (k, v, r) => removals.Add((k, v, r)),
            });
            var model = new LruModel(c.Capacity, TtlTicks);
            foreach (Op op in c.Ops)
            {
                Apply(op, cache.TryGetValue, cache.GetOrAdd, (k, v) => cache[k] = v, cache.Remove, cache.Clear, () => cache.Count, model, removals, advance: ticks =>
                {
                    time.Advance(TimeSpan.FromTicks(ticks));
                    model.Now += ticks;
                });
            }
        }, iter: 2000);
    }

    private delegate bool TryGet(int key, out int value);

    private delegate bool TryRemove(int key, out int value);

    private static void Apply(
        Op op,
        TryGet tryGet,
        Func<int, int, int> getOrAdd,
        Action<int, int> set,
        TryRemove remove,
        Action clear,
        Func<int> count,
        LruModel model,
        List<(int, int, CacheRemovalReason)> removals,
        Action<long>? advance)
    {
        switch (op.Kind)
        {
            case 0 or 1 or 2:
                bool found = tryGet(op.Key, out int value);
                bool expectedFound = model.TryGetValue(op.Key, out int expectedValue);
                Assert.That((found, found ? value : 0), Is.EqualTo((expectedFound, expectedValue)), $"TryGetValue({op.Key})");
                break;
            case 3 or 4:
                set(op.Key, op.Value);
                model.Set(op.Key, op.Value);
                break;
            case 5:
                Assert.That(getOrAdd(op.Key, op.Value), Is.EqualTo(model.GetOrAdd(op.Key, op.Value)), $"GetOrAdd({op.Key})");
                break;
            case 6:
                bool removed = remove(op.Key, out int removedValue);
                bool expectedRemoved = model.Remove(op.Key, out int expectedRemovedValue);
                Assert.That((removed, removedValue), Is.EqualTo((expectedRemoved, expectedRemovedValue)), $"Remove({op.Key})");
                break;
            case 7:
                if (op.Value % 10 == 0)
                {
                    clear();
                    model.Clear();
                }

                break;
            default:
                advance?.Invoke(op.Advance);
                break;
        }

        Assert.That(count(), Is.EqualTo(model.Count), $"Count after {op}");
        Assert.That(removals, Is.EqualTo(model.Removals), $"removals after {op}");
    }

    internal readonly record struct Op(int Kind, int Key, int Value, long Advance);
}
