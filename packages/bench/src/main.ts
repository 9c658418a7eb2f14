/**
 * `npm run bench`: the harness's cost measured side by side with the raw SDK
 * and the most used peer, and how it scales. Prints the tables and writes
 * `packages/bench/results.json`.
 *
 * Options: `--only=percall,scale,state,durability` runs some sections;
 * `--quick` runs fewer rounds (a smoke run, not for the record).
 */
import { writeFileSync } from "node:fs"
import { cpus } from "node:os"
import { fileURLToPath } from "node:url"
import { benchDurability, formatDurability } from "./durability.ts"
import { collect } from "./measure.ts"
import { runPerCall } from "./percall.ts"
import { Report } from "./report.ts"
import { runScale } from "./scale.ts"
import { startServer } from "./server.ts"
import { runState } from "./state.ts"

const args = process.argv.slice(2)
const only = args.find((arg) => arg.startsWith("--only="))?.slice("--only=".length).split(",")
const quick = args.includes("--quick")
const enabled = (name: string) => only === undefined || only.includes(name)

if (!collect()) {
  console.warn("warning: run with node --expose-gc (npm run bench does) for the heap figures")
}

const report = new Report()
const started = performance.now()
report.print(
  `effect-harness bench: node ${process.version}, ${cpus().length} x ${cpus()[0]?.model ?? "cpu"}${quick ? " (quick run)" : ""}`
)
report.print()

if (enabled("percall")) {
  const server = await startServer()
  try {
    await runPerCall(report, server, { scale: quick ? 0.1 : 1 })
  } finally {
    await server.close()
  }
}

if (enabled("scale")) await runScale(report, { runs: quick ? 1_000 : 10_000 })

if (enabled("state")) await runState(report, { scale: quick ? 0.1 : 1 })

if (enabled("durability")) {
  report.print("== 4. Durability ==")
  report.print()
  const results = await benchDurability(quick ? { appends: 200, steps: 200, resumes: 2 } : {})
  for (const line of formatDurability(results).split("\n")) report.print(line)
  report.print()
  for (const r of results) {
    const side = r.store
    if (r.skipped !== undefined) {
      report.add({ section: "durability", metric: "skipped", side, value: Number.NaN, unit: r.skipped })
      continue
    }
    report.add({ section: "durability", metric: "journal append p50", side, value: r.appendP50Us, unit: "µs" })
    report.add({ section: "durability", metric: "journal append p99", side, value: r.appendP99Us, unit: "µs" })
    report.add({ section: "durability", metric: `record a ${r.steps}-step run`, side, value: r.recordMs, unit: "ms" })
    report.add({ section: "durability", metric: `resume a ${r.steps}-step run`, side, value: r.resumeMs, unit: "ms" })
  }
}

const seconds = (performance.now() - started) / 1000
report.print(`done in ${seconds.toFixed(1)} s`)

const targets = report.figures.filter((figure) => figure.met !== undefined)
if (targets.length > 0) {
  report.print(`targets: ${targets.filter((t) => t.met).length} of ${targets.length} met` +
    targets.filter((t) => !t.met).map((t) => `\n  missed: ${t.metric} (${t.side}): ${t.target}`).join(""))
}

const results = {
  generated: new Date().toISOString(),
  node: process.version,
  cpus: cpus().length,
  cpu: cpus()[0]?.model,
  quick,
  sections: only ?? ["percall", "scale", "state", "durability"],
  durationSeconds: Number(seconds.toFixed(1)),
  figures: report.figures.map((figure) => ({
    ...figure,
    value: Number.isFinite(figure.value) ? Number(figure.value.toFixed(3)) : null,
    ...(figure.ratio === undefined ? {} : { ratio: Number(figure.ratio.toFixed(3)) }),
    ...(figure.added === undefined ? {} : { added: Number(figure.added.toFixed(1)) }),
    ...(figure.interleavedCpuUs === undefined ? {} : { interleavedCpuUs: Number(figure.interleavedCpuUs.toFixed(1)) })
  })),
  table: report.lines.join("\n")
}
const path = fileURLToPath(new URL("../results.json", import.meta.url))
writeFileSync(path, JSON.stringify(results, null, 2) + "\n")
console.log(`wrote ${path}`)
process.exit(0)
