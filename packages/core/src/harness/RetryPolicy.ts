/**
 * How a harness retries its recoverable failures: an effect `Schedule` over
 * the failures it sees, built from exponential back-off with jitter, a cap on
 * attempts and a cap on total time, that never waits less than the provider's
 * own `retryAfter`, and gives up at once when the provider asks for a longer
 * wait than the policy allows.
 *
 * A policy is a plain `Schedule`, so anything `Schedule` offers composes with
 * it; {@link make} only bundles the defaults that fit model calls.
 *
 * @since 0.1.0
 */
import { Context, Duration, Effect, Schedule } from "effect"
import * as HarnessError from "./HarnessError.ts"

/**
 * A retry schedule over the recoverable errors of a harness.
 *
 * @since 0.1.0
 */
export type RetryPolicy = Schedule.Schedule<unknown, HarnessError.Recoverable>

/**
 * Options for {@link make}.
 *
 * @since 0.1.0
 */
export interface Options {
  /**
   * Attempts in all, the first one included. Default 4. An attempt of a
   * `Harness.prompt` makes up to 1 + repairs model calls (`Harness.retry`'s
   * `maxModelCalls` caps the total).
   */
  readonly maxAttempts?: number | undefined
  /** Delay before the first retry. Default 500 millis. */
  readonly base?: Duration.Input | undefined
  /** Growth of the delay per retry. Default 2. */
  readonly factor?: number | undefined
  /**
   * Largest delay between two attempts. A `retryAfter` longer than this is
   * not waited for: the policy gives up at once. Default 30 seconds.
   */
  readonly maxDelay?: Duration.Input | undefined
  /**
   * No retry starts after this much time since the first failure; a
   * `retryAfter` that would start one later makes the policy give up at once.
   * Default 2 minutes.
   */
  readonly maxElapsed?: Duration.Input | undefined
  /** Spread each delay randomly (0.8x to 1.2x). Default true. */
  readonly jitter?: boolean | undefined
}

/**
 * Builds a policy: exponential back-off with jitter, capped attempts and total
 * time, and at least the `retryAfter` a rate-limited provider asked for. When
 * that `retryAfter` is longer than `maxDelay`, or would start the retry after
 * `maxElapsed`, the policy stops there (`Harness.retry` then fails with
 * `RetriesExhausted` whose `last` is the `RateLimited` carrying the
 * provider's `retryAfter`): a call is never parked for as long as a provider
 * asks.
 *
 * @example
 * ```ts
 * import { Harness, RetryPolicy } from "@effect-harness/core"
 * import { Effect } from "effect"
 *
 * const flaky = Harness.make("flaky", (n: number) => Effect.succeed(n))
 * const patient = flaky.pipe(Harness.retry(RetryPolicy.make({ maxAttempts: 6, base: "1 second" })))
 * ```
 *
 * @since 0.1.0
 */
export const make = (options: Options = {}): RetryPolicy => {
  const maxAttempts = options.maxAttempts ?? 4
  const maxDelay = Duration.fromInputUnsafe(options.maxDelay ?? "30 seconds")
  const maxElapsed = Duration.fromInputUnsafe(options.maxElapsed ?? "2 minutes")
  let backoff: Schedule.Schedule<Duration.Duration> = Schedule.exponential(options.base ?? "500 millis", options.factor ?? 2)
    .pipe(Schedule.modifyDelay(({ duration }) => Effect.succeed(Duration.min(duration, maxDelay))))
  if (options.jitter ?? true) backoff = Schedule.jittered(backoff)
  const bounded = Schedule.max([
    backoff,
    Schedule.recurs(Math.max(0, maxAttempts - 1)),
    Schedule.during(maxElapsed)
  ])
  return bounded.pipe(
    Schedule.setInputType<HarnessError.Recoverable>(),
    Schedule.modifyDelay(({ duration, input }) => {
      const asked = HarnessError.retryAfter(input)
      return Effect.succeed(asked !== undefined && Duration.isGreaterThan(asked, duration) ? asked : duration)
    }),
    // a provider asking for more than the policy allows: stop now rather than
    // hold the call (and whoever waits on it) for as long as it asks
    Schedule.while(({ elapsed, input }) => {
      const asked = HarnessError.retryAfter(input)
      return asked === undefined ||
        (Duration.isLessThanOrEqualTo(asked, maxDelay) &&
          Duration.isLessThanOrEqualTo(Duration.sum(Duration.millis(elapsed), asked), maxElapsed))
    })
  )
}

/**
 * The default policy: 4 attempts, 500 ms doubling with jitter, at most 30 s
 * between attempts and 2 minutes in all, honouring a `retryAfter` of up to
 * 30 s (a longer one ends the retries at once).
 *
 * @since 0.1.0
 */
export const defaultPolicy: RetryPolicy = make()

/**
 * What is known about a retry when it is scheduled.
 *
 * @since 0.1.0
 */
export interface RetryScheduled {
  readonly harness: string
  /** The attempt that just failed, from 1. */
  readonly attempt: number
  readonly error: HarnessError.Recoverable
  readonly delay: Duration.Duration
}

/**
 * Called each time a retry is scheduled, before its delay: a hook for event
 * streams, metrics and progress displays. The default does nothing.
 *
 * @example
 * ```ts
 * import { RetryPolicy } from "@effect-harness/core"
 * import { Effect } from "effect"
 *
 * const logRetries = Effect.provideService(RetryPolicy.OnRetry, (retry) =>
 *   Effect.log(`retry ${retry.attempt} of ${retry.harness} in ${retry.delay}`))
 * ```
 *
 * @since 0.1.0
 */
export const OnRetry = Context.Reference<(retry: RetryScheduled) => Effect.Effect<void>>(
  "@effect-harness/core/RetryPolicy/OnRetry",
  { defaultValue: () => () => Effect.void }
)
