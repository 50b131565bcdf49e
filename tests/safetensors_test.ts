import assert from "node:assert/strict";
import {
  decodeSafetensors,
  encodeSafetensors,
  readSafetensors,
  writeSafetensors,
} from "../data/safetensors.ts";

Deno.test("safetensors: byte layout (LE header length, JSON header, 8-byte alignment, LE data)", () => {
  const bytes = encodeSafetensors(
    {
      b: { shape: [3], data: Float32Array.of(1, -2, 0.5) },
      a: { shape: [1, 1], data: Float32Array.of(7) },
    },
    { method: "topk" },
  );
  const view = new DataView(bytes.buffer);
  const n = Number(view.getBigUint64(0, true));
  assert.equal(n % 8, 0, "data section starts 8-byte aligned");
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n)));
  assert.deepEqual(header.__metadata__, { method: "topk" });
  // names sorted: a first, then b
  assert.deepEqual(header.a, { dtype: "F32", shape: [1, 1], data_offsets: [0, 4] });
  assert.deepEqual(header.b, { dtype: "F32", shape: [3], data_offsets: [4, 16] });
  assert.equal(bytes.length, 8 + n + 16);
  const data = new DataView(bytes.buffer, 8 + n);
  assert.equal(data.getFloat32(0, true), 7);
  assert.equal(data.getFloat32(4, true), 1);
  assert.equal(data.getFloat32(8, true), -2);
  assert.equal(data.getFloat32(12, true), 0.5);
  // header padding is spaces (valid JSON whitespace)
  const raw = new TextDecoder().decode(bytes.subarray(8, 8 + n));
  assert.match(raw, /^\{.*\} *$/);
});

Deno.test("safetensors: write/read round trip through a file", async () => {
  const dir = await Deno.makeTempDir({ prefix: "atlas_st_" });
  try {
    const w = new Float32Array(6 * 5).map((_, i) => Math.sin(i) * 1e3);
    const tensors = {
      W_enc: { shape: [5, 6], data: w },
      b_enc: { shape: [6], data: new Float32Array(6).fill(-0.25) },
      empty: { shape: [0], data: new Float32Array(0) },
    };
    await writeSafetensors(`${dir}/w.safetensors`, tensors, { a: "1" });
    const back = await readSafetensors(`${dir}/w.safetensors`);
    assert.deepEqual(back.metadata, { a: "1" });
    assert.deepEqual(Object.keys(back.tensors).sort(), ["W_enc", "b_enc", "empty"]);
    for (const [k, t] of Object.entries(tensors)) {
      assert.deepEqual(back.tensors[k].shape, t.shape);
      assert.deepEqual(back.tensors[k].data, t.data);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("safetensors: malformed input and wrong shapes are rejected", async () => {
  assert.throws(
    () => encodeSafetensors({ x: { shape: [2, 2], data: new Float32Array(3) } }),
    /shape/,
  );
  assert.throws(() => decodeSafetensors(new Uint8Array(4), "f.safetensors"), /f\.safetensors/);
  const bad = encodeSafetensors({ x: { shape: [2], data: Float32Array.of(1, 2) } });
  const text = new TextDecoder().decode(bad).replace('"F32"', '"F16"');
  assert.throws(() => decodeSafetensors(new TextEncoder().encode(text), "g.safetensors"), /F16/);
  await assert.rejects(() => readSafetensors("/nonexistent/x.safetensors"), /x\.safetensors/);
});

Deno.test("safetensors: a pure-numpy reader (python3) reads what we write", async () => {
  let ok = false;
  try {
    const probe = await new Deno.Command("python3", {
      args: ["-c", "import numpy"],
      stderr: "null",
    })
      .output();
    ok = probe.success;
  } catch {
    ok = false;
  }
  if (!ok) {
    console.log("skipped: python3 with numpy is not available");
    return;
  }
  const dir = await Deno.makeTempDir({ prefix: "atlas_st_py_" });
  try {
    const w = new Float32Array(12).map((_, i) => i * 0.5 - 2);
    await writeSafetensors(`${dir}/w.safetensors`, {
      W: { shape: [3, 4], data: w },
      v: { shape: [2], data: Float32Array.of(3.25, -1) },
    }, { method: "x" });
    const script = `
import json, struct, sys, numpy as np
raw = open(sys.argv[1], "rb").read()
n = struct.unpack("<Q", raw[:8])[0]
h = json.loads(raw[8:8 + n])
out = {}
for k, e in h.items():
    if k == "__metadata__":
        out[k] = e
        continue
    a, b = e["data_offsets"]
    arr = np.frombuffer(raw[8 + n + a: 8 + n + b], dtype="<f4").reshape(e["shape"])
    out[k] = arr.tolist()
print(json.dumps(out))
`;
    const r = await new Deno.Command("python3", { args: ["-c", script, `${dir}/w.safetensors`] })
      .output();
    assert.ok(r.success, new TextDecoder().decode(r.stderr));
    const got = JSON.parse(new TextDecoder().decode(r.stdout));
    assert.deepEqual(got.__metadata__, { method: "x" });
    assert.deepEqual(got.W, [[-2, -1.5, -1, -0.5], [0, 0.5, 1, 1.5], [2, 2.5, 3, 3.5]]);
    assert.deepEqual(got.v, [3.25, -1]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
