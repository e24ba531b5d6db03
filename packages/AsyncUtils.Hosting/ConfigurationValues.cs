using System.Globalization;
using Microsoft.Extensions.Configuration;

namespace AsyncUtils;

/// <summary>
/// Reads scalar settings from a configuration section by hand, the way the configuration binder
/// would (invariant culture), but without reflection: trimming- and NativeAOT-safe. A key that is
/// absent or empty leaves the option as it was; a value that does not parse throws
/// <see cref="InvalidOperationException"/> naming the key's full path and the value.
/// </summary>
internal static class ConfigurationValues
{
    public static void Int(IConfiguration section, string key, Action<int> set)
    {
        if (Value(section, key) is { } value)
        {
            set(int.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out int parsed) ? parsed : throw Invalid(section, key, value, "an integer"));
        }
    }

    public static void Bool(IConfiguration section, string key, Action<bool> set)
    {
        if (Value(section, key) is { } value)
        {
            set(bool.TryParse(value, out bool parsed) ? parsed : throw Invalid(section, key, value, "true or false"));
        }
    }

    public static void Duration(IConfiguration section, string key, Action<TimeSpan> set)
    {
        if (Value(section, key) is { } value)
        {
            set(TimeSpan.TryParse(value, CultureInfo.InvariantCulture, out TimeSpan parsed) ? parsed : throw Invalid(section, key, value, "a time span such as 00:00:30"));
        }
    }

    /// <summary>An enum by one of its names (any case); numbers and undefined names are refused.</summary>
    public static void Enum<TEnum>(IConfiguration section, string key, Action<TEnum> set)
        where TEnum : struct, System.Enum
    {
        if (Value(section, key) is { } value)
        {
            set(!char.IsAsciiDigit(value[0]) && value[0] != '-' && System.Enum.TryParse(value, ignoreCase: true, out TEnum parsed) && System.Enum.IsDefined(parsed)
                ? parsed
                : throw Invalid(section, key, value, "one of " + string.Join(", ", System.Enum.GetNames<TEnum>())));
        }
    }

    public static void String(IConfiguration section, string key, Action<string> set)
    {
        if (Value(section, key) is { } value)
        {
            set(value);
        }
    }

    public static string PathOf(IConfiguration section, string key)
        => section is IConfigurationSection s ? ConfigurationPath.Combine(s.Path, key) : key;

    private static string? Value(IConfiguration section, string key)
    {
        string? value = section[key];
        return string.IsNullOrWhiteSpace(value) ? null : value.Trim();
    }

    private static InvalidOperationException Invalid(IConfiguration section, string key, string value, string expected)
        => new($"The configuration value '{value}' at '{PathOf(section, key)}' is not {expected}.");
}
