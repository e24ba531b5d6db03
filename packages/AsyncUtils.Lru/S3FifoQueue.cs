namespace AsyncUtils;

/// <summary>An intrusive FIFO of <see cref="S3FifoNode{TKey, TValue}"/>, owned by the cache's lock; O(1) unlink.</summary>
internal sealed class S3FifoQueue<TKey, TValue>
{
    private readonly byte _id;

    internal S3FifoQueue(byte id) => _id = id;

    /// <summary>The newest node.</summary>
    internal S3FifoNode<TKey, TValue>? Head;

    /// <summary>The oldest node: the next one eviction looks at.</summary>
    internal S3FifoNode<TKey, TValue>? Tail;

    internal int Count;

    internal void PushHead(S3FifoNode<TKey, TValue> node)
    {
        node.Prev = null;
        node.Next = Head;
        if (Head is null)
        {
            Tail = node;
        }
        else
        {
            Head.Prev = node;
        }

        Head = node;
        node.Queue = _id;
        Count++;
    }

    internal void Unlink(S3FifoNode<TKey, TValue> node)
    {
        if (node.Prev is null)
        {
            Head = node.Next;
        }
        else
        {
            node.Prev.Next = node.Next;
        }

        if (node.Next is null)
        {
            Tail = node.Prev;
        }
        else
        {
            node.Next.Prev = node.Prev;
        }

        node.Prev = node.Next = null;
        node.Queue = S3FifoNode<TKey, TValue>.InNone;
        Count--;
    }

    /// <summary>Puts <paramref name="replacement"/> where <paramref name="old"/> is; <paramref name="old"/> is left unlinked.</summary>
    internal void ReplaceInPlace(S3FifoNode<TKey, TValue> old, S3FifoNode<TKey, TValue> replacement)
    {
        replacement.Prev = old.Prev;
        replacement.Next = old.Next;
        replacement.Queue = _id;
        if (old.Prev is null)
        {
            Head = replacement;
        }
        else
        {
            old.Prev.Next = replacement;
        }

        if (old.Next is null)
        {
            Tail = replacement;
        }
        else
        {
            old.Next.Prev = replacement;
        }

        old.Prev = old.Next = null;
        old.Queue = S3FifoNode<TKey, TValue>.InNone;
    }

    /// <summary>Detaches the whole chain and returns its newest node; the chain keeps its Next links.</summary>
    internal S3FifoNode<TKey, TValue>? DetachAll()
    {
        S3FifoNode<TKey, TValue>? first = Head;
        for (S3FifoNode<TKey, TValue>? node = first; node is not null; node = node.Next)
        {
            node.Queue = S3FifoNode<TKey, TValue>.InNone;
        }

        Head = Tail = null;
        Count = 0;
        return first;
    }
}
