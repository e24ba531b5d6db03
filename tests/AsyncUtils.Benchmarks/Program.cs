using BenchmarkDotNet.Running;

namespace AsyncUtils.Benchmarks;

internal static class Program
{
    private static int Main(string[] args)
    {
        // --hit-ratio DIR: the hit-ratio simulation (no BenchmarkDotNet), see HitRatioSimulation.
#if !AU_ONLY_SOME || AU_HAS_Lru
        if (args.Length == 2 && args[0] == "--hit-ratio")
        {
            return HitRatioSimulation.Run(args[1]);
        }
#endif

        BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
        return 0;
    }
}
