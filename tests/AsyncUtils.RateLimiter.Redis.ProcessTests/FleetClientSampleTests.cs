using System.Globalization;
using System.Text.RegularExpressions;

namespace AsyncUtils.Tests;

/// <summary>
/// samples/AsyncUtils.Samples.FleetClient end to end: 3 worker processes share one limit and one
/// lockout through the test's redis-server, against the sample's own counting API, and the API
/// reports that it never saw more than its limit.
/// </summary>
public sealed partial class FleetClientSampleTests
{
    [Test]
    public async Task The_fleet_client_sample_keeps_three_processes_within_the_api_limit_and_shares_the_429_lockout()
    {
        await using var sample = AppProcess.Start(AppProcess.Metadata("FleetClientSample"), "FleetClient sample", "--redis", RedisFixture.Server.ConnectionString);
        int exit = await sample.WaitForExitAsync(TimeSpan.FromSeconds(60));
        string output = string.Join("\n", sample.Lines);

        Assert.That(exit, Is.Zero, output + "\n" + sample.Errors);
        Assert.That(sample.Lines, Has.Exactly(3).StartsWith("[").And.Contains(" done: 8 requests answered"), output);
        Assert.That(sample.Lines, Has.Some.Contains("429, Retry-After: 1: the whole fleet waits"), output);
        Assert.That(sample.Lines, Does.Contain("  The API never saw more than its limit."), output);
        Assert.That(sample.Lines, Does.Contain("  Requests over the API's limit: 0."), output);

        Match most = MostInWindow().Match(output);
        Assert.That(most.Success, Is.True, output);
        Assert.That(int.Parse(most.Groups["requests"].Value, CultureInfo.InvariantCulture), Is.GreaterThanOrEqualTo(24), output);
        Assert.That(int.Parse(most.Groups["most"].Value, CultureInfo.InvariantCulture), Is.LessThanOrEqualTo(10), output);
        Assert.That(sample.Lines, Has.Some.StartsWith("  The planned 429 locked the whole fleet out:").And.Not.Contains("too late"), output);
    }

    [GeneratedRegex(@"The API received (?<requests>\d+) requests from 3 processes; the most in any 1 s window: (?<most>\d+) \(its limit: 10\)\.")]
    private static partial Regex MostInWindow();
}
