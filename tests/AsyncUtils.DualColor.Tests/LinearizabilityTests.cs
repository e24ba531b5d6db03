using System.Collections.Concurrent;
using System.Globalization;
using CsCheck;

namespace AsyncUtils.Tests;

/// <summary>
/// CsCheck runs a random prefix of operations sequentially, then the rest on several threads at
/// once, and looks for a sequential order (each thread's own order kept) in which a simple model
/// gives the same results and ends in the same state. Only operations that never wait are used:
/// a waiting operation's effect depends on another thread's later operation, which a sequential
/// model cannot replay.
/// </summary>
public sealed class LinearizabilityTests
{
    public enum Kind
    {
        Fifo,
        Lifo,
        Priority,
    }

    [TestCase(Kind.Fifo, QueueFullMode.Wait)]
    [TestCase(Kind.Lifo, QueueFullMode.Wait)]
    [TestCase(Kind.Priority, QueueFullMode.Wait)]
    [TestCase(Kind.Fifo, QueueFullMode.DropOldest)]
    [TestCase(Kind.Lifo, QueueFullMode.DropNewest)]
    [TestCase(Kind.Priority, QueueFullMode.DropOldest)]
    [TestCase(Kind.Fifo, QueueFullMode.Reject)]
    public void Bounded_try_operations_are_linearizable(Kind kind, QueueFullMode mode)
    {
        const int capacity = 3;
        Gen.Const(() => (new Actual(kind, capacity, mode), new Model(kind, capacity, mode)))
            .SampleParallel(
                Gen.Select(Gen.Int[0, 99], Gen.Long).Operation<Actual, Model>(
                    t => $"TryPut({t.Item1})",
                    (a, t) => a.Log[t.Item2] = a.TryPut(t.Item1).ToString(),
                    (m, t) => m.Log[t.Item2] = m.TryPut(t.Item1).ToString()),
                Gen.Select(Gen.Int[0, 99], Gen.Long).Operation<Actual, Model>(
                    t => $"TryPut({t.Item1}, 0)",
                    (a, t) => a.Log[t.Item2] = a.TryPutZeroTimeout(t.Item1).ToString(),
                    (m, t) => m.Log[t.Item2] = m.TryPut(t.Item1).ToString()),
                Gen.Long.Operation<Actual, Model>(
                    _ => "TryTake()",
                    (a, k) => a.Log[k] = a.TryTake(out int v) ? v.ToString(CultureInfo.InvariantCulture) : "none",
                    (m, k) => m.Log[k] = m.TryTake(out int v) ? v.ToString(CultureInfo.InvariantCulture) : "none"),
                Gen.Long.Operation<Actual, Model>(
                    _ => "TryTake(0)",
                    (a, k) => a.Log[k] = a.TryTakeZeroTimeout(out int v) ? v.ToString(CultureInfo.InvariantCulture) : "none",
                    (m, k) => m.Log[k] = m.TryTake(out int v) ? v.ToString(CultureInfo.InvariantCulture) : "none"),
                Gen.Long.Operation<Actual, Model>(
                    _ => "Count",
                    (a, k) => a.Log[k] = "count " + a.Count,
                    (m, k) => m.Log[k] = "count " + m.Count),
                Gen.Long.Operation<Actual, Model>(
                    _ => "Reader.TryPeek()",
                    (a, k) => a.Log[k] = a.TryPeek(out int v) ? "peek " + v.ToString(CultureInfo.InvariantCulture) : "peek none",
                    (m, k) => m.Log[k] = m.TryPeek(out int v) ? "peek " + v.ToString(CultureInfo.InvariantCulture) : "peek none"),
                equal: (a, m) => a.Matches(m),
                printActual: a => a.ToString(),
                printModel: m => m.ToString(),
                iter: 150);
    }

    [TestCase(Kind.Fifo)]
    [TestCase(Kind.Lifo)]
    [TestCase(Kind.Priority)]
    public void Unbounded_blocking_async_and_completion_operations_are_linearizable(Kind kind)
    {
        // On an unbounded queue, puts never wait, so the blocking and async put forms can join.
        Gen.Const(() => (new Actual(kind, null, QueueFullMode.Wait), new Model(kind, null, QueueFullMode.Wait)))
            .SampleParallel(
                Gen.Select(Gen.Int[0, 99], Gen.Long).Operation<Actual, Model>(
                    t => $"Put({t.Item1})",
                    (a, t) => a.Log[t.Item2] = a.Put(t.Item1),
                    (m, t) => m.Log[t.Item2] = m.TryPut(t.Item1) ? "ok" : "completed"),
                Gen.Select(Gen.Int[0, 99], Gen.Long).Operation<Actual, Model>(
                    t => $"PutAsync({t.Item1})",
                    (a, t) => a.Log[t.Item2] = a.PutAsync(t.Item1),
                    (m, t) => m.Log[t.Item2] = m.TryPut(t.Item1) ? "ok" : "completed"),
                Gen.Long.Operation<Actual, Model>(
                    _ => "TryTake()",
                    (a, k) => a.Log[k] = a.TryTake(out int v) ? v.ToString(CultureInfo.InvariantCulture) : "none",
                    (m, k) => m.Log[k] = m.TryTake(out int v) ? v.ToString(CultureInfo.InvariantCulture) : "none"),
                Gen.Long.Operation<Actual, Model>(
                    _ => "TryComplete()",
                    (a, k) => a.Log[k] = a.TryComplete().ToString(),
                    (m, k) => m.Log[k] = m.TryComplete().ToString()),
                Gen.Long.Operation<Actual, Model>(
                    _ => "Count",
                    (a, k) => a.Log[k] = "count " + a.Count,
                    (m, k) => m.Log[k] = "count " + m.Count),
                equal: (a, m) => a.Matches(m),
                printActual: a => a.ToString(),
                printModel: m => m.ToString(),
                iter: 150);
    }

    /// <summary>One of the three queues behind one interface, with a log of results and drops.</summary>
    public sealed class Actual
    {
        private readonly DualQueue<int>? _fifo;
        private readonly DualStack<int>? _lifo;
        private readonly DualPriorityQueue<int, int>? _priority;
        private readonly ConcurrentQueue<int> _dropped = new();
        private List<int>? _remaining;

        public Actual(Kind kind, int? capacity, QueueFullMode mode)
        {
            switch (kind)
            {
                case Kind.Fifo:
                    _fifo = new DualQueue<int>(new DualQueueOptions<int> { Capacity = capacity, FullMode = mode, OnDropped = _dropped.Enqueue });
                    break;
                case Kind.Lifo:
                    _lifo = new DualStack<int>(new DualQueueOptions<int> { Capacity = capacity, FullMode = mode, OnDropped = _dropped.Enqueue });
                    break;
                default:
                    _priority = new DualPriorityQueue<int, int>(new DualPriorityQueueOptions<int, int> { Capacity = capacity, FullMode = mode, OnDropped = (e, _) => _dropped.Enqueue(e) });
                    break;
            }
        }

        public ConcurrentDictionary<long, string> Log { get; } = new();

        public int Count => _fifo?.Count ?? _lifo?.Count ?? _priority!.Count;

        public bool TryPut(int v) => _fifo?.TryPut(v) ?? _lifo?.TryPut(v) ?? _priority!.TryPut(v, Model.PriorityOf(v));

        public bool TryPutZeroTimeout(int v) =>
            _fifo?.TryPut(v, TimeSpan.Zero) ?? _lifo?.TryPut(v, TimeSpan.Zero) ?? _priority!.TryPut(v, Model.PriorityOf(v), TimeSpan.Zero);

        public string Put(int v)
        {
            try
            {
                if (_fifo is not null)
                {
                    _fifo.Put(v);
                }
                else if (_lifo is not null)
                {
                    _lifo.Put(v);
                }
                else
                {
                    _priority!.Put(v, Model.PriorityOf(v));
                }

                return "ok";
            }
            catch (QueueCompletedException)
            {
                return "completed";
            }
        }

        public string PutAsync(int v)
        {
            ValueTask put = _fifo?.PutAsync(v) ?? _lifo?.PutAsync(v) ?? _priority!.PutAsync(v, Model.PriorityOf(v));
            if (!put.IsCompleted)
            {
                return "waited"; // never on an unbounded queue
            }

            return put.IsCompletedSuccessfully ? "ok" : "completed";
        }

        public bool TryTake(out int v)
        {
            if (_fifo is not null)
            {
                return _fifo.TryTake(out v);
            }

            return _lifo is not null ? _lifo.TryTake(out v) : _priority!.TryTake(out v);
        }

        public bool TryPeek(out int v) => (_fifo?.Reader ?? _lifo?.Reader ?? _priority!.Reader).TryPeek(out v);

        public bool TryTakeZeroTimeout(out int v)
        {
            if (_fifo is not null)
            {
                return _fifo.TryTake(out v, TimeSpan.Zero);
            }

            return _lifo is not null ? _lifo.TryTake(out v, TimeSpan.Zero) : _priority!.TryTake(out v, TimeSpan.Zero);
        }

        public bool TryComplete() => _fifo?.TryComplete() ?? _lifo?.TryComplete() ?? _priority!.TryComplete();

        public bool IsCompleted => _fifo?.IsCompleted ?? _lifo?.IsCompleted ?? _priority!.IsCompleted;

        public bool Matches(Model m)
        {
            // The remaining items are read once (taking them), then compared with every candidate
            // order; CsCheck may check several candidates at once, hence the lock.
            lock (_dropped)
            {
                _remaining ??= Drain();
            }

            return IsCompleted == m.Completed
                && _remaining.SequenceEqual(m.Remaining())
                && _dropped.Order().SequenceEqual(m.Dropped.Order())
                && Log.Count == m.Log.Count
                && m.Log.All(e => Log.TryGetValue(e.Key, out string? v) && v == e.Value);
        }

        public override string ToString() =>
            $"remaining=[{string.Join(",", _remaining ?? [])}] dropped=[{string.Join(",", _dropped)}] completed={IsCompleted} log=[{string.Join(", ", Log.OrderBy(e => e.Key).Select(e => e.Value))}]";

        private List<int> Drain()
        {
            var items = new List<int>();
            while (TryTake(out int v))
            {
                items.Add(v);
            }

            return items;
        }
    }

    /// <summary>The sequential reference: a list in put order, taken from the front, the back, or by priority.</summary>
    public sealed class Model(Kind kind, int? capacity, QueueFullMode mode)
    {
        private readonly List<int> _items = [];

        public Dictionary<long, string> Log { get; } = [];

        public List<int> Dropped { get; } = [];

        public bool Completed { get; private set; }

        public int Count => _items.Count;

        public static int PriorityOf(int v) => v % 3;

        public bool TryPut(int v)
        {
            if (Completed)
            {
                return false;
            }

            if (capacity is null || _items.Count < capacity)
            {
                _items.Add(v);
                return true;
            }

            switch (mode)
            {
                case QueueFullMode.DropOldest:
                    Dropped.Add(_items[0]);
                    _items.RemoveAt(0);
                    _items.Add(v);
                    return true;
                case QueueFullMode.DropNewest:
                    Dropped.Add(v);
                    return true;
                default:
                    return false;
            }
        }

        public bool TryTake(out int v)
        {
            if (!TryPeek(out v))
            {
                return false;
            }

            _items.RemoveAt(NextIndex());
            return true;
        }

        public bool TryPeek(out int v)
        {
            if (_items.Count == 0)
            {
                v = 0;
                return false;
            }

            v = _items[NextIndex()];
            return true;
        }

        private int NextIndex() => kind switch
        {
            Kind.Fifo => 0,
            Kind.Lifo => _items.Count - 1,
            _ => _items.IndexOf(_items.MinBy(PriorityOf)), // the first of the smallest priority
        };

        public bool TryComplete()
        {
            bool first = !Completed;
            Completed = true;
            return first;
        }

        public List<int> Remaining()
        {
            var copy = new Model(kind, capacity, mode);
            copy._items.AddRange(_items);
            var items = new List<int>();
            while (copy.TryTake(out int v))
            {
                items.Add(v);
            }

            return items;
        }

        public override string ToString() =>
            $"remaining=[{string.Join(",", Remaining())}] dropped=[{string.Join(",", Dropped)}] completed={Completed} log=[{string.Join(", ", Log.OrderBy(e => e.Key).Select(e => e.Value))}]";
    }
}
