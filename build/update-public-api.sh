#!/usr/bin/env bash
# Adds every public symbol the PublicApiAnalyzers report as undeclared (RS0016) to the package's
# PublicAPI.Unshipped.txt, sorted. Review the diff: it is the package's API change.
#   usage: build/update-public-api.sh packages/AsyncUtils.Lru
set -euo pipefail
dir=${1:?usage: $0 packages/AsyncUtils.<Name>}
unshipped="$dir/PublicAPI.Unshipped.txt"
new=$(dotnet build "$dir" --no-incremental 2>&1 | grep -oE "RS0016: Symbol '.*' is not part of the declared public API" \
  | sed -E "s/^RS0016: Symbol '(.*)' is not part of the declared public API$/\1/" | sort -u || true)
{ grep -v '^#nullable' "$unshipped" || true; printf '%s\n' "$new"; } | grep -v '^$' | sort -u > "$unshipped.tmp"
{ echo '#nullable enable'; cat "$unshipped.tmp"; } > "$unshipped"
rm "$unshipped.tmp"
echo "$(printf '%s\n' "$new" | grep -c . || true) symbol(s) added to $unshipped"
