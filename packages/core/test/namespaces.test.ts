/**
 * Writers in different PID namespaces over one file store directory, as
 * containers sharing a volume are: each writer runs under
 * `unshare -p -f --mount-proc` (needs root), with a different pid inside its
 * namespace, and all of them append to the same run ids. A pid of another
 * namespace must never be taken for a dead holder.
 */
import { RunStore } from "@effect-harness/core"
import { NodeFileSystem } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { Context, Effect, Layer } from "effect"
import { spawn } from "node:child_process"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { afterAll } from "vitest"
import type { WriterConfig, WriterReport } from "./fixtures/namespace-writer.ts"

const writerPath = fileURLToPath(new URL("./fixtures/namespace-writer.ts", import.meta.url))
const directory = mkdtempSync(join(tmpdir(), "namespace-runs-"))
afterAll(() => rmSync(directory, { recursive: true, force: true }))

/** Runs a writer in a PID namespace of its own, after `extraPids` short-lived processes (so pids differ across writers). */
const runWriter = (config: WriterConfig, extraPids: number): Promise<WriterReport> =>
  new Promise((resolve, reject) => {
    const node = `${JSON.stringify(process.execPath)} --conditions=@effect-harness/source ${JSON.stringify(writerPath)} "$0"`
    const script = `for i in $(seq ${extraPids}); do /bin/true; done; ${node}; exit $?`
    const child = spawn("unshare", ["-p", "-f", "--mount-proc", "sh", "-c", script, JSON.stringify(config)], {
      stdio: ["ignore", "pipe", "pipe"]
    })
    let stdout = ""
    let stderr = ""
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk))
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk))
    child.on("error", reject)
    child.on("close", (code) => {
      const line = stdout.split("\n").find((l) => l.startsWith("{"))
      if (code !== 0 || line === undefined) reject(new Error(`writer ${config.writer} exited ${code}: ${stderr}`))
      else resolve(JSON.parse(line) as WriterReport)
    })
  })

describe("file store across PID namespaces", () => {
  it("writers in four PID namespaces (unshare) over the same 200 runs: no defects, no corrupted journal, every acknowledged append in its journal exactly once", async () => {
    const writers = ["a", "b", "c", "d"]
    const reports = await Promise.all(writers.map((writer, index) =>
      runWriter({ directory, writer, runs: 200, appendsPerRun: 4, concurrency: 50 }, 2 + index * 3)
    ))
    // the writers saw each other only as pids of other namespaces, and not the same pid
    assert.strictEqual(new Set(reports.map((report) => report.pid)).size, 4)
    for (const report of reports) {
      assert.deepStrictEqual(report.defects, [], `defects of writer ${report.writer}`)
      assert.deepStrictEqual(report.errors, [], `errors of writer ${report.writer}`)
    }
    const acknowledged = reports.flatMap((report) => report.acknowledged)
    const journals = await Effect.runPromise(Effect.gen(function*() {
      const context = yield* Layer.build(RunStore.layerFileSystem({ directory }).pipe(Layer.provide(NodeFileSystem.layer)))
      const store = Context.get(context, RunStore.RunStore)
      // every journal reads cleanly: no damage, no interleaved lines
      return yield* Effect.forEach(Array.from({ length: 200 }, (_, i) => `shared-${i}`), (runId) => store.read(runId))
    }).pipe(Effect.scoped))
    const written = journals.flatMap((records) =>
      records.map((record) => record.entry._tag === "Status" ? record.entry.detail ?? "" : "")
    )
    assert.strictEqual(written.length, acknowledged.length)
    assert.deepStrictEqual([...written].sort(), [...acknowledged].sort())
    console.log(
      `PID namespaces: 4 writers (pids ${reports.map((r) => r.pid).join(", ")}), ${acknowledged.length} appends ` +
        `acknowledged, ${reports.reduce((n, r) => n + r.conflicts, 0)} conflicts, 0 defects, 200 journals intact`
    )
  }, 240_000)
})
