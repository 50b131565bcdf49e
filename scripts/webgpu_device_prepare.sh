#!/usr/bin/env bash
# Builds .device/, what scripts/webgpu_device_run.sh needs on a machine without network (the lent
# GPU machine): run here, in the repo, with network, after `deno install`.
#
#   bash scripts/webgpu_device_prepare.sh        # then carry .device (about 50 MiB)
#
# .device/ (ignored through .git/info/exclude, never committed) holds:
#   deno.xz        the deno binary that runs here (Deno.execPath()), xz-compressed (python3's
#                  lzma unpacks it there)
#   npm.tar.xz     a DENO_DIR holding npm/registry.npmjs.org/…: every package of deno.lock that
#                  Deno installs on linux x86-64 (it sets up all of them before any import, and
#                  --cached-only fails on a missing one). The packages the study loads are
#                  whole, trimmed to linux x86-64 builds (onnxruntime-node: bin/napi-v6/linux/x64
#                  only; parquet-wasm: no bundler build; @huggingface/transformers: its node
#                  builds); the ones nothing run there imports (onnxruntime-web, which transformers
#                  bundles, duckdb, playwright, musl builds of native add-ons) are package.json
#                  stubs.
#   gl/*.deb       the Vulkan / GL loaders (libvulkan1, libglvnd…) that the run unpacks into /
#                  when the machine has no libvulkan.so.1
#   MANIFEST.txt   sizes and sha256 sums
# Environment: DENO (a deno binary; default: `npx -y deno@2.9.6`'s), SKIP_GL=1 (keep gl/ as is).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
dev=.device

if [ -z "${DENO:-}" ]; then
  DENO=$(npx -y deno@2.9.6 eval --quiet 'console.log(Deno.execPath())')
fi
"$DENO" --version | head -1

# 1. ignored, not committed: .git/info/exclude (never .gitignore)
gitdir=$(git rev-parse --git-dir)
mkdir -p "$gitdir/info"
grep -qx '/.device/' "$gitdir/info/exclude" 2>/dev/null || echo '/.device/' >>"$gitdir/info/exclude"
mkdir -p "$dev"
git check-ignore -q "$dev/x" || { echo "error: $dev is not ignored by git" >&2; exit 1; }

# 2. the deno binary
sum=$(sha256sum "$DENO" | cut -d' ' -f1)
if [ -f "$dev/deno.xz" ] && [ "$(cat "$dev/deno.sha256" 2>/dev/null)" = "$sum" ]; then
  echo "deno binary: $dev/deno.xz is up to date"
else
  echo "deno binary: $DENO ($(du -h "$DENO" | cut -f1)) → $dev/deno.xz"
  xz -9 -T0 -c "$DENO" >"$dev/deno.xz.tmp"
  mv "$dev/deno.xz.tmp" "$dev/deno.xz"
  echo "$sum" >"$dev/deno.sha256" # of the uncompressed binary: the run checks it
fi

# 3. the npm packages that Deno installed here (node_modules/.deno), from its cache
[ -d node_modules/.deno ] || { echo "error: no node_modules/.deno: run \`deno install\` first" >&2; exit 1; }
npm_cache=$("$DENO" info --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["npmCache"])')
echo "npm cache: $npm_cache"
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
python3 - "$npm_cache" "$stage/npm" <<'EOF'
import json, os, shutil, sys

src_root, dst_root = sys.argv[1], sys.argv[2]
reg = "registry.npmjs.org"
lock = json.load(open("deno.lock"))["npm"]

# Packages whose files nothing run on the device imports: package.json stubs.
STUB = (
    "onnxruntime-web@",  # @huggingface/transformers bundles its own copy inline
    "@duckdb/",  # tests of the DuckDB interop only
    "playwright-core@",  # the explorer's browser tests only
    "@img/sharp-libvips-linuxmusl-",  # musl builds (the machine is glibc)
    "@img/sharp-linuxmusl-",
)
# Whole packages, but without these paths (other platforms' builds, sources, type declarations).
DROP = {
    "onnxruntime-node@": ["bin/napi-v6/darwin", "bin/napi-v6/win32", "bin/napi-v6/linux/arm64"],
    "parquet-wasm@": ["bundler"],
    "@huggingface/transformers@": [
        "src", "types", "dist/transformers.js", "dist/transformers.min.js",
        "dist/transformers.web.js", "dist/transformers.web.min.js",
        "dist/transformers.node.min.cjs", "dist/transformers.node.min.mjs",
        "dist/ort-wasm-simd-threaded.jsep.mjs",
    ],
}


# The packages Deno installs on linux x86-64: those it set up in node_modules/.deno here.
installed = sorted(
    e for e in os.listdir("node_modules/.deno") if not e.startswith(".") and e != "node_modules"
)
copied = stubbed = 0
for entry in installed:
    name, version = entry.replace("+", "/", 1).rsplit("@", 1)
    version = version.split("_")[0]  # a peer-dependency suffix
    key = f"{name}@{version}"
    if key not in lock:
        sys.exit(f"error: node_modules/.deno/{entry} is not in deno.lock: run `deno install` here first")
    src = os.path.join(src_root, reg, name, version)
    dst = os.path.join(dst_root, reg, name, version)
    if not os.path.isdir(src):
        sys.exit(f"error: {name}@{version} is not in {src_root}: run `deno install` here first")
    meta = os.path.join(src_root, reg, name, "registry.json")
    if os.path.isfile(meta):
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        shutil.copy2(meta, os.path.join(dst_root, reg, name, "registry.json"))
    if any(key.startswith(s) for s in STUB):
        # package.json and the files its "bin" names (Deno links them at setup)
        pkg = json.load(open(os.path.join(src, "package.json")))
        bins = pkg.get("bin") or {}
        keep = ["package.json"] + list(bins.values() if isinstance(bins, dict) else [bins])
        for f in keep:
            if os.path.isfile(os.path.join(src, f)):
                os.makedirs(os.path.dirname(os.path.join(dst, f)), exist_ok=True)
                shutil.copy2(os.path.join(src, f), os.path.join(dst, f))
        stubbed += 1
        continue
    drop = next((d for p, d in DROP.items() if key.startswith(p)), [])
    shutil.copytree(src, dst, ignore=lambda d, names: [
        n for n in names
        if os.path.relpath(os.path.join(d, n), src) in drop
        or (os.path.relpath(d, src) == "." and n in ("README.md", "CHANGELOG.md"))
    ])
    copied += 1
print(f"npm packages: {copied} copied, {stubbed} stubs")
EOF
(cd "$stage" && tar cf - npm) | xz -9 -T0 >"$dev/npm.tar.xz.tmp"
mv "$dev/npm.tar.xz.tmp" "$dev/npm.tar.xz"
echo "npm packages: $(du -sh "$stage/npm" | cut -f1) → $(du -h "$dev/npm.tar.xz" | cut -f1)"

# 4. the Vulkan / GL loaders (the device README's list), Debian amd64 packages
if [ "${SKIP_GL:-0}" != 1 ] || ! ls "$dev"/gl/*.deb >/dev/null 2>&1; then
  rm -rf "$dev/gl" && mkdir -p "$dev/gl" "$stage/apt/partial"
  o="-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=$stage/apt"
  # shellcheck disable=SC2086
  apt-get $o update 2>&1 | grep -vE '^(Hit|Get|Ign|Reading|Fetched)|unsandboxed' || true
  # shellcheck disable=SC2086
  (cd "$dev/gl" && apt-get $o download libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 \
    libgles2 2>&1 | grep -v '^W: Download is performed unsandboxed' || true)
  ls "$dev"/gl/libvulkan1_*.deb >/dev/null
fi

# 5. manifest
(
  cd "$dev"
  echo "# built $(date -u +%FT%TZ) from $(git -C "$repo" rev-parse --short HEAD) by $("$DENO" --version | head -1)"
  find . -type f ! -name MANIFEST.txt -printf '%P\n' | sort | while read -r f; do
    printf '%s  %10d  %s\n' "$(sha256sum "$f" | cut -c1-16)" "$(stat -c %s "$f")" "$f"
  done
) >"$dev/MANIFEST.txt"
cat "$dev/MANIFEST.txt"
echo "total: $(du -sh "$dev" | cut -f1) in $dev; working tree without ignored files: $(
  git ls-files -co --exclude-standard -z | du -ch --files0-from=- 2>/dev/null | tail -1 | cut -f1
)"
