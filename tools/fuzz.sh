#!/usr/bin/env bash
# Long fuzzing runs of the C targets in csrc/fuzz/ (csrc/fuzz/targets.txt lists them).
#
#   tools/fuzz.sh TARGET [SECONDS]     one target (default 300 s)
#   tools/fuzz.sh all [SECONDS]        every target, one after the other
#   tools/fuzz.sh list                 the targets
#   tools/fuzz.sh TARGET --repro FILE  run one input (a crash file) and show the report
#
# With clang and its libFuzzer runtime (Debian: `apt-get install -y clang`, which brings
# libclang-rt-14-dev), the target is built with -fsanitize=fuzzer,address,undefined and
# libFuzzer runs it, growing build/fuzz/corpus/TARGET.  Without them (or FUZZ_ENGINE=standalone)
# it is built with cc and csrc/fuzz/standalone.c under -fsanitize=address,undefined and runs
# deterministic mutations of the corpus for that long (FUZZ_SEED picks the mutations).
# The corpus is made first by tools/fuzz_seeds.py (from ../shared/samples and scapy) when it
# is not there; csrc/fuzz/corpus/TARGET (small seeds and regression inputs) is always read.
# A failing input lands in build/fuzz/crashes/TARGET/.  FUZZ_BUILD moves build/fuzz.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BUILD="${FUZZ_BUILD:-$ROOT/build/fuzz}"
TARGETS="$ROOT/csrc/fuzz/targets.txt"
SANITIZE=(-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer)
CFLAGS=(-std=gnu11 -g -O1 -Wall -Wextra -I "$ROOT/csrc")
case "$(uname -m)" in x86_64 | amd64) CFLAGS+=(-maes) ;; esac

targets() { grep -v '^#' "$TARGETS" | awk 'NF { print $1 }'; }
field() { grep -v '^#' "$TARGETS" | awk -v t="$1" -v f="$2" '$1 == t { print $f }'; }
sources() {
    grep -v '^#' "$TARGETS" | awk -v t="$1" '$1 == t { for (i = 3; i <= NF; i++) print $i }' |
        sed "s|^|$ROOT/csrc/|"
}

have_libfuzzer() {
    [ "${FUZZ_ENGINE:-}" != standalone ] && command -v clang >/dev/null || return 1
    local probe="$BUILD/.probe"
    mkdir -p "$BUILD"
    printf 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n) { return d && n; }\n' \
        >"$probe.c"
    clang -fsanitize=fuzzer "$probe.c" -o "$probe" 2>/dev/null
}

python_bin() {
    if [ -x "$ROOT/.venv/bin/python" ]; then echo "$ROOT/.venv/bin/python"; else echo python3; fi
}

build() {    # build TARGET ENGINE -> path of the binary
    local t="$1" engine="$2" out="$BUILD/bin/$1.$2"
    mkdir -p "$BUILD/bin"
    mapfile -t srcs < <(sources "$t")
    if [ "$engine" = libfuzzer ]; then
        clang "${CFLAGS[@]}" -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
            -fno-omit-frame-pointer "$ROOT/csrc/fuzz/fuzz_$t.c" "${srcs[@]}" -lm -o "$out" >&2
    else
        "${CC:-cc}" "${CFLAGS[@]}" "${SANITIZE[@]}" "$ROOT/csrc/fuzz/fuzz_$t.c" \
            "$ROOT/csrc/fuzz/standalone.c" "${srcs[@]}" -lm -o "$out" >&2
    fi
    echo "$out"
}

run() {    # run TARGET SECONDS
    local t="$1" secs="$2" engine=standalone bin max_len corpus seeds crashes
    [ -n "$(field "$t" 1)" ] || { echo "fuzz.sh: no target '$t' (tools/fuzz.sh list)" >&2; exit 2; }
    have_libfuzzer && engine=libfuzzer
    corpus="$BUILD/corpus/$t"
    seeds="$ROOT/csrc/fuzz/corpus/$t"
    crashes="$BUILD/crashes/$t"
    max_len="$(field "$t" 2)"
    mkdir -p "$crashes" "$seeds"
    if [ ! -d "$corpus" ]; then
        "$(python_bin)" "$ROOT/tools/fuzz_seeds.py" --out "$BUILD/corpus" >&2 ||
            mkdir -p "$corpus"
    fi
    bin="$(build "$t" "$engine")"
    echo "fuzz.sh: $t: $engine for ${secs}s, corpus $corpus (+ $seeds)" >&2
    export ASAN_OPTIONS="${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1}"
    export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
    if [ "$engine" = libfuzzer ]; then
        local log="$BUILD/$t.log" rc=0
        "$bin" -max_total_time="$secs" -max_len="$max_len" -timeout=10 -rss_limit_mb=2048 \
            -print_final_stats=1 -artifact_prefix="$crashes/" "$corpus" "$seeds" \
            >"$log" 2>&1 || rc=$?
        # the progress lines stay in the log; the end of the run and any report are shown
        grep -v -e '^#[0-9]*[[:space:]]*\(NEW\|REDUCE\|pulse\)' -e '# Uses: ' "$log" | tail -n 40
        return "$rc"
    else
        "$bin" -t "$secs" -n 1000000000000 -m "$max_len" -s "${FUZZ_SEED:-1}" -o "$crashes" \
            "$corpus" "$seeds"
    fi
}

repro() {    # repro TARGET FILE
    local engine=standalone bin
    have_libfuzzer && engine=libfuzzer
    bin="$(build "$1" "$engine")"
    if [ "$engine" = libfuzzer ]; then "$bin" "$2"; else "$bin" -n 0 "$2"; fi
}

case "${1:-}" in
"" | -h | --help) sed -n '2,/^set -/{/^#/p}' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
list) targets; exit 0 ;;
all)
    rc=0
    for t in $(targets); do run "$t" "${2:-300}" || rc=1; done
    exit "$rc"
    ;;
esac
if [ "${2:-}" = --repro ]; then
    repro "$1" "$3"
else
    run "$1" "${2:-300}"
fi
