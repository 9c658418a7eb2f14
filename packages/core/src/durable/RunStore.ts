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
import { JournalError } from "./Journal.ts"
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
  kind: Schema.Literals(["model", "tool", "input", "compaction"]),
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
 * The status of a run.
 *
 * @since 0.1.0
 */
export const RunStatus = Schema.Literals(["running", "completed", "failed"])

/**
 * @since 0.1.0
 */
export type RunStatus = typeof RunStatus.Type

/**
 * A change of the run's status: `running` when a process starts or resumes
 * it (its claim on the run), `completed` or `failed` when it ends.
 *
 * @since 0.1.0
 */
export const Status = Schema.TaggedStruct("Status", {
  status: RunStatus,
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
 * A run as `list` shows it: its status (that of its last `Status` entry when
 * that is the last entry, otherwise `running`), its number of entries and the
 * time of its last one.
 *
 * @since 0.1.0
 */
export interface RunInfo {
  readonly runId: string
  readonly status: RunStatus
  readonly entries: number
  readonly updatedAt: number
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
}

/**
 * The run store in the context.
 *
 * @since 0.1.0
 */
export class RunStore extends Context.Service<RunStore, Service>()("@effect-harness/core/RunStore") {}

/**
 * What a store backend implements; `make` adds the encoding, the checks and
 * the spans. For store implementers (`PgRunStore` is one).
 *
 * @since 0.1.0
 */
export interface Backend {
  /** Appends a record, failing with `reason: "conflict"` unless its sequence is the next one. */
  readonly append: (runId: string, record: Codec.RawRecord) => Effect.Effect<void, JournalError>
  /** The run's records as parsed JSON, in order, whose integrity the backend checked. */
  readonly read: (runId: string) => Effect.Effect<ReadonlyArray<unknown>, JournalError>
  readonly list: Effect.Effect<ReadonlyArray<RunInfo>, JournalError>
  readonly delete: (runId: string) => Effect.Effect<void, JournalError>
  /** Deletes the runs whose last entry is older than `cutoff` with a status in `statuses`. */
  readonly prune?: (cutoff: number, statuses: ReadonlyArray<RunStatus>) => Effect.Effect<ReadonlyArray<string>, JournalError>
}

/**
 * A record as a backend receives it.
 *
 * @since 0.1.0
 */
export type RawRecord = Codec.RawRecord

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
    return yield* decodeRecords(runId, yield* backend.read(runId))
  })

  const prune = Effect.fn("RunStore.prune")(function*(options: PruneOptions) {
    const cutoff = (yield* Clock.currentTimeMillis) - Duration.toMillis(Duration.fromInputUnsafe(options.olderThan))
    const statuses = options.statuses ?? DEFAULT_PRUNE
    if (backend.prune !== undefined) return yield* backend.prune(cutoff, statuses)
    const runs = yield* backend.list
    const pruned: Array<string> = []
    for (const run of runs) {
      if (run.updatedAt < cutoff && statuses.includes(run.status)) {
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
    delete: (runId) => Effect.withSpan(backend.delete(runId), "RunStore.delete", { attributes: { runId } }),
    prune
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
 * Options of the file store.
 *
 * @since 0.1.0
 */
export interface FileSystemOptions {
  /** The directory holding the journals (created if missing). */
  readonly directory: string
  /**
   * How long to wait for a run whose file another live process is writing
   * before failing with `reason: "conflict"` (default 10 seconds).
   */
  readonly lockTimeout?: Duration.Input | undefined
  /**
   * A writer holds a run's file only for one append. A holder whose process is
   * dead is taken over at once; one still alive after `staleAfter` (default 60
   * seconds: a reused process id) is taken over too.
   */
  readonly staleAfter?: Duration.Input | undefined
}

/**
 * The embedded store: one directory, one append-only file per run, no
 * server. Each entry is a line with a CRC-32; an append returns once the line
 * is on disk (`fsync`). A crash in the middle of a write leaves at most an
 * incomplete last line, which is ignored and cut off by the next append; a
 * damaged line followed by others is reported as `reason: "corrupted"`
 * naming the run and the sequence, and nothing is deleted.
 *
 * Several processes on one machine can share the directory: an append takes
 * the run's file for itself (an atomic rename), so appends are fenced across
 * processes, and the file of a writer killed mid-append is taken over.
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
