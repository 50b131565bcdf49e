/** The study graph as a Mermaid flowchart. */
import type { StageInstance } from "./stage.ts";
import { topologicalOrder, upstreamIds } from "./plan.ts";

/**
 * Mermaid `flowchart LR` text. `level: "instance"` draws every instance (edges labelled with
 * input roles); `level: "stage"` collapses instances of one stage into one node with a count.
 */
export function studyToMermaid(
  instances: StageInstance[],
  level: "instance" | "stage" = "instance",
): string {
  const ordered = topologicalOrder(instances);
  const lines = ["flowchart LR"];
  const esc = (s: string) => s.replace(/"/g, "#quot;");
  if (level === "stage") {
    const counts = new Map<string, number>();
    const edges = new Set<string>();
    for (const inst of ordered) counts.set(inst.stage.name, (counts.get(inst.stage.name) ?? 0) + 1);
    const byId = new Map(ordered.map((i) => [i.id, i]));
    for (const inst of ordered) {
      for (const up of upstreamIds(inst)) {
        edges.add(`  ${byId.get(up)!.stage.name} --> ${inst.stage.name}`);
      }
    }
    for (const [name, n] of counts) lines.push(`  ${name}["${esc(name)} ×${n}"]`);
    lines.push(...edges);
    return lines.join("\n") + "\n";
  }
  const node = new Map(ordered.map((inst, i) => [inst.id, `n${i}`]));
  for (const inst of ordered) lines.push(`  ${node.get(inst.id)}["${esc(inst.id)}"]`);
  for (const inst of ordered) {
    for (const [role, ids] of Object.entries(inst.inputs)) {
      for (const id of Array.isArray(ids) ? ids : [ids]) {
        lines.push(`  ${node.get(id)} -->|${role.replace(/\*$/, "")}| ${node.get(inst.id)}`);
      }
    }
  }
  return lines.join("\n") + "\n";
}
