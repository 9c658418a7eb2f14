import { RunStore } from "@effect-harness/core"
import { NodeFileSystem } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { Context, Effect, Exit, FileSystem, Layer } from "effect"
import { TestClock } from "effect/testing"
import { execFileSync } from "node:child_process"
import {
  appendFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  symlinkSync,
  utimesSync,
  writeFileSync
} from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { crc32 } from "node:zlib"
import { afterAll } from "vitest"
import { encodeRunId } from "../src/durable/internal/runStoreFile.ts"
import * as RunStoreSuite from "@effect-harness/testing/RunStoreSuite"

const build = <E>(layer: Layer.Layer<RunStore.RunStore, E>) =>
  Effect.map(Layer.build(layer), (context) => Context.get(context, RunStore.RunStore))

// -----------------------------------------------------------------------------
// memory
// -----------------------------------------------------------------------------

RunStoreSuite.suite({
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

RunStoreSuite.suite({
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
      const runId = `tenant/42:${RunStoreSuite.freshRunId("odd")}.../ü`
      yield* store.append(runId, 0, { _tag: "Status", status: "running" })
      assert.deepStrictEqual(readdirSync(join(directory, encodeRunId(runId))), ["journal"])
      assert.notInclude(encodeRunId(runId), "/")
      assert.notInclude(encodeRunId(runId), ".")
      assert.isTrue((yield* store.list).some((run) => run.runId === runId))
    }))

  it.live("takes over the file of a writer that died mid-append (its process is gone)", () =>
    Effect.gen(function*() {
      const store = yield* fileStore()
      const runId = RunStoreSuite.freshRunId("dead-writer")
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
      const runId = RunStoreSuite.freshRunId("live-writer")
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
      const runId = RunStoreSuite.freshRunId("contended")
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

describe("RunStore.layerFileSystem: damaged runs and failures", () => {
  const ownStore = (dir: string, fs: Layer.Layer<FileSystem.FileSystem> = NodeFileSystem.layer) =>
    build(RunStore.layerFileSystem({ directory: dir }).pipe(Layer.provide(fs)))

  it.live("one bad run does not break list: a journal that is a directory, a symlink loop and a run directory without a journal are listed as unreadable, at once", () =>
    Effect.gen(function*() {
      const dir = mkdtempSync(join(tmpdir(), "run-store-damaged-"))
      const store = yield* ownStore(dir)
      yield* store.append("good", 0, { _tag: "Status", status: "running" })
      yield* store.append("good", 1, { _tag: "Status", status: "completed" })
      mkdirSync(join(dir, encodeRunId("journal-is-a-directory"), "journal"), { recursive: true })
      mkdirSync(join(dir, encodeRunId("symlink-loop")))
      symlinkSync("journal", join(dir, encodeRunId("symlink-loop"), "journal"))
      mkdirSync(join(dir, encodeRunId("no-journal")))
      const started = Date.now()
      const runs = yield* store.list
      const byId = new Map(runs.map((run) => [run.runId, run]))
      assert.strictEqual(byId.get("good")?.status, "completed")
      for (const bad of ["journal-is-a-directory", "symlink-loop", "no-journal"]) {
        assert.strictEqual(byId.get(bad)?.status, "unreadable", bad)
        assert.include(byId.get(bad)?.detail, bad)
      }
      assert.include(byId.get("no-journal")?.detail, "has no journal")
      // reading one is a typed error, at once (not 20 s of "the journal kept moving")
      const missing = yield* Effect.flip(store.read("no-journal"))
      assert.strictEqual(missing.reason, "corrupted")
      const directory = yield* Effect.flip(store.read("journal-is-a-directory"))
      assert.strictEqual(directory.reason, "corrupted")
      assert.include(directory.detail, "not a file")
      assert.isBelow(Date.now() - started, 5_000)
      // prune goes on past them and deletes only the finished run
      assert.deepStrictEqual(yield* store.prune({ olderThan: "0 millis", statuses: ["completed", "failed", "running"] }), ["good"])
      assert.strictEqual((yield* store.list).length, 3)
      // an explicit delete still removes a damaged run
      yield* store.delete("no-journal")
      assert.isFalse(existsSync(join(dir, encodeRunId("no-journal"))))
      rmSync(dir, { recursive: true, force: true })
    }))

  it.effect("prune never deletes a run damaged in the middle, whatever its last line says", () =>
    Effect.gen(function*() {
      const store = yield* fileStore()
      const runId = RunStoreSuite.freshRunId("damaged-completed")
      yield* store.append(runId, 0, { _tag: "Status", status: "running" })
      yield* store.append(runId, 1, { _tag: "Step", kind: "model", name: "m", request: 1, result: "ok", version: 1 })
      yield* store.append(runId, 2, { _tag: "Status", status: "completed" })
      yield* editLine(runId, 1, (json) => json.replace(`"ok"`, `"oK"`), false)
      const before = readFileSync(journalPath(runId), "utf8")
      yield* TestClock.adjust("2 hours")
      const pruned = yield* store.prune({ olderThan: "1 hour" })
      assert.notInclude(pruned, runId)
      assert.strictEqual(readFileSync(journalPath(runId), "utf8"), before)
      assert.strictEqual((yield* Effect.flip(store.read(runId))).reason, "corrupted")
    }))

  it.live("a full disk (ENOSPC on a real 64 KiB tmpfs): the append fails with a store error carrying the cause, and the run stays readable", () =>
    Effect.gen(function*() {
      const dir = mkdtempSync(join(tmpdir(), "run-store-full-"))
      execFileSync("mount", ["-t", "tmpfs", "-o", "size=64k", "tmpfs", dir])
      try {
        const store = yield* ownStore(dir)
        yield* store.append("full", 0, { _tag: "Status", status: "running" })
        const big = "x".repeat(256 * 1024)
        const error = yield* Effect.flip(
          store.append("full", 1, { _tag: "Step", kind: "model", name: "m", request: 1, result: big, version: 1 })
        )
        assert.strictEqual(error.reason, "store")
        assert.include(error.detail, "ENOSPC")
        assert.include(error.detail, "append")
        assert.isDefined(error.cause)
        assert.strictEqual((yield* store.read("full")).length, 1)
        // the cut-off line is cut off by the next append
        yield* store.append("full", 1, { _tag: "Status", status: "completed" })
        assert.strictEqual((yield* store.read("full")).length, 2)
      } finally {
        execFileSync("umount", [dir])
        rmSync(dir, { recursive: true, force: true })
      }
    }))

  it.live("a run directory deleted from outside while an append holds it (synthetic timing): a typed store error, not a defect", () =>
    Effect.gen(function*() {
      const dir = mkdtempSync(join(tmpdir(), "run-store-deleted-"))
      let removeOnHold: string | undefined
      // the real file system, with an outside `rm -rf` of the run's directory right after the writer opened its held file
      const deleting = Layer.effect(
        FileSystem.FileSystem,
        Effect.map(Effect.service(FileSystem.FileSystem), (fs) =>
          FileSystem.FileSystem.of({
            ...fs,
            open: (path, options) =>
              Effect.tap(fs.open(path, options), () =>
                Effect.sync(() => {
                  if (removeOnHold !== undefined && options?.flag === "r+" && path.includes("/journal.")) {
                    rmSync(join(dir, encodeRunId(removeOnHold)), { recursive: true, force: true })
                    removeOnHold = undefined
                  }
                }))
          }))
      ).pipe(Layer.provide(NodeFileSystem.layer))
      const store = yield* ownStore(dir, deleting)
      yield* store.append("doomed", 0, { _tag: "Status", status: "running" })
      removeOnHold = "doomed"
      const exit = yield* Effect.exit(store.append("doomed", 1, { _tag: "Status", status: "completed" }))
      assert.isTrue(Exit.isFailure(exit))
      const error = yield* Effect.flip(exit)
      assert.strictEqual(error._tag, "JournalError")
      assert.strictEqual(error.reason, "store")
      assert.include(error.detail, "removed")
      // the run is gone, and can start again
      assert.deepStrictEqual(yield* store.read("doomed"), [])
      yield* store.append("doomed", 0, { _tag: "Status", status: "running" })
      rmSync(dir, { recursive: true, force: true })
    }))
})
