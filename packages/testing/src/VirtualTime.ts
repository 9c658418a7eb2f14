/**
 * Run effects that wait (retries with back-off, timeouts, rate-limit delays)
 * in virtual time under `TestClock`, so a test of a 30-second back-off takes
 * microseconds and stays deterministic.
 *
 * @example
 * ```ts
 * import { VirtualTime } from "@effect-harness/testing"
 * import { Effect } from "effect"
 *
 * // inside it.effect: the sleep completes without real waiting
 * const program = VirtualTime.run(Effect.sleep("30 seconds").pipe(Effect.as("done")))
 * ```
 *
 * @since 0.1.0
 */
import { Duration, Effect, Fiber } from "effect"
import { TestClock } from "effect/testing"

/**
 * Options of {@link run}.
 *
 * @since 0.1.0
 */
export interface Options {
  /** How far the clock moves per step. Default 100 millis. */
  readonly step?: Duration.Input | undefined
  /** Virtual time after which the effect is interrupted and the run dies. Default 1 hour. */
  readonly limit?: Duration.Input | undefined
}

/**
 * Runs `effect` in a child fiber and moves `TestClock` forward step by step
 * until it completes; returns its result, with the virtual time it took.
 * Dies when the effect is still running after `limit` of virtual time (a hung
 * retry loop is a bug the test should show).
 *
 * @since 0.1.0
 */
export const runTimed = <A, E, R>(
  effect: Effect.Effect<A, E, R>,
  options?: Options
): Effect.Effect<{ readonly value: A; readonly elapsed: Duration.Duration }, E, R> =>
  Effect.gen(function*() {
    const step = Duration.toMillis(Duration.fromInputUnsafe(options?.step ?? "100 millis"))
    const limit = Duration.toMillis(Duration.fromInputUnsafe(options?.limit ?? "1 hour"))
    const fiber = yield* Effect.forkChild(effect)
    let elapsed = 0
    while (fiber.pollUnsafe() === undefined) {
      if (elapsed >= limit) {
        yield* Fiber.interrupt(fiber)
        return yield* Effect.die(new Error(`VirtualTime.run: still running after ${limit} ms of virtual time`))
      }
      yield* TestClock.adjust(step)
      elapsed += step
      yield* Effect.yieldNow
    }
    const value = yield* Fiber.join(fiber)
    return { value, elapsed: Duration.millis(elapsed) }
  })

/**
 * Like {@link runTimed}, returning only the result.
 *
 * @since 0.1.0
 */
export const run = <A, E, R>(effect: Effect.Effect<A, E, R>, options?: Options): Effect.Effect<A, E, R> =>
  Effect.map(runTimed(effect, options), (result) => result.value)
