using CsCheck;
using Microsoft.Extensions.Time.Testing;

namespace AsyncUtils.Tests;

/// <summary>Random schedules, cancels and reschedules against a sorted-list model: the delivery order must match.</summary>
public sealed class PayloadSchedulerModelTests
{
    [Test]
    public void Delivery_order_matches_a_sorted_model_under_random_operations()
    {
        Gen<(int Kind, int Seconds, int Pick)> op = Gen.Select(Gen.Int[0, 9], Gen.Int[0, 20], Gen.Int[0, 1000], (k, s, p) => (k, s, p));
        op.Array[1, 80].Sample(ops =>
        {
            var time = new FakeTimeProvider(new DateTimeOffset(2030, 1, 1, 0, 0, 0, TimeSpan.Zero));
            using var scheduler = new PayloadScheduler<int>(time);
            var handles = new List<ScheduledPayload<int>>();
            var model = new List<(long Due, long Seq, int Id)>();
            long seq = 0;
            int nextId = 0;
            foreach ((int kind, int seconds, int pick) in ops)
            {
                DateTimeOffset due = time.GetUtcNow().AddSeconds(seconds);
                if (kind < 6 || handles.Count == 0)
                {
                    handles.Add(scheduler.Schedule(due, nextId));
                    model.Add((due.UtcTicks, seq++, nextId++));
                }
                else if (kind < 8)
                {
                    int index = pick % handles.Count;
                    bool cancelled = handles[index].Cancel();
                    int removed = model.RemoveAll(m => m.Id == index); // ids are handed out in the order the handles were created
                    if (cancelled != (removed == 1))
                    {
                        throw new InvalidOperationException($"cancel returned {cancelled} but the model removed {removed}");
                    }
                }
                else
                {
                    int index = pick % handles.Count;
                    int id = index;
                    bool moved = handles[index].Reschedule(due);
                    int at = model.FindIndex(m => m.Id == id);
                    if (moved != (at >= 0))
                    {
                        throw new InvalidOperationException("reschedule disagrees with the model");
                    }

                    if (at >= 0)
                    {
                        model[at] = (due.UtcTicks, seq++, id);
                    }
                }
            }

            if (scheduler.Count != model.Count)
            {
                throw new InvalidOperationException($"count {scheduler.Count} != model {model.Count}");
            }

            time.Advance(TimeSpan.FromSeconds(21));
            scheduler.Complete();
            var delivered = new List<int>();
            IAsyncEnumerator<int> consumer = scheduler.GetAsyncEnumerator();
            while (consumer.MoveNextAsync().AsTask().GetAwaiter().GetResult())
            {
                delivered.Add(consumer.Current);
            }

            int[] expected = [.. model.OrderBy(m => m.Due).ThenBy(m => m.Seq).Select(m => m.Id)];
            if (!delivered.SequenceEqual(expected))
            {
                throw new InvalidOperationException($"delivered [{string.Join(",", delivered)}], expected [{string.Join(",", expected)}]");
            }
        }, iter: 300);
    }
}
