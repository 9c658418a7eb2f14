/**
 * Where the heap of an in-flight agent run goes: `runs` runs of the scale
 * case (3 steps, one tool call per step) parked at their last model call, a
 * heap snapshot before they start and one while they are parked, and the
 * difference per run, grouped by object shape (constructor and property
 * names; closures by the variables they hold). The figure behind "heap per
 * in-flight run" in `npm run bench`, taken apart.
 *
 *     npx node --expose-gc --conditions=@effect-harness/source packages/bench/src/heap.ts [runs] [rows]
 */
import { Agent } from "@effect-harness/core"
import { Deferred, Effect, Layer } from "effect"
import type { Prompt } from "effect/ai"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as v8 from "node:v8"
import * as BareLoop from "./bareLoop.ts"
import { collect } from "./measure.ts"
import * as MinimalModel from "./minimalModel.ts"

const runs = Number(process.argv[2] ?? 5_000)
const rows = Number(process.argv[3] ?? 30)
const steps = 3

const agent = Agent.make({ name: "scale", toolkit: BareLoop.LookupKit, maxSteps: steps + 1 })
const toolResults = (prompt: Prompt.Prompt) => prompt.content.filter((message) => message.role === "tool").length
const all = (n: number, layer: Layer.Layer<any>) =>
  Effect.provide(
    Effect.forEach(Array.from({ length: n }), () => Agent.run(agent, "Where are my orders?"), {
      concurrency: "unbounded",
      discard: true
    }),
    layer
  )

// A snapshot's nodes grouped by shape: count and bytes (self size).
const shapes = (file: string): Map<string, { count: number; bytes: number }> => {
  const snapshot = JSON.parse(fs.readFileSync(file, "utf8"))
  const meta = snapshot.snapshot.meta
  const nodeFields: Array<string> = meta.node_fields, edgeFields: Array<string> = meta.edge_fields
  const nodeTypes: Array<string> = meta.node_types[0], edgeTypes: Array<string> = meta.edge_types[0]
  const N = nodeFields.length, E = edgeFields.length
  const [type, name, size, edgeCount] = ["type", "name", "self_size", "edge_count"].map((f) => nodeFields.indexOf(f))
  const [edgeType, edgeName, edgeTo] = ["type", "name_or_index", "to_node"].map((f) => edgeFields.indexOf(f))
  const nodes: Array<number> = snapshot.nodes, edges: Array<number> = snapshot.edges, strings: Array<string> = snapshot.strings
  const firstEdge = new Map<number, number>()
  for (let i = 0, e = 0; i < nodes.length; i += N) {
    firstEdge.set(i, e)
    e += nodes[i + edgeCount!]! * E
  }
  const named = (i: number, kind: string) => {
    const out: Array<string> = []
    for (let j = 0, e = firstEdge.get(i)!; j < nodes[i + edgeCount!]!; j++, e += E) {
      if (edgeTypes[edges[e + edgeType!]!] === kind) out.push(String(strings[edges[e + edgeName!]!]))
    }
    return out
  }
  const groups = new Map<string, { count: number; bytes: number }>()
  for (let i = 0; i < nodes.length; i += N) {
    const t = nodeTypes[nodes[i + type!]!]!
    let key: string
    if (t === "object") key = `${strings[nodes[i + name!]!]} {${named(i, "property").slice(0, 8).join(", ")}}`
    else if (t === "closure") {
      const context = named(i, "internal").includes("context")
        ? (() => {
          for (let j = 0, e = firstEdge.get(i)!; j < nodes[i + edgeCount!]!; j++, e += E) {
            if (strings[edges[e + edgeName!]!] === "context") return named(edges[e + edgeTo!]!, "context")
          }
          return []
        })()
        : []
      key = `closure (${context.join(", ")})`
    } else if (t.includes("string")) key = "(strings)"
    else key = `${t}: ${String(strings[nodes[i + name!]!]).slice(0, 40)}`
    const group = groups.get(key) ?? { count: 0, bytes: 0 }
    group.count++
    group.bytes += nodes[i + size!]!
    groups.set(key, group)
  }
  return groups
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "harness-heap-"))
try {
  // warm-up (JIT, the toolkit's handlers), then the runs parked at their last call
  await Effect.runPromise(all(200, Layer.mergeAll(MinimalModel.layer({ delayMs: 0, toolSteps: steps - 1 }), BareLoop.LookupHandlers)))
  const gate = Deferred.makeUnsafe<void>()
  let arrived = 0
  let allParked!: () => void
  const parked = new Promise<void>((resolve) => (allParked = resolve))
  const layer = Layer.mergeAll(
    MinimalModel.layer({
      delayMs: 0,
      toolSteps: steps - 1,
      park: (request) => {
        if (toolResults(request.prompt) < steps - 1) return undefined
        if (++arrived === runs) allParked()
        return Deferred.await(gate)
      }
    }),
    BareLoop.LookupHandlers
  )
  // the snapshot first: writing one frees memory (compiled code, caches) that
  // would otherwise be counted against the runs
  const beforeFile = v8.writeHeapSnapshot(path.join(dir, "before.heapsnapshot"))
  collect()
  const before = process.memoryUsage().heapUsed
  const done = Effect.runPromise(all(runs, layer))
  await parked
  collect()
  const during = process.memoryUsage().heapUsed
  const parkedFile = v8.writeHeapSnapshot(path.join(dir, "parked.heapsnapshot"))
  Effect.runSync(Deferred.succeed(gate, undefined))
  await done

  const a = shapes(beforeFile), b = shapes(parkedFile)
  const diff = [...b].map(([key, group]) => {
    const old = a.get(key) ?? { count: 0, bytes: 0 }
    return { key, count: (group.count - old.count) / runs, bytes: (group.bytes - old.bytes) / runs }
  }).sort((x, y) => y.bytes - x.bytes)
  console.log(`${runs} runs parked at their last model call: heap per run ${((during - before) / runs / 1024).toFixed(2)} KB`)
  const total = diff.reduce((sum, row) => sum + row.bytes, 0)
  console.log(`the snapshots' difference, every shape: ${(total / 1024).toFixed(2)} KB per run`)
  console.log(`bytes/run  count/run  shape`)
  for (const row of diff.slice(0, rows)) {
    console.log(`${row.bytes.toFixed(0).padStart(9)}  ${row.count.toFixed(2).padStart(9)}  ${row.key}`)
  }
} finally {
  fs.rmSync(dir, { recursive: true, force: true })
}
process.exit(0)
