/**
 * The tests' prerequisite gate (tests/helpers/prerequisites.ts): a missing prerequisite ignores
 * its test unless the machine is meant to have it, then it fails; unknown names are refused.
 */
import assert from "node:assert/strict";
import { missing, requiredPrerequisites } from "./helpers/prerequisites.ts";

Deno.test("prerequisites: missing ignores, required-but-missing throws, unknown names refused", () => {
  const none = requiredPrerequisites("");
  assert.equal(missing("amx", false, none), true, "absent and not required: ignored");
  assert.equal(missing("amx", true, none), false, "present: runs");
  const ci = requiredPrerequisites(" cc, webgpu ,");
  assert.deepEqual([...ci].sort(), ["cc", "webgpu"]);
  assert.equal(missing("amx", false, ci), true, "not required here: still ignored");
  assert.equal(missing("cc", true, ci), false);
  assert.throws(
    () => missing("cc", false, ci),
    /prerequisite cc is missing but CONCEPT_ATLAS_REQUIRE/,
  );
  assert.throws(() => requiredPrerequisites("cc,gpu"), /unknown prerequisite gpu; known: cc,/);
});
