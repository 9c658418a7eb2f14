/**
 * Moving `TestClock` after a scripted failure, for `TestModel.layer(script,
 * { advanceClock: true })`: under `it.effect` the clock only moves when the
 * test moves it, so a retry that waits after a scripted 429 or 503 would wait
 * forever (until the test's timeout). The stepper moves the clock in small
 * steps until the model receives its next call, the way `VirtualTime.run`
 * does for a whole effect.
 *
 * @internal
 */
import { Duration, Effect } from "effect"
import { TestClock } from "effect/testing"

const step = Duration.millis(100)
// a retry loop that never calls again is a bug the test should show, not a reason to step forever
const maxSteps = 36_000 // one hour of virtual time

/**
 * Forks a fiber that moves the `TestClock` forward 100 ms at a time until
 * `called()` is true. Nothing happens on a live clock (`it.live`), where
 * time passes on its own.
 */
export const advanceUntil = (called: () => boolean): Effect.Effect<void> =>
  TestClock.testClockWith((clock) =>
    typeof clock.adjust !== "function"
      ? Effect.void
      : Effect.asVoid(Effect.forkDetach(Effect.gen(function*() {
        for (let i = 0; i < maxSteps; i++) {
          // let the caller receive the failure and go to sleep on its retry delay
          yield* Effect.yieldNow
          if (called()) return
          yield* clock.adjust(step)
        }
      })))
  )
