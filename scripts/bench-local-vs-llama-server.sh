#!/usr/bin/env bash
# The offline LLM side by side with llama.cpp on the same work: the group strategy on the top-10
# features of the reference cohort, N rows (default 200), the same model file, the same 20 real
# example rows per prompt, 2 threads each, run one after the other on this machine:
#   1. ehrsynth's in-process model (--provider local; 32 sequences decoded together per prompt);
#   2. llama-server with --parallel slots and json_schema output (--provider openai-compatible
#      --structured, 4 requests in flight), built by .ci/install-llama-server.
# Prints valid rows per second for each (wall time of `ehrsynth generate`, model load included)
# and writes both tables with their audits under $OUT (default target/bench-local).
#
#   bash scripts/bench-local-vs-llama-server.sh [ROWS]
#
# Needs a release build (cargo build --release -p ehrsynth) and `ehrsynth model pull`.
set -euo pipefail
cd "$(dirname "$0")/.."
rows="${1:-200}"
out="${OUT:-target/bench-local}"
ehrsynth="$PWD/target/release/ehrsynth"
mkdir -p "$out"
# shellcheck disable=SC2046 # two NAME=/path words
export $(bash .ci/install-llama-server)
model="$("$ehrsynth" model list | awk '/Q8_0.gguf/ {print $3; exit}')"

"$ehrsynth" cohort reference --rows 10000 --hospitals 20 --seed 42 --out "$out/reference.parquet" >/dev/null
"$ehrsynth" split "$out/reference.parquet" --train "$out/train.parquet" --holdout "$out/holdout.parquet" >/dev/null
printf '%s\n' lactate_last_early ventdays hosp_los bun_last_early electivesurgery age tempc_min \
  albumin_first_early tempc_last bilirubin_last_early > "$out/top10.txt"
common=(generate --train "$out/train.parquet" --generator llm --strategy group
  --features "$out/top10.txt" --rows "$rows" --seed 1 --real-examples 20)

timed() { # label, command...
  local label=$1 start end
  shift
  rm -f "$out/$label.csv" "$out/$label.csv.journal.sqlite"
  start=$(date +%s.%N)
  # Exit 3 = fewer rows than asked (those are written): a figure to report, not a failure.
  local status=0
  "$@" --out "$out/$label.csv" 2>"$out/$label.log" || status=$?
  [[ $status == 0 || $status == 3 ]] || { echo "$label: generate failed ($status), see $out/$label.log"; return; }
  end=$(date +%s.%N)
  local kept
  kept=$(($(wc -l <"$out/$label.csv") - 1))
  "$ehrsynth" evaluate --train "$out/train.parquet" --holdout "$out/holdout.parquet" \
    --synthetic "$out/$label.csv" --json "$out/$label.audit.json" >"$out/$label.audit.txt" 2>&1 ||
    echo '{"fidelity": {"kl_mean": null}}' >"$out/$label.audit.json"
  python3 - "$label" "$kept" "$start" "$end" "$out/$label.audit.json" <<'PY'
import json, sys
label, kept, start, end, audit = sys.argv[1:]
seconds = float(end) - float(start)
kl = json.load(open(audit))["fidelity"]["kl_mean"]
kl = "n/a" if kl is None else f"{kl:.3f}"
print(f"{label:14s} {int(kept):5d} rows in {seconds:7.1f} s = {int(kept) / seconds:5.2f} valid rows/s   mean KL {kl}")
PY
}

timed local "$ehrsynth" "${common[@]}" --provider local --model-path "$model" --threads 2

port=18091
"$EHRSYNTH_LLAMA_SERVER" --model "$model" --host 127.0.0.1 --port "$port" --threads 2 \
  --ctx-size 16384 --parallel 4 --seed 1 --no-webui >"$out/server.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
for _ in $(seq 120); do
  curl -sf "http://127.0.0.1:$port/health" >/dev/null 2>&1 && break
  sleep 1
done
timed llama-server "$ehrsynth" "${common[@]}" --provider openai-compatible \
  --base-url "http://127.0.0.1:$port" --model smollm2 --structured --rows-per-request 20 \
  --allow-real-examples openai-compatible --max-output-tokens 2048 --concurrency 4
