#!/usr/bin/env bash
# Runs the benchmark classes in one go and regenerates every benchmark table from that run:
#   bash build/bench.sh                      # every class
#   bash build/bench.sh Lru RateLimiter      # the classes LruBenchmarks and RateLimiterBenchmarks
# Run it on a quiet machine (no build or test beside it). BenchmarkDotNet's reports are copied into
# benchmarks/results/ (with the time of the run) and build/bench-tables.py rewrites every table
# marked <!-- bench: Class --> in README.md, the package READMEs and the docs pages from them.
set -euo pipefail
cd "$(dirname "$0")/.."
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1

# Classes whose benchmarks run in the host process: BenchmarkDotNet's generated out-of-process
# project would inherit the repository's build settings (warnings as errors, analyzers) and fail.
in_process=" DualColor GenTransform Waterfall BackgroundLoop BackgroundTasks TaskGroup Scheduler MergeGens "

classes=("$@")
if [ ${#classes[@]} -eq 0 ]; then
  for f in tests/AsyncUtils.Benchmarks/*Benchmarks.cs; do
    while read -r c; do classes+=("${c%Benchmarks}"); done < <(grep -oE 'class [A-Za-z]+Benchmarks\b' "$f" | awk '{print $2}')
  done
fi

out=$(mktemp -d)
dotnet build tests/AsyncUtils.Benchmarks -c Release -v q -nologo
for c in "${classes[@]}"; do
  extra=()
  [[ "$in_process" == *" $c "* ]] && extra+=(--inProcess)
  echo "== ${c}Benchmarks ${extra[*]:-}"
  dotnet run -c Release --no-build --project tests/AsyncUtils.Benchmarks -- \
    --filter "*.${c}Benchmarks.*" --job short --artifacts "$out" "${extra[@]}"
done
python3 build/bench-tables.py --import "$out/results"
