#!/usr/bin/env bash
# check_install.sh BUILD_DIR [ABI_MAJOR] — checks what `meson install` ships.
#
# Installs BUILD_DIR into a temporary stage (meson install --destdir), then:
#   1. the staged liblunatic.so exports only lunatic_* symbols and its SONAME is liblunatic.so.<ABI major>;
#   2. a CMake project finds the package (find_package(lunatic) -> lunatic::lunatic) and runs;
#   3. a program compiled with `cc $(pkg-config --cflags --libs lunatic)` runs.
# Exits non-zero on any failure. KEEP_STAGE=1 keeps the temporary directory for inspection.
set -euo pipefail

if [[ $# -lt 1 || $# -gt 2 ]]; then
    echo "usage: $0 BUILD_DIR [ABI_MAJOR (default 0)]" >&2
    exit 2
fi
build_dir=$(cd "$1" && pwd -P)
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
abi_major=${2:-0}

work=$(cd "$(mktemp -d "${TMPDIR:-/tmp}/lunatic-packaging.XXXXXX")" && pwd -P)
cleanup() {
    if [[ "${KEEP_STAGE:-0}" = 1 ]]; then
        echo "kept $work"
    else
        rm -rf "$work"
    fi
}
trap cleanup EXIT
stage=$work/stage

step() { echo "--- $*"; }
fail() {
    echo "FAIL: $*" >&2
    exit 1
}
# run LOG CMD...: runs CMD with its output in LOG, shown only if it fails.
run() {
    local log=$1
    shift
    if ! "$@" >"$log" 2>&1; then
        cat "$log" >&2
        fail "$*"
    fi
}

for tool in meson cmake pkg-config cc nm readelf; do
    command -v "$tool" >/dev/null || fail "'$tool' is not installed (make deps installs it)"
done

# ---- 1. the staged install
step "meson install --destdir $stage"
run "$work/install.log" meson install -C "$build_dir" --destdir "$stage"

pc=$(find "$stage" -name lunatic.pc -path '*/pkgconfig/*' | head -n 1)
[[ -n "$pc" ]] || fail "no lunatic.pc in the staged install"
cmake_config=$(find "$stage" -name lunaticConfig.cmake -path '*/cmake/lunatic/*' | head -n 1)
[[ -n "$cmake_config" ]] || fail "no cmake/lunatic/lunaticConfig.cmake in the staged install"
[[ -f "$(dirname "$cmake_config")/lunaticConfigVersion.cmake" ]] ||
    fail "no lunaticConfigVersion.cmake beside $cmake_config"
pc_dir=$(dirname "$pc")

# The .pc file names the real prefix (/usr/local by default); the stage holds it under $stage.
prefix=$(PKG_CONFIG_PATH="$pc_dir" pkg-config --variable=prefix lunatic)
[[ "$prefix" = /* ]] || fail "lunatic.pc has a relative prefix '$prefix'"
staged_prefix=$stage$prefix
libdir=$(PKG_CONFIG_PATH="$pc_dir" pkg-config --define-variable=prefix="$staged_prefix" \
    --variable=libdir lunatic)
[[ -d "$libdir" ]] || fail "libdir of lunatic.pc is not in the stage: $libdir" \
    "(this check needs libdir and includedir inside the prefix)"
includedir=$(PKG_CONFIG_PATH="$pc_dir" pkg-config --define-variable=prefix="$staged_prefix" \
    --variable=includedir lunatic)
[[ -f "$includedir/lunatic/lunatic.h" ]] || fail "no lunatic/lunatic.h in $includedir" \
    "(this check needs libdir and includedir inside the prefix)"

lib=$libdir/liblunatic.so
[[ -e "$lib" ]] || fail "no $lib in the staged install"
[[ -e "$libdir/liblunatic.so.$abi_major" ]] || fail "no liblunatic.so.$abi_major in $libdir"

# ---- 2. exported symbols and SONAME
step "exported symbols of $lib"
nm -D --defined-only "$lib" >"$work/nm.txt" || fail "nm -D failed on $lib"
# Allowed besides lunatic_*: the linker's own markers, and version nodes of the version script
# (absolute symbols, type A, e.g. LUNATIC_0).
bad=$(awk '
    NF >= 2 {
        name = $NF; type = $(NF - 1)
        sub(/@.*/, "", name)  # symbol version, e.g. lunatic_self@@LUNATIC_0
        if (name ~ /^lunatic_/) next
        if (type == "A") next
        if (name ~ /^(_init|_fini|_edata|_end|__bss_start|_DYNAMIC|_GLOBAL_OFFSET_TABLE_)$/) next
        print
    }' "$work/nm.txt")
if [[ -n "$bad" ]]; then
    echo "$bad" | head -n 40 >&2
    fail "liblunatic.so exports $(echo "$bad" | wc -l) symbol(s) without the lunatic_ prefix"
fi
grep -Eq ' T lunatic_version_string(@|$)' "$work/nm.txt" || fail "lunatic_version_string is not exported"
echo "$(grep -c ' lunatic_' "$work/nm.txt") lunatic_* symbols, nothing else"

soname=$(readelf -d "$lib" | sed -n 's/.*(SONAME).*\[\(.*\)\].*/\1/p')
[[ "$soname" = "liblunatic.so.$abi_major" ]] ||
    fail "SONAME is '$soname', expected liblunatic.so.$abi_major"
echo "SONAME $soname"

export LD_LIBRARY_PATH="$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"

# ---- 3. a CMake consumer: find_package(lunatic) + lunatic::lunatic
step "CMake consumer (CMAKE_PREFIX_PATH=$staged_prefix)"
generator=()
command -v ninja >/dev/null && generator=(-G Ninja)
run "$work/cmake-configure.log" cmake -S "$here/cmake_consumer" -B "$work/cmake-build" \
    "${generator[@]}" -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$staged_prefix"
# It must have found the staged package, not one installed on the machine.
found_dir=$(sed -n 's/^lunatic_DIR:PATH=//p' "$work/cmake-build/CMakeCache.txt")
[[ "$found_dir" = "$stage"/* ]] || fail "CMake found lunatic in '$found_dir', not in the stage"
grep -F -- "-- lunatic" "$work/cmake-configure.log" || true
run "$work/cmake-build.log" cmake --build "$work/cmake-build"
"$work/cmake-build/cmake_consumer" || fail "the CMake consumer failed"
# And a version that does not match is refused.
mkdir -p "$work/cmake-too-new"
sed 's/find_package(lunatic 0.1 REQUIRED CONFIG)/find_package(lunatic 999.0 REQUIRED CONFIG)/' \
    "$here/cmake_consumer/CMakeLists.txt" >"$work/cmake-too-new/CMakeLists.txt"
sed -i "s|\${CMAKE_CURRENT_SOURCE_DIR}/../consumer.c|$here/consumer.c|" \
    "$work/cmake-too-new/CMakeLists.txt"
if cmake -S "$work/cmake-too-new" -B "$work/cmake-too-new/build" "${generator[@]}" \
    -DCMAKE_PREFIX_PATH="$staged_prefix" >"$work/cmake-too-new.log" 2>&1; then
    fail "find_package(lunatic 999.0) accepted version $(PKG_CONFIG_PATH="$pc_dir" pkg-config --modversion lunatic)"
fi

# ---- 4. a pkg-config consumer
step "pkg-config consumer (PKG_CONFIG_PATH=$pc_dir)"
pc_flags=$(PKG_CONFIG_PATH="$pc_dir" pkg-config --define-variable=prefix="$staged_prefix" \
    --cflags --libs lunatic) || fail "pkg-config --cflags --libs lunatic failed"
echo "pkg-config --cflags --libs lunatic: $pc_flags"
[[ "$pc_flags" = *"-I$includedir"* ]] ||
    fail "pkg-config cflags do not point into the stage"
# shellcheck disable=SC2086  # the flags are meant to be split
run "$work/pkgconfig-build.log" cc -std=c11 -Wall -Wextra -Werror -pedantic \
    -DCONSUMER_NAME='"pkgconfig_consumer"' "$here/consumer.c" -o "$work/pkgconfig_consumer" \
    $pc_flags
"$work/pkgconfig_consumer" || fail "the pkg-config consumer failed"

# Both consumers must have loaded the staged library.
for exe in "$work/cmake-build/cmake_consumer" "$work/pkgconfig_consumer"; do
    ldd "$exe" | grep -F "liblunatic.so.$abi_major => $libdir/" >/dev/null ||
        fail "$(basename "$exe") does not load liblunatic from the stage: $(ldd "$exe" | grep lunatic)"
done

echo "packaging: OK"
