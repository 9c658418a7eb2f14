/**
 * Where durable runs keep their journals. For each run id, a `RunStore` holds
 * an append-only list of entries: the completed steps (model responses, tool
 * results, inputs, compactions), the start of non-idempotent tool calls, and
 * the run's status. Each entry stores only what its step added, so a journal
 * grows with the steps, not with steps x history.
 *
 * Appends are fenced by sequence number: `append(runId, k, entry)` fails with
 * `JournalError` `reason: "conflict"` when entry `k` already exists, so of two
 * writers that read the same journal, exactly one gets to extend it.
 *
 * Stores: `layerMemory` (tests), `layerFileSystem` (one directory, no server),
 * and `PgRunStore` in `@effect-harness/sql` (PostgreSQL). `Durable` runs a
 * program against the store in the context.
 *
 * @example
 * ```ts
 * import { RunStore } from "@effect-harness/core"
 * import { NodeFileSystem } from "@effect/platform-node"
 * import { Effect, Layer } from "effect"
 *
 * const store = RunStore.layerFileSystem({ directory: ".runs" }).pipe(Layer.provide(NodeFileSystem.layer))
 *
 * const finished = Effect.gen(function*() {
 *   const runs = yield* RunStore.RunStore
 *   return (yield* runs.list).filter((run) => run.status === "completed")
 * }).pipe(Effect.provide(store))
 * ```
 *
 * @since 0.1.0
 */
import { Clock, Context, Duration, Effect, Layer, Schema } from "effect"
import type * as FileSystem from "effect/FileSystem"
import type * as Scope from "effect/Scope"
import { JournalError, type Lease } from "./Journal.ts"
import * as Owner from "./internal/runOwner.ts"
import * as RunStoreBackend from "./RunStoreBackend.ts"
import type { Backend } from "./RunStoreBackend.ts"
import * as Codec from "./internal/runStoreCodec.ts"
import * as FileStore from "./internal/runStoreFile.ts"
import * as MemoryStore from "./internal/runStoreMemory.ts"

// -----------------------------------------------------------------------------
// Entries
// -----------------------------------------------------------------------------

/**
 * A completed step: what it asked for (`request`) and what it returned
 * (`result`, as the step's codec encodes it, in encoding `version`). A tool
 * call whose outcome is unknown is recorded with `outcome: "unknown"`.
 *
 * @since 0.1.0
 */
export const Step = Schema.TaggedStruct("Step", {
  kind: Schema.Literals(["model", "tool", "input", "compaction", "pause"]),
  name: Schema.String,
  request: Schema.Unknown,
  result: Schema.Unknown,
  version: Schema.Int,
  outcome: Schema.optionalKey(Schema.Literal("unknown"))
})

/**
 * A non-idempotent tool call about to run. Recorded before the tool runs, so
 * that a resumed run knows the call may have happened and never runs it twice.
 *
 * @since 0.1.0
 */
export const ToolStarted = Schema.TaggedStruct("ToolStarted", {
  name: Schema.String,
  request: Schema.Unknown
})

/**
 * A change of the run's status: `running` when a process starts or resumes
 * it (its claim on the run), `completed` or `failed` when it ends, `paused`
 * when it stopped to wait for input from outside (an agent's approvals).
 *
 * @since 0.1.0
 */
export const Status = Schema.TaggedStruct("Status", {
  status: RunStoreBackend.RunStatus,
  detail: Schema.optionalKey(Schema.String)
})

/**
 * One journal entry.
 *
 * @since 0.1.0
 */
export const Entry = Schema.Union([Step, ToolStarted, Status])

/**
 * @since 0.1.0
 */
export type Entry = typeof Entry.Type

/**
 * An entry with its place in the journal and the time it was appended
 * (milliseconds since the epoch, from the `Clock`).
 *
 * @since 0.1.0
 */
export interface Record {
  readonly sequence: number
  readonly at: number
  readonly entry: Entry
}


/**
 * Which runs `prune` deletes: those whose last entry is older than
 * `olderThan` and whose status is in `statuses` (default: the finished ones,
 * `completed` and `failed`).
 *
 * @since 0.1.0
 */
export interface PruneOptions {
  readonly olderThan: Duration.Input
  readonly statuses?: ReadonlyArray<RunStatus> | undefined
}

// -----------------------------------------------------------------------------
// Service
// -----------------------------------------------------------------------------

/**
 * The store's operations.
 *
 * @since 0.1.0
 */
export interface Service {
  /**
   * Appends `entry` as entry number `sequence` (0-based) of the run, durably.
   * Fails with `reason: "conflict"` when `sequence` is not the next one (the
   * entry exists: another writer got there first).
   */
  readonly append: (runId: string, sequence: number, entry: Entry) => Effect.Effect<void, JournalError>
  /** The run's entries in order; empty for an unknown run. */
  readonly read: (runId: string) => Effect.Effect<ReadonlyArray<Record>, JournalError>
  /** Every run with its status. */
  readonly list: Effect.Effect<ReadonlyArray<RunInfo>, JournalError>
  /** Deletes a run's journal (nothing happens for an unknown run). */
  readonly delete: (runId: string) => Effect.Effect<void, JournalError>
  /** Deletes the finished runs older than `olderThan`; returns their ids. */
  readonly prune: (options: PruneOptions) => Effect.Effect<ReadonlyArray<string>, JournalError>
  /**
   * The lease that makes the run live elsewhere: held by an owner other than
   * `owner`, not expired, and its holder not known dead. Undefined otherwise.
   */
  readonly liveLease: (runId: string, owner: string) => Effect.Effect<Lease | undefined, JournalError>
  /**
   * Claims (or renews) the run's lease for `owner` for `ttl` from now. Fails
   * with `reason: "conflict"` and the holder's `lease` while another owner's
   * lease is fresh; an expired lease, or one whose holder is known dead (a
   * process of this PID namespace on this boot that is gone), is taken over.
   */
  readonly claim: (runId: string, owner: string, ttl: Duration.Input) => Effect.Effect<Lease, JournalError>
  /** Gives up `owner`'s lease on the run (nothing happens when another owner holds it). */
  readonly release: (runId: string, owner: string) => Effect.Effect<void, JournalError>
  /**
   * Present when the store can tell readers of other processes that a run
   * changed (PostgreSQL: LISTEN/NOTIFY). Once it returns, every append to the
   * run completes the effect it returned, at least once per append, until the
   * scope closes. Stores without it are polled (see `RunEvents.stream`).
   */
  readonly watch?: ((runId: string) => Effect.Effect<Effect.Effect<void, JournalError>, JournalError, Scope.Scope>) | undefined
}

/**
 * The run store in the context.
 *
 * @since 0.1.0
 */
export class RunStore extends Context.Service<RunStore, Service>()("@effect-harness/core/RunStore") {}


/**
 * The status of a run (see `RunStoreBackend.RunStatus`).
 *
 * @since 0.1.0
 */
export type RunStatus = RunStoreBackend.RunStatus

/**
 * What `list` reports of a run (see `RunStoreBackend.RunInfo`).
 *
 * @since 0.1.0
 */
export type RunInfo = RunStoreBackend.RunInfo

// -----------------------------------------------------------------------------
// Run ids and store failures (the same rules for every store)
// -----------------------------------------------------------------------------

/**
 * The longest run id a store accepts, in bytes once encoded as UTF-8.
 *
 * @since 0.1.0
 */
export const maxRunIdBytes = 512

const utf8Length = (text: string): number => {
  let bytes = 0
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i)
    bytes += code < 0x80 ? 1 : code < 0x800 ? 2 : code >= 0xd800 && code <= 0xdbff ? (i++, 4) : 3
  }
  return bytes
}

/** Where the first lone UTF-16 surrogate is, or -1. */
const loneSurrogate = (text: string): number => {
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i)
    if (code >= 0xd800 && code <= 0xdbff) {
      const next = text.charCodeAt(i + 1)
      if (next >= 0xdc00 && next <= 0xdfff) {
        i++
        continue
      }
      return i
    }
    if (code >= 0xdc00 && code <= 0xdfff) return i
  }
  return -1
}

/**
 * Checks a run id against the rules every store applies: not empty, valid
 * Unicode (no lone UTF-16 surrogate, as `text.slice(0, n)` leaves when it cuts
 * an emoji in two), no NUL character, and at most {@link maxRunIdBytes} bytes
 * in UTF-8. Returns the `JournalError` (`reason: "invalid-run-id"`) an
 * operation on that id fails with, or `undefined` for a valid id.
 *
 * @example
 * ```ts
 * import { RunStore } from "@effect-harness/core"
 *
 * const subject = "Refund 😀"
 * RunStore.validateRunId(subject.slice(0, 8))?.reason // "invalid-run-id": half an emoji
 * ```
 *
 * @since 0.1.0
 */
export const validateRunId = (runId: string): JournalError | undefined => {
  const invalid = (detail: string) => new JournalError({ runId, reason: "invalid-run-id", detail })
  if (runId.length === 0) return invalid("a run id is not empty")
  const surrogate = loneSurrogate(runId)
  if (surrogate !== -1) {
    return invalid(`the run id has a lone UTF-16 surrogate at index ${surrogate} (a string cut in the middle of a character)`)
  }
  if (runId.includes("\u0000")) return invalid("a run id has no NUL character")
  const bytes = utf8Length(runId)
  if (bytes > maxRunIdBytes) return invalid(`the run id is ${bytes} bytes in UTF-8, at most ${maxRunIdBytes} are allowed`)
  return undefined
}


const encodeEntry = Schema.encodeUnknownResult(Entry)
const decodeEntry = Schema.decodeUnknownResult(Entry)

/**
 * Decodes the parsed records of a run, checking their sequence and format
 * version: a record that does not decode is `corrupted`, one of another format
 * version is refused (`version`), both naming the run and the sequence.
 *
 * @since 0.1.0
 */
export const decodeRecords = (runId: string, parsed: ReadonlyArray<unknown>): Effect.Effect<Array<Record>, JournalError> =>
  Effect.suspend(() => {
    const records: Array<Record> = new Array(parsed.length)
    for (let sequence = 0; sequence < parsed.length; sequence++) {
      const envelope = Codec.checkEnvelope(runId, sequence, parsed[sequence])
      if (envelope instanceof JournalError) return Effect.fail(envelope)
      const entry = decodeEntry(envelope.e)
      if (entry._tag === "Failure") {
        return Effect.fail(
          new JournalError({ runId, reason: "corrupted", sequence, detail: `the entry does not decode: ${entry.failure.message}` })
        )
      }
      records[sequence] = { sequence, at: envelope.t, entry: entry.success }
    }
    return Effect.succeed(records)
  })

const DEFAULT_PRUNE: ReadonlyArray<RunStatus> = ["completed", "failed"]

/**
 * Builds a store from a backend.
 *
 * @since 0.1.0
 */
export const make = (backend: Backend): Service => {
  const append = Effect.fn("RunStore.append")(function*(runId: string, sequence: number, entry: Entry) {
    const invalid = validateRunId(runId)
    if (invalid !== undefined) return yield* invalid
    if (!Number.isSafeInteger(sequence) || sequence < 0) {
      return yield* new JournalError({ runId, reason: "store", sequence, detail: "a sequence is an integer from 0" })
    }
    const encoded = encodeEntry(entry)
    if (encoded._tag === "Failure") {
      return yield* new JournalError({ runId, reason: "store", sequence, detail: `the entry does not encode: ${encoded.failure.message}` })
    }
    const at = yield* Clock.currentTimeMillis
    let json: string
    try {
      json = Codec.envelopeJson(sequence, at, encoded.success)
    } catch (error) {
      return yield* new JournalError({ runId, reason: "store", sequence, detail: `the entry is not JSON: ${(error as Error).message}` })
    }
    yield* backend.append(runId, { sequence, at, status: entry._tag === "Status" ? entry.status : undefined, json })
  })

  const read = Effect.fn("RunStore.read")(function*(runId: string) {
    const invalid = validateRunId(runId)
    if (invalid !== undefined) return yield* invalid
    return yield* decodeRecords(runId, yield* backend.read(runId))
  })

  const checked = <A, R = never>(runId: string, f: Effect.Effect<A, JournalError, R>): Effect.Effect<A, JournalError, R> =>
    Effect.suspend(() => {
      const invalid = validateRunId(runId)
      return invalid === undefined ? f : Effect.fail(invalid)
    })

  const liveLease = (runId: string, owner: string) =>
    checked(
      runId,
      Effect.gen(function*() {
        const lease = yield* backend.lease(runId)
        if (lease === undefined || lease.owner === owner) return undefined
        const now = yield* Clock.currentTimeMillis
        return lease.expiresAt > now && !Owner.isDead(lease.owner) ? lease : undefined
      })
    )

  const claim = (runId: string, owner: string, ttl: Duration.Input) =>
    checked(
      runId,
      Effect.gen(function*() {
        const now = yield* Clock.currentTimeMillis
        const next: Lease = { owner, expiresAt: now + Duration.toMillis(Duration.fromInputUnsafe(ttl)) }
        let lease = yield* backend.swapLease(runId, next, now, undefined)
        // a holder known dead (a process of this namespace that is gone) is replaced at once
        if (lease.owner !== owner && Owner.isDead(lease.owner)) {
          lease = yield* backend.swapLease(runId, next, now, lease.owner)
        }
        if (lease.owner !== owner) return yield* Owner.liveElsewhere(runId, lease)
        return lease
      })
    ).pipe(Effect.withSpan("RunStore.claim", { attributes: { runId } }))

  const prune = Effect.fn("RunStore.prune")(function*(options: PruneOptions) {
    const cutoff = (yield* Clock.currentTimeMillis) - Duration.toMillis(Duration.fromInputUnsafe(options.olderThan))
    const statuses = options.statuses ?? DEFAULT_PRUNE
    if (backend.prune !== undefined) return yield* backend.prune(cutoff, statuses)
    const runs = yield* backend.list
    const pruned: Array<string> = []
    for (const run of runs) {
      if (run.status !== "unreadable" && run.updatedAt < cutoff && statuses.includes(run.status)) {
        yield* backend.delete(run.runId)
        pruned.push(run.runId)
      }
    }
    return pruned
  })

  return RunStore.of({
    append,
    read,
    list: Effect.withSpan(backend.list, "RunStore.list"),
    delete: (runId) => Effect.withSpan(checked(runId, backend.delete(runId)), "RunStore.delete", { attributes: { runId } }),
    prune,
    liveLease,
    claim,
    release: (runId, owner) => checked(runId, backend.releaseLease(runId, owner)),
    ...(backend.watch === undefined ? {} : { watch: (runId: string) => checked(runId, backend.watch!(runId)) })
  })
}

/**
 * A store in memory, for tests: entries are kept encoded, as a real store
 * would, so what a test reads back went through the same Schema.
 *
 * @example
 * ```ts
 * import { Durable, RunStore } from "@effect-harness/core"
 * import { Effect } from "effect"
 *
 * const program = Effect.succeed("done").pipe(Durable.run("run-1"), Effect.provide(RunStore.layerMemory))
 * ```
 *
 * @since 0.1.0
 */
export const layerMemory: Layer.Layer<RunStore> = Layer.sync(RunStore, () => make(MemoryStore.make()))

/**
 * Options of {@link layerFileSystem}.
 *
 * @since 0.1.0
 */
export interface FileSystemOptions extends FileStore.Options {}

/**
 * The embedded store: one directory, one append-only file per run, no
 * server. Each entry is a line with a CRC-32; an append returns once the line
 * is on disk (`fsync`). A crash in the middle of a write leaves at most an
 * incomplete last line, which is ignored and cut off by the next append; a
 * damaged line followed by others is reported as `reason: "corrupted"`
 * naming the run and the sequence, and nothing is deleted.
 *
 * Several processes can share the directory, in one PID namespace or in
 * several (containers sharing a volume): an append takes the run's file for
 * itself (an atomic rename) under a hold that expires, so appends are fenced
 * across processes; the file of a writer killed mid-append is taken over at
 * once when it is a process of the same namespace that is gone, otherwise
 * when its hold expires. Not for network file systems (see
 * docs/durability.md for the limits).
 *
 * Needs effect's `FileSystem`: provide `NodeFileSystem.layer` from
 * `@effect/platform-node`.
 *
 * @example
 * ```ts
 * import { RunStore } from "@effect-harness/core"
 * import { NodeFileSystem } from "@effect/platform-node"
 * import { Layer } from "effect"
 *
 * const RunStoreLive = RunStore.layerFileSystem({ directory: "/var/lib/my-app/runs" }).pipe(
 *   Layer.provide(NodeFileSystem.layer)
 * )
 * ```
 *
 * @since 0.1.0
 */
export const layerFileSystem = (
  options: FileSystemOptions
): Layer.Layer<RunStore, JournalError, FileSystem.FileSystem> =>
  Layer.effect(RunStore, Effect.map(FileStore.make(options), make))
