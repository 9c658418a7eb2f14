/**
 * The journal of one durable run: replays recorded steps, records live ones.
 *
 * Matching. A recorded step is identified by its kind, name and request (as
 * canonical JSON). A call takes the earliest unconsumed recorded step with
 * the same identity, so retried calls (a failed attempt records nothing) and
 * concurrent calls (recorded in the order they completed) find their results
 * whatever order they arrive in.
 *
 * Going live. A call with no recorded step runs live only once every recorded
 * step has been consumed. Until then it waits for its concurrent siblings to
 * consume theirs; if no call makes progress for a few scheduler turns, the
 * code asks for something the journal does not hold: `JournalMismatch`, and
 * nothing was written. The first live write is the run's claim: its lease
 * (see `RunStore.claim`), then a `running` status at the next sequence, so of
 * two processes resuming the same run exactly one gets past it; the other
 * fails with `reason: "conflict"` (with the holder's `lease` when the run is
 * live elsewhere), or waits for the run to end when asked to. The lease is
 * renewed every third of its time to live while the run goes on; a renewal
 * that finds another owner (this process stalled past its lease) makes every
 * later live step fail with the conflict.
 *
 * Pauses. A `pause` step recorded when a run stopped for outside input is an
 * anchor: code continuing the run (an agent's resume) asks for it first, and
 * taking it as the run's first step counts every step recorded before it as
 * replayed (taken later, by a replay from the start, it skips nothing). An anchor the
 * code never asks for is no mismatch (the run re-run from the start with an
 * approver goes past it), and does not keep the run from going live.
 *
 * Tools. A non-idempotent tool records `ToolStarted` before it runs. Found on
 * resume without its result, the call is not run again: the step returns its
 * `unknownOutcome` (recorded as a step with `outcome: "unknown"`) or fails
 * with `reason: "unknown-outcome"`. An idempotent tool is simply run again.
 *
 * @internal
 */
import { Duration, Effect, Fiber, Schema, Semaphore } from "effect"
import * as Journal from "../Journal.ts"
import type * as RunStore from "../RunStore.ts"
import { canonicalJson, preview } from "./runStoreCodec.ts"

type StepEntry = typeof import("../RunStore.ts").Step.Type

interface Slot {
  readonly key: string
  readonly describe: string
  /** The sequence of the slot's first entry. */
  readonly sequence: number
  started: boolean
  /** A recorded pause: optional, and it stands for the steps before it. */
  readonly anchor: boolean
  result: { readonly sequence: number; readonly entry: StepEntry } | undefined
  consumed: boolean
}

/** Scheduler turns without progress before an unmatched call is a mismatch. */
const STALL_TURNS = 64

const passthrough = Journal.passthrough

const keyOf = (kind: string, name: string, request: unknown) => `${kind}\u0000${name}\u0000${canonicalJson(request)}`

const describe = (kind: string, name: string, request: unknown) =>
  `${kind} step "${name}" with request ${preview(canonicalJson(request))}`

const encoders = new WeakMap<Schema.Top, (u: unknown) => ReturnType<ReturnType<typeof Schema.encodeUnknownResult>>>()
const decoders = new WeakMap<Schema.Top, (u: unknown) => ReturnType<ReturnType<typeof Schema.decodeUnknownResult>>>()

const encoderOf = (codec: Schema.Codec<any, any>) => {
  let f = encoders.get(codec)
  if (f === undefined) encoders.set(codec, f = Schema.encodeUnknownResult(codec))
  return f
}

const decoderOf = (codec: Schema.Codec<any, any>) => {
  let f = decoders.get(codec)
  if (f === undefined) decoders.set(codec, f = Schema.decodeUnknownResult(codec))
  return f
}

export interface DurableRun {
  readonly journal: Journal.Service
  /** The earliest recorded step that no call asked for, if any. */
  readonly unconsumed: () => Slot | undefined
  /** Whether this process wrote to the journal. */
  readonly wrote: () => boolean
  /** Appends a status entry. */
  readonly status: (status: RunStore.RunStatus, detail?: string) => Effect.Effect<void, Journal.JournalError>
  /** Stops renewing the lease and gives it up. */
  readonly close: Effect.Effect<void>
}

/** How a run holds its lease. */
export interface LeaseOptions {
  readonly owner: string
  readonly ttl: Duration.Duration
  /** Wait for a run live elsewhere instead of failing. */
  readonly wait: boolean
}

/**
 * Waits while `live` finds the run live elsewhere: polls at most every
 * second, or when the holder's lease expires if that is sooner.
 */
export const waitWhileLive = <E>(
  live: Effect.Effect<Journal.Lease | undefined, E>
): Effect.Effect<void, E> =>
  Effect.gen(function*() {
    for (;;) {
      const lease = yield* live
      if (lease === undefined) return
      const now = yield* Effect.clockWith((clock) => clock.currentTimeMillis)
      yield* Effect.sleep(Math.max(1, Math.min(lease.expiresAt - now, 1000)))
    }
  })

export const make = (
  store: RunStore.Service,
  runId: string,
  records: ReadonlyArray<RunStore.Record>,
  lease: LeaseOptions
): DurableRun => {
  const slots: Array<Slot> = []
  const byKey = new Map<string, Array<Slot>>()
  const openStarts = new Map<string, Array<Slot>>()
  for (const { entry, sequence } of records) {
    if (entry._tag === "Status") continue
    const key = keyOf(entry._tag === "Step" ? entry.kind : "tool", entry.name, entry.request)
    if (entry._tag === "Step") {
      const open = openStarts.get(key)
      const started = open?.shift()
      if (started !== undefined) {
        started.result = { sequence, entry }
        continue
      }
    }
    const slot: Slot = {
      key,
      describe: describe(entry._tag === "Step" ? entry.kind : "tool", entry.name, entry.request),
      sequence,
      started: entry._tag === "ToolStarted",
      anchor: entry._tag === "Step" && entry.kind === "pause",
      result: entry._tag === "Step" ? { sequence, entry } : undefined,
      consumed: false
    }
    slots.push(slot)
    const same = byKey.get(key)
    if (same === undefined) byKey.set(key, [slot])
    else same.push(slot)
    if (slot.started) {
      const open = openStarts.get(key)
      if (open === undefined) openStarts.set(key, [slot])
      else open.push(slot)
    }
  }

  // recorded steps the code must still ask for (anchors are optional)
  let remaining = slots.filter((slot) => !slot.anchor).length
  let progress = 0
  let next = records.length
  let wrote = false
  let claim: "none" | "claimed" | Journal.JournalError = "none"
  let leased = false
  let renewal: Fiber.Fiber<void> | undefined
  const lock = Semaphore.makeUnsafe(1)

  const claimLease: Effect.Effect<void, Journal.JournalError> = lease.wait
    ? Effect.gen(function*() {
      for (;;) {
        const claimed = yield* Effect.exit(store.claim(runId, lease.owner, lease.ttl))
        if (claimed._tag === "Success") return
        const error = claimed.cause.reasons.find((reason) => reason._tag === "Fail")?.error
        if (error?.lease === undefined) return yield* Effect.failCause(claimed.cause)
        yield* waitWhileLive(store.liveLease(runId, lease.owner))
      }
    })
    : Effect.asVoid(store.claim(runId, lease.owner, lease.ttl))

  // Renews the lease while the run goes on; losing it to another owner fails
  // every later live step (the journal's fencing stops this process's writes too).
  const renew = Effect.gen(function*() {
    const every = Duration.toMillis(lease.ttl) / 3
    for (;;) {
      yield* Effect.sleep(every)
      const renewed = yield* Effect.exit(store.claim(runId, lease.owner, lease.ttl))
      if (renewed._tag === "Success") continue
      const error = renewed.cause.reasons.find((reason) => reason._tag === "Fail")?.error
      if (error?.lease !== undefined) {
        claim = new Journal.JournalError({
          runId,
          reason: "conflict",
          lease: error.lease,
          detail: `this process lost the run's lease (${error.detail})`
        })
        return
      }
    }
  })

  const take = (key: string): Slot | undefined => {
    const same = byKey.get(key)
    if (same === undefined) return undefined
    const slot = same.shift()
    if (same.length === 0) byKey.delete(key)
    if (slot !== undefined) consume(slot)
    return slot
  }

  const consume = (slot: Slot) => {
    slot.consumed = true
    if (!slot.anchor) remaining--
    progress++
  }

  // A pause taken: the continuation replays from it, so the steps recorded
  // before it count as replayed and no later call can take them.
  const skipBefore = (anchor: Slot) => {
    for (const slot of slots) {
      if (slot.sequence >= anchor.sequence) break
      if (slot.consumed) continue
      consume(slot)
      const same = byKey.get(slot.key)!
      same.splice(same.indexOf(slot), 1)
      if (same.length === 0) byKey.delete(slot.key)
    }
  }

  const unconsumed = () => slots.find((slot) => !slot.consumed && !slot.anchor)

  const appendUnlocked = (entry: RunStore.Entry) =>
    Effect.tap(store.append(runId, next, entry), () =>
      Effect.sync(() => {
        next++
        wrote = true
      }))

  const append = (entry: RunStore.Entry) => lock.withPermit(Effect.suspend(() => appendUnlocked(entry)))

  // The first live write claims the run: of two processes that read the same
  // journal, the one whose claim lands first proceeds.
  const ensureClaimed = lock.withPermit(Effect.suspend(() => {
    if (claim === "claimed") return Effect.void
    if (claim !== "none") return Effect.fail(claim)
    return claimLease.pipe(
      Effect.tap(() =>
        Effect.gen(function*() {
          leased = true
          renewal = yield* Effect.forkDetach(renew)
        })
      ),
      Effect.andThen(appendUnlocked({
        _tag: "Status",
        status: "running",
        detail: records.length === 0 ? "started" : `resumed after ${records.length} entries`
      })),
      Effect.tap(() =>
        Effect.sync(() => {
          claim = "claimed"
        })
      ),
      Effect.tapError((error) =>
        Effect.sync(() => {
          claim = error.reason === "conflict" && error.lease === undefined
            ? new Journal.JournalError({
              runId,
              reason: "conflict",
              sequence: error.sequence,
              detail: `another process resumed this run first (${error.detail})`
            })
            : error
        })
      ),
      Effect.mapError(() => claim as Journal.JournalError)
    )
  }))

  // the claim state may have changed (a lost lease) after the run claimed it
  const stillClaimed = Effect.suspend(() => claim === "claimed" || claim === "none" ? Effect.void : Effect.fail(claim))

  const live = <A, E, R>(
    step: Journal.Step,
    codec: Schema.Codec<A, any>,
    run: Effect.Effect<A, E, R>,
    recordStart: boolean
  ): Effect.Effect<A, E | Journal.JournalError, R> =>
    Effect.gen(function*() {
      yield* ensureClaimed
      yield* stillClaimed
      if (recordStart) yield* append({ _tag: "ToolStarted", name: step.name, request: step.request })
      const value = yield* Effect.provideService(run, Journal.Journal, passthrough)
      const encoded = encoderOf(codec)(value)
      if (encoded._tag === "Failure") {
        return yield* new Journal.JournalError({
          runId,
          reason: "store",
          detail: `the result of ${describe(step.kind, step.name, step.request)} does not encode: ${encoded.failure.message}`
        })
      }
      yield* append({
        _tag: "Step",
        kind: step.kind,
        name: step.name,
        request: step.request,
        result: encoded.success,
        version: step.version ?? 1
      })
      return value
    })

  const replay = <A>(step: Journal.Step, codec: Schema.Codec<A, any>, slot: Slot): Effect.Effect<A, Journal.JournalError> =>
    Effect.suspend(() => {
      const { entry, sequence } = slot.result!
      const version = step.version ?? 1
      let encoded = entry.result
      if (entry.version !== version) {
        if (entry.version > version || step.migrate === undefined) {
          return Effect.fail(
            new Journal.JournalError({
              runId,
              reason: "version",
              sequence,
              detail: `${slot.describe} was recorded in encoding version ${entry.version}, the code reads version ${version}` +
                (entry.version > version ? " (recorded by newer code)" : " and gives no migrate")
            })
          )
        }
        try {
          encoded = step.migrate(encoded, entry.version)
        } catch (error) {
          return Effect.fail(
            new Journal.JournalError({
              runId,
              reason: "version",
              sequence,
              detail: `migrating ${slot.describe} from version ${entry.version} failed: ${String(error)}`
            })
          )
        }
      }
      const decoded = decoderOf(codec)(encoded)
      if (decoded._tag === "Success") return Effect.succeed(decoded.success as A)
      return Effect.fail(
        new Journal.JournalError({
          runId,
          reason: "version",
          sequence,
          detail: `the recorded result of ${slot.describe} (version ${entry.version}) does not decode with the ` +
            `current codec; bump Step.version and give a migrate: ${decoded.failure.message}`
        })
      )
    })

  const unknownOutcome = <A>(step: Journal.Step, codec: Schema.Codec<A, any>, slot: Slot) =>
    Effect.gen(function*() {
      if (step.unknownOutcome === undefined) {
        return yield* new Journal.JournalError({
          runId,
          reason: "unknown-outcome",
          sequence: slot.sequence,
          detail: `${slot.describe} started before the run stopped and its result was never recorded; it is not ` +
            `idempotent, so it was not run again, and the step gives no unknownOutcome`
        })
      }
      const decoded = decoderOf(codec)(step.unknownOutcome)
      if (decoded._tag === "Failure") {
        return yield* new Journal.JournalError({
          runId,
          reason: "store",
          sequence: slot.sequence,
          detail: `the unknownOutcome of ${slot.describe} does not decode: ${decoded.failure.message}`
        })
      }
      yield* ensureClaimed
      yield* append({
        _tag: "Step",
        kind: step.kind,
        name: step.name,
        request: step.request,
        result: step.unknownOutcome,
        version: step.version ?? 1,
        outcome: "unknown"
      })
      return decoded.success as A
    })

  // An unmatched call while recorded steps remain: wait for concurrent calls
  // to consume them; a stall means the code asks for something else.
  const awaitLive = (step: Journal.Step) =>
    Effect.gen(function*() {
      let seen = progress
      let idle = 0
      while (remaining > 0) {
        yield* Effect.yieldNow
        if (progress !== seen) {
          seen = progress
          idle = 0
        } else if (++idle >= STALL_TURNS) {
          const expected = unconsumed()!
          return yield* new Journal.JournalMismatch({
            runId,
            sequence: expected.sequence,
            expected: expected.describe,
            actual: describe(step.kind, step.name, step.request)
          })
        }
      }
    })

  const stepOf = <A, E, R>(
    step: Journal.Step,
    codec: Schema.Codec<A, any>,
    run: Effect.Effect<A, E, R>
  ): Effect.Effect<A, E | Journal.JournalMismatch | Journal.JournalError, R> =>
    Effect.suspend(() => {
      const recordStart = step.kind === "tool" && step.idempotent !== true
      const first = progress === 0
      const slot = byKey.size === 0 ? undefined : take(keyOf(step.kind, step.name, step.request))
      if (slot !== undefined) {
        // only a continuation starts at a pause; replayed from the start, the
        // run (or a concurrent one) consumes the steps before it itself
        if (slot.anchor && first) skipBefore(slot)
        if (slot.result !== undefined) return replay(step, codec, slot)
        return step.idempotent === true ? live(step, codec, run, false) : unknownOutcome(step, codec, slot)
      }
      if (remaining === 0) return live(step, codec, run, recordStart)
      return Effect.flatMap(awaitLive(step), () => live(step, codec, run, recordStart))
    })

  return {
    journal: { step: stepOf, durable: true },
    unconsumed,
    wrote: () => wrote,
    status: (status, detail) =>
      append(detail === undefined ? { _tag: "Status", status } : { _tag: "Status", status, detail }),
    close: Effect.suspend(() =>
      Effect.gen(function*() {
        if (renewal !== undefined) yield* Fiber.interrupt(renewal)
        if (leased) yield* Effect.ignore(store.release(runId, lease.owner))
      })
    )
  }
}
