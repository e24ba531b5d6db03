using System.Globalization;
using Microsoft.Data.Sqlite;

namespace AsyncUtils.Samples.Worker;

/// <summary>
/// The SQLite table the waterfall writes to: one connection (SQLite has one writer), one
/// transaction per batch. A singleton: the container disposes it after the host has stopped, so
/// after the waterfall's last batch.
/// </summary>
internal sealed class RecordStore : IDisposable
{
    private readonly string _connectionString;
    private readonly string _run = Guid.NewGuid().ToString("N")[..12];
    private readonly SqliteConnection _writer;

    public RecordStore(string path)
    {
        // Pooling off: disposing the connection really closes the file.
        _connectionString = new SqliteConnectionStringBuilder { DataSource = path, Pooling = false }.ToString();
        _writer = new SqliteConnection(_connectionString);
        _writer.Open();
        using SqliteCommand create = _writer.CreateCommand();
        create.CommandText = """
            CREATE TABLE IF NOT EXISTS records (
                id INTEGER PRIMARY KEY,
                run TEXT NOT NULL,
                producer INTEGER NOT NULL,
                seq INTEGER NOT NULL,
                put_at TEXT NOT NULL)
            """;
        create.ExecuteNonQuery();
    }

    public async ValueTask WriteAsync(IReadOnlyList<Record> batch, CancellationToken cancellationToken)
    {
        await using SqliteTransaction transaction = (SqliteTransaction)await _writer.BeginTransactionAsync(cancellationToken);
        await using SqliteCommand insert = _writer.CreateCommand();
        insert.Transaction = transaction;
        insert.CommandText = "INSERT INTO records (run, producer, seq, put_at) VALUES ($run, $producer, $seq, $putAt)";
        SqliteParameter run = insert.Parameters.Add("$run", SqliteType.Text);
        SqliteParameter producer = insert.Parameters.Add("$producer", SqliteType.Integer);
        SqliteParameter seq = insert.Parameters.Add("$seq", SqliteType.Integer);
        SqliteParameter putAt = insert.Parameters.Add("$putAt", SqliteType.Text);
        run.Value = _run;
        foreach (Record record in batch)
        {
            producer.Value = record.Producer;
            seq.Value = record.Sequence;
            putAt.Value = record.PutAt.ToString("O", CultureInfo.InvariantCulture);
            await insert.ExecuteNonQueryAsync(cancellationToken);
        }

        await transaction.CommitAsync(cancellationToken);
    }

    /// <summary>The rows this run wrote, read through a connection of its own.</summary>
    public long CountRows()
    {
        using var reader = new SqliteConnection(_connectionString);
        reader.Open();
        using SqliteCommand count = reader.CreateCommand();
        count.CommandText = "SELECT COUNT(*) FROM records WHERE run = $run";
        count.Parameters.AddWithValue("$run", _run);
        return (long)count.ExecuteScalar()!;
    }

    public void Dispose() => _writer.Dispose();
}
