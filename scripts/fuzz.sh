#!/usr/bin/env bash
# Fuzzes every file loader with libFuzzer for a fixed budget: `make fuzz` (FUZZ_SECONDS per
# target, default 30). Seeds come from the repository's own test files; crashes are written to
# .build/fuzz/crashes/<target>/ and make the run fail. Add a crash input to Tests/Golden/hostile
# (make_hostile_inputs.py) once fixed, so it stays a test.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${FUZZ_SECONDS:-30}"
scratch=.build/fuzz
swift build -c release --product FoveaFuzz --scratch-path "$scratch" \
    -Xswiftc -sanitize=fuzzer -Xswiftc -DFUZZING -Xswiftc -enable-testing
binary="$scratch/release/FoveaFuzz"

seeds() {
    case "$1" in
        png) ls Tests/FoveaIOTests/Fixtures/*.png docs/*.png 2>/dev/null | head -20 ;;
        jpeg) ls Tests/FoveaIOTests/Fixtures/*.jpg docs/*.jpg Tests/Golden/hostile/*.jpg 2>/dev/null | head -20 ;;
        pickle) ls Tests/FoveaIOTests/Fixtures/*.pt Tests/FoveaIOTests/Fixtures/*.pkl 2>/dev/null ;;
        safetensors) ls Tests/Golden/exports/*.safetensors Tests/Golden/keras/*.safetensors 2>/dev/null ;;
        onnx) ls Tests/Golden/exports/*.onnx Tests/Golden/hostile/*.onnx 2>/dev/null ;;
        hdf5) ls Tests/Golden/keras/*.h5 2>/dev/null ;;
        npy) ls Tests/FoveaIOTests/Fixtures/*.npy 2>/dev/null ;;
        idx) ls Tests/Golden/hostile/*idx3-ubyte* 2>/dev/null ;;
    esac
}

failed=0
for target in png jpeg pickle safetensors onnx hdf5 npy idx; do
    corpus="$scratch/corpus/$target" crashes="$scratch/crashes/$target"
    mkdir -p "$corpus" "$crashes"
    for f in $(seeds "$target"); do cp -f "$f" "$corpus/"; done
    echo "fuzz $target: ${seconds}s from $(ls "$corpus" | wc -l) inputs"
    # Debian's libhdf5 loops forever on some corrupt files (Fovea's watchdog turns that into an
    # error after FOVEA_HDF5_TIMEOUT s): for hdf5, timeouts are counted, not fatal.
    extra=()
    if [ "$target" = hdf5 ]; then extra=(-fork=1 -ignore_timeouts=1); fi
    status=0
    FOVEA_FUZZ_TARGET="$target" "$binary" "$corpus" "${extra[@]}" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=4096 \
        -max_len=1048576 -artifact_prefix="$crashes/" -print_final_stats=1 >"$scratch/$target.log" 2>&1 || status=$?
    fatal=$(ls "$crashes" | grep -vc '^timeout' || true)
    timeouts=$(ls "$crashes" | grep -c '^timeout' || true)
    # libFuzzer exits 70 after timeouts, which only hdf5 tolerates.
    if [ "$fatal" -gt 0 ] || { [ "$status" -ne 0 ] && ! { [ "$target" = hdf5 ] && [ "$status" -eq 70 ]; }; }; then
        echo "  FAILED (exit $status): see $scratch/$target.log and $crashes/"; failed=1
    else
        grep -E "stat::number_of_executed_units|cov:" "$scratch/$target.log" | tail -1 | sed 's/^/  /'
        if [ "$target" = hdf5 ]; then echo "  $timeouts libhdf5 timeouts kept in $crashes"; fi
    fi
done
exit $failed
