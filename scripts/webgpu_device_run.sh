#!/usr/bin/env bash
# The WebGPU checks on a lent GPU machine that has no network: run from the repo's root after
# scripts/webgpu_device_prepare.sh built .device/ here and the run carried it there.
#
#   bash scripts/webgpu_device_run.sh          # OUT: the folder whose files come back
#
# It prints diagnostics (GPU, Vulkan loader and ICDs, what navigator.gpu's adapter reports and
# whether kernels/select.ts calls it software), then, each step under its own timeout and
# guarded so that a failure does not stop the others:
#   a. bench kernels.webgpu       gemm.webgpu.gflops, train_step.batchtopk.webgpu  → bench.jsonl
#   b. bench train.paper_scale    the SAE trainer on WebGPU (CONCEPT_ATLAS_BENCH_BACKEND=webgpu)
#                                 → bench.jsonl
#   c. deno test                  kernels_parity, kernels_train_step, kernels_select with
#                                 CONCEPT_ATLAS_REQUIRE=webgpu                      → tests.txt
#   d. the default study          `main.ts run --backend webgpu`, timed, in the time left
#                                 → pipeline.txt, pipeline.json
# Files in $OUT (7): log.txt (everything), adapter.json, bench.jsonl, tests.txt, pipeline.txt,
# pipeline.json, summary.txt (one line a step: rc, seconds).
#
# Environment: OUT (default .device/out), QUICK=1 (small sizes: --quick benches and a reduced
# study, for a software adapter), BUDGET_S (seconds for the whole script: default 330, QUICK 3600),
# FORCE_GL=1 (unpack .device/gl even when a Vulkan loader exists), STEPS (the steps to run, default
# abcd: STEPS=ac runs a and c only), PIPELINE_BACKEND (step d's --backend, default webgpu). No network is used: Deno runs
# with --cached-only on the npm packages of .device/npm.tar.xz.
set -uo pipefail
export PATH=$PATH:/usr/local/sbin:/usr/sbin:/sbin # ldconfig
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo" || exit 1
OUT=${OUT:-$repo/.device/out}
mkdir -p "$OUT"
QUICK=${QUICK:-0}
if [ "$QUICK" = 1 ]; then BUDGET_S=${BUDGET_S:-3600}; CAP=900; else BUDGET_S=${BUDGET_S:-330}; CAP=0; fi
SECONDS=0

# Seconds for a step: min(its cap, what is left of the budget less a reserve for the next steps).
step_limit() {
  local cap=$1 reserve=$2 left=$((BUDGET_S - SECONDS - $2))
  [ "$CAP" -gt 0 ] && cap=$CAP
  [ "$left" -lt "$cap" ] && cap=$left
  echo "$cap"
}

# step NAME CAP RESERVE CMD…: run CMD under timeout, log and summarise it. CMD's stdout is
# appended to $STEP_OUT, its stderr to $STEP_ERR (default: the log).
step() {
  local name=$1 limit rc t0
  case ${STEPS:-abcd} in *"${name:0:1}"*) ;; *) echo "== $name: not in STEPS"; return ;; esac
  limit=$(step_limit "$2" "$3")
  shift 3
  if [ "$limit" -lt 15 ]; then
    echo "== $name: skipped (${limit} s of the budget left)"
    echo "$name skipped budget" >>"$OUT/summary.txt"
    return
  fi
  echo "== $name (timeout ${limit} s) at +${SECONDS} s: $*"
  t0=$(date +%s.%N)
  timeout -k 10 "$limit" "$@" >>"${STEP_OUT:-/dev/stdout}" 2>>"${STEP_ERR:-/dev/stderr}"
  rc=$?
  local secs
  secs=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
  [ "$rc" = 124 ] || [ "$rc" = 137 ] && echo "== $name: TIMED OUT after ${limit} s"
  echo "== $name: rc=$rc in ${secs} s"
  echo "$name rc=$rc seconds=$secs" >>"$OUT/summary.txt"
}

diagnostics() {
  echo "== machine"
  date -u +%FT%TZ
  uname -a
  echo "nproc $(nproc); $(grep -m1 'model name' /proc/cpuinfo)"
  grep -E 'MemTotal|MemAvailable' /proc/meminfo
  [ -r /etc/os-release ] && grep PRETTY_NAME /etc/os-release
  ldd --version 2>&1 | head -1
  echo "python3: $(command -v python3) $(python3 --version 2>&1)"
  echo "cc: $(command -v cc gcc | tr '\n' ' ')  time: $(command -v /usr/bin/time)"
  echo "== GPU"
  nvidia-smi -L 2>&1 | head -5
  nvidia-smi --query-gpu=name,driver_version,memory.total,memory.used,clocks.sm --format=csv 2>&1 | head -3
  ls -la /dev/nvidia* /dev/dri 2>&1 | head -12
  echo "== Vulkan loader and drivers"
  ldconfig -p | grep -iE 'libvulkan|libGLX_nvidia|libEGL_nvidia|nvidia-glvkspirv|libnvidia-gpucomp' | head -12
  echo "LD_LIBRARY_PATH=${LD_LIBRARY_PATH:-}"
  local d
  for d in /usr/share/vulkan/icd.d /etc/vulkan/icd.d /usr/local/share/vulkan/icd.d \
    /usr/local/nvidia/share/vulkan/icd.d /usr/share/glvnd/egl_vendor.d \
    /usr/local/nvidia/share/glvnd/egl_vendor.d; do
    [ -d "$d" ] && echo "$d: $(ls "$d" | tr '\n' ' ')"
  done
  for d in /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json /usr/share/vulkan/icd.d/nvidia_icd.json \
    /etc/vulkan/icd.d/nvidia_icd.json; do
    [ -f "$d" ] && { echo "--- $d"; cat "$d"; echo; }
  done
  ls /usr/local/nvidia/lib64 2>/dev/null | grep -iE 'vulkan|GLX_nvidia|EGL_nvidia|glvk' | head
  env | grep -E '^(VK_|__EGL|__GLX|NVIDIA_)' | sort
}

# The Vulkan loader (the device README's recipe), and the NVIDIA ICD when the loader cannot see it.
vulkan_setup() {
  if [ "${FORCE_GL:-0}" = 1 ] || ! ldconfig -p | grep -q 'libvulkan\.so\.1'; then
    echo "== unpacking the Vulkan / GL loaders of .device/gl into /"
    local f
    for f in .device/gl/*.deb; do dpkg -x "$f" / || echo "dpkg -x $f failed"; done
    ldconfig
    ldconfig -p | grep -i libvulkan
  fi
  local icd=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
  if [ -z "${VK_DRIVER_FILES:-}${VK_ICD_FILENAMES:-}" ] && [ -f "$icd" ] &&
    ! ls /usr/share/vulkan/icd.d/*nvidia* /etc/vulkan/icd.d/*nvidia* \
      /usr/local/share/vulkan/icd.d/*nvidia* >/dev/null 2>&1; then
    echo "== the loader's folders hold no NVIDIA ICD: VK_DRIVER_FILES=$icd"
    export VK_DRIVER_FILES=$icd VK_ICD_FILENAMES=$icd
    export __EGL_VENDOR_LIBRARY_FILENAMES=/usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json
  fi
  # the ICD names libGLX_nvidia.so.0: make sure the loader can open it
  if ! ldconfig -p | grep -q 'libGLX_nvidia\.so\.0'; then
    for d in /usr/local/nvidia/lib64 /usr/local/nvidia/lib /usr/lib/x86_64-linux-gnu/nvidia; do
      if [ -e "$d/libGLX_nvidia.so.0" ]; then
        echo "== libGLX_nvidia.so.0 is not in the ld cache: LD_LIBRARY_PATH+=$d"
        export LD_LIBRARY_PATH=${LD_LIBRARY_PATH:+$LD_LIBRARY_PATH:}$d
        break
      fi
    done
  fi
}

# Unpack deno and the npm packages (python3's lzma: xz itself may be missing there).
unpack() {
  python3 - "$repo/.device" "$W" <<'EOF'
import hashlib, lzma, os, shutil, sys, tarfile, time
dev, w = sys.argv[1:]
t = time.time()
with lzma.open(f"{dev}/deno.xz") as f, open(f"{w}/deno", "wb") as g:
    shutil.copyfileobj(f, g, 1 << 20)
os.chmod(f"{w}/deno", 0o755)
want = open(f"{dev}/deno.sha256").read().split()[0]
h = hashlib.sha256()
with open(f"{w}/deno", "rb") as f:
    for b in iter(lambda: f.read(1 << 20), b""):
        h.update(b)
if h.hexdigest() != want:
    sys.exit("deno: sha256 mismatch")
kw = {"filter": "fully_trusted"} if hasattr(tarfile, "fully_trusted_filter") else {}
with tarfile.open(f"{dev}/npm.tar.xz") as tar:
    tar.extractall(f"{w}/deno_dir", **kw)
print(f"unpacked deno and the npm cache in {time.time() - t:.1f} s")
EOF
}

write_helpers() {
  # what navigator.gpu reports, and what kernels/select.ts makes of it
  cat >"$W/probe.ts" <<EOF
import { createBackend, isSoftwareAdapter } from "$repo/kernels/select.ts";
// deno-lint-ignore no-explicit-any
const gpu = (navigator as any).gpu;
// deno-lint-ignore no-explicit-any
const r: Record<string, any> = { navigator_gpu: !!gpu, deno: Deno.version.deno };
for (const pp of ["high-performance", "low-power"]) {
  try {
    const a = gpu ? await gpu.requestAdapter({ powerPreference: pp }) : null;
    if (!a) {
      r[pp] = null;
      continue;
    }
    const i = a.info ?? {};
    const lim: Record<string, number> = {};
    for (const k of ["maxBufferSize", "maxStorageBufferBindingSize", "maxComputeWorkgroupStorageSize",
      "maxComputeInvocationsPerWorkgroup", "maxComputeWorkgroupsPerDimension", "maxStorageBuffersPerShaderStage"]) {
      lim[k] = a.limits[k];
    }
    r[pp] = {
      vendor: i.vendor, architecture: i.architecture, device: i.device, description: i.description,
      isFallbackAdapter: i.isFallbackAdapter ?? a.isFallbackAdapter ?? null,
      software: isSoftwareAdapter(i), features: [...a.features].sort(), limits: lim,
    };
  } catch (e) {
    r[pp] = { error: String(e) };
  }
}
for (const kind of ["webgpu", "auto"] as const) {
  try {
    const lines: string[] = [];
    const be = await createBackend(kind, { log: (l) => lines.push(l) });
    r[\`backend_\${kind}\`] = { name: be.name, log: lines };
    be.close();
  } catch (e) {
    r[\`backend_\${kind}\`] = { error: String(e) };
  }
}
console.log(JSON.stringify(r, null, 1));
const hp = r["high-performance"];
console.error(hp && !hp.error
  ? \`adapter: \${hp.vendor} / \${hp.architecture} / \${hp.device} / \${hp.description}; software: \${hp.software}\`
  : "adapter: none");
if (!hp || hp.error || hp.software) Deno.exit(3);
EOF
  # one benchmark group of one bench module, as JSON lines (bench/main.ts's --json format)
  cat >"$W/bench_group.ts" <<'EOF'
const [mod, group, ...rest] = Deno.args;
const { benchmarks } = await import(new URL(mod, `file://${Deno.cwd()}/`).href);
// deno-lint-ignore no-explicit-any
const found = benchmarks.filter((b: any) => b.group === group);
if (found.length === 0) throw new Error(`${mod}: no benchmark group ${group}`);
for (const b of found) {
  const results = await b.run({ quick: rest.includes("--quick"), log: (l: string) => console.error(l) });
  for (const r of results) console.log(JSON.stringify(r));
}
EOF
  # wall time and peak memory of a command, when /usr/bin/time is missing
  cat >"$W/timed.py" <<'EOF'
import resource, subprocess, sys, time
t = time.time()
rc = subprocess.call(sys.argv[1:])
ru = resource.getrusage(resource.RUSAGE_CHILDREN)
print(f"\tElapsed (wall clock) time (s): {time.time() - t:.2f}\n\tUser time (seconds): {ru.ru_utime:.2f}"
      f"\n\tSystem time (seconds): {ru.ru_stime:.2f}\n\tMaximum resident set size (kbytes): {ru.ru_maxrss}",
      file=sys.stderr)
sys.exit(rc)
EOF
}

main() {
  echo "== scripts/webgpu_device_run.sh: QUICK=$QUICK BUDGET_S=$BUDGET_S OUT=$OUT repo=$repo"
  [ -f .device/deno.xz ] && [ -f .device/npm.tar.xz ] || {
    echo "error: .device/ is missing (run scripts/webgpu_device_prepare.sh and carry .device)"
    return 1
  }
  diagnostics
  vulkan_setup
  W=$(mktemp -d /tmp/atlas-device.XXXXXX)
  export DENO_DIR=$W/deno_dir DENO_NO_UPDATE_CHECK=1 DENO_NO_PROMPT=1 NO_COLOR=1
  export CONCEPT_ATLAS_OFFLINE=1 HF_HUB_OFFLINE=1
  if [ -z "${XDG_RUNTIME_DIR:-}" ] || [ ! -w "${XDG_RUNTIME_DIR}" ]; then
    XDG_RUNTIME_DIR=$(mktemp -d) && chmod 700 "$XDG_RUNTIME_DIR" && export XDG_RUNTIME_DIR
  fi
  if ! unpack; then
    echo "python3's lzma failed: trying xz and tar"
    rm -rf "$W/deno" "$W/deno_dir" && mkdir -p "$W/deno_dir" &&
      xz -dc .device/deno.xz >"$W/deno" && chmod +x "$W/deno" &&
      xz -dc .device/npm.tar.xz | tar -x -C "$W/deno_dir" ||
      { echo "error: unpacking .device failed"; return 1; }
  fi
  local deno=$W/deno
  # offline, and the repo's config also for the helpers in $W (its import map, node_modules)
  local df=(--cached-only --config "$repo/deno.json")
  "$deno" --version | head -1
  write_helpers
  local q=() quick_flag=()
  [ "$QUICK" = 1 ] && quick_flag=(--quick)

  echo "== adapter probe (navigator.gpu, kernels/select.ts)"
  timeout -k 5 120 "$deno" run -A "${df[@]}" "$W/probe.ts" >"$OUT/adapter.json"
  local probe=$? icd=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
  cat "$OUT/adapter.json"
  echo "probe rc=$probe (0: hardware adapter, 3: none or software)"
  if [ "$probe" != 0 ] && [ -z "${VK_DRIVER_FILES:-}" ] && [ -f "$icd" ]; then
    echo "== no hardware adapter: again with VK_DRIVER_FILES=$icd"
    VK_DRIVER_FILES=$icd VK_ICD_FILENAMES=$icd timeout -k 5 120 "$deno" run -A "${df[@]}" \
      "$W/probe.ts" >"$W/adapter2.json"
    probe=$?
    cat "$W/adapter2.json"
    echo "probe rc=$probe with VK_DRIVER_FILES"
    if [ "$probe" = 0 ]; then
      cp "$W/adapter2.json" "$OUT/adapter.json"
      export VK_DRIVER_FILES=$icd VK_ICD_FILENAMES=$icd
      export __EGL_VENDOR_LIBRARY_FILENAMES=/usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json
    fi
  fi
  echo "probe rc=$probe seconds=$SECONDS" >>"$OUT/summary.txt"
  if [ "$probe" != 0 ] && [ "$QUICK" != 1 ]; then
    echo "== no hardware adapter: the Vulkan loader's own account (VK_LOADER_DEBUG=error,warn,driver)"
    VK_LOADER_DEBUG=error,warn,driver timeout -k 5 60 "$deno" run -A "${df[@]}" "$W/probe.ts" \
      2>&1 >/dev/null | awk '!seen[$0]++' | head -150
  fi

  STEP_OUT=$OUT/bench.jsonl step a.kernels.webgpu 120 150 "$deno" run -A "${df[@]}" \
    "$W/bench_group.ts" bench/kernels_bench.ts kernels.webgpu "${quick_flag[@]}"
  STEP_OUT=$OUT/bench.jsonl CONCEPT_ATLAS_BENCH_BACKEND=webgpu step b.train.paper_scale.webgpu \
    180 100 "$deno" run -A "${df[@]}" "$W/bench_group.ts" bench/train_bench.ts \
    train.paper_scale "${quick_flag[@]}"
  echo "--- bench.jsonl"
  cat "$OUT/bench.jsonl"

  STEP_OUT=$OUT/tests.txt STEP_ERR=$OUT/tests.txt CONCEPT_ATLAS_REQUIRE=webgpu step c.tests \
    150 60 "$deno" test -A --no-check "${df[@]}" tests/kernels_parity_test.ts \
    tests/kernels_train_step_test.ts tests/kernels_select_test.ts
  grep -E '^(ok|FAILED|error)|\.\.\. (ok|FAILED|ignored)|passed|failed' "$OUT/tests.txt" | grep -v '^ ' | tail -40

  # d. the default study on WebGPU, in the time left
  [ "$QUICK" = 1 ] && q=(--set 'train.methods=[batchtopk,pca]' --set 'train.k=[8]'
    --set 'train.seeds=[0,1]' --set train.epochs=2 --set 'diets.ratios=[natural,1:1]'
    --set dataset.world.images=1000)
  local timer=(python3 "$W/timed.py")
  [ -x /usr/bin/time ] && timer=(/usr/bin/time -v)
  STEP_OUT=$OUT/pipeline.txt STEP_ERR=$OUT/pipeline.txt step d.pipeline.webgpu 100000 5 \
    "${timer[@]}" "$deno" run -A "${df[@]}" main.ts run --backend "${PIPELINE_BACKEND:-webgpu}" \
    --cache "$W/cache" --json --offline "${q[@]}"
  grep '^{"ok"' "$OUT/pipeline.txt" | tail -1 >"$OUT/pipeline.json"
  grep -vE '^\{"ok"' "$OUT/pipeline.txt" | tail -60
  [ -s "$OUT/pipeline.json" ] && python3 - "$OUT/pipeline.json" <<'EOF'
import collections, json, sys
j = json.load(open(sys.argv[1]))
by = collections.defaultdict(lambda: [0, 0.0])
for s in j.get("stages", []):
    by[s["stage"]][0] += 1
    by[s["stage"]][1] += s.get("seconds") or 0
print("pipeline ok:", j.get("ok"), "| stage: instances, seconds")
for k, (n, t) in sorted(by.items(), key=lambda kv: -kv[1][1]):
    print(f"  {k:12s} {n:4d} {t:8.1f}")
for c in j.get("claims", []) + j.get("validation", []):
    print("  ", c.get("claim") or c.get("check"), c.get("value"), "holds" if c.get("holds") else "FAILS")
EOF

  echo "== summary (+${SECONDS} s)"
  cat "$OUT/summary.txt"
  ls -la "$OUT"
}

: >"$OUT/summary.txt"
: >"$OUT/bench.jsonl"
: >"$OUT/tests.txt"
: >"$OUT/pipeline.txt"
main 2>&1 | tee "$OUT/log.txt"
