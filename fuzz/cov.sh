#!/bin/sh
# Source coverage of the fuzz targets' corpora (make fuzz-cov).
#
#   fuzz/cov.sh TARGET...
#
# Rebuilds each target with clang's source-based coverage
# (-fprofile-instr-generate -fcoverage-mapping) into build/fuzz-cov/, runs
# it once over the seeds and the corpus earlier runs grew (no fuzzing), and
# prints llvm-cov's line and branch coverage of each file it links.  The
# full per-function report is build/fuzz-cov/TARGET.txt.
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
out=$top/build/fuzz-cov
mkdir -p "$out"
cd "$top"

profdata=$(command -v llvm-profdata-14 || command -v llvm-profdata)
llvmcov=$(command -v llvm-cov-14 || command -v llvm-cov)

for t in "$@"; do
    srcs=$(make -s --no-print-directory fuzz-srcs FUZZ_TARGET="$t")
    # shellcheck disable=SC2086
    clang -std=gnu99 -g -O0 -fsanitize=fuzzer -fprofile-instr-generate \
        -fcoverage-mapping -Iregistry -Ingx_farm_module -Iagent -Ifuzz \
        -Ikong-compat -o "$out/fuzz_$t" "fuzz/fuzz_$t.c" $srcs -ljansson \
        -lcrypto -lpcre2-8

    mkdir -p "$top/build/fuzz/corpus/$t"
    rm -f "$out/$t.profraw"
    LLVM_PROFILE_FILE="$out/$t.profraw" "$out/fuzz_$t" -runs=0 \
        -close_fd_mask=3 "$top/build/fuzz/corpus/$t" "fuzz/corpus/$t" \
        > "$out/$t.run.log" 2>&1
    "$profdata" merge -sparse -o "$out/$t.profdata" "$out/$t.profraw"

    # shellcheck disable=SC2086
    "$llvmcov" report -show-functions -instr-profile="$out/$t.profdata" \
        "$out/fuzz_$t" $srcs > "$out/$t.txt"
    # shellcheck disable=SC2086
    "$llvmcov" report -instr-profile="$out/$t.profdata" "$out/fuzz_$t" \
        $srcs | awk -v t="$t" '$1 ~ /\.c$/ && $8 > $9 { sub(/.*\//, "", $1)
            printf "%-10s %-34s lines %5d/%-5d %7s  branches %4d/%-4d %7s\n",
                   t, $1, $8 - $9, $8, $10, $11 - $12, $11, $13 }'
done
