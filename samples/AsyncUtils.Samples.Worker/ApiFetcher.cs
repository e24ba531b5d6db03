using System.Globalization;
using System.Net;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace AsyncUtils.Samples.Worker;

/// <summary>
/// A producer that fetches items from the API through the "api" client (rate limiter and lockout
/// handlers of AsyncUtils.Http) and puts each one it gets as a record into the waterfall. It stops
/// asking when the host stops, but a request already started is not cancelled: it completes and
/// its item is put, so the server's count, the limiter's grants and the records agree.
/// </summary>
internal sealed class ApiFetcher(
    IHttpClientFactory clients,
    [FromKeyedServices("records")] Waterfall<Record> waterfall,
    ProducerStats stats,
    ApiStats api) : BackgroundService
{
    /// <summary>The producer number of records fetched from the API.</summary>
    public const int Producer = 100;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        HttpClient http = clients.CreateClient("api");
        while (!stoppingToken.IsCancellationRequested)
        {
            api.Sent();
            // Not the stopping token: a request that has taken its permit finishes (the lockout
            // holds it for at most a second here), so nothing fetched is dropped.
            using HttpResponseMessage response = await http.GetAsync("items/next", CancellationToken.None);
            if (response.StatusCode == HttpStatusCode.TooManyRequests)
            {
                api.TooMany(); // the lockout now holds the next request until the Retry-After
                continue;
            }

            response.EnsureSuccessStatusCode();
            long item = long.Parse(await response.Content.ReadAsStringAsync(CancellationToken.None), CultureInfo.InvariantCulture);
            waterfall.Put(new Record(Producer, item, DateTimeOffset.UtcNow));
            stats.Count();
            api.Fetched();
        }
    }
}
