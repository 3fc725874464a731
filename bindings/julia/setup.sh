#!/bin/bash
# Installs the Julia runtime the Julia binding is tested with: Julia 1.5.3 from Debian bullseye
# (bookworm has no julia package), unpacked into .tools/julia (ignored by git) and run through
# the wrapper bindings/julia/julia. Usage: bash bindings/julia/setup.sh
#
# - The bullseye packages (julia, libjulia1, julia-common, the libraries bookworm lacks: LLVM 9,
#   libffi7, libgit2 1.1, mbedTLS 2.16, http-parser, openlibm 0.7; and libunwind 1.3, see below)
#   are fetched with apt-get download through a private apt state (own sources list, lists and
#   cache under .tools/julia-apt, removed afterwards), from the Debian mirror this machine
#   already uses, and unpacked with dpkg-deb -x: nothing enters the system's dpkg database.
# - The libraries bookworm has under the same soname (libutf8proc2, libdsfmt-19937-1, libpcre3,
#   libgmp10, libmpfr6, libcurl3-gnutls, ...) come from the system: installed with apt-get when
#   missing and root, else the script says what to install. Julia's private links to them
#   (usr/lib/x86_64-linux-gnu/julia/lib*.so -> ../<soname>) are pointed at the system copies.
# Idempotent: quiet and quick (about a second) when everything is in place.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
dest="$root/.tools/julia"
wrapper="$root/bindings/julia/julia"
want_version=1.5.3
multiarch=x86_64-linux-gnu

# Bullseye packages unpacked into .tools/julia (dependency closure of julia 1.5.3+dfsg-3 minus
# what bookworm provides; see `dpkg-deb -f <deb> Depends`). libunwind8 is bullseye's 1.3.2 although
# bookworm has the same soname: with bookworm's 1.6.2, Julia 1.5 crashes (SIGSEGV in
# _ULx86_64_step) when it records the backtrace of an exception thrown from compiled code, e.g.
# `open("missing-file")`.
bullseye_pkgs=(julia libjulia1 julia-common libllvm9 libffi7 libgit2-1.1 libhttp-parser2.9
               libmbedcrypto3 libmbedtls12 libmbedx509-0 libopenlibm3 libunwind8)
# Bookworm packages (same sonames as bullseye's) that Julia and those libraries load.
system_pkgs=(libc6 libgcc-s1 libstdc++6 libgfortran5 libquadmath0 libcurl3-gnutls
             libdsfmt-19937-1 libgmp10 libmpfr6 libpcre2-8-0 libpcre3 libssh2-1 liblzma5
             libutf8proc2 libedit2 libtinfo6 libz3-4 zlib1g libgssapi-krb5-2)
# Sonames Julia's private links point to, provided by system_pkgs.
system_sonames=(libcurl-gnutls.so.4 libdSFMT-19937.so.1 libgmp.so.10 libmpfr.so.6
                libpcre2-8.so.0 libssh2.so.1 libutf8proc.so.2)

arch="$(dpkg --print-architecture 2>/dev/null || echo unknown)"
if [ "$arch" != amd64 ]; then
    echo "bindings/julia/setup.sh: only amd64 is supported (this machine: $arch)" >&2
    exit 1
fi

# 1. System libraries.
missing=()
for p in "${system_pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ]; then
        echo "bindings/julia/setup.sh: apt-get install ${missing[*]}"
        install() { flock /tmp/iaemu-apt.lock env DEBIAN_FRONTEND=noninteractive \
            apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null; }
        install || { flock /tmp/iaemu-apt.lock apt-get update -q >/dev/null && install; }
    else
        echo "bindings/julia/setup.sh: missing system packages; as root run:" >&2
        echo "  apt-get install --no-install-recommends ${missing[*]}" >&2
        exit 1
    fi
fi

# 2. Already done?
stamp="$dest/.iaemu-setup"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "${bullseye_pkgs[*]}" ] &&
   [ "$("$wrapper" --startup-file=no -e 'print(VERSION)' 2>/dev/null)" = "$want_version" ]; then
    exit 0
fi

# 3. The Debian mirror of this machine (first deb source for the bookworm suite).
mirror=""
for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    mirror="$(awk 'BEGIN { RS = ""; FS = "\n" }
        { types = ""; uris = ""; suites = ""
          for (i = 1; i <= NF; i++) {
              if ($i ~ /^Types:/) types = $i
              if ($i ~ /^URIs:/) uris = $i
              if ($i ~ /^Suites:/) suites = $i }
          if (types ~ /(^|[ \t])deb([ \t]|$)/ && suites ~ /[ \t]bookworm([ \t]|$)/) {
              sub(/^URIs:[ \t]*/, "", uris); split(uris, u, /[ \t]+/); print u[1]; exit } }' "$f")"
    [ -n "$mirror" ] && break
done
if [ -z "$mirror" ]; then
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [ -f "$f" ] || continue
        mirror="$(sed -E 's/\[[^]]*\]//' "$f" | awk '$1 == "deb" && $3 == "bookworm" { print $2; exit }')"
        [ -n "$mirror" ] && break
    done
fi
mirror="${mirror:-http://deb.debian.org/debian}"
keyring=/usr/share/keyrings/debian-archive-keyring.gpg
[ -f "$keyring" ] || { echo "bindings/julia/setup.sh: $keyring missing (package debian-archive-keyring)" >&2; exit 1; }

# 4. Download the bullseye packages through a private apt state.
start=$SECONDS
apt_dir="$root/.tools/julia-apt"
rm -rf "$apt_dir"
mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial" "$apt_dir/debs"
touch "$apt_dir/status"
echo "deb [signed-by=$keyring] $mirror bullseye main" > "$apt_dir/sources.list"
# The system's apt.conf.d still applies (proxies, snapshot settings), but not its hooks (no
# appstream cache refresh after this private update) nor the DEP-11 metadata downloads.
cat > "$apt_dir/apt.conf" <<'EOF'
#clear APT::Update::Pre-Invoke;
#clear APT::Update::Post-Invoke;
#clear APT::Update::Post-Invoke-Success;
#clear Acquire::IndexTargets::deb::DEP-11;
#clear Acquire::IndexTargets::deb::DEP-11-icons-small;
#clear Acquire::IndexTargets::deb::DEP-11-icons;
#clear Acquire::IndexTargets::deb::DEP-11-icons-hidpi;
#clear Acquire::IndexTargets::deb::DEP-11-icons-large;
#clear Acquire::IndexTargets::deb::DEP-11-icons-large-hidpi;
EOF
apt_opts=(-q -c "$apt_dir/apt.conf" -o "Dir::Etc::SourceList=$apt_dir/sources.list" -o Dir::Etc::SourceParts=/dev/null
          -o "Dir::State=$apt_dir" -o "Dir::State::Lists=$apt_dir/lists"
          -o "Dir::State::status=$apt_dir/status" -o "Dir::Cache=$apt_dir/cache"
          -o APT::Architecture=amd64 -o Acquire::Languages=none)
[ "$(id -u)" = 0 ] && apt_opts+=(-o APT::Sandbox::User=root)
echo "bindings/julia/setup.sh: fetching Julia $want_version from $mirror bullseye"
apt-get "${apt_opts[@]}" update >/dev/null
(cd "$apt_dir/debs" && apt-get "${apt_opts[@]}" download "${bullseye_pkgs[@]}" >/dev/null)
bytes=$(cat "$apt_dir"/debs/*.deb | wc -c)

# 5. Unpack into a fresh tree, link the system libraries, then swap it in.
rm -rf "$dest.new"
mkdir -p "$dest.new"
for deb in "$apt_dir"/debs/*.deb; do
    dpkg-deb -x "$deb" "$dest.new"
done
rm -rf "$dest.new/usr/share/doc" "$dest.new/usr/share/man"
libdir="$dest.new/usr/lib/$multiarch"
for so in "${system_sonames[@]}"; do
    target="/usr/lib/$multiarch/$so"
    [ -e "$target" ] || target="/lib/$multiarch/$so"
    [ -e "$target" ] || { echo "bindings/julia/setup.sh: $so not found on the system" >&2; exit 1; }
    ln -sfn "$target" "$libdir/$so"
done
for link in "$libdir"/julia/*; do
    [ -e "$link" ] || { echo "bindings/julia/setup.sh: dangling $link -> $(readlink "$link")" >&2; exit 1; }
done
rm -rf "$dest"
mv "$dest.new" "$dest"
rm -rf "$apt_dir"
printf '%s' "${bullseye_pkgs[*]}" > "$stamp"

got="$("$wrapper" --startup-file=no -e 'print(VERSION)')"
if [ "$got" != "$want_version" ]; then
    echo "bindings/julia/setup.sh: $wrapper printed '$got', expected $want_version" >&2
    exit 1
fi
echo "bindings/julia/setup.sh: Julia $got in .tools/julia ($((bytes / 1000000)) MB downloaded, $((SECONDS - start)) s)"
