/**
 * The file run store backend.
 *
 * Layout: `<directory>/<run>/journal`, one directory per run (its name is the
 * run id, percent-encoded; an id whose encoded name would be too long for a
 * file name gets a shortened name with a hash, and its id in a file `id`)
 * holding one append-only file of lines `<crc32 hex> <envelope JSON>\n`, and
 * the run's lease (`lease`) while a process runs it.
 *
 * Exclusive appends across processes: an append first renames `journal` to
 * `journal.<pid>.<expiry>.<random>.<origin>`, a name only it knows; a rename
 * is atomic, so exactly one writer holds the file at a time. It then checks
 * the next sequence, cuts off an incomplete last line, writes, `fsync`s and
 * renames the file back. A writer killed while holding the file leaves it
 * under its held name; another writer takes it over (one more atomic rename,
 * so two writers never both succeed) once the hold has expired, or at once
 * when the holder is known dead: a process of the same PID namespace on the
 * same boot (its `origin`) that the kernel says is gone. A pid of another
 * namespace or host is never asked about. Readers take no lock: they read the
 * file under whichever name it has.
 *
 * A run directory is created whole (a temporary directory with an empty
 * journal, renamed into place), so it never exists without its journal.
 *
 * @internal
 */
import { Clock, Duration, Effect, Exit, FileSystem, Option, Semaphore } from "effect"
import type { PlatformError } from "effect/PlatformError"
import { JournalError, type Lease } from "../Journal.ts"
import { type Backend, type RunInfo, type RunStatus, storeFailure } from "../RunStoreBackend.ts"
import { current as currentProcess, holderDead } from "./processIdentity.ts"
import type { RawRecord } from "./runStoreCodec.ts"
import { encodeLine, parseLine, scan } from "./runStoreLines.ts"

const JOURNAL = "journal"
const LEASE_FILE = "lease"
const ID_FILE = "id"
const HELD_PREFIX = `${JOURNAL}.`
const TAIL_CHUNK = 64 * 1024
const NO_JOURNAL = { path: "", expiresAt: 0 } as const

/** File names longer than this get a hashed name (most file systems allow 255 bytes). */
const MAX_NAME = 200

/** 128 bits of FNV-1a over the id's UTF-16 code units, in four lanes. */
const hashId = (runId: string): string => {
  let out = ""
  for (const seed of [0x811c9dc5, 0x01000193, 0x9e3779b9, 0x85ebca6b]) {
    let h = seed
    for (let i = 0; i < runId.length; i++) h = Math.imul(h ^ runId.charCodeAt(i), 0x01000193) ^ (h >>> 15)
    out += (h >>> 0).toString(16).padStart(8, "0")
  }
  return out
}

/**
 * A file name for a (valid) run id: safe characters kept, everything else
 * percent-encoded; when that is longer than a file name can safely be, its
 * start, `~` (which the encoding never produces) and a hash of the id.
 */
export const encodeRunId = (runId: string): string => {
  const encoded = encodeURIComponent(runId).replace(/[!'()*.~]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
  if (encoded.length <= MAX_NAME) return encoded
  let cut = MAX_NAME - 40
  const percent = encoded.lastIndexOf("%", cut)
  if (percent > cut - 3) cut = percent
  return `${encoded.slice(0, cut)}~${hashId(runId)}`
}

const isHashed = (name: string) => name.includes("~")

const decodeRunId = (name: string): string | undefined => {
  try {
    return decodeURIComponent(name)
  } catch {
    return undefined
  }
}

const token = () => Math.random().toString(36).slice(2, 10)

const isNotFound = (error: PlatformError) => error.reason._tag === "NotFound"

/** A held file name: `journal.<pid>.<expiresAt>.<token>.<origin>` (or the older `journal.<pid>.<since>.<token>`). */
interface Holder {
  readonly pid: number
  readonly expiresAt: number
  readonly origin: string | undefined
}

const parseHolder = (name: string, staleAfter: number): Holder | undefined => {
  const parts = name.split(".")
  const pid = Number(parts[1])
  const time = Number(parts[2])
  if (!Number.isSafeInteger(pid) || !Number.isFinite(time)) return undefined
  if (parts.length === 4) return { pid, expiresAt: time + staleAfter, origin: undefined }
  if (parts.length !== 5) return undefined
  return { pid, expiresAt: time, origin: parts[4] === "x" ? undefined : parts[4] }
}

const parseLease = (text: string): Lease | undefined => {
  try {
    const parsed = JSON.parse(text) as { owner?: unknown; expiresAt?: unknown }
    return typeof parsed.owner === "string" && typeof parsed.expiresAt === "number"
      ? { owner: parsed.owner, expiresAt: parsed.expiresAt }
      : undefined
  } catch {
    return undefined
  }
}

/** What a writer of this store instance last knew about a run's file. */
interface Known {
  readonly ino: bigint | undefined
  /** The end of the last valid record. */
  readonly size: number
  readonly lastSequence: number
}

/**
 * Options of the file store.
 *
 */
export interface Options {
  /** The directory holding the journals (created if missing). */
  readonly directory: string
  /**
   * How long to wait for a run whose file another live process is writing
   * before failing with `reason: "conflict"` (default 10 seconds).
   */
  readonly lockTimeout?: Duration.Input | undefined
  /**
   * A writer holds a run's file only for one append, and its hold expires
   * after `staleAfter` (default 60 seconds): an expired hold is taken over, and
   * a writer refuses to write on a hold past its expiry. A hold of a process
   * of the same PID namespace on the same boot that is gone is taken over at
   * once; a process of another namespace or host is never judged by its pid.
   */
  readonly staleAfter?: Duration.Input | undefined
}

export const make = Effect.fnUntraced(function*(options: Options) {
  const fs = yield* FileSystem.FileSystem
  const root = options.directory.length > 1 ? options.directory.replace(/\/+$/, "") : options.directory
  const lockTimeout = Duration.toMillis(Duration.fromInputUnsafe(options.lockTimeout ?? "10 seconds"))
  const staleAfter = Duration.toMillis(Duration.fromInputUnsafe(options.staleAfter ?? "60 seconds"))
  const self = currentProcess()
  const origin = self.origin ?? "x"
  const known = new Map<string, Known>()
  const locks = new Map<string, Semaphore.Semaphore>()

  const storeError = (runId: string, what: string) => (error: PlatformError) => storeFailure(runId, what, error)
  const orStoreError = (runId: string, what: string) => (error: JournalError | PlatformError) =>
    error._tag === "JournalError" ? error : storeFailure(runId, what, error)

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

  // Creates the run's directory with an empty journal (and, for a hashed
  // name, the id), whole: a temporary directory renamed into place. Losing the
  // race to another creator is fine.
  const create = (runId: string) =>
    Effect.gen(function*() {
      const dir = runDir(runId)
      const tmp = `${root}/.tmp-${token()}`
      yield* fs.makeDirectory(tmp)
      yield* Effect.scoped(Effect.flatMap(fs.open(`${tmp}/${JOURNAL}`, { flag: "wx" }), (file) => file.sync))
      if (isHashed(encodeRunId(runId))) {
        yield* Effect.scoped(Effect.gen(function*() {
          const file = yield* fs.open(`${tmp}/${ID_FILE}`, { flag: "wx" })
          yield* file.writeAll(new TextEncoder().encode(runId))
          yield* file.sync
        }))
      }
      const renamed = yield* fs.rename(tmp, dir).pipe(Effect.as(true), Effect.catch(() => Effect.succeed(false)))
      if (renamed) return yield* syncDirectory(runId, root)
      yield* fs.remove(tmp, { recursive: true, force: true })
      if (!(yield* fs.exists(dir))) {
        return yield* new JournalError({ runId, reason: "store", detail: `could not create ${dir}` })
      }
    }).pipe(Effect.mapError(orStoreError(runId, "create the run")))

  const stale = (name: string, now: number): boolean => {
    const holder = parseHolder(name, staleAfter)
    if (holder === undefined) return true
    return now >= holder.expiresAt || holderDead(holder.origin, holder.pid)
  }

  /**
   * Takes the run's file for this writer: returns its held path and the
   * hold's expiry, or undefined when the run does not exist and
   * `createMissing` is false.
   */
  const acquire = (
    runId: string,
    createMissing: boolean
  ): Effect.Effect<{ readonly path: string; readonly expiresAt: number } | undefined, JournalError> =>
    Effect.gen(function*() {
      const dir = runDir(runId)
      const canonical = `${dir}/${JOURNAL}`
      const started = yield* Clock.currentTimeMillis
      let missing = 0
      for (let attempt = 0;; attempt++) {
        const now = yield* Clock.currentTimeMillis
        const expiresAt = now + staleAfter
        const mine = `${dir}/${HELD_PREFIX}${self.pid}.${expiresAt}.${token()}.${origin}`
        const taken = yield* fs.rename(canonical, mine).pipe(
          Effect.as(true),
          Effect.catchIf(isNotFound, () => Effect.succeed(false)),
          Effect.mapError(storeError(runId, "take the journal"))
        )
        if (taken) return { path: mine, expiresAt }
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
          // Taking over an expired or dead writer's file: one atomic rename,
          // so of two writers doing this at once, one wins and the other retries.
          const tookOver = yield* fs.rename(`${dir}/${name}`, mine).pipe(
            Effect.as(true),
            Effect.catchIf(isNotFound, () => Effect.succeed(false)),
            Effect.mapError(storeError(runId, "take over the journal"))
          )
          if (tookOver) return { path: mine, expiresAt }
        }
        if (holder === undefined && ++missing > 64) {
          // Neither the journal nor a held one, again and again: not a rename
          // in flight but a run directory without its journal.
          return yield* new JournalError({ runId, reason: "corrupted", detail: `the run directory ${dir} has no journal` })
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
    fs.rename(held, `${runDir(runId)}/${JOURNAL}`).pipe(
      Effect.mapError((error) =>
        isNotFound(error)
          ? storeFailure(
            runId,
            "put the journal back: it was removed or taken over while this process held it (deleted from outside, " +
              "or held past its expiry)",
            error
          )
          : storeFailure(runId, "put the journal back", error)
      )
    )

  /**
   * Runs `f` on the run's file while holding it, in this process and across
   * processes. A failure to put the file back is a typed store error.
   */
  const holding = <A>(
    runId: string,
    createMissing: boolean,
    f: (held: { readonly path: string; readonly expiresAt: number } | undefined) => Effect.Effect<A, JournalError>
  ): Effect.Effect<A, JournalError> =>
    lockOf(runId).withPermit(Effect.uninterruptibleMask((restore) =>
      Effect.gen(function*() {
        const held = yield* acquire(runId, createMissing)
        if (held === undefined) return yield* restore(f(undefined))
        const exit = yield* Effect.exit(restore(f(held)))
        const released = yield* Effect.exit(release(runId, held.path))
        if (Exit.isFailure(exit)) return yield* Effect.failCause(exit.cause)
        if (Exit.isFailure(released)) return yield* Effect.failCause(released.cause)
        return exit.value
      })
    ))

  const append = (runId: string, record: RawRecord) =>
    holding(runId, true, (held) =>
      Effect.scoped(Effect.gen(function*() {
        const file = yield* fs.open(held!.path, { flag: "r+" })
        const info = yield* file.stat
        if (info.type !== "File") {
          return yield* new JournalError({ runId, reason: "corrupted", detail: `the journal is not a file (${info.type})` })
        }
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
        // A hold past its expiry may have been taken over: write nothing.
        if ((yield* Clock.currentTimeMillis) >= held!.expiresAt) {
          return yield* new JournalError({
            runId,
            reason: "conflict",
            sequence: record.sequence,
            detail: `this process held the journal past its expiry (${staleAfter} ms), so another may have taken it over`
          })
        }
        // an incomplete last line (a crash mid-write) is cut off before writing
        if (validEnd < size) yield* file.truncate(validEnd)
        const line = encodeLine(record.json)
        yield* file.seek(BigInt(validEnd), "start")
        yield* file.writeAll(line)
        yield* file.sync
        known.set(runId, { ino, size: validEnd + line.length, lastSequence: record.sequence })
      })).pipe(Effect.mapError(orStoreError(runId, "append"))))

  /** Opens the run's file under whichever name it has now; None when the run does not exist. */
  const openCurrent = (runId: string) =>
    Effect.gen(function*() {
      const dir = runDir(runId)
      let missing = 0
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
        } else if (++missing > 64) {
          // No journal under any name, again and again: not a rename in flight.
          return yield* new JournalError({ runId, reason: "corrupted", detail: `the run directory ${dir} has no journal` })
        }
        yield* attempt < 32 ? Effect.yieldNow : Effect.sleep(1)
      }
      return yield* new JournalError({ runId, reason: "store", detail: "the journal kept moving while being read" })
    })

  const statFile = (runId: string, file: FileSystem.File) =>
    Effect.flatMap(file.stat, (info) =>
      info.type === "File"
        ? Effect.succeed(info)
        : Effect.fail(new JournalError({ runId, reason: "corrupted", detail: `the journal is not a file (${info.type})` })))

  const read = (runId: string) =>
    Effect.scoped(Effect.gen(function*() {
      const file = yield* openCurrent(runId)
      if (Option.isNone(file)) return []
      const info = yield* statFile(runId, file.value)
      const bytes = yield* readRange(file.value, 0, Number(info.size))
      const result = scan(runId, bytes, 0, 0)
      if (result instanceof JournalError) return yield* result
      known.set(runId, { ino: Option.getOrUndefined(info.ino), size: result.validEnd, lastSequence: result.lastSequence })
      return result.records
    })).pipe(Effect.mapError(orStoreError(runId, "read")))

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

  const runIdOf = (name: string): Effect.Effect<string | undefined, JournalError> =>
    isHashed(name)
      ? fs.readFileString(`${root}/${name}/${ID_FILE}`).pipe(Effect.mapError(storeError(name, "read the run id")))
      : Effect.succeed(decodeRunId(name))

  // A run `list` cannot read is listed as unreadable, with why; the others are listed as usual.
  const infoOf = (name: string) =>
    Effect.gen(function*() {
      const runId = yield* runIdOf(name).pipe(Effect.catch(() => Effect.succeed(name)))
      if (runId === undefined) return undefined
      return yield* Effect.scoped(Effect.gen(function*() {
        const file = yield* openCurrent(runId)
        if (Option.isNone(file)) return undefined
        const info = yield* statFile(runId, file.value)
        const last = yield* lastRecord(file.value, Number(info.size))
        if (last === undefined) {
          const mtime = Option.getOrUndefined(info.mtime)
          return { runId, status: "running", entries: 0, updatedAt: mtime?.getTime() ?? 0 } satisfies RunInfo
        }
        const entry = last.e as { readonly _tag?: unknown; readonly status?: unknown }
        const status: RunStatus = entry._tag === "Status" ? entry.status as RunStatus : "running"
        return { runId, status, entries: last.s + 1, updatedAt: last.t } satisfies RunInfo
      })).pipe(
        Effect.catch((error) =>
          Effect.gen(function*() {
            const failure = orStoreError(runId, "list")(error)
            const stat = yield* fs.stat(`${root}/${name}`).pipe(Effect.option)
            const mtime = Option.isSome(stat) ? Option.getOrUndefined(stat.value.mtime)?.getTime() : undefined
            return { runId, status: "unreadable", entries: 0, updatedAt: mtime ?? 0, detail: failure.message } satisfies RunInfo
          })
        )
      )
    })

  const list = Effect.gen(function*() {
    const names = yield* fs.readDirectory(root)
    const infos = yield* Effect.forEach(names.filter((name) => !name.startsWith(".")), infoOf, { concurrency: 8 })
    return infos.filter((info) => info !== undefined)
  }).pipe(Effect.mapError(orStoreError("", "list the runs")))

  /** Deletes the run; with `verify`, only when its whole journal reads cleanly (returns whether it deleted). */
  const removeRun = (runId: string, verify: boolean) =>
    lockOf(runId).withPermit(Effect.gen(function*() {
      const held = yield* acquire(runId, false).pipe(
        // a run directory without its journal can still be deleted (not pruned)
        Effect.catchIf((error) => !verify && error.reason === "corrupted", () => Effect.succeed(NO_JOURNAL))
      )
      if (held === undefined) return false
      if (verify && held !== NO_JOURNAL) {
        const damage = yield* Effect.scoped(Effect.gen(function*() {
          const file = yield* fs.open(held.path, { flag: "r" })
          const info = yield* statFile(runId, file)
          const result = scan(runId, yield* readRange(file, 0, Number(info.size)), 0, 0)
          return result instanceof JournalError ? result : undefined
        })).pipe(Effect.catch((error) => Effect.succeed(orStoreError(runId, "verify")(error))))
        if (damage !== undefined) {
          yield* release(runId, held.path)
          return false
        }
      }
      const trash = `${root}/.deleted-${token()}`
      yield* fs.rename(runDir(runId), trash).pipe(
        Effect.tapError(() => held === NO_JOURNAL ? Effect.void : Effect.ignore(release(runId, held.path))),
        Effect.mapError(storeError(runId, "delete"))
      )
      known.delete(runId)
      yield* syncDirectory(runId, root)
      yield* fs.remove(trash, { recursive: true, force: true }).pipe(Effect.mapError(storeError(runId, "delete")))
      return true
    }))

  const remove = (runId: string) => Effect.asVoid(removeRun(runId, false))

  // Finished runs are deleted only when their whole journal reads cleanly (a
  // run damaged in the middle is kept, whatever its last line says), one bad
  // run does not stop the others, and what a crash left behind while creating
  // or deleting a run (`.tmp-*`, `.deleted-*`) goes once it is old enough.
  const prune = (cutoff: number, statuses: ReadonlyArray<RunStatus>) =>
    Effect.gen(function*() {
      const pruned: Array<string> = []
      for (const run of yield* list) {
        if (run.status === "unreadable" || run.updatedAt >= cutoff || !statuses.includes(run.status)) continue
        const deleted = yield* removeRun(run.runId, true).pipe(Effect.catch(() => Effect.succeed(false)))
        if (deleted) pruned.push(run.runId)
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
    }).pipe(Effect.mapError(orStoreError("", "prune")))

  // ---------------------------------------------------------------------------
  // Leases: a file `lease` in the run directory, read and replaced while
  // holding the journal, so that every change of it is exclusive.
  // ---------------------------------------------------------------------------

  const readLease = (runId: string) =>
    fs.readFileString(`${runDir(runId)}/${LEASE_FILE}`).pipe(
      Effect.map(parseLease),
      Effect.catchIf((error) => isNotFound(error) || error.reason._tag === "BadResource", () => Effect.succeed(undefined)),
      Effect.mapError(storeError(runId, "read the lease"))
    )

  const writeLease = (runId: string, lease: Lease) =>
    Effect.gen(function*() {
      const tmp = `${runDir(runId)}/${LEASE_FILE}.new.${token()}`
      yield* fs.writeFileString(tmp, JSON.stringify(lease))
      yield* fs.rename(tmp, `${runDir(runId)}/${LEASE_FILE}`)
    }).pipe(Effect.mapError(storeError(runId, "write the lease")))

  const swapLease = (runId: string, next: Lease, now: number, replace: string | undefined) =>
    holding(runId, true, () =>
      Effect.gen(function*() {
        const lease = yield* readLease(runId)
        if (lease !== undefined && lease.expiresAt > now && lease.owner !== next.owner && lease.owner !== replace) {
          return lease
        }
        yield* writeLease(runId, next)
        return next
      }))

  const releaseLease = (runId: string, owner: string) =>
    holding(runId, false, (held) =>
      held === undefined ? Effect.void : Effect.gen(function*() {
        const lease = yield* readLease(runId)
        if (lease?.owner !== owner) return
        yield* fs.remove(`${runDir(runId)}/${LEASE_FILE}`).pipe(
          Effect.catchIf(isNotFound, () => Effect.void),
          Effect.mapError(storeError(runId, "release the lease"))
        )
      }))

  return {
    append,
    read,
    list,
    delete: remove,
    prune,
    lease: readLease,
    swapLease,
    releaseLease
  } satisfies Backend
})
