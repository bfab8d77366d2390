#!/bin/sh
# Runs the libFuzzer targets built by "make fuzz-build", one after another.
#
#   fuzz/run.sh SECONDS TARGET...
#
# Each target starts from its seeds (fuzz/corpus/TARGET, read only) and the
# corpus earlier runs grew (build/fuzz/corpus/TARGET), with its dictionary
# when there is one (fuzz/dict/TARGET.dict).  A crash, a sanitizer report
# or a broken invariant stops that target; its input is saved as
# build/fuzz/crash-TARGET-* and the run ends with status 1 after the
# others.  The log of each target is build/fuzz/TARGET.log.
set -u

top=$(cd "$(dirname "$0")/.." && pwd)
out=$top/build/fuzz
secs=$1
shift

failed=
printf '%-10s %8s %12s %10s %8s %6s  %s\n' target seconds execs exec/s cov ft result

for t in "$@"; do
    bin=$out/fuzz_$t
    corpus=$out/corpus/$t
    log=$out/$t.log
    mkdir -p "$corpus"

    set -- -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix="$out/crash-$t-"
    if [ -f "$top/fuzz/dict/$t.dict" ]; then
        set -- "$@" -dict="$top/fuzz/dict/$t.dict"
    fi
    if [ "$t" = options ]; then
        # farm-agent prints its errors and --help: keep them out of the log
        set -- "$@" -close_fd_mask=3
    fi

    "$bin" "$@" "$corpus" "$top/fuzz/corpus/$t" > "$log" 2>&1
    rc=$?

    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
    ft=$(grep -o 'ft: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)

    if [ "$rc" -eq 0 ]; then
        result=ok
    else
        result="FAILED (status $rc, see $log)"
        failed="$failed $t"
    fi

    printf '%-10s %8s %12s %10s %8s %6s  %s\n' "$t" "$secs" "${execs:-?}" \
        "${rate:-?}" "${cov:-?}" "${ft:-?}" "$result"

    if [ "$rc" -ne 0 ]; then
        grep -E 'INVARIANT FAILED|ERROR: |runtime error|SUMMARY' "$log" \
            | head -5
    fi
done

if [ -n "$failed" ]; then
    echo "fuzz: failed:$failed"
    exit 1
fi
