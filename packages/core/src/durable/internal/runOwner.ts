/**
 * The owner of a run's lease: `<host>/<origin>/<pid>/<token>`, one per
 * `Durable.run` attempt, so that two attempts in one process exclude each
 * other too. An owner of this process is alive while its attempt runs; one of
 * another process of this PID namespace on this boot is dead when the kernel
 * says so; any other owner (another namespace or host, or a name that is not
 * of this form) is never known dead: only its lease's expiry ends it.
 *
 * @internal
 */
import { JournalError, type Lease } from "../Journal.ts"
import { current, holderDead } from "./processIdentity.ts"

const live = new Set<string>()

/** A new owner of this process, alive until {@link end}. */
export const make = (): string => {
  const self = current()
  const owner = `${self.host}/${self.origin ?? "x"}/${self.pid}/${Math.random().toString(36).slice(2, 12)}`
  live.add(owner)
  return owner
}

/** The owner's attempt ended. */
export const end = (owner: string): void => {
  live.delete(owner)
}

const parse = (owner: string) => {
  const parts = owner.split("/")
  if (parts.length !== 4) return undefined
  const pid = Number(parts[2])
  if (!Number.isSafeInteger(pid)) return undefined
  return { host: parts[0]!, origin: parts[1] === "x" ? undefined : parts[1], pid }
}

/** Whether the owner is known to be gone. */
export const isDead = (owner: string): boolean => {
  const parsed = parse(owner)
  if (parsed === undefined) return false
  const self = current()
  if (parsed.pid === self.pid && parsed.origin !== undefined && parsed.origin === self.origin) return !live.has(owner)
  return holderDead(parsed.origin, parsed.pid)
}

/** The owner for people: host and process. */
export const describe = (owner: string): string => {
  const parsed = parse(owner)
  return parsed === undefined ? `owner ${owner}` : `process ${parsed.pid} on ${parsed.host}`
}

/** The error of a claim on a run that is live elsewhere. */
export const liveElsewhere = (runId: string, lease: Lease): JournalError =>
  new JournalError({
    runId,
    reason: "conflict",
    lease,
    detail: `the run is live elsewhere: ${describe(lease.owner)} holds its lease until ${new Date(lease.expiresAt).toISOString()}`
  })
