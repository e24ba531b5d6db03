using System.Threading.Channels;

namespace AsyncUtils.Conformance.Tests;

/// <summary>
/// One queue type seen through its channel views: how to make one, and in what order it gives
/// back items that were all in it at once. Upstream has one channel type per fixture; here each
/// fixture is given one of these.
/// </summary>
public abstract class Views
{
    /// <summary>FIFO: <see cref="DualQueue{T}"/>.</summary>
    public static readonly Views Queue = new QueueViews();

    /// <summary>LIFO: <see cref="DualStack{T}"/>.</summary>
    public static readonly Views Stack = new StackViews();

    /// <summary>Smallest priority first, equal priorities FIFO: <see cref="DualPriorityQueue{TElement, TPriority}"/>.</summary>
    public static readonly Views Priority = new PriorityViews();

    /// <summary>Whether items come out in the order they went in, as a channel's do.</summary>
    public virtual bool IsFifo => false;

    /// <summary>The priority an int item is put with in the priority queue: items with equal values mod 3 keep their order.</summary>
    public static int PriorityOf(int item) => item % 3;

    public abstract Channel<T> Create<T>(int? capacity, QueueFullMode fullMode = QueueFullMode.Wait, Action<T>? onDropped = null);

    /// <summary>The order in which items written in the given order, and all in the queue at once, are read.</summary>
    public abstract int[] TakeOrder(IEnumerable<int> written);

    private sealed class QueueViews : Views
    {
        public override bool IsFifo => true;

        public override Channel<T> Create<T>(int? capacity, QueueFullMode fullMode, Action<T>? onDropped)
        {
            var q = new DualQueue<T>(new DualQueueOptions<T> { Capacity = capacity, FullMode = fullMode, OnDropped = onDropped });
            return new ViewChannel<T>(q.Reader, q.Writer);
        }

        public override int[] TakeOrder(IEnumerable<int> written) => written.ToArray();

        public override string ToString() => "DualQueue";
    }

    private sealed class StackViews : Views
    {
        public override Channel<T> Create<T>(int? capacity, QueueFullMode fullMode, Action<T>? onDropped)
        {
            var s = new DualStack<T>(new DualQueueOptions<T> { Capacity = capacity, FullMode = fullMode, OnDropped = onDropped });
            return new ViewChannel<T>(s.Reader, s.Writer);
        }

        public override int[] TakeOrder(IEnumerable<int> written) => written.Reverse().ToArray();

        public override string ToString() => "DualStack";
    }

    private sealed class PriorityViews : Views
    {
        public override Channel<T> Create<T>(int? capacity, QueueFullMode fullMode, Action<T>? onDropped)
        {
            var p = new DualPriorityQueue<T, int>(new DualPriorityQueueOptions<T, int>
            {
                Capacity = capacity,
                FullMode = fullMode,
                OnDropped = onDropped is null ? null : (element, _) => onDropped(element),
            });
            return new ViewChannel<T>(p.Reader, new PriorityQueueWriter<T>(p, static item => item is int i ? PriorityOf(i) : 0));
        }

        public override int[] TakeOrder(IEnumerable<int> written) => written.OrderBy(PriorityOf).ToArray(); // OrderBy is stable

        public override string ToString() => "DualPriorityQueue";
    }
}
