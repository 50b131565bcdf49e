import assert from "node:assert/strict";
import { z } from "zod";
import { canonicalJson } from "../pipeline/canonical_json.ts";
import { KEY_SCHEME_VERSION, stageKey } from "../pipeline/key.ts";
import { instanceId, sweep } from "../pipeline/sweep.ts";
import { allowedKeys, applySet, validate } from "../pipeline/config_loader.ts";
import { sha256Text } from "../pipeline/hash.ts";
import { diffParams } from "../pipeline/plan.ts";

Deno.test("canonical JSON ignores key order and drops undefined", () => {
  assert.equal(
    canonicalJson({ b: 1, a: { d: [1, { y: 2, x: 1 }], c: undefined } }),
    '{"a":{"d":[1,{"x":1,"y":2}]},"b":1}',
  );
  assert.throws(() => canonicalJson({ a: NaN }));
});

Deno.test("stage key is SHA-256 over scheme, stage, version, params and input keys", () => {
  const m = {
    stage: "train",
    version: 2,
    params: { k: 8, method: "topk" },
    inputs: { diet: "ab" },
    rawInputs: {},
  };
  const expected = sha256Text(
    `{"inputs":{"diet":"ab"},"params":{"k":8,"method":"topk"},"raw":{},"scheme":${KEY_SCHEME_VERSION},"stage":"train","version":2}`,
  );
  assert.equal(stageKey(m), expected);
  assert.notEqual(stageKey({ ...m, version: 3 }), expected);
  assert.notEqual(stageKey({ ...m, params: { k: 9, method: "topk" } }), expected);
  assert.notEqual(stageKey({ ...m, inputs: { diet: "ac" } }), expected);
  assert.equal(stageKey({ ...m, params: { method: "topk", k: 8 } }), expected);
});

Deno.test("sweep is the cartesian product in axis order", () => {
  const s = sweep({ method: ["topk", "relu"], k: [4, 8, 16] });
  assert.equal(s.length, 6);
  assert.deepEqual(s[0], { method: "topk", k: 4 });
  assert.deepEqual(s[5], { method: "relu", k: 16 });
  assert.equal(instanceId("train", { method: "topk", k: 4 }), "train[method=topk,k=4]");
});

Deno.test("--set parses YAML values into nested sections", () => {
  const raw: Record<string, unknown> = {};
  applySet(raw, "train.k=[4, 8]");
  applySet(raw, "train.lr=0.001");
  applySet(raw, "dataset.kind=npy");
  applySet(raw, "report.open=true");
  assert.deepEqual(raw, {
    train: { k: [4, 8], lr: 0.001 },
    dataset: { kind: "npy" },
    report: { open: true },
  });
  assert.throws(() => applySet(raw, "novalue"), /expected key.path=value/);
});

Deno.test("validation errors name the key path and the allowed keys", () => {
  const schema = z.strictObject({
    train: z.strictObject({ k: z.array(z.number()).default([4]), lr: z.number().default(1) })
      .default({ k: [4], lr: 1 }),
  });
  assert.deepEqual(allowedKeys(schema, ["train"]), ["k", "lr"]);
  assert.throws(
    () => validate(schema, { train: { kk: 1 } }, "cfg.yaml"),
    /^UserError: cfg\.yaml: unknown key train\.kk; allowed here: k, lr$/,
  );
  assert.throws(
    () => validate(schema, { train: { lr: "x" } }, "cfg.yaml"),
    /cfg\.yaml: key train\.lr: .*expected number.*\(got "x"\)/,
  );
  assert.deepEqual(validate(schema, {}, "x"), { train: { k: [4], lr: 1 } });
});

Deno.test("diffParams lists leaf changes", () => {
  assert.deepEqual(diffParams({ a: 1, b: { c: [1] } }, { a: 1, b: { c: [2] }, d: 3 }), [[
    "b.c",
    "[1]",
    "[2]",
  ], ["d", "unset", "3"]]);
});
