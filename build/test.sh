#!/usr/bin/env bash
# The repository's test command (README.md prints it; .ci/run runs it). It first makes sure the
# Debian packages that some tests need are installed, then runs every test project of the solution.
#   - chromium: the docs site check opens the built site in headless Chromium.
#   - redis-server: the Redis packages' tests start their own server on a free loopback port.
# As root it installs what is missing with apt-get; otherwise it prints the exact command to run and
# goes on (the tests that need the package then fail and name it). Extra arguments go to dotnet test.
set -uo pipefail
cd "$(dirname "$0")/.."

export DOTNET_CLI_TELEMETRY_OPTOUT=1
export DOTNET_NOLOGO=1

needed=()
command -v chromium >/dev/null 2>&1 || needed+=(chromium)
command -v redis-server >/dev/null 2>&1 || [ -x /usr/bin/redis-server ] || needed+=(redis-server)

if [ "${#needed[@]}" -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ]; then
    echo "Installing Debian packages the tests need: ${needed[*]}"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${needed[@]}" >/dev/null) \
      || echo "Could not install ${needed[*]}; the tests that need them will fail and say so."
  else
    echo "Missing Debian packages the tests need: ${needed[*]}"
    echo "Install them with: sudo apt-get update && sudo apt-get install -y ${needed[*]}"
  fi
fi

exec dotnet test AsyncUtils.Packages.sln -c Release "$@"
