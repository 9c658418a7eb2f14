/**
 * The in-memory run store backend: a map from run id to encoded records.
 *
 * @internal
 */
import { Effect } from "effect"
import { JournalError } from "../Journal.ts"
import type { Lease } from "../Journal.ts"
import type { Backend, RunInfo } from "../RunStoreBackend.ts"
import type { RawRecord } from "./runStoreCodec.ts"

export const make = (): Backend => {
  const runs = new Map<string, Array<RawRecord>>()
  const leases = new Map<string, Lease>()

  const info = (runId: string, records: ReadonlyArray<RawRecord>): RunInfo => {
    const last = records[records.length - 1]!
    return { runId, status: last.status ?? "running", entries: records.length, updatedAt: last.at }
  }

  return {
    append: (runId, record) =>
      Effect.suspend(() => {
        const records = runs.get(runId) ?? []
        if (record.sequence !== records.length) {
          return Effect.fail(
            new JournalError({
              runId,
              reason: "conflict",
              sequence: record.sequence,
              detail: record.sequence < records.length
                ? `entry ${record.sequence} already exists (the run has ${records.length} entries)`
                : `the run has ${records.length} entries, so the next one is ${records.length}`
            })
          )
        }
        records.push(record)
        runs.set(runId, records)
        return Effect.void
      }),
    read: (runId) => Effect.sync(() => (runs.get(runId) ?? []).map((record) => JSON.parse(record.json) as unknown)),
    list: Effect.sync(() => Array.from(runs, ([runId, records]) => info(runId, records))),
    delete: (runId) =>
      Effect.sync(() => {
        runs.delete(runId)
        leases.delete(runId)
      }),
    lease: (runId) => Effect.sync(() => leases.get(runId)),
    swapLease: (runId, next, now, replace) =>
      Effect.sync(() => {
        const lease = leases.get(runId)
        if (lease !== undefined && lease.expiresAt > now && lease.owner !== next.owner && lease.owner !== replace) {
          return lease
        }
        leases.set(runId, next)
        return next
      }),
    releaseLease: (runId, owner) =>
      Effect.sync(() => {
        if (leases.get(runId)?.owner === owner) leases.delete(runId)
      })
  }
}
