using System.Numerics;
using System.Runtime.InteropServices;

namespace AsyncUtils;

/// <summary>
/// The opt-in counters. Hits are counted in per-thread stripes, each on its own cache line, so
/// that threads hitting at once do not contend on one counter; the other counts are taken on paths
/// that already allocate, where one interlocked add is noise.
/// </summary>
internal sealed class CacheCounters
{
    private readonly PaddedCounter[] _hits;
    private readonly int _mask;
    private long _misses;
    private long _coalesced;
    private long _inFlight;

    internal CacheCounters()
    {
        int stripes = (int)Math.Min(64, BitOperations.RoundUpToPowerOf2((uint)Environment.ProcessorCount * 2));
        _hits = new PaddedCounter[stripes];
        _mask = stripes - 1;
    }

    internal void Hit() => Interlocked.Increment(ref _hits[Environment.CurrentManagedThreadId & _mask].Value);

    internal void HitOrCoalesce(bool completed)
    {
        if (completed)
        {
            Hit();
        }
        else
        {
            Coalesce();
        }
    }

    internal void Miss() => Interlocked.Increment(ref _misses);

    internal void Coalesce() => Interlocked.Increment(ref _coalesced);

    internal void CallStarted() => Interlocked.Increment(ref _inFlight);

    internal void CallFinished() => Interlocked.Decrement(ref _inFlight);

    internal TaskCacheStatistics Snapshot()
    {
        Read(out long hits, out long misses, out long coalesced, out long inFlight);
        return new TaskCacheStatistics(hits, misses, coalesced, inFlight);
    }

    internal void Read(out long hits, out long misses, out long coalesced, out long inFlight)
    {
        hits = 0;
        for (int i = 0; i < _hits.Length; i++)
        {
            hits += Volatile.Read(ref _hits[i].Value);
        }

        misses = Volatile.Read(ref _misses);
        coalesced = Volatile.Read(ref _coalesced);
        inFlight = Volatile.Read(ref _inFlight);
    }

    [StructLayout(LayoutKind.Explicit, Size = 128)]
    private struct PaddedCounter
    {
        [FieldOffset(64)]
        public long Value;
    }
}
