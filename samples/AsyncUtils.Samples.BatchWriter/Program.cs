using System.Diagnostics;
using System.Globalization;
using AsyncUtils;
using Microsoft.Data.Sqlite;

// A batch writer, the job the waterfall of the Python library async-utils
// (https://github.com/mikeshardmind/async-utils) was written for: producers put records one at a
// time, and the database receives them in batches, one transaction per batch. Ctrl+C, SIGTERM or
// the --seconds timer all take the same path: stop the producers, flush every queued record,
// close the database, then check that every record put is a row.

const int MaxBatchSize = 500;
var maxWait = TimeSpan.FromMilliseconds(500);
const int ProducerCount = 4;

if (!TryParseArguments(args, out double seconds, out string? dbPath))
{
    Console.Error.WriteLine("usage: AsyncUtils.Samples.BatchWriter [--seconds N] [--db path]");
    Console.Error.WriteLine("  --seconds N  stop by itself after N seconds (default 3); Ctrl+C or SIGTERM stops it earlier");
    Console.Error.WriteLine("  --db path    the SQLite file to write to (default: a new file in a temporary folder, deleted at the end)");
    return 2;
}

string? tempFolder = null;
if (dbPath is null)
{
    tempFolder = Directory.CreateTempSubdirectory("asyncutils-batchwriter-").FullName;
    dbPath = Path.Combine(tempFolder, "records.db");
}

// Pooling off: the file is really closed when a connection is disposed, so the temporary folder
// can be deleted at the end.
string connectionString = new SqliteConnectionStringBuilder { DataSource = dbPath, Pooling = false }.ToString();
string run = Guid.NewGuid().ToString("N")[..12]; // rows of this run, in case --db names a file used before
var clock = Stopwatch.StartNew();
long put = 0;
long written = 0;
long batchNumber = 0;
var writer = new SqliteConnection(connectionString);

// The waterfall hands batches to WriteBatch on the thread pool, one at a time (SQLite has one
// writer): a batch leaves when it holds MaxBatchSize records or when its first record has waited
// maxWait, whichever comes first.
var sink = new Waterfall<Record>(WriteBatch, new WaterfallOptions
{
    MaxBatchSize = MaxBatchSize,
    MaxWait = maxWait,
    MaxConcurrentBatches = 1,
    FinalizeTimeout = TimeSpan.FromSeconds(10),
    Name = "records",
});
sink.CallbackFailed += (_, e) => Console.WriteLine($"[{Now()}] a batch of {e.Batch.Count} records failed and was not written: {e.Exception.Message}");

var host = new SignalHost(new SignalHostOptions { ShutdownTimeout = TimeSpan.FromSeconds(25) });
var producers = new List<Task>();
ITimer? stopTimer = null;

host.AddStartupJob(() =>
    {
        writer.Open();
        using SqliteCommand create = writer.CreateCommand();
        create.CommandText = """
            CREATE TABLE IF NOT EXISTS records (
                id INTEGER PRIMARY KEY,
                run TEXT NOT NULL,
                producer INTEGER NOT NULL,
                seq INTEGER NOT NULL,
                payload TEXT NOT NULL,
                put_at TEXT NOT NULL)
            """;
        create.ExecuteNonQuery();
        Console.WriteLine($"[{Now()}] Database {dbPath} is open.");
    })
    .AddStartupJob(sink.Start)
    .AddStartupJob(() =>
    {
        for (int p = 0; p < ProducerCount; p++)
        {
            producers.Add(ProduceAsync(p));
        }

        Console.WriteLine($"[{Now()}] {ProducerCount} producers are putting records (busy and quiet seconds in turn); a batch leaves when it holds {MaxBatchSize} records or its first record has waited {maxWait.TotalMilliseconds:0} ms.");
    })
    .AddStartupJob(() =>
    {
        // The in-app trigger: the same shutdown a signal starts, reported as a request, exit code 0.
        stopTimer = TimeProvider.System.CreateTimer(
            _ => host.RequestShutdown($"--seconds {seconds.ToString(CultureInfo.InvariantCulture)} elapsed", exitCode: 0),
            null,
            TimeSpan.FromSeconds(seconds),
            Timeout.InfiniteTimeSpan);
        Console.WriteLine($"[{Now()}] Running for {seconds.ToString(CultureInfo.InvariantCulture)} s. Press Ctrl+C or send SIGTERM (kill {Environment.ProcessId}) to stop earlier.");
    })
    .AddShutdownCallback(cause =>
    {
        // ShutdownRequested is already cancelled here, so the producers are stopping.
        Console.WriteLine($"[{Now()}] Shutting down ({cause}): the producers stop, then the waterfall flushes what it holds.");
    })
    // Joins run in order: no record can be put after the flush begins, because the producers
    // have finished before StopAsync is called.
    .AddJoin(() => Task.WhenAll(producers), timeout: TimeSpan.FromSeconds(5))
    .AddJoin(() =>
    {
        Console.WriteLine($"[{Now()}] Producers stopped after putting {Interlocked.Read(ref put)} records; flushing the rest.");
        return sink.StopAsync();
    }, timeout: TimeSpan.FromSeconds(15))
    .AddJoin(() =>
    {
        writer.Dispose();
        Console.WriteLine($"[{Now()}] Database closed.");
    });

SignalHostResult result = await host.RunAsync();
stopTimer?.Dispose();
await sink.DisposeAsync();

long rows;
await using (var reader = new SqliteConnection(connectionString))
{
    reader.Open();
    using SqliteCommand count = reader.CreateCommand();
    count.CommandText = "SELECT COUNT(*) FROM records WHERE run = $run";
    count.Parameters.AddWithValue("$run", run);
    rows = (long)count.ExecuteScalar()!;
}

WaterfallStatistics stats = sink.GetStatistics();
Console.WriteLine();
Console.WriteLine($"Host: {result}.");
foreach (SignalHostFault fault in result.Faults)
{
    Console.WriteLine($"  fault: {fault}");
}

Console.WriteLine($"Batches: {stats.Batches} ({stats.BatchesByCount} full, {stats.BatchesByTime} after waiting {maxWait.TotalMilliseconds:0} ms, {stats.BatchesByStop} flushed at the stop), {stats.BatchesFailed} failed.");
Console.WriteLine($"Records put: {Interlocked.Read(ref put)}");
Console.WriteLine($"Rows in the database from this run: {rows}");
bool agree = rows == Interlocked.Read(ref put);
Console.WriteLine(agree ? "They agree: every record put was written." : "They DISAGREE: records were lost.");

if (tempFolder is not null)
{
    Directory.Delete(tempFolder, recursive: true);
}

return agree ? result.ExitCode : 1;

// A producer: puts records until the host's shutdown begins. The load alternates: in a busy
// second the four producers put a few thousand records, which fill batches; in a quiet second a
// few hundred, so batches leave when their first record has waited maxWait.
async Task ProduceAsync(int producer)
{
    await Task.Yield();
    CancellationToken stop = host.ShutdownRequested;
    for (long seq = 0; !stop.IsCancellationRequested; seq++)
    {
        sink.Put(new Record(producer, seq, $"reading {seq} from producer {producer}", DateTimeOffset.UtcNow));
        Interlocked.Increment(ref put);
        bool busy = (int)clock.Elapsed.TotalSeconds % 2 == 0;
        if (busy && seq % 4 != 0)
        {
            continue; // busy: four records per pause
        }

        try
        {
            await Task.Delay(busy ? 1 : 25, stop);
        }
        catch (OperationCanceledException)
        {
            break;
        }
    }
}

// One batch, one transaction. Microsoft.Data.Sqlite's async methods run synchronously, so the
// callback uses the synchronous API; the waterfall runs it on the thread pool, never on a producer.
ValueTask WriteBatch(IReadOnlyList<Record> batch, CancellationToken cancellationToken)
{
    long started = Stopwatch.GetTimestamp();
    using (SqliteTransaction transaction = writer.BeginTransaction())
    using (SqliteCommand insert = writer.CreateCommand())
    {
        insert.Transaction = transaction;
        insert.CommandText = "INSERT INTO records (run, producer, seq, payload, put_at) VALUES ($run, $producer, $seq, $payload, $putAt)";
        SqliteParameter runParameter = insert.Parameters.Add("$run", SqliteType.Text);
        SqliteParameter producerParameter = insert.Parameters.Add("$producer", SqliteType.Integer);
        SqliteParameter seqParameter = insert.Parameters.Add("$seq", SqliteType.Integer);
        SqliteParameter payloadParameter = insert.Parameters.Add("$payload", SqliteType.Text);
        SqliteParameter putAtParameter = insert.Parameters.Add("$putAt", SqliteType.Text);
        insert.Prepare();
        runParameter.Value = run;
        foreach (Record record in batch)
        {
            producerParameter.Value = record.Producer;
            seqParameter.Value = record.Seq;
            payloadParameter.Value = record.Payload;
            putAtParameter.Value = record.PutAt.ToString("O", CultureInfo.InvariantCulture);
            insert.ExecuteNonQuery();
        }

        transaction.Commit();
    }

    long total = Interlocked.Add(ref written, batch.Count);
    long n = Interlocked.Increment(ref batchNumber);
    string kind = batch.Count == MaxBatchSize ? "full" : "partial";
    Console.WriteLine($"[{Now()}] batch {n,3}: {batch.Count,4} records ({kind}) in one transaction, {Stopwatch.GetElapsedTime(started).TotalMilliseconds,5:0.0} ms; {total} written so far");
    return ValueTask.CompletedTask;
}

string Now() => clock.Elapsed.TotalSeconds.ToString("0.000", CultureInfo.InvariantCulture) + "s";

static bool TryParseArguments(string[] args, out double seconds, out string? dbPath)
{
    seconds = 3;
    dbPath = null;
    for (int i = 0; i < args.Length; i++)
    {
        switch (args[i])
        {
            case "--seconds" when i + 1 < args.Length
                && double.TryParse(args[i + 1], NumberStyles.Float, CultureInfo.InvariantCulture, out seconds)
                && seconds > 0 && seconds <= 86_400:
                i++;
                break;
            case "--db" when i + 1 < args.Length && args[i + 1].Length > 0:
                dbPath = Path.GetFullPath(args[++i]);
                break;
            default:
                return false;
        }
    }

    return true;
}

/// <summary>One record a producer puts.</summary>
internal sealed record Record(int Producer, long Seq, string Payload, DateTimeOffset PutAt);
