/**
 * The file run store backend.
 *
 * Layout: `<directory>/<run>/journal`, one directory per run (its name is the
 * run id, percent-encoded) holding one append-only file of lines
 * `<crc32 hex> <envelope JSON>\n`.
 *
 * Exclusive appends across processes without locks that can go stale: an
 * append first renames `journal` to `journal.<pid>.<time>.<random>`, a name
 * only it knows; a rename is atomic, so exactly one writer holds the file at a
 * time. It then checks the next sequence, cuts off an incomplete last line,
 * writes, `fsync`s and renames the file back. A writer killed while holding
 * the file leaves it under its held name: the next writer sees that the
 * process is dead (or that the hold is older than `staleAfter`) and takes it
 * over with one more atomic rename, so two writers never both succeed.
 * Readers take no lock: they read the file under whichever name it has.
 *
 * A run directory is created whole (a temporary directory with an empty
 * journal, renamed into place), so it never exists without its journal.
 *
 * @internal
 */
import { Clock, Duration, Effect, FileSystem, Option, Semaphore } from "effect"
import type { PlatformError } from "effect/PlatformError"
import { JournalError } from "../Journal.ts"
import type { Backend, FileSystemOptions, RunInfo, RunStatus } from "../RunStore.ts"
import type { RawRecord } from "./runStoreCodec.ts"
import { encodeLine, parseLine, scan } from "./runStoreLines.ts"

const JOURNAL = "journal"
const HELD_PREFIX = `${JOURNAL}.`
const TAIL_CHUNK = 64 * 1024

/** A file name for a run id: safe characters kept, everything else percent-encoded. */
export const encodeRunId = (runId: string): string =>
  encodeURIComponent(runId).replace(/[!'()*.~]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)

const decodeRunId = (name: string): string | undefined => {
  try {
    return decodeURIComponent(name)
  } catch {
    return undefined
  }
}

const token = () => Math.random().toString(36).slice(2, 10)

const isNotFound = (error: PlatformError) => error.reason._tag === "NotFound"

/** Whether a process is alive: undefined where the runtime cannot tell. */
const processAlive = (pid: number): boolean | undefined => {
  const proc = (globalThis as { process?: { kill?: (pid: number, signal: number) => unknown } }).process
  if (typeof proc?.kill !== "function" || pid <= 0) return undefined
  try {
    proc.kill(pid, 0)
    return true
  } catch (error) {
    return (error as { code?: string }).code === "EPERM"
  }
}

const ownPid = (): number => (globalThis as { process?: { pid?: number } }).process?.pid ?? 0

/** What a writer of this store instance last knew about a run's file. */
interface Known {
  readonly ino: bigint | undefined
  /** The end of the last valid record. */
  readonly size: number
  readonly lastSequence: number
}

export const make = Effect.fnUntraced(function*(options: FileSystemOptions) {
  const fs = yield* FileSystem.FileSystem
  const root = options.directory.length > 1 ? options.directory.replace(/\/+$/, "") : options.directory
  const lockTimeout = Duration.toMillis(Duration.fromInputUnsafe(options.lockTimeout ?? "10 seconds"))
  const staleAfter = Duration.toMillis(Duration.fromInputUnsafe(options.staleAfter ?? "60 seconds"))
  const pid = ownPid()
  const known = new Map<string, Known>()
  const locks = new Map<string, Semaphore.Semaphore>()

  const storeError = (runId: string, what: string) => (error: PlatformError) =>
    new JournalError({ runId, reason: "store", detail: `${what}: ${error.message}` })

  yield* fs.makeDirectory(root, { recursive: true }).pipe(Effect.mapError(storeError("", `create ${root}`)))

  const runDir = (runId: string) => `${root}/${encodeRunId(runId)}`
  const lockOf = (runId: string) => {
    let lock = locks.get(runId)
    if (lock === undefined) {
      lock = Semaphore.makeUnsafe(1)
      locks.set(runId, lock)
    }
    return lock
  }

  const syncDirectory = (runId: string, path: string) =>
    Effect.scoped(Effect.flatMap(fs.open(path, { flag: "r" }), (dir) => dir.sync)).pipe(
      Effect.mapError(storeError(runId, `sync ${path}`))
    )

  const readRange = (file: FileSystem.File, from: number, to: number) =>
    Effect.gen(function*() {
      const buffer = new Uint8Array(to - from)
      let offset = 0
      while (offset < buffer.length) {
        const read = yield* file.read(buffer.subarray(offset), { position: BigInt(from + offset) })
        if (read === 0) break
        offset += read
      }
      return offset === buffer.length ? buffer : buffer.subarray(0, offset)
    })

  // Creates the run's directory with an empty journal, whole: a temporary
  // directory renamed into place. Losing the race to another creator is fine.
  const create = (runId: string) =>
    Effect.gen(function*() {
      const dir = runDir(runId)
      const tmp = `${root}/.tmp-${token()}`
      yield* fs.makeDirectory(tmp)
      yield* Effect.scoped(Effect.flatMap(fs.open(`${tmp}/${JOURNAL}`, { flag: "wx" }), (file) => file.sync))
      const renamed = yield* fs.rename(tmp, dir).pipe(Effect.as(true), Effect.catch(() => Effect.succeed(false)))
      if (renamed) return yield* syncDirectory(runId, root)
      yield* fs.remove(tmp, { recursive: true, force: true })
      if (!(yield* fs.exists(dir))) {
        return yield* new JournalError({ runId, reason: "store", detail: `could not create ${dir}` })
      }
    }).pipe(Effect.mapError((error) => error._tag === "JournalError" ? error : storeError(runId, "create the run")(error)))

  const stale = (name: string, now: number): boolean => {
    const [, pidText, timeText] = name.split(".")
    const holder = Number(pidText)
    const since = Number(timeText)
    if (!Number.isFinite(holder) || !Number.isFinite(since)) return true
    if (holder !== pid && processAlive(holder) === false) return true
    return now - since > staleAfter
  }

  /**
   * Takes the run's file for this writer: returns its held path, or
   * undefined when the run does not exist and `createMissing` is false.
   */
  const acquire = (runId: string, createMissing: boolean): Effect.Effect<string | undefined, JournalError> =>
    Effect.gen(function*() {
      const dir = runDir(runId)
      const canonical = `${dir}/${JOURNAL}`
      const started = yield* Clock.currentTimeMillis
      for (let attempt = 0;; attempt++) {
        const now = yield* Clock.currentTimeMillis
        const mine = `${dir}/${HELD_PREFIX}${pid}.${now}.${token()}`
        const taken = yield* fs.rename(canonical, mine).pipe(
          Effect.as(true),
          Effect.catchIf(isNotFound, () => Effect.succeed(false)),
          Effect.mapError(storeError(runId, "take the journal"))
        )
        if (taken) return mine
        const names = yield* fs.readDirectory(dir).pipe(
          Effect.map(Option.some),
          Effect.catchIf(isNotFound, () => Effect.succeedNone),
          Effect.mapError(storeError(runId, "list the run directory"))
        )
        if (Option.isNone(names)) {
          if (!createMissing) return undefined
          yield* create(runId)
          continue
        }
        let holder: string | undefined
        for (const name of names.value) {
          if (!name.startsWith(HELD_PREFIX)) continue
          holder = name
          if (!stale(name, now)) continue
          // Taking over a dead writer's file: one atomic rename, so of two
          // writers doing this at once, one wins and the other retries.
          const tookOver = yield* fs.rename(`${dir}/${name}`, mine).pipe(
            Effect.as(true),
            Effect.catchIf(isNotFound, () => Effect.succeed(false)),
            Effect.mapError(storeError(runId, "take over the journal"))
          )
          if (tookOver) return mine
        }
        if (holder !== undefined && now - started > lockTimeout) {
          return yield* new JournalError({
            runId,
            reason: "conflict",
            detail: `the journal is being written by process ${holder.split(".")[1]} (waited ${lockTimeout} ms)`
          })
        }
        // The file is held by a live writer for one append, or was being
        // renamed while we listed the directory: try again shortly.
        yield* attempt < 32 ? Effect.yieldNow : Effect.sleep(Math.min(2 ** (attempt - 32), 20))
      }
    })

  const release = (runId: string, held: string) =>
    fs.rename(held, `${runDir(runId)}/${JOURNAL}`).pipe(Effect.mapError(storeError(runId, "put the journal back")))

  /** Runs `f` on the run's file while holding it, in this process and across processes. */
  const holding = <A>(
    runId: string,
    createMissing: boolean,
    f: (held: string | undefined) => Effect.Effect<A, JournalError>
  ): Effect.Effect<A, JournalError> =>
    lockOf(runId).withPermit(
      Effect.acquireUseRelease(
        acquire(runId, createMissing),
        f,
        (held) => held === undefined ? Effect.void : Effect.orDie(release(runId, held))
      )
    )

  const append = (runId: string, record: RawRecord) =>
    holding(runId, true, (held) =>
      Effect.scoped(Effect.gen(function*() {
        const file = yield* fs.open(held!, { flag: "r+" })
        const info = yield* file.stat
        const size = Number(info.size)
        const ino = Option.getOrUndefined(info.ino)
        const before = known.get(runId)
        let lastSequence: number
        let validEnd: number
        if (before !== undefined && before.ino === ino && before.size === size) {
          lastSequence = before.lastSequence
          validEnd = size
        } else {
          // Someone else appended (or this writer has not read the run yet):
          // read what is new since the last known record.
          const from = before !== undefined && before.ino === ino && before.size <= size ? before.size : 0
          const result = scan(runId, yield* readRange(file, from, size), from, from === 0 ? 0 : before!.lastSequence + 1)
          if (result instanceof JournalError) return yield* result
          lastSequence = result.lastSequence
          validEnd = result.validEnd
        }
        if (record.sequence !== lastSequence + 1) {
          known.set(runId, { ino, size: validEnd, lastSequence })
          return yield* new JournalError({
            runId,
            reason: "conflict",
            sequence: record.sequence,
            detail: record.sequence <= lastSequence
              ? `entry ${record.sequence} already exists (the run has ${lastSequence + 1} entries)`
              : `the run has ${lastSequence + 1} entries, so the next one is ${lastSequence + 1}`
          })
        }
        known.delete(runId)
        // an incomplete last line (a crash mid-write) is cut off before writing
        if (validEnd < size) yield* file.truncate(validEnd)
        const line = encodeLine(record.json)
        yield* file.seek(BigInt(validEnd), "start")
        yield* file.writeAll(line)
        yield* file.sync
        known.set(runId, { ino, size: validEnd + line.length, lastSequence: record.sequence })
      })).pipe(
        Effect.mapError((error) => error._tag === "JournalError" ? error : storeError(runId, "append")(error))
      ))

  /** Opens the run's file under whichever name it has now; None when the run does not exist. */
  const openCurrent = (runId: string) =>
    Effect.gen(function*() {
      const dir = runDir(runId)
      for (let attempt = 0; attempt < 10_000; attempt++) {
        const file = yield* fs.open(`${dir}/${JOURNAL}`, { flag: "r" }).pipe(
          Effect.map(Option.some),
          Effect.catchIf(isNotFound, () => Effect.succeedNone)
        )
        if (Option.isSome(file)) return file
        const names = yield* fs.readDirectory(dir).pipe(
          Effect.map(Option.some),
          Effect.catchIf(isNotFound, () => Effect.succeedNone)
        )
        if (Option.isNone(names)) return Option.none<FileSystem.File>()
        const held = names.value.find((name) => name.startsWith(HELD_PREFIX))
        if (held !== undefined) {
          const file = yield* fs.open(`${dir}/${held}`, { flag: "r" }).pipe(
            Effect.map(Option.some),
            Effect.catchIf(isNotFound, () => Effect.succeedNone)
          )
          if (Option.isSome(file)) return file
        }
        yield* attempt < 32 ? Effect.yieldNow : Effect.sleep(1)
      }
      return yield* new JournalError({ runId, reason: "store", detail: "the journal kept moving while being read" })
    })

  const read = (runId: string) =>
    Effect.scoped(Effect.gen(function*() {
      const file = yield* openCurrent(runId)
      if (Option.isNone(file)) return []
      const info = yield* file.value.stat
      const bytes = yield* readRange(file.value, 0, Number(info.size))
      const result = scan(runId, bytes, 0, 0)
      if (result instanceof JournalError) return yield* result
      known.set(runId, { ino: Option.getOrUndefined(info.ino), size: result.validEnd, lastSequence: result.lastSequence })
      return result.records
    })).pipe(Effect.mapError((error) => error._tag === "JournalError" ? error : storeError(runId, "read")(error)))

  // The last valid record of a file, reading backwards from its end.
  const lastRecord = (file: FileSystem.File, size: number) =>
    Effect.gen(function*() {
      for (let chunk = Math.min(size, TAIL_CHUNK);; chunk = Math.min(size, chunk * 4)) {
        const start = size - chunk
        const bytes = yield* readRange(file, start, size)
        let end = bytes.lastIndexOf(0x0a)
        while (end !== -1) {
          const previous = end === 0 ? -1 : bytes.lastIndexOf(0x0a, end - 1)
          if (previous === -1 && start > 0) break
          const parsed = parseLine(bytes, previous + 1, end)
          if (parsed !== undefined) return parsed as { readonly s: number; readonly t: number; readonly e: unknown }
          end = previous
        }
        if (start === 0) return undefined
      }
    })

  const infoOf = (name: string) =>
    Effect.scoped(Effect.gen(function*() {
      const runId = decodeRunId(name)
      if (runId === undefined) return undefined
      const file = yield* openCurrent(runId)
      if (Option.isNone(file)) return undefined
      const info = yield* file.value.stat
      const last = yield* lastRecord(file.value, Number(info.size))
      if (last === undefined) {
        const mtime = Option.getOrUndefined(info.mtime)
        return { runId, status: "running", entries: 0, updatedAt: mtime?.getTime() ?? 0 } satisfies RunInfo
      }
      const entry = last.e as { readonly _tag?: unknown; readonly status?: unknown }
      const status: RunStatus = entry._tag === "Status" ? entry.status as RunStatus : "running"
      return { runId, status, entries: last.s + 1, updatedAt: last.t } satisfies RunInfo
    }))

  const list = Effect.gen(function*() {
    const names = yield* fs.readDirectory(root)
    const infos = yield* Effect.forEach(names.filter((name) => !name.startsWith(".")), infoOf, { concurrency: 8 })
    return infos.filter((info) => info !== undefined)
  }).pipe(Effect.mapError((error) => error._tag === "JournalError" ? error : storeError("", "list the runs")(error)))

  const remove = (runId: string) =>
    lockOf(runId).withPermit(Effect.gen(function*() {
      const held = yield* acquire(runId, false)
      if (held === undefined) return
      const trash = `${root}/.deleted-${token()}`
      yield* fs.rename(runDir(runId), trash).pipe(
        Effect.tapError(() => Effect.ignore(release(runId, held))),
        Effect.mapError(storeError(runId, "delete"))
      )
      known.delete(runId)
      yield* syncDirectory(runId, root)
      yield* fs.remove(trash, { recursive: true, force: true }).pipe(Effect.mapError(storeError(runId, "delete")))
    }))

  // Finished runs go through `delete`; what a crash left behind while creating
  // or deleting a run (`.tmp-*`, `.deleted-*`) goes once it is old enough.
  const prune = (cutoff: number, statuses: ReadonlyArray<RunStatus>) =>
    Effect.gen(function*() {
      const pruned: Array<string> = []
      for (const run of yield* list) {
        if (run.updatedAt < cutoff && statuses.includes(run.status)) {
          yield* remove(run.runId)
          pruned.push(run.runId)
        }
      }
      const now = yield* Clock.currentTimeMillis
      for (const name of yield* fs.readDirectory(root)) {
        if (!name.startsWith(".tmp-") && !name.startsWith(".deleted-")) continue
        const info = yield* fs.stat(`${root}/${name}`).pipe(Effect.option)
        const mtime = Option.isSome(info) ? Option.getOrUndefined(info.value.mtime)?.getTime() : undefined
        if (mtime !== undefined && now - mtime > staleAfter) {
          yield* fs.remove(`${root}/${name}`, { recursive: true, force: true })
        }
      }
      return pruned
    }).pipe(Effect.mapError((error) => error._tag === "JournalError" ? error : storeError("", "prune")(error)))

  return { append, read, list, delete: remove, prune } satisfies Backend
})
