/**
 * What a run-store backend implements, for store implementers: the
 * operations of {@link Backend} (`RunStore.make` adds the encoding, the
 * checks and the spans), what `list` reports of a run, and the store failure
 * that carries its cause. `RunStore.layerMemory`, `RunStore.layerFileSystem`
 * and `PgRunStore` in `@effect-harness/sql` are backends.
 *
 * @since 0.1.0
 */
import { type Effect, Schema } from "effect"
import { JournalError, type Lease } from "./Journal.ts"
import type * as Codec from "./internal/runStoreCodec.ts"
import type * as Scope from "effect/Scope"

/**
 * The status of a run.
 *
 * @since 0.1.0
 */
export const RunStatus = Schema.Literals(["running", "completed", "failed", "paused"])

/**
 * @since 0.1.0
 */
export type RunStatus = typeof RunStatus.Type

/**
 * A run as `list` shows it: its status (that of its last `Status` entry when
 * that is the last entry, otherwise `running`), its number of entries and the
 * time of its last one. A run whose journal the store cannot read (the file
 * store: a journal that is not a file, a run directory without its journal)
 * is listed as `unreadable` with the reason in `detail`, and the other runs
 * are listed as usual; `prune` never deletes it.
 *
 * @since 0.1.0
 */
export interface RunInfo {
  readonly runId: string
  readonly status: RunStatus | "unreadable"
  readonly entries: number
  readonly updatedAt: number
  readonly detail?: string | undefined
}

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
  /** The run's lease, fresh or expired, if it has one. */
  readonly lease: (runId: string) => Effect.Effect<Lease | undefined, JournalError>
  /**
   * Sets the run's lease to `next`, atomically, when the run has no lease, or
   * its lease expired by `now`, or is held by `next.owner` or by `replace`.
   * Returns the lease the run has afterwards (`next`, or the one that stays).
   */
  readonly swapLease: (runId: string, next: Lease, now: number, replace: string | undefined) => Effect.Effect<Lease, JournalError>
  /** Removes the run's lease when `owner` holds it. */
  readonly releaseLease: (runId: string, owner: string) => Effect.Effect<void, JournalError>
  /** Optional: waits for appends made by any process (see `RunStore.Service.watch`). */
  readonly watch?: ((runId: string) => Effect.Effect<Effect.Effect<void, JournalError>, JournalError, Scope.Scope>) | undefined
}

/**
 * A record as a backend receives it.
 *
 * @since 0.1.0
 */
export type RawRecord = Codec.RawRecord

const describeCause = (cause: unknown): string => {
  const parts: Array<string> = []
  let current = cause
  for (let depth = 0; depth < 6 && current !== undefined && current !== null; depth++) {
    if (typeof current !== "object") {
      parts.push(String(current))
      break
    }
    const { code, detail, message } = current as { code?: unknown; detail?: unknown; message?: unknown }
    let text = typeof message === "string" && message.length > 0 ? message : String(current)
    if (typeof detail === "string" && detail.length > 0 && !text.includes(detail)) text += ` (${detail})`
    if ((typeof code === "string" || typeof code === "number") && !text.includes(String(code))) text += ` [code ${code}]`
    if (!parts.some((part) => part.includes(text))) parts.push(text)
    current = (current as { cause?: unknown }).cause
  }
  return parts.join(": ")
}

/**
 * A store failure (`reason: "store"`) carrying the underlying error as its
 * `cause`, with the messages and codes of the whole cause chain in its detail
 * (`ENOSPC: no space left on device`, PostgreSQL's message and SQLSTATE).
 * For store implementers.
 *
 * @example
 * ```ts
 * import { RunStoreBackend } from "@effect-harness/core"
 *
 * const error = RunStoreBackend.storeFailure("run-1", "append", Object.assign(new Error("disk full"), { code: "ENOSPC" }))
 * error.detail // "append: disk full [code ENOSPC]"
 * ```
 *
 * @since 0.1.0
 */
export const storeFailure = (runId: string, what: string, cause: unknown, sequence?: number): JournalError =>
  new JournalError({
    runId,
    reason: "store",
    detail: `${what}: ${describeCause(cause)}`,
    cause,
    ...(sequence === undefined ? {} : { sequence })
  })
