/**
 * The cap on the model calls of one harness run (`maxModelCalls` of
 * `Harness.retry` and `Agent.make`): retries and repairs multiply, and this
 * one number bounds their product.
 *
 * A capped run puts a fresh {@link Cap} in its context; every model call
 * made in it (`Harness.prompt` and its repairs, `Harness.streamText`, an
 * agent's calls and their retries, a summarizer's) takes one before it goes
 * out, and the call that would go over fails with the fatal
 * `BudgetExceeded { limit: "modelCalls" }` instead. Caps nest: a call counts
 * against every cap around it. Without a cap (the default) the call sites
 * read one `undefined` per run and count nothing.
 *
 * The harness that sets a cap lists `BudgetExceeded` in its error type (an
 * agent's `AgentError` has it); the calls inside fail with it while their own
 * types do not say so, as with `Budget`.
 *
 * @internal
 */
import { Context, Effect } from "effect"
import * as HarnessError from "../HarnessError.ts"

/** The model calls a run may still make, and the cap of the run around it. */
export interface Cap {
  /** The harness or agent that set the cap. */
  readonly harness: string
  readonly max: number
  used: number
  readonly outer: Cap | undefined
}

/** The cap of the current run; none by default. */
export const CurrentCap = Context.Reference<Cap | undefined>("@effect-harness/core/ModelCalls", {
  defaultValue: () => undefined
})

/** Checks that a positive whole number was given, for the options that set a cap. */
export const validMax = (owner: string, max: number): number => {
  if (!Number.isInteger(max) || max < 1) {
    throw new RangeError(`${owner}: maxModelCalls must be a whole number of at least 1, got ${max}`)
  }
  return max
}

/** A fresh cap of `max` calls set by `harness`, inside `outer`. */
export const make = (harness: string, max: number, outer: Cap | undefined): Cap => ({ harness, max, used: 0, outer })

/** Runs `effect` under a fresh cap of `max` calls, inside the caps around it. */
export const capped = <A, E, R>(harness: string, max: number, effect: Effect.Effect<A, E, R>) =>
  Effect.withFiber((fiber) =>
    Effect.provideService(effect, CurrentCap, make(harness, max, Context.get(fiber.context, CurrentCap)))
  ) as Effect.Effect<A, E | HarnessError.BudgetExceeded, R>

/**
 * Takes one call from the cap and the caps around it; the error of the first
 * that is spent, without taking anything, when one is.
 */
export const take = (cap: Cap): HarnessError.BudgetExceeded | undefined => {
  for (let current: Cap | undefined = cap; current !== undefined; current = current.outer) {
    if (current.used >= current.max) {
      return new HarnessError.BudgetExceeded({
        limit: "modelCalls",
        max: current.max,
        used: current.used + 1,
        harness: current.harness
      })
    }
  }
  for (let current: Cap | undefined = cap; current !== undefined; current = current.outer) current.used++
  return undefined
}

/** `call`, counted against `cap` each time it runs. */
export const counted = <A, E, R>(cap: Cap, call: Effect.Effect<A, E, R>): Effect.Effect<A, E | HarnessError.BudgetExceeded, R> =>
  Effect.suspend((): Effect.Effect<A, E | HarnessError.BudgetExceeded, R> => {
    const spent = take(cap)
    return spent === undefined ? call : Effect.fail(spent)
  })
