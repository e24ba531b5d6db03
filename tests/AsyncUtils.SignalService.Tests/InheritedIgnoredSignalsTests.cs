using System.Diagnostics;

namespace AsyncUtils.Tests;

/// <summary>The check that lets the SIGHUP process test say why it cannot run under nohup.</summary>
[Platform("Linux", Reason = "Reads /proc/self/status.")]
public sealed class InheritedIgnoredSignalsTests
{
    [Test]
    public void A_process_started_under_nohup_sees_SIGHUP_as_ignored_and_one_started_normally_does_not()
    {
        Assert.That(ReadChildSigIgnBit("nohup", "grep", "^SigIgn:", "/proc/self/status"), Is.True);
        Assert.That(ReadChildSigIgnBit("env", "grep", "^SigIgn:", "/proc/self/status"), Is.EqualTo(InheritedIgnoredSignals.IsIgnored(1)));
    }

    private static bool ReadChildSigIgnBit(string launcher, params string[] args)
    {
        var info = new ProcessStartInfo(launcher, args) { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true };
        using var process = Process.Start(info)!;
        string output = process.StandardOutput.ReadToEnd();
        Assert.That(process.WaitForExit(10_000), Is.True);
        string hex = output.Trim()["SigIgn:".Length..].Trim();
        ulong mask = ulong.Parse(hex, System.Globalization.NumberStyles.HexNumber, System.Globalization.CultureInfo.InvariantCulture);
        return (mask & 1UL) != 0;
    }
}
