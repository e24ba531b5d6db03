using System.Globalization;

namespace AsyncUtils;

/// <summary>
/// Reads an HTTP <c>Retry-After</c> value: delta-seconds (<c>120</c>; a fraction such as
/// <c>1.5</c>, as sent in <c>X-RateLimit-Reset-After</c>, is accepted too) or an HTTP date in any of
/// the three formats of RFC 9110 (<c>Sun, 06 Nov 1994 08:49:37 GMT</c>, the RFC 850 form and the
/// asctime form).
/// </summary>
public static class RetryAfterHeader
{
    private static readonly string[] HttpDateFormats =
    [
        "r",
        "dddd, dd'-'MMM'-'yy HH':'mm':'ss 'GMT'",
        "ddd MMM d HH':'mm':'ss yyyy",
    ];

    /// <summary>Beyond this many seconds a delay is treated as <see cref="TimeSpan.MaxValue"/>.</summary>
    private const decimal MaxSeconds = 900_000_000_000m;

    /// <summary>Parses a <c>Retry-After</c> value into a delay from <paramref name="now"/>.</summary>
    /// <param name="value">The header value; surrounding white space is ignored.</param>
    /// <param name="now">The current time, for a date value (a date in the past gives a zero delay).</param>
    /// <param name="delay">The delay, rounded up to a whole tick, when the value parses.</param>
    /// <returns><see langword="true"/> when <paramref name="value"/> is delta-seconds or an HTTP date.</returns>
    public static bool TryParse(string? value, DateTimeOffset now, out TimeSpan delay)
    {
        delay = TimeSpan.Zero;
        if (string.IsNullOrWhiteSpace(value))
        {
            return false;
        }

        ReadOnlySpan<char> text = value.AsSpan().Trim();
        if (char.IsAsciiDigit(text[0]) || text[0] == '.')
        {
            if (!decimal.TryParse(text, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out decimal seconds))
            {
                return false;
            }

            delay = seconds >= MaxSeconds
                ? TimeSpan.MaxValue
                : TimeSpan.FromTicks((long)decimal.Ceiling(seconds * TimeSpan.TicksPerSecond));
            return true;
        }

        if (DateTimeOffset.TryParseExact(text, HttpDateFormats, CultureInfo.InvariantCulture, DateTimeStyles.AllowWhiteSpaces | DateTimeStyles.AssumeUniversal, out DateTimeOffset date))
        {
            delay = date > now ? date - now : TimeSpan.Zero;
            return true;
        }

        return false;
    }
}
