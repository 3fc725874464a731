#!/bin/bash
# What the Fortran binding needs: gfortran (Fortran 2008 with the iso_c_binding features of
# F2018) and gcc (test.sh checks the struct layouts with a small C program). Idempotent; quiet
# when both are there. As root it installs them with apt-get (Debian bookworm: gfortran 12);
# otherwise it says what to install.
#   bash bindings/fortran/setup.sh
set -euo pipefail
missing=()
command -v gfortran >/dev/null 2>&1 || missing+=(gfortran)
command -v gcc >/dev/null 2>&1 || missing+=(gcc)
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
    echo "bindings/fortran/setup.sh: missing ${missing[*]}; install as root: apt-get install -y ${missing[*]}" >&2
    exit 1
fi
echo "bindings/fortran/setup.sh: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# One apt at a time on machines where several setup scripts run at once.
flock /tmp/iaemu-apt.lock apt-get update -qq
flock /tmp/iaemu-apt.lock apt-get install -y -qq --no-install-recommends "${missing[@]}" libc6-dev >/dev/null
gfortran --version | head -n 1
