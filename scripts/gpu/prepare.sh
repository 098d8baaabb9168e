#!/usr/bin/env bash
# Prepares, on the Debian 12 development machine, what scripts/gpu/check.sh needs on the
# borrowed GPU machine, which has no network and none of our -dev packages. Fills .gpu/
# (git-ignored; the device tool carries it with `carry: [".gpu"]`):
#   .gpu/debs/                   the Debian 12 .deb files (downloaded, never installed here)
#                                of the headers and libraries we build against and of every
#                                shared library those load; MANIFEST lists them and why;
#   .gpu/data/fashion-mnist/     the bundled example's images and labels as a small IDX
#                                subset: the rows the main job selects, nothing else.
# Needs the packages of scripts/install-deps.sh installed (their files give the library
# closure) and the Debian archive reachable (apt-get download; no root). Idempotent.
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/gpu/common.sh

# The -dev packages of CMakeLists.txt's find_package calls (HDF5, zstd, CLI11, nlohmann_json,
# OpenSSL, PNG, JPEG, ZLIB, ICU) and tests/CMakeLists.txt's GTest; bats for the Bats suite.
dev_packages=(libhdf5-dev libzstd-dev libcli11-dev nlohmann-json3-dev libssl-dev libpng-dev
              libjpeg62-turbo-dev zlib1g-dev libicu-dev libgtest-dev bats)
multiarch=$(gcc -print-multiarch)
libdir=/usr/lib/$multiarch
# The libraries we actually link (libhdf5-dev also ships C++, Fortran and HL libraries,
# which pull in libgfortran and more: not linked, not shipped). Their ldd closure is the
# set of runtime libraries the GPU machine needs.
link_libraries=("$libdir/hdf5/serial/libhdf5.so" "$libdir/libzstd.so" "$libdir/libcrypto.so"
                "$libdir/libpng16.so" "$libdir/libjpeg.so" "$libdir/libz.so" "$libdir/libicuuc.so")
# We link the shared libraries: these packages' static ones (52 of the 62 MiB they hold
# unpacked, 42 in libicu-dev alone) are dropped by repacking. Not the others: zstd's CMake
# config refers to its libzstd.a, and GoogleTest is only static.
trimmed_packages=(libicu-dev libhdf5-dev libssl-dev)
# Present on any glibc system with a C++ compiler, and better taken from there.
base_packages=" libc6 libgcc-s1 libstdc++6 "

missing=()
for p in "${dev_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "prepare: not installed: ${missing[*]} (run scripts/install-deps.sh first)" >&2
  exit 1
fi

# The files of the link libraries and of their ldd closure, then their packages.
files=()
for lib in "${link_libraries[@]}"; do
  [ -e "$lib" ] || { echo "prepare: $lib missing (is its -dev package installed?)" >&2; exit 1; }
  files+=("$(readlink -f "$lib")")
  files+=($(ldd "$lib" | awk '$2 == "=>" && $3 ~ /^\// { print $3 }'))
done
# Bookworm's packages still list many libraries under /lib while ldd reports either
# spelling: ask dpkg about every spelling of every file, in one call.
declare -A owner=()
spellings=()
for f in "${files[@]}"; do
  real=$(readlink -f "$f")
  for c in "$f" "$real"; do spellings+=("$c" "${c#/usr}" "/usr${c#/usr}"); done
done
while IFS= read -r line; do
  owner[${line#*: }]=${line%%: *}
done < <(dpkg-query -S "${spellings[@]}" 2>/dev/null | grep -v '^diversion by' || true)

declare -A why=()
for p in "${dev_packages[@]}"; do why[$p]="build: headers and link files"; done
for p in "${trimmed_packages[@]}"; do why[$p]+=" (static libraries dropped)"; done
why[libgtest-dev]="tests: GoogleTest (static libraries)"
why[bats]="tests: the Bats runner"
for f in "${files[@]}"; do
  real=$(readlink -f "$f") p=""
  for c in "$f" "$real"; do
    for s in "$c" "${c#/usr}" "/usr${c#/usr}"; do [ -n "$p" ] || p=${owner[$s]:-}; done
  done
  [ -n "$p" ] || { echo "prepare: no package owns $f" >&2; exit 1; }
  p=${p%:amd64}
  [[ $base_packages == *" $p "* ]] && continue
  [ -n "${why[$p]:-}" ] || why[$p]="runtime: $(basename "$f")"
done

# trim_static DEB: rewrites DEB without its static libraries (a .deb still: dpkg -x reads it).
trim_static() {
  local deb=$1 tmp
  dpkg-deb -c "$deb" | awk '{ print $6 }' | grep -q '\.a$' || return 0
  tmp=$(mktemp -d)
  dpkg-deb -R "$deb" "$tmp/pkg"
  find "$tmp/pkg" -name '*.a' -delete
  sed -i '/\.a$/d' "$tmp/pkg/DEBIAN/md5sums"
  dpkg-deb --root-owner-group -Zxz -b "$tmp/pkg" "$tmp/new.deb" >/dev/null
  mv "$tmp/new.deb" "$deb"
  rm -rf "$tmp"
}

mkdir -p "$GPU_DEBS"
wanted=()
# The installed version (the one built and tested here) when the archive still has it,
# else the archive's candidate: the same release, hence the same ABI.
packages=($(printf '%s\n' "${!why[@]}" | sort))
declare -A in_archive=()
while IFS='|' read -r p v _; do in_archive["${p// /}=${v// /}"]=1; done < <(apt-cache madison "${packages[@]}")
for p in "${packages[@]}"; do
  version=$(dpkg-query -W -f='${Version}' "$p")
  if [ -z "${in_archive[$p=$version]:-}" ]; then
    version=$(apt-cache policy "$p" | awk '/Candidate:/ { print $2 }')
    why[$p]="${why[$p]}; the archive's $version, not the installed one"
  fi
  wanted+=("$p=$version")
done
# Already downloaded ones are kept.
(
  cd "$GPU_DEBS"
  need=()
  for pv in "${wanted[@]}"; do
    p=${pv%%=*} v=${pv#*=}
    v_file=${v//:/%3a}
    compgen -G "${p}_${v_file}_*.deb" >/dev/null || need+=("$pv")
  done
  if ((${#need[@]})); then
    echo "prepare: downloading ${#need[@]} packages" >&2
    apt-get download -q "${need[@]}"
  fi
  for p in "${trimmed_packages[@]}"; do
    for deb in "${p}"_*.deb; do trim_static "$deb"; done
  done
  # Drop .debs of packages or versions no longer wanted.
  for deb in *.deb; do
    p=${deb%%_*} rest=${deb#*_} v=${rest%_*}
    keep=0
    for pv in "${wanted[@]}"; do [[ "$pv" == "$p=${v//%3a/:}" ]] && keep=1; done
    ((keep)) || { echo "prepare: removing stale $deb" >&2; rm -f "$deb"; }
  done
)
{
  echo "# .debs for scripts/gpu/check.sh: package=version  (why)"
  for pv in "${wanted[@]}"; do echo "$pv  (${why[${pv%%=*}]})"; done
} > "$GPU_DEBS/MANIFEST"

# The bundled example's images: the rows the main job selects, as IDX again.
mkdir -p "$GPU_DATA"
select=$(mk_value SELECT_LABELS)
subset() {  # subset IMAGES LABELS PER_LABEL
  local out_images="$GPU_DATA/$(basename "$1")" out_labels="$GPU_DATA/$(basename "$2")"
  if [ "$out_images" -nt "$1" ] && [ "$out_labels" -nt "$2" ] && [ "$out_images" -nt scripts/gpu/subset_idx.py ] \
     && [ "$out_images" -nt "$MAIN_JOB_CONFIG" ]; then
    return 0
  fi
  /usr/bin/python3 scripts/gpu/subset_idx.py "$1" "$2" "$out_images" "$out_labels" \
    --select-labels "$select" ${3:+--per-label "$3"}
}
subset "$(mk_value TRAIN_INPUT)" "$(mk_value TRAIN_LABELS)" "$(mk_value PER_LABEL)"
subset "$(mk_value TEST_INPUT)" "$(mk_value TEST_LABELS)" "$(mk_value TEST_PER_LABEL)"

# What the device tool will carry: the tree git would see (tracked and untracked, not
# ignored) plus .gpu/. Its limit is 64 MiB.
debs_kib=$(du -sk "$GPU_DEBS" | cut -f1)
data_kib=$(du -sk "$GPU_DATA" | cut -f1)
tree_kib=$(git ls-files -z -co --exclude-standard | du -ck --files0-from=- 2>/dev/null | tail -1 | cut -f1)
total_kib=$((debs_kib + data_kib + tree_kib))
printf 'prepare: .gpu/debs %d packages, %.1f MiB; .gpu/data %.1f MiB; tree %.1f MiB; carried in all %.1f MiB (limit 64)\n' \
  "${#wanted[@]}" "$(echo "$debs_kib/1024" | bc -l)" "$(echo "$data_kib/1024" | bc -l)" \
  "$(echo "$tree_kib/1024" | bc -l)" "$(echo "$total_kib/1024" | bc -l)"
if ((total_kib > 56 * 1024)); then
  echo "prepare: over 56 MiB: too close to the device tool's 64 MiB limit" >&2
  exit 1
fi
