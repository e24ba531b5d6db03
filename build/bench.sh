#!/usr/bin/env bash
# Runs the benchmark classes in one go and regenerates every benchmark table from that run:
#   bash build/bench.sh                      # every class
#   bash build/bench.sh Lru RateLimiter      # the classes LruBenchmarks and RateLimiterBenchmarks
#   bash build/bench.sh Fleet                # FleetBenchmarks: a test that starts processes (see test_runs)
#   bash build/bench.sh HitRatio             # the cache hit-ratio simulation (see sim_runs)
# Run it on a quiet machine (no build or test beside it). BenchmarkDotNet's reports are copied into
# benchmarks/results/ (with the time of the run) and build/bench-tables.py rewrites every table
# marked <!-- bench: Class --> in README.md, the package READMEs and the docs pages from them.
set -euo pipefail
cd "$(dirname "$0")/.."
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1

# Classes whose benchmarks run in the host process: BenchmarkDotNet's generated out-of-process
# project would inherit the repository's build settings (warnings as errors, analyzers) and fail.
in_process=" DualColor GenTransform Waterfall BackgroundLoop BackgroundTasks TaskGroup Scheduler MergeGens DistributedCache "

# Benchmarks that cannot be BenchmarkDotNet classes (a fleet of processes sharing one Redis, over
# seconds): a test, [Explicit] so that it runs only when selected by name, which writes its table as
# <AU_BENCH_OUT>/AsyncUtils.Benchmarks.<Class>Benchmarks-report-github.md in the shape of a
# BenchmarkDotNet report. One line each: class name -> "test project|dotnet test filter".
declare -A test_runs=(
  [Fleet]="tests/AsyncUtils.RateLimiter.Redis.ProcessTests|FullyQualifiedName~AsyncUtils.Tests.FleetBenchmark."
  [CacheFleet]="tests/AsyncUtils.Caching.Redis.ProcessTests|FullyQualifiedName~AsyncUtils.Tests.CacheFleetBenchmark."
)

# Simulations the benchmark program runs itself (no timing, so no BenchmarkDotNet): class name ->
# the program's arguments; the report goes to the results folder given after them.
declare -A sim_runs=(
  [HitRatio]="--hit-ratio"
)

classes=("$@")
if [ ${#classes[@]} -eq 0 ]; then
  for f in tests/AsyncUtils.Benchmarks/*Benchmarks*.cs; do
    while read -r c; do classes+=("${c%Benchmarks}"); done < <(grep -oE 'class [A-Za-z]+Benchmarks\b' "$f" | awk '{print $2}')
  done
  classes+=("${!test_runs[@]}" "${!sim_runs[@]}")
fi

out=$(mktemp -d)
mkdir -p "$out/results"
built=
failed=()
for c in "${classes[@]}"; do
  if [[ -n "${test_runs[$c]:-}" ]]; then
    project="${test_runs[$c]%%|*}"
    filter="${test_runs[$c]#*|}"
    echo "== ${c}Benchmarks (dotnet test $project --filter $filter)"
    AU_BENCH_OUT="$out/results" dotnet test "$project" -c Release -f net10.0 --filter "$filter" -nologo || true
    if [ ! -f "$out/results/AsyncUtils.Benchmarks.${c}Benchmarks-report-github.md" ]; then
      echo "error: $project wrote no ${c}Benchmarks report (did the test fail, or the filter not select it?)" >&2
      failed+=("$c")
    fi
    continue
  fi
  if [ -z "$built" ]; then
    dotnet build tests/AsyncUtils.Benchmarks -c Release -v q -nologo
    built=1
  fi
  if [[ -n "${sim_runs[$c]:-}" ]]; then
    echo "== ${c}Benchmarks (simulation ${sim_runs[$c]})"
    dotnet run -c Release --no-build --project tests/AsyncUtils.Benchmarks -- ${sim_runs[$c]} "$out/results"
    continue
  fi
  extra=()
  [[ "$in_process" == *" $c "* ]] && extra+=(--inProcess)
  echo "== ${c}Benchmarks ${extra[*]:-}"
  dotnet run -c Release --no-build --project tests/AsyncUtils.Benchmarks -- \
    --filter "*.${c}Benchmarks.*" --job short --artifacts "$out" "${extra[@]}"
done
python3 build/bench-tables.py --import "$out/results"
if [ ${#failed[@]} -gt 0 ]; then
  echo "error: no report from ${failed[*]}; their tables were left as they were" >&2
  exit 1
fi
