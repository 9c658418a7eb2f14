/**
 * Retrying after a first failure: the one implementation behind
 * `Harness.retry` and the agent's model calls.
 *
 * @internal
 */
import { Effect, Schedule } from "effect"
import * as HarnessError from "../HarnessError.ts"
import * as RetryPolicy from "../RetryPolicy.ts"

const isTruncated = (error: unknown): boolean => (error as { readonly _tag?: unknown })._tag === "OutputTruncated"

/**
 * Retries `again` on `policy`, the recoverable `first` failure counting as
 * the first attempt's. Most runs succeed at once, so callers set this up only
 * after a recoverable failure: the schedule costs nothing on the happy path.
 * Fatal errors pass through; when the policy gives up, the run fails with
 * `RetriesExhausted { attempts, last }`. `OnRetry` is told about each retry.
 * Every error leaving names `name` and the attempt it happened in (see
 * `HarnessError.withOrigin`), unless an inner harness named it first.
 *
 * `OutputTruncated` is not sent again: the same request gets the same cut,
 * and the harness's repairs already asked for a shorter answer. It ends the
 * retries at once (`RetriesExhausted { attempts, last: OutputTruncated }`).
 */
export const retryFrom = <A, E, R>(
  name: string,
  policy: RetryPolicy.RetryPolicy,
  first: E,
  again: Effect.Effect<A, E, R>
): Effect.Effect<A, Exclude<E, HarnessError.Recoverable> | HarnessError.RetriesExhausted, R> =>
  Effect.suspend(() => {
    let attempts = 1
    let replayed = false
    const observed = Schedule.tap(policy, ({ duration, input: error }) =>
      Effect.flatMap(
        Effect.service(RetryPolicy.OnRetry),
        (onRetry) => onRetry({ harness: name, attempt: attempts, error, delay: duration })
      ))
    return Effect.suspend(() => {
      if (!replayed) {
        replayed = true
        return Effect.fail(first)
      }
      attempts++
      return again
    }).pipe(
      Effect.retry({
        schedule: observed as Schedule.Schedule<unknown, E>,
        while: (error: E) => HarnessError.isRecoverable(error) && !isTruncated(error)
      }),
      // every error leaving says which attempt failed: the last recoverable
      // one inside RetriesExhausted, a fatal one as it is
      Effect.mapError((error: E) => {
        const origin = { harness: name, attempt: attempts }
        return HarnessError.isRecoverable(error)
          ? new HarnessError.RetriesExhausted({ attempts, last: HarnessError.withOrigin(error, origin), ...origin })
          : HarnessError.withOrigin(error, origin)
      })
    ) as Effect.Effect<A, Exclude<E, HarnessError.Recoverable> | HarnessError.RetriesExhausted, R>
  })
