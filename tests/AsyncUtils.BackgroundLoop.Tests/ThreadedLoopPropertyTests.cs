using CsCheck;

namespace AsyncUtils.Tests;

/// <summary>
/// Random mixes of scheduled, posted, failing work and CancelAll: work starts in scheduling order;
/// work not yet started when a later CancelAll came may be skipped (its task then ends cancelled);
/// everything else settles with its own outcome; posted faults reach the event.
/// </summary>
public sealed class ThreadedLoopPropertyTests
{
    [Test]
    public void Random_work_settles_as_it_should_and_starts_in_scheduling_order()
    {
        // 0: sync result, 1: async result, 2: sync throw, 3: async throw, 4: post, 5: post that throws, 6: CancelAll
        Gen.Int[0, 6].Array[1, 40].Sample(ops =>
        {
            var loop = new ThreadedLoop();
            int faultsSeen = 0;
            loop.UnhandledException += (_, _) => faultsSeen++; // raised on the loop thread only
            var started = new List<int>();
            var expectations = new List<(Task Task, int Kind, int Id)>();
            int postFaults = 0;
            for (int i = 0; i < ops.Length; i++)
            {
                int id = i;
                switch (ops[i])
                {
                    case 0:
                        expectations.Add((loop.Schedule(_ => { started.Add(id); return id; }), 0, id));
                        break;
                    case 1:
                        expectations.Add((loop.Schedule(async _ => { started.Add(id); await Task.Yield(); return id; }), 1, id));
                        break;
                    case 2:
                        expectations.Add((loop.Schedule(_ => { started.Add(id); throw new FormatException(); }), 2, id));
                        break;
                    case 3:
                        expectations.Add((loop.Schedule(async _ => { started.Add(id); await Task.Yield(); throw new FormatException(); }), 3, id));
                        break;
                    case 4:
                        loop.Post(_ => started.Add(id));
                        break;
                    case 5:
                        loop.Post(_ => { started.Add(id); postFaults++; throw new FormatException(); });
                        break;
                    default:
                        loop.CancelAll();
                        break;
                }
            }

            if (!loop.WaitAll(TimeSpan.FromSeconds(30)))
            {
                throw new InvalidOperationException("work did not finish");
            }

            loop.Dispose();
            bool CancelledLater(int i) => ops.Skip(i + 1).Contains(6);
            foreach ((Task task, int kind, int id) in expectations)
            {
                bool ok = !started.Contains(id)
                    ? CancelledLater(id) && task.IsCanceled
                    : kind <= 1 ? task.IsCompletedSuccessfully : task.IsFaulted && task.Exception!.InnerException is FormatException;
                if (!ok)
                {
                    throw new InvalidOperationException($"item {id} of kind {kind} ended {task.Status}");
                }
            }

            int[] expectedOrder = [.. Enumerable.Range(0, ops.Length).Where(i => ops[i] != 6 && (started.Contains(i) || !CancelledLater(i)))];
            if (!started.SequenceEqual(expectedOrder))
            {
                throw new InvalidOperationException($"started [{string.Join(",", started)}], expected [{string.Join(",", expectedOrder)}]");
            }

            if (faultsSeen != postFaults || loop.OutstandingCount != 0)
            {
                throw new InvalidOperationException($"faults {faultsSeen} of {postFaults}, outstanding {loop.OutstandingCount}");
            }
        }, iter: 100);
    }
}
