import { RunStore } from "@effect-harness/core"
import { NodeFileSystem } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { Context, Effect, Exit, Layer } from "effect"
import { TestClock } from "effect/testing"
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, utimesSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { crc32 } from "node:zlib"
import { afterAll } from "vitest"
import { encodeRunId } from "../src/durable/internal/runStoreFile.ts"
import { freshRunId, runStoreSuite } from "./support/runStoreSuite.ts"

const build = <E>(layer: Layer.Layer<RunStore.RunStore, E>) =>
  Effect.map(Layer.build(layer), (context) => Context.get(context, RunStore.RunStore))

// -----------------------------------------------------------------------------
// memory
// -----------------------------------------------------------------------------

runStoreSuite({
  name: "memory",
  // one process: both "instances" are the same store
  stores: Effect.map(build(RunStore.layerMemory), (store) => [store, store] as const)
})

// -----------------------------------------------------------------------------
// files
// -----------------------------------------------------------------------------

const directory = mkdtempSync(join(tmpdir(), "run-store-test-"))
afterAll(() => rmSync(directory, { recursive: true, force: true }))

const fileStore = (options?: Partial<RunStore.FileSystemOptions>) =>
  build(RunStore.layerFileSystem({ directory, ...options }).pipe(Layer.provide(NodeFileSystem.layer)))

const journalPath = (runId: string) => join(directory, encodeRunId(runId), "journal")

const editLine = (runId: string, sequence: number, edit: (json: string) => string, recomputeCrc: boolean) =>
  Effect.sync(() => {
    const path = journalPath(runId)
    const lines = readFileSync(path, "utf8").split("\n")
    const index = lines.findIndex((line) => line.includes(`"s":${sequence},`))
    assert.isAtLeast(index, 0)
    const json = edit(lines[index]!.slice(9))
    const crc = recomputeCrc ? crc32(json).toString(16).padStart(8, "0") : lines[index]!.slice(0, 8)
    lines[index] = `${crc} ${json}`
    writeFileSync(path, lines.join("\n"))
  })

runStoreSuite({
  name: "files",
  // two instances over one directory: two processes as far as the store knows
  stores: Effect.all([fileStore(), fileStore()]),
  damage: (runId, sequence) => editLine(runId, sequence, (json) => json.replace(`"ok"`, `"oK"`), false),
  setFormatVersion: (runId, sequence, version) =>
    editLine(runId, sequence, (json) => json.replace(`"v":1`, `"v":${version}`), true),
  raw: (runId) => Effect.sync(() => readFileSync(journalPath(runId), "utf8")),
  tear: (runId, bytes) => Effect.sync(() => appendFileSync(journalPath(runId), bytes))
})

describe("RunStore.layerFileSystem", () => {
  it.effect("keeps one directory per run with one journal file, whatever characters the run id has", () =>
    Effect.gen(function*() {
      const store = yield* fileStore()
      const runId = `tenant/42:${freshRunId("odd")}.../ü`
      yield* store.append(runId, 0, { _tag: "Status", status: "running" })
      assert.deepStrictEqual(readdirSync(join(directory, encodeRunId(runId))), ["journal"])
      assert.notInclude(encodeRunId(runId), "/")
      assert.notInclude(encodeRunId(runId), ".")
      assert.isTrue((yield* store.list).some((run) => run.runId === runId))
    }))

  it.live("takes over the file of a writer that died mid-append (its process is gone)", () =>
    Effect.gen(function*() {
      const store = yield* fileStore()
      const runId = freshRunId("dead-writer")
      yield* store.append(runId, 0, { _tag: "Status", status: "running" })
      // a writer that was SIGKILLed while holding the file: pid 2^22+1 does not exist
      const dir = join(directory, encodeRunId(runId))
      renameSync(join(dir, "journal"), join(dir, `journal.${2 ** 22 + 1}.0.dead`))
      const other = yield* fileStore()
      yield* other.append(runId, 1, { _tag: "Status", status: "completed" })
      assert.deepStrictEqual(readdirSync(dir), ["journal"])
      assert.strictEqual((yield* store.read(runId)).length, 2)
    }))

  it.live("waits for a live writer, then fails with a conflict naming it", () =>
    Effect.gen(function*() {
      const store = yield* fileStore({ lockTimeout: "200 millis" })
      const runId = freshRunId("live-writer")
      yield* store.append(runId, 0, { _tag: "Status", status: "running" })
      // held by this very process (alive), as if another fiber were mid-append
      const dir = join(directory, encodeRunId(runId))
      const held = join(dir, `journal.${process.pid}.${Date.now()}.busy`)
      renameSync(join(dir, "journal"), held)
      const error = yield* Effect.flip(store.append(runId, 1, { _tag: "Status", status: "completed" }))
      assert.strictEqual(error.reason, "conflict")
      assert.include(error.detail, `process ${process.pid}`)
      // readers are not blocked by a writer
      assert.strictEqual((yield* store.read(runId)).length, 1)
      renameSync(held, join(dir, "journal"))
      yield* store.append(runId, 1, { _tag: "Status", status: "completed" })
    }))

  it.effect("prune also removes what a crash left while creating or deleting a run, once it is old", () =>
    Effect.gen(function*() {
      const store = yield* fileStore({ staleAfter: "1 minute" })
      const oldTmp = join(directory, ".tmp-crashed")
      const oldTrash = join(directory, ".deleted-crashed")
      const fresh = join(directory, ".tmp-in-progress")
      for (const dir of [oldTmp, oldTrash, fresh]) mkdirSync(join(dir, "x"), { recursive: true })
      const hourAgo = new Date(Date.now() - 3_600_000)
      utimesSync(oldTmp, hourAgo, hourAgo)
      utimesSync(oldTrash, hourAgo, hourAgo)
      // the store's clock is the test clock: move it to now
      yield* TestClock.setTime(Date.now())
      yield* store.prune({ olderThan: "1 day", statuses: [] })
      assert.isFalse(existsSync(oldTmp))
      assert.isFalse(existsSync(oldTrash))
      assert.isTrue(existsSync(fresh))
    }))

  it.live("many appenders on one run across instances: every sequence written exactly once, in order", () =>
    Effect.gen(function*() {
      const stores = yield* Effect.all([fileStore(), fileStore(), fileStore()])
      const runId = freshRunId("contended")
      let next = 0
      const written: Array<string> = []
      yield* Effect.forEach(stores, (store, index) =>
        Effect.gen(function*() {
          while (next < 30) {
            const sequence = next
            const exit = yield* Effect.exit(store.append(runId, sequence, { _tag: "Status", status: "running", detail: `w${index}` }))
            if (Exit.isSuccess(exit)) {
              written.push(`${sequence}`)
              next = Math.max(next, sequence + 1)
            } else {
              // lost the race: learn the new length like a real writer would
              next = Math.max(next, (yield* store.read(runId)).length)
            }
          }
        }), { concurrency: "unbounded" })
      const records = yield* stores[0].read(runId)
      assert.deepStrictEqual(records.map((r) => r.sequence), Array.from({ length: 30 }, (_, i) => i))
      assert.strictEqual(written.length, 30)
    }))
})
