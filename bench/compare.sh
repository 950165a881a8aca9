#!/usr/bin/env bash
# Compare deskbot's classifier with scikit-learn's TF-IDF word+char LinearSVC on one split.
#
#   bench/compare.sh [DATA_DIR]      (default: ../shared/data/clinc150 from the repo root)
#
# Creates target/bench-venv (python3 -m venv; pip install scikit-learn) on first use, builds
# `deskbot` in release mode, runs both systems on train/val/test, and prints accuracy,
# training time and single-message latency side by side with ratios (deskbot / sklearn).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
data="${1:-$root/../shared/data/clinc150}"
for split in train val test; do
    [[ -f "$data/$split.jsonl" ]] || { echo "missing $data/$split.jsonl" >&2; exit 1; }
done

venv="$root/target/bench-venv"
if [[ ! -x "$venv/bin/python" ]] || ! "$venv/bin/python" -c 'import sklearn' 2>/dev/null; then
    echo "setting up $venv (scikit-learn)..." >&2
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet scikit-learn
fi

echo "building deskbot (release)..." >&2
cargo build --quiet --release -p deskbot
bin="${CARGO_TARGET_DIR:-$root/target}/release/deskbot"

echo "running scikit-learn baseline..." >&2
"$venv/bin/python" "$root/bench/sklearn_baseline.py" \
    "$data/train.jsonl" "$data/val.jsonl" "$data/test.jsonl" > "$root/target/bench-sklearn.json"
echo "running deskbot eval..." >&2
"$bin" eval --train "$data/train.jsonl" --val "$data/val.jsonl" --test "$data/test.jsonl" --json \
    > "$root/target/bench-deskbot.json"

"$venv/bin/python" - "$root/target/bench-deskbot.json" "$root/target/bench-sklearn.json" <<'PY'
import json, sys
ours = json.load(open(sys.argv[1]))
base = json.load(open(sys.argv[2]))
rows = [
    ("accuracy (incl. oos)", "accuracy", "%"),
    ("in-scope accuracy", "in_scope_accuracy", "%"),
    ("closed-set in-scope accuracy", "closed_in_scope_accuracy", "%"),
    ("OOS precision", "oos_precision", "%"),
    ("OOS recall", "oos_recall", "%"),
    ("training time", "train_seconds", "s"),
    ("latency p50 (1 message)", "latency_us_p50", "us"),
    ("latency p99 (1 message)", "latency_us_p99", "us"),
]
print(f"{'':32} {'deskbot':>12} {'sklearn':>12} {'ratio':>8}")
for name, key, unit in rows:
    a, b = ours[key], base[key]
    fmt = (lambda x: f"{100 * x:10.2f} %") if unit == "%" else (lambda x: f"{x:10.3f} {unit:<1}" if unit == "s" else f"{x:9.1f} {unit}")
    ratio = a / b if b else float("nan")
    print(f"{name:32} {fmt(a):>12} {fmt(b):>12} {ratio:7.2f}x")
print(f"\nthresholds: deskbot {ours['threshold']:.4f} (in-scope score), sklearn {base['threshold']:.4f} (SVM score); both chosen on val")
PY
