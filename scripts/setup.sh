#!/usr/bin/env bash
# Sets SlimNet up on Debian 12 with the .NET 10 SDK: installs the Debian packages the project needs (when
# missing), restores NuGet packages and builds the solution in Release. Safe to run again.
#   --peers   also install the peers used by bench/ (Debian's python3-torch with OpenBLAS)
set -euo pipefail
cd "$(dirname "$0")/.."

# openmpi-bin + libopenmpi-dev: Open MPI 4.1 (mpirun, libmpi.so.40) for `slimnet train --distributed`.
want=(fonts-dejavu-core openmpi-bin libopenmpi-dev)
[[ " $* " == *" --peers "* ]] && want+=(python3-torch python3-numpy libopenblas0-pthread)

missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing Debian packages: ${missing[*]}"
  SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

command -v dotnet >/dev/null || { echo "setup: the .NET 10 SDK is required (dotnet not found on PATH)" >&2; exit 2; }
echo "setup: restoring and building (the first restore downloads TorchSharp, about 600 MB)"
dotnet build SlimNet.sln -c Release -nologo -v quiet -clp:ErrorsOnly
echo "setup: done; run ./slimnet --help"
