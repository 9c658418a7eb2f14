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
import { Array as Arr, Cause, Context, Duration, Effect, type Pull, Schedule, Schema, SchemaAST, Stream } from "effect"
import { type AiError, LanguageModel, Prompt, type Tool } from "effect/ai"
import { dual } from "effect/Function"
import type { Concurrency } from "effect/Types"
import * as DirectModel from "../model/DirectModel.ts"
import * as Messages from "../model/Messages.ts"
import * as Budget from "../state/Budget.ts"
import * as HarnessError from "./HarnessError.ts"
import * as Answer from "./internal/answer.ts"
import * as internal from "./internal/harness.ts"
import * as ModelCalls from "./internal/modelCalls.ts"
import { retryFrom } from "./internal/retry.ts"
import * as Tracing from "./internal/tracing.ts"
import * as RetryPolicy from "./RetryPolicy.ts"

/**
 * A named `(input: In) => Effect<Out, E, R>`.
 *
 * @since 0.1.0
 */
export type Harness<In, Out, E = never, R = never> = internal.Harness<In, Out, E, R>

/**
 * The same type names under the `Harness` interface (`Harness.Harness.Error`);
 * the module's own (`Harness.Error<typeof h>`) are shorter.
 *
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
 * Any harness.
 *
 * @since 0.1.0
 */
export type Any = Harness.Any

/**
 * The input type of a harness.
 *
 * @since 0.1.0
 */
export type Input<H> = Harness.Input<H>

/**
 * The output type of a harness.
 *
 * @since 0.1.0
 */
export type Output<H> = Harness.Output<H>

/**
 * The error type of a harness: what a caller of `Harness.run` must handle.
 *
 * @example
 * ```ts
 * import { Harness } from "@effect-harness/core"
 * import { Schema } from "effect"
 *
 * const classify = Harness.prompt({
 *   name: "classify",
 *   output: Schema.Literals(["spam", "ham"]),
 *   render: (mail: string) => `Spam or ham? ${mail}`
 * }).pipe(Harness.retry())
 *
 * // AuthenticationFailed | InvalidRequest | QuotaExhausted | ContentRefused | RetriesExhausted
 * type ClassifyError = Harness.Error<typeof classify>
 * const statusOf = (error: ClassifyError): number => error._tag === "RetriesExhausted" ? 503 : 500
 * ```
 *
 * @since 0.1.0
 */
export type Error<H> = Harness.Error<H>

/**
 * The services a harness needs.
 *
 * @since 0.1.0
 */
export type Services<H> = Harness.Services<H>

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
  const error = HarnessError.withOrigin(
    new HarnessError.Timeout({ message: `Timed out after ${Duration.format(after)}`, after }),
    { harness: self.name }
  )
  return make(self.name, (input: In) =>
    Effect.timeoutOrElse(self.run(input), { duration: after, orElse: () => Effect.fail(error) }))
})

/**
 * The error type of a retried harness: the recoverable errors are gone, the
 * fatal ones stay, and `RetriesExhausted` carries the last recoverable error
 * when the policy gives up. ({@link retry} spells the union out in its
 * signature, so that hovers and errors show its members rather than this
 * name.)
 *
 * @since 0.1.0
 */
export type RetriedError<E> = Exclude<E, HarnessError.Recoverable> | HarnessError.RetriesExhausted

/**
 * Options of {@link retry}, for when a bare policy is not enough.
 *
 * @since 0.1.0
 */
export interface RetryOptions {
  /** The retry policy. Default `RetryPolicy.defaultPolicy` (4 attempts). */
  readonly policy?: RetryPolicy.RetryPolicy | undefined
  /**
   * The most model calls one run may make, every attempt and the repairs of
   * each included (retries multiply repairs: a `Harness.prompt` with the
   * default 2 repairs under the default 4 attempts makes up to 3 x 4 = 12
   * calls for an answer that is never valid). The call that would go over is
   * not sent: the run fails with the fatal
   * `BudgetExceeded { limit: "modelCalls", max, used }` (and the type says so).
   * Default: no cap beyond attempts x (1 + repairs).
   */
  readonly maxModelCalls?: number | undefined
}

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
 * Each attempt runs the harness again, repairs included: the worst case is
 * `maxAttempts x (1 + repairs)` model calls per run (12 with the defaults).
 * `{ policy, maxModelCalls }` caps the calls of a run across attempts and
 * repairs with one number (see {@link RetryOptions}).
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
 *
 * // at most 6 billed calls per run, whatever the attempts and repairs
 * const bounded = ask.pipe(Harness.retry({ maxModelCalls: 6 }))
 * ```
 *
 * @since 0.1.0
 */
export const retry: {
  (options: RetryOptions & { readonly maxModelCalls: number }): <In, Out, E, R>(
    self: Harness<In, Out, E, R>
  ) => Harness<In, Out, Exclude<E, HarnessError.Recoverable> | HarnessError.RetriesExhausted | HarnessError.BudgetExceeded, R>
  (policy?: RetryPolicy.RetryPolicy | (RetryOptions & { readonly maxModelCalls?: undefined })): <In, Out, E, R>(
    self: Harness<In, Out, E, R>
  ) => Harness<In, Out, Exclude<E, HarnessError.Recoverable> | HarnessError.RetriesExhausted, R>
  <In, Out, E, R>(
    self: Harness<In, Out, E, R>,
    options: RetryOptions & { readonly maxModelCalls: number }
  ): Harness<In, Out, Exclude<E, HarnessError.Recoverable> | HarnessError.RetriesExhausted | HarnessError.BudgetExceeded, R>
  <In, Out, E, R>(
    self: Harness<In, Out, E, R>,
    policy?: RetryPolicy.RetryPolicy | (RetryOptions & { readonly maxModelCalls?: undefined })
  ): Harness<In, Out, Exclude<E, HarnessError.Recoverable> | HarnessError.RetriesExhausted, R>
} = dual(
  (args) => isHarness(args[0]),
  <In, Out, E, R>(self: Harness<In, Out, E, R>, policyOrOptions?: RetryPolicy.RetryPolicy | RetryOptions) => {
    const options: RetryOptions = policyOrOptions === undefined
      ? {}
      : Schedule.isSchedule(policyOrOptions)
      ? { policy: policyOrOptions }
      : policyOrOptions
    const policy = options.policy ?? RetryPolicy.defaultPolicy
    const maxModelCalls = options.maxModelCalls === undefined
      ? undefined
      : ModelCalls.validMax(`Harness.retry of ${self.name}`, options.maxModelCalls)
    // Most runs succeed at once: the schedule is only set up after a
    // recoverable failure (see internal/retry.ts).
    const retryAfter = (input: In, first: E) => retryFrom(self.name, policy, first, self.run(input))
    // a fatal error of the first attempt says so (later ones are named in retryFrom)
    const firstAttempt: HarnessError.Origin = { harness: self.name, attempt: 1 }
    const retried = (input: In) =>
      Effect.catch(
        self.run(input),
        (error: E) =>
          HarnessError.isRecoverable(error)
            ? retryAfter(input, error)
            : Effect.fail(HarnessError.withOrigin(error, firstAttempt) as Exclude<E, HarnessError.Recoverable>)
      ) as Effect.Effect<Out, RetriedError<E>, R>
    return make(
      self.name,
      maxModelCalls === undefined ? retried : (input: In) => ModelCalls.capped(self.name, maxModelCalls, retried(input))
    )
  }
)

// -----------------------------------------------------------------------------
// A model call with validated output
// -----------------------------------------------------------------------------

/**
 * The errors a single model call can fail with: every `HarnessError` except
 * those that only runs of many calls produce (`BudgetExceeded`,
 * `RetriesExhausted`).
 *
 * @since 0.1.0
 */
export type PromptError = Exclude<HarnessError.HarnessError, HarnessError.BudgetExceeded | HarnessError.RetriesExhausted>

/**
 * Options of `Harness.prompt`.
 *
 * @since 0.1.0
 */
export interface PromptOptions<I, O, IE, RI, RO> {
  /**
   * The harness's name, used in spans, events and errors: its errors carry it
   * as `harness` and name it in their message (see `HarnessError.withOrigin`).
   */
  readonly name: string
  /**
   * A Schema that decodes (normalizes) the input before rendering. An input
   * it rejects fails with the fatal `InvalidRequest`.
   */
  readonly input?: Schema.Codec<I, IE, RI> | undefined
  /**
   * The Schema of the answer. A string Schema asks for plain text; any other
   * Schema asks for JSON (with the provider's structured-output support) and
   * decodes it.
   */
  readonly output: Schema.Codec<O, any, RO>
  /** Renders the (decoded) input into a prompt: a string is one user message. */
  readonly render: (input: I) => Prompt.RawInput
  /** The system message, put in front of the rendered prompt (named as `Agent.make`'s). */
  readonly instructions?: string | undefined
  /**
   * How many times an invalid answer, or one cut at the output token limit,
   * is sent back for repair. Default 2: a run makes up to 1 + repairs model
   * calls, and `Harness.retry` runs it again on each attempt (4 x 3 = 12
   * calls with the defaults; its `maxModelCalls` caps the product).
   */
  readonly repairs?: number | undefined
  /**
   * Whether an answer cut at the output token limit (finish reason
   * `"length"`) is taken as it is. Default `false`: it is sent back with a
   * request for a shorter answer, and once the repairs are spent the call
   * fails with the recoverable `OutputTruncated`, keeping the partial text.
   */
  readonly allowTruncated?: boolean | undefined
  /** The name of the structured output, for providers that use one. Default: the harness's name. */
  readonly objectName?: string | undefined
}

const isTextSchema = (schema: Schema.Top): boolean => {
  const encoded = SchemaAST.toEncoded(schema.ast)
  if (SchemaAST.isString(encoded)) return true
  if (SchemaAST.isLiteral(encoded)) return typeof encoded.literal === "string"
  if (SchemaAST.isUnion(encoded)) {
    return encoded.types.every((member) => SchemaAST.isLiteral(member) && typeof member.literal === "string")
  }
  return false
}

// What the span of one `Harness.prompt` call adds up over its model calls.
interface SpanTotals {
  inputTokens: number
  outputTokens: number
  readonly finishReasons: Array<string>
  cost: number | undefined
}

// What a `Harness.prompt` call reads from its context.
interface PromptServices {
  readonly context: Context.Context<never>
  readonly model: DirectModel.Resolved
  readonly budget: Budget.Service
  /** The cap on the model calls of the run around the call, if any. */
  readonly cap: ModelCalls.Cap | undefined
  readonly traced: boolean
}

const refused = (text: string, origin: HarnessError.Origin): HarnessError.ContentRefused =>
  HarnessError.withOrigin(
    new HarnessError.ContentRefused({ message: "The model's answer was filtered or refused", refusal: text }),
    origin
  )

/**
 * A harness around one model call: renders the input into a prompt, calls
 * effect's `LanguageModel`, decodes the answer with the `output` Schema, and on
 * a decoding failure sends the answer back with its validation issues, up to
 * `repairs` times, before failing with `InvalidOutput { raw, issues }`. An
 * answer cut at the output token limit is never a silent success: it is sent
 * back asking for a shorter answer (within the same `repairs`), then fails with
 * `OutputTruncated { partial }`, unless `allowTruncated` is set.
 *
 * @example
 * ```ts
 * import { Harness } from "@effect-harness/core"
 * import { Schema } from "effect"
 *
 * const extract = Harness.prompt({
 *   name: "extract-city",
 *   output: Schema.Struct({ city: Schema.String, country: Schema.String }),
 *   render: (text: string) => `Which city is this about? ${text}`,
 *   repairs: 3
 * })
 * ```
 *
 * @since 0.1.0
 */
export const prompt = <I, O, IE = I, RI = never, RO = never>(
  options: PromptOptions<I, O, IE, RI, RO>
): Harness<IE, O, PromptError, LanguageModel.LanguageModel | RI | RO> => {
  const json = !isTextSchema(options.output)
  const repairs = options.repairs ?? 2
  const allowTruncated = options.allowTruncated === true
  const objectName = options.objectName ?? options.name.replace(/[^a-zA-Z0-9_-]/g, "_")
  // what the errors of a run say about where they came from (an enclosing
  // `Harness.retry` adds the attempt)
  const origin: HarnessError.Origin = { harness: options.name }
  // every issue is listed, so that one repair can fix them all
  const decodeOutput = Schema.decodeUnknownEffect(options.output, { errors: "all" })
  const decodeInput = options.input === undefined ? undefined : Schema.decodeUnknownEffect(options.input)

  const responseFormat: DirectModel.ResponseFormat = json
    ? { type: "json", objectName, schema: options.output }
    : { type: "text" }

  // One model call. With a budget in the context, each call counts as a step
  // and its usage is recorded; without one (the default) nothing extra runs.
  // The prompt does not enforce the limits itself (its error type stays
  // PromptError): the agent steps around it, or `Budget.guard`, do.
  // With a span, the calls' usage (repairs included) and cost are added up on it.
  // Under a run's cap on model calls (`maxModelCalls`), each call takes one first.
  const call = (services: PromptServices, prompt: Prompt.Prompt, span: SpanTotals | undefined) => {
    const { budget, cap, model } = services
    const generate = Effect.mapError(
      model.generate({ prompt, tools: [], toolChoice: "none", responseFormat }),
      (error) => HarnessError.fromAiError(error, origin) as PromptError
    )
    const reply = cap === undefined ? generate : ModelCalls.counted(cap, generate) as Effect.Effect<DirectModel.Reply, PromptError>
    const recorded = budget.active
      ? Effect.tap(reply, (reply) => budget.record(reply.usage, reply.model, { step: true }))
      : reply
    return span === undefined ? recorded : Effect.tap(recorded, (reply) => {
      const price = budget.price(reply.model ?? model.modelId)
      span.inputTokens += reply.usage.inputTokens ?? 0
      span.outputTokens += reply.usage.outputTokens ?? 0
      span.finishReasons.push(reply.finishReason)
      if (span.cost !== undefined) span.cost = price === undefined ? undefined : span.cost + Budget.costOf(reply.usage, price)
      return Effect.annotateCurrentSpan(Tracing.usageAttributes(span, span.finishReasons, reply.model, span.cost))
    })
  }

  // Calls the model and decodes the answer once (JSON answers parsed here,
  // then decoded with the output Schema); an answer that does not decode is
  // sent back with its issues, up to `repairs` times.
  const loop = (
    services: PromptServices,
    prompt: Prompt.Prompt,
    repaired: number,
    span: SpanTotals | undefined
  ): Effect.Effect<O, PromptError, any> =>
    Effect.flatMap(call(services, prompt, span), (reply): Effect.Effect<O, PromptError, any> => {
      const raw = reply.text
      if (reply.finishReason === "content-filter") return Effect.fail(refused(raw, origin))
      const again = (request: string) =>
        loop(services, Prompt.concat(prompt, Prompt.fromMessages([Messages.assistant(raw), Messages.user(request)])), repaired + 1, span)
      // a cut answer, even one that decodes, is not the answer the model meant
      if (reply.finishReason === "length" && !allowTruncated) {
        return repaired >= repairs
          ? Effect.fail(
            new HarnessError.OutputTruncated({ partial: { text: raw, toolCalls: [] }, attempts: repaired + 1, harness: options.name })
          )
          : again(Answer.truncatedRequest(json))
      }
      const repair = (issues: string): Effect.Effect<O, PromptError, any> =>
        repaired >= repairs
          ? Effect.fail(new HarnessError.InvalidOutput({ raw, issues, attempts: repaired + 1, harness: options.name }))
          : again(Answer.repairRequest(issues, json))
      // decoded by the provider already (from its own wire form of the Schema)
      if (reply.structured !== undefined) return Effect.succeed(reply.structured.value as O)
      return Effect.flatMap(Answer.decode(decodeOutput, raw, json), (decoded) =>
        decoded.ok ? Effect.succeed(decoded.value) : repair(decoded.issues))
    })

  const system = options.instructions
  const render = (input: I): Prompt.Prompt => {
    const rendered = Messages.toPrompt(options.render(input))
    return system === undefined ? rendered : Prompt.setSystem(rendered, system)
  }

  // built once: the span's options (a stack trace per call would be the largest
  // cost of the span); the span is made only when a tracer is installed
  // (see internal/tracing.ts)
  const spanName = `Harness.prompt ${options.name}`
  const spanOptions = {
    attributes: { "harness.name": options.name, "gen_ai.operation.name": json ? "generate_object" : "chat" },
    captureStackTrace: false
  } as const

  // What a call reads from its context, kept for the last context seen:
  // contexts are immutable, and callers usually run every call in the same one.
  let seen: PromptServices | undefined
  const servicesOf = (context: Context.Context<never>): PromptServices =>
    seen !== undefined && seen.context === context ? seen : (seen = {
      context,
      model: DirectModel.fromContext(context, options.name),
      budget: Context.get(context, Budget.Budget),
      cap: Context.get(context, ModelCalls.CurrentCap),
      traced: Tracing.isTraced(context)
    })

  const run = (input: IE) =>
    Effect.withFiber((fiber) => {
      const services = servicesOf(fiber.context)
      const { model, traced } = services
      const span: SpanTotals | undefined = traced
        ? { inputTokens: 0, outputTokens: 0, finishReasons: [], cost: 0 }
        : undefined
      const answer = decodeInput === undefined
        ? loop(services, render(input as unknown as I), 0, span)
        : decodeInput(input).pipe(
          Effect.mapError((error) =>
            HarnessError.withOrigin(new HarnessError.InvalidRequest({ message: `Invalid input: ${error.message}` }), origin)
          ),
          Effect.flatMap((input) => loop(services, render(input), 0, span))
        )
      if (!traced) return answer
      const attributes = { ...spanOptions.attributes, ...Tracing.requestAttributes(model.providerName, model.modelId) }
      return Effect.withSpan(answer, spanName, { ...spanOptions, attributes })
    })
  return internal.make(options.name, run) as Harness<IE, O, PromptError, LanguageModel.LanguageModel | RI | RO>
}

// -----------------------------------------------------------------------------
// Streaming one answer
// -----------------------------------------------------------------------------

/**
 * Options of `Harness.streamText`.
 *
 * @since 0.1.0
 */
export interface StreamTextOptions {
  /** What to ask: a string is one user message; messages or a `Prompt` are sent as they are. */
  readonly prompt: Prompt.RawInput
  /** The system message, put in front of the prompt (named as `Agent.make`'s). */
  readonly instructions?: string | undefined
  /**
   * Tools the model may call. Their calls come back as complete `tool-call`
   * parts, with parsed but unvalidated arguments; they are not run.
   */
  readonly tools?: ReadonlyArray<Tool.Any> | undefined
  /** Default `"auto"` with tools, `"none"` without. */
  readonly toolChoice?: LanguageModel.ToolChoice<string> | undefined
}

const textFormat: DirectModel.ResponseFormat = { type: "text" }

const mapError = (error: AiError.AiError | Cause.Done): PromptError | Cause.Done =>
  Cause.isDone(error) ? error : HarnessError.fromAiError(error) as PromptError

/**
 * Streams one model answer: text, reasoning and tool-argument deltas as they arrive,
 * complete tool calls, then a `finish` part with the finish reason and the
 * usage. It goes through the provider's `DirectModel.stream` when it has one
 * (the OpenAI provider and `TestModel` do: no Schema decoding of the parts,
 * and one pull carries every part that has arrived), otherwise through
 * effect's `LanguageModel.streamText`.
 *
 * Failures are the harness's errors, mapped as for `Harness.prompt`: a stream
 * cut mid-way fails with `ConnectionFailed` carrying the text and tool calls
 * received, a `content-filter` finish with `ContentRefused`. Interrupting the
 * stream (or stopping early) aborts the HTTP request. With a `Budget` in the
 * context, the call counts as a step and its usage is recorded; with a tracer
 * installed, the stream runs in a `Harness.streamText` span.
 *
 * @example
 * ```ts
 * import { Harness } from "@effect-harness/core"
 * import { Console, Effect, Stream } from "effect"
 *
 * const program = Harness.streamText({ prompt: "Tell me about Paris", instructions: "Be brief." }).pipe(
 *   Stream.runForEach((part) => part.type === "text-delta" ? Console.log(part.delta) : Effect.void)
 * )
 * ```
 *
 * @since 0.1.0
 */
export const streamText = (
  options: StreamTextOptions
): Stream.Stream<DirectModel.StreamPart, PromptError, LanguageModel.LanguageModel> => {
  const rendered = Messages.toPrompt(options.prompt)
  const tools = options.tools ?? []
  const request: DirectModel.Request = {
    prompt: options.instructions === undefined ? rendered : Prompt.setSystem(rendered, options.instructions),
    tools,
    toolChoice: options.toolChoice ?? (tools.length > 0 ? "auto" : "none"),
    responseFormat: textFormat
  }
  return Stream.unwrap(Effect.withFiber((fiber) => {
    // under a run's cap on model calls, the stream is one call
    const cap = Context.get(fiber.context, ModelCalls.CurrentCap)
    const spent = cap === undefined ? undefined : ModelCalls.take(cap)
    if (spent !== undefined) return Effect.fail(spent as unknown as PromptError)
    const parts = DirectModel.fromContext(fiber.context).stream(request)
    const budget = fiber.getRef(Budget.Budget)
    // One step over each pull (never each part): errors mapped, and the
    // finish part checked and recorded. A filtered answer fails in its
    // place, after the parts that came with it.
    const stream = Stream.transformPull(parts, (pull) =>
      Effect.sync(() => {
        let text = ""
        let refused: HarnessError.ContentRefused | undefined
        const onParts = (
          parts: Arr.NonEmptyReadonlyArray<DirectModel.StreamPart>
        ): Pull.Pull<Arr.NonEmptyReadonlyArray<DirectModel.StreamPart>, PromptError> => {
          let finish: DirectModel.FinishPart | undefined
          for (const part of parts) {
            if (part.type === "text-delta") text += part.delta
            else if (part.type === "finish") finish = part
          }
          if (finish === undefined) return Effect.succeed(parts)
          if (finish.finishReason === "content-filter") {
            refused = new HarnessError.ContentRefused({ message: "The model's answer was filtered or refused", refusal: text })
            const before = parts.filter((part) => part !== finish)
            return Arr.isArrayNonEmpty(before) ? Effect.succeed(before) : Effect.fail(refused)
          }
          return budget.active
            ? Effect.as(budget.record(finish.usage, finish.model, { step: true }), parts)
            : Effect.succeed(parts)
        }
        const next = Effect.flatMap(Effect.mapError(pull, mapError), onParts)
        return Effect.suspend(() => refused === undefined ? next : Effect.fail(refused))
      }))
    // a span only when a tracer is installed, as for Harness.prompt (see internal/tracing.ts)
    return Effect.succeed(Tracing.isTraced(fiber.context) ? Stream.withSpan(stream, streamSpanName, streamSpanOptions) : stream)
  }))
}

const streamSpanName = "Harness.streamText"
const streamSpanOptions = { attributes: { "gen_ai.operation.name": "chat" }, captureStackTrace: false } as const
