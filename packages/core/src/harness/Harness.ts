/**
 * A harness is one way of working with a model, packaged as a value: a named
 * function from an input to an `Effect`. Harnesses compose like effects do
 * (`andThen`, `all`, `forEach`, `fallback`, `timeout`, `retry`), and their
 * error channel says which failures can still be recovered.
 *
 * @example
 * ```ts
 * import { Harness } from "@effect-harness/core"
 * import { Schema } from "effect"
 *
 * const Sentiment = Schema.Struct({ label: Schema.Literals(["positive", "negative"]), score: Schema.Number })
 *
 * const classify = Harness.prompt({
 *   name: "classify",
 *   output: Sentiment,
 *   render: (review: string) => `Classify the sentiment of this review: ${review}`
 * }).pipe(Harness.retry())
 *
 * const program = Harness.run(classify, "Loved it")
 * ```
 *
 * @since 0.1.0
 */
import { Duration, Effect } from "effect"
import type { Concurrency } from "effect/Types"
import { dual } from "effect/Function"
import * as internal from "./internal/harness.ts"
import { retryFrom } from "./internal/retry.ts"
import * as HarnessError from "./HarnessError.ts"
import * as RetryPolicy from "./RetryPolicy.ts"

export { prompt, type PromptError, type PromptOptions } from "./internal/prompt.ts"
export { streamText, type StreamTextOptions } from "./internal/stream.ts"

/**
 * A named `(input: In) => Effect<Out, E, R>`.
 *
 * @since 0.1.0
 */
export type Harness<In, Out, E = never, R = never> = internal.Harness<In, Out, E, R>

/**
 * @since 0.1.0
 */
export declare namespace Harness {
  /** Any harness. */
  export type Any = Harness<any, any, any, any>
  /** The input type of a harness. */
  export type Input<H> = H extends Harness<infer In, any, any, any> ? In : never
  /** The output type of a harness. */
  export type Output<H> = H extends Harness<any, infer Out, any, any> ? Out : never
  /** The error type of a harness. */
  export type Error<H> = H extends Harness<any, any, infer E, any> ? E : never
  /** The services a harness needs. */
  export type Services<H> = H extends Harness<any, any, any, infer R> ? R : never
}

/**
 * Wraps a function as a harness.
 *
 * @example
 * ```ts
 * import { Harness } from "@effect-harness/core"
 * import { Effect } from "effect"
 *
 * const shout = Harness.make("shout", (text: string) => Effect.succeed(text.toUpperCase()))
 * ```
 *
 * @since 0.1.0
 */
export const make: <In, Out, E = never, R = never>(
  name: string,
  run: (input: In) => Effect.Effect<Out, E, R>
) => Harness<In, Out, E, R> = internal.make

/**
 * Whether a value is a harness.
 *
 * @since 0.1.0
 */
export const isHarness: (u: unknown) => u is Harness.Any = internal.isHarness

/**
 * Runs a harness on an input.
 *
 * @example
 * ```ts
 * import { Harness } from "@effect-harness/core"
 * import { Effect } from "effect"
 *
 * const double = Harness.make("double", (n: number) => Effect.succeed(n * 2))
 * const four = Harness.run(double, 2) // Effect<number>
 * ```
 *
 * @since 0.1.0
 */
export const run: {
  <In>(input: In): <Out, E, R>(self: Harness<In, Out, E, R>) => Effect.Effect<Out, E, R>
  <In, Out, E, R>(self: Harness<In, Out, E, R>, input: In): Effect.Effect<Out, E, R>
} = dual(2, <In, Out, E, R>(self: Harness<In, Out, E, R>, input: In) => self.run(input))

/**
 * Transforms the output of a harness.
 *
 * @since 0.1.0
 */
export const map: {
  <Out, Out2>(f: (out: Out) => Out2): <In, E, R>(self: Harness<In, Out, E, R>) => Harness<In, Out2, E, R>
  <In, Out, E, R, Out2>(self: Harness<In, Out, E, R>, f: (out: Out) => Out2): Harness<In, Out2, E, R>
} = dual(
  2,
  <In, Out, E, R, Out2>(self: Harness<In, Out, E, R>, f: (out: Out) => Out2) =>
    make(self.name, (input: In) => Effect.map(self.run(input), f))
)

/**
 * Adapts the input of a harness.
 *
 * @since 0.1.0
 */
export const mapInput: {
  <In2, In>(f: (input: In2) => In): <Out, E, R>(self: Harness<In, Out, E, R>) => Harness<In2, Out, E, R>
  <In, Out, E, R, In2>(self: Harness<In, Out, E, R>, f: (input: In2) => In): Harness<In2, Out, E, R>
} = dual(
  2,
  <In, Out, E, R, In2>(self: Harness<In, Out, E, R>, f: (input: In2) => In) =>
    make(self.name, (input: In2) => self.run(f(input)))
)

/**
 * Runs two harnesses in sequence: the output of the first is the input of the
 * second.
 *
 * @example
 * ```ts
 * import { Harness } from "@effect-harness/core"
 * import { Effect } from "effect"
 *
 * const trim = Harness.make("trim", (s: string) => Effect.succeed(s.trim()))
 * const length = Harness.make("length", (s: string) => Effect.succeed(s.length))
 * const trimmedLength = trim.pipe(Harness.andThen(length))
 * ```
 *
 * @since 0.1.0
 */
export const andThen: {
  <Out, Out2, E2, R2>(
    that: Harness<Out, Out2, E2, R2>
  ): <In, E, R>(self: Harness<In, Out, E, R>) => Harness<In, Out2, E | E2, R | R2>
  <In, Out, E, R, Out2, E2, R2>(
    self: Harness<In, Out, E, R>,
    that: Harness<Out, Out2, E2, R2>
  ): Harness<In, Out2, E | E2, R | R2>
} = dual(
  2,
  <In, Out, E, R, Out2, E2, R2>(self: Harness<In, Out, E, R>, that: Harness<Out, Out2, E2, R2>) =>
    make(`${self.name} >> ${that.name}`, (input: In) => Effect.flatMap(self.run(input), that.run))
)

type AllOutputs<T extends Record<string, Harness.Any>> = { -readonly [K in keyof T]: Harness.Output<T[K]> }

/**
 * Runs several harnesses on the same input, concurrently by default, and
 * collects their outputs under the same keys. The first failure interrupts the
 * others.
 *
 * @example
 * ```ts
 * import { Harness } from "@effect-harness/core"
 * import { Effect } from "effect"
 *
 * const words = Harness.make("words", (s: string) => Effect.succeed(s.split(" ").length))
 * const chars = Harness.make("chars", (s: string) => Effect.succeed(s.length))
 * const stats = Harness.all({ words, chars }) // Harness<string, { words: number; chars: number }>
 * ```
 *
 * @since 0.1.0
 */
export const all = <const T extends Record<string, Harness<any, any, any, any>>>(
  harnesses: T,
  options?: { readonly concurrency?: Concurrency | undefined; readonly name?: string | undefined }
): Harness<
  Harness.Input<T[keyof T]>,
  AllOutputs<T>,
  Harness.Error<T[keyof T]>,
  Harness.Services<T[keyof T]>
> => {
  const entries = Object.entries(harnesses)
  return make(
    options?.name ?? `all(${entries.map(([key]) => key).join(", ")})`,
    (input) =>
      Effect.all(
        Object.fromEntries(entries.map(([key, harness]) => [key, harness.run(input)])),
        { concurrency: options?.concurrency ?? "unbounded" }
      ) as any
  )
}

/**
 * Runs a harness over each item of an array, at most `concurrency` at a time
 * (default 1), and returns the outputs in the order of the inputs.
 *
 * @example
 * ```ts
 * import { Harness } from "@effect-harness/core"
 * import { Effect } from "effect"
 *
 * const double = Harness.make("double", (n: number) => Effect.succeed(n * 2))
 * const doubleAll = double.pipe(Harness.forEach({ concurrency: 8 }))
 * ```
 *
 * @since 0.1.0
 */
export const forEach: {
  (options?: { readonly concurrency?: Concurrency | undefined }): <In, Out, E, R>(
    self: Harness<In, Out, E, R>
  ) => Harness<ReadonlyArray<In>, Array<Out>, E, R>
  <In, Out, E, R>(
    self: Harness<In, Out, E, R>,
    options?: { readonly concurrency?: Concurrency | undefined }
  ): Harness<ReadonlyArray<In>, Array<Out>, E, R>
} = dual(
  (args) => isHarness(args[0]),
  <In, Out, E, R>(self: Harness<In, Out, E, R>, options?: { readonly concurrency?: Concurrency | undefined }) =>
    make(
      `forEach(${self.name})`,
      (inputs: ReadonlyArray<In>) => Effect.forEach(inputs, self.run, { concurrency: options?.concurrency ?? 1 })
    )
)

type Tagged = { readonly _tag: string }

/**
 * Runs `that` harness on the same input when `self` fails with one of the
 * error tags in `on` (without `on`, every error but an agent's `Paused`: a run
 * waiting for approval has not failed, and falling back would lose it).
 *
 * @example
 * ```ts
 * import { Harness } from "@effect-harness/core"
 * import { Effect } from "effect"
 *
 * declare const primary: Harness.Harness<string, string, Harness.PromptError>
 * const cached = Harness.make("cached", (_: string) => Effect.succeed("cached answer"))
 *
 * const resilient = primary.pipe(Harness.fallback(cached, { on: ["ProviderUnavailable", "Timeout"] }))
 * ```
 *
 * @since 0.1.0
 */
export const fallback: {
  <In, Out2, E2, R2, const Tags extends ReadonlyArray<string> = never>(
    that: Harness<In, Out2, E2, R2>,
    options?: { readonly on?: Tags | undefined }
  ): <Out, E, R>(
    self: Harness<In, Out, E, R>
  ) => Harness<In, Out | Out2, FallbackError<E, Tags> | E2, R | R2>
  <In, Out, E, R, Out2, E2, R2, const Tags extends ReadonlyArray<string> = never>(
    self: Harness<In, Out, E, R>,
    that: Harness<In, Out2, E2, R2>,
    options?: { readonly on?: Tags | undefined }
  ): Harness<In, Out | Out2, FallbackError<E, Tags> | E2, R | R2>
} = dual(
  (args) => isHarness(args[0]) && isHarness(args[1]),
  <In, Out, E, R, Out2, E2, R2>(
    self: Harness<In, Out, E, R>,
    that: Harness<In, Out2, E2, R2>,
    options?: { readonly on?: ReadonlyArray<string> | undefined }
  ) => {
    const on = options?.on === undefined ? undefined : new Set(options.on)
    const tagOf = (error: E): string | undefined =>
      typeof error === "object" && error !== null ? (error as unknown as Tagged)._tag : undefined
    // without `on`, every failure but a pause: a run waiting for approval
    // (an agent's `Paused`) has not failed, its caller must answer it
    const matches = (error: E): boolean => on === undefined ? tagOf(error) !== "Paused" : on.has(tagOf(error)!)
    return make(
      `${self.name} ?? ${that.name}`,
      (input: In) => Effect.catchIf(self.run(input), matches, () => that.run(input))
    )
  }
)

/**
 * The errors left after `fallback`: without tags, only an agent's `Paused`
 * (a run waiting for approval is not a failure to fall back from); otherwise
 * those whose tag is not listed remain.
 *
 * @since 0.1.0
 */
export type FallbackError<E, Tags extends ReadonlyArray<string>> = [Tags] extends [never]
  ? Extract<E, { readonly _tag: "Paused" }>
  : Exclude<E, { readonly _tag: Tags[number] }>

/**
 * Fails with the recoverable `Timeout` error when a run takes longer than
 * `duration`; the run is interrupted (and its HTTP request aborted).
 *
 * @example
 * ```ts
 * import { Harness } from "@effect-harness/core"
 * import { Effect } from "effect"
 *
 * const slow = Harness.make("slow", (n: number) => Effect.succeed(n).pipe(Effect.delay("1 minute")))
 * const bounded = slow.pipe(Harness.timeout("10 seconds"))
 * ```
 *
 * @since 0.1.0
 */
export const timeout: {
  (duration: Duration.Input): <In, Out, E, R>(
    self: Harness<In, Out, E, R>
  ) => Harness<In, Out, E | HarnessError.Timeout, R>
  <In, Out, E, R>(self: Harness<In, Out, E, R>, duration: Duration.Input): Harness<In, Out, E | HarnessError.Timeout, R>
} = dual(2, <In, Out, E, R>(self: Harness<In, Out, E, R>, duration: Duration.Input) => {
  const after = Duration.fromInputUnsafe(duration)
  const error = new HarnessError.Timeout({ message: `${self.name} timed out after ${Duration.format(after)}`, after })
  return make(self.name, (input: In) =>
    Effect.timeoutOrElse(self.run(input), { duration: after, orElse: () => Effect.fail(error) }))
})

/**
 * The error type of a retried harness: the recoverable errors are gone, the
 * fatal ones stay, and `RetriesExhausted` carries the last recoverable error
 * when the policy gives up.
 *
 * @since 0.1.0
 */
export type RetriedError<E> = Exclude<E, HarnessError.Recoverable> | HarnessError.RetriesExhausted

/**
 * Retries the recoverable failures of a harness on a `RetryPolicy` (the
 * default one when none is given). Fatal errors are never retried. When the
 * policy gives up, the run fails with `RetriesExhausted { attempts, last }`.
 * An answer cut at the output token limit (`OutputTruncated`) is not sent
 * again, since the same request gets the same cut: it ends the retries at
 * once, as `RetriesExhausted { attempts, last: OutputTruncated }` (raise the
 * prompt's `repairs`, which ask for a shorter answer, or the model's output
 * limit instead).
 *
 * The compiler keeps track: after `retry`, handling `RateLimited` is a type
 * error, since it can no longer happen.
 *
 * @example
 * ```ts
 * import { Harness, RetryPolicy } from "@effect-harness/core"
 * import { Effect } from "effect"
 *
 * declare const ask: Harness.Harness<string, string, Harness.PromptError>
 *
 * const robust = ask.pipe(Harness.retry(RetryPolicy.make({ maxAttempts: 5 })))
 * const answer = Harness.run(robust, "hello").pipe(
 *   Effect.catchTag("RetriesExhausted", (e) => Effect.succeed(`gave up after ${e.attempts}`))
 * )
 * ```
 *
 * @since 0.1.0
 */
export const retry: {
  (policy?: RetryPolicy.RetryPolicy): <In, Out, E, R>(
    self: Harness<In, Out, E, R>
  ) => Harness<In, Out, RetriedError<E>, R>
  <In, Out, E, R>(self: Harness<In, Out, E, R>, policy?: RetryPolicy.RetryPolicy): Harness<In, Out, RetriedError<E>, R>
} = dual(
  (args) => isHarness(args[0]),
  <In, Out, E, R>(self: Harness<In, Out, E, R>, policy: RetryPolicy.RetryPolicy = RetryPolicy.defaultPolicy) => {
    // Most runs succeed at once: the schedule is only set up after a
    // recoverable failure (see internal/retry.ts).
    const retryAfter = (input: In, first: E) => retryFrom(self.name, policy, first, self.run(input))
    return make(self.name, (input: In) =>
      Effect.catchIf(
        self.run(input),
        (error: E) => HarnessError.isRecoverable(error),
        (first) => retryAfter(input, first)
      ) as Effect.Effect<Out, RetriedError<E>, R>)
  }
)
