using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace AsyncUtils.Samples.Worker;

/// <summary>
/// Four producers that put records into the waterfall until the host stops: busy and quiet
/// stretches in turn, so some batches leave full and some after their wait.
/// </summary>
internal sealed class Producers([FromKeyedServices("records")] Waterfall<Record> waterfall, ProducerStats stats) : BackgroundService
{
    private const int ProducerCount = 4;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        Console.WriteLine("ready");
        await Task.WhenAll(Enumerable.Range(0, ProducerCount).Select(p => Task.Run(() => ProduceAsync(p, stoppingToken), CancellationToken.None)));
    }

    private async Task ProduceAsync(int producer, CancellationToken stoppingToken)
    {
        long sequence = 0;
        while (!stoppingToken.IsCancellationRequested)
        {
            bool busy = DateTime.UtcNow.Second % 2 == 0;
            for (int i = 0; i < (busy ? 50 : 5); i++)
            {
                waterfall.Put(new Record(producer, sequence++, DateTimeOffset.UtcNow));
                stats.Count();
            }

            try
            {
                await Task.Delay(TimeSpan.FromMilliseconds(20), stoppingToken);
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }
    }
}
