using System.Diagnostics.Metrics;

namespace AsyncUtils.Samples.Worker;

/// <summary>
/// An in-process <see cref="MeterListener"/> on the AsyncUtils meters: it adds up the items the
/// "records" waterfall handed to SQLite and reads the "api" rate limiter's leases and the "api"
/// lockout's waits (observable counters, read when <see cref="Summary"/> collects them).
/// </summary>
internal sealed class SampleMetrics : IDisposable
{
    private readonly MeterListener _listener = new();
    private long _items;
    private long _batches;
    private long _granted;
    private long _rejected;
    private long _lockoutWaits;

    public SampleMetrics()
    {
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Name is "asyncutils.waterfall.items" or "asyncutils.waterfall.batches"
                or "asyncutils.rate_limiter.leases" or "asyncutils.lockout.waits")
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        _listener.SetMeasurementEventCallback<long>(OnMeasurement);
        _listener.Start();
    }

    /// <summary>Collects the observable counters and returns the one-line summary.</summary>
    public string Summary()
    {
        _listener.RecordObservableInstruments();
        return $"Metrics: asyncutils.waterfall.items={Interlocked.Read(ref _items)}, asyncutils.waterfall.batches={Interlocked.Read(ref _batches)}, " +
            $"asyncutils.rate_limiter.leases granted={Interlocked.Read(ref _granted)} rejected={Interlocked.Read(ref _rejected)}, " +
            $"asyncutils.lockout.waits={Interlocked.Read(ref _lockoutWaits)}";
    }

    public void Dispose() => _listener.Dispose();

    private static string? Tag(ReadOnlySpan<KeyValuePair<string, object?>> tags, string key)
    {
        foreach (KeyValuePair<string, object?> tag in tags)
        {
            if (tag.Key == key)
            {
                return tag.Value as string;
            }
        }

        return null;
    }

    private void OnMeasurement(Instrument instrument, long value, ReadOnlySpan<KeyValuePair<string, object?>> tags, object? state)
    {
        switch (instrument.Name)
        {
            case "asyncutils.waterfall.items" when Tag(tags, "asyncutils.waterfall.name") == "records":
                Interlocked.Add(ref _items, value);
                break;
            case "asyncutils.waterfall.batches" when Tag(tags, "asyncutils.waterfall.name") == "records":
                Interlocked.Add(ref _batches, value);
                break;
            // Observable counters report their running total: keep the latest.
            case "asyncutils.rate_limiter.leases" when Tag(tags, "asyncutils.rate_limiter.name") == "api":
                if (Tag(tags, "asyncutils.rate_limiter.result") == "granted")
                {
                    Interlocked.Exchange(ref _granted, value);
                }
                else
                {
                    Interlocked.Exchange(ref _rejected, value);
                }

                break;
            case "asyncutils.lockout.waits" when Tag(tags, "asyncutils.lockout.name") == "api":
                Interlocked.Exchange(ref _lockoutWaits, value);
                break;
        }
    }
}
