/**
 * Keeps every request within the model's context window. Token counts come
 * from effect's `Tokenizer` (for OpenAI models, `OpenAiTokenizer` in
 * `@effect-harness/openai` is a real BPE tokenizer), and a strategy decides
 * what to do when the history no longer fits:
 *
 * - {@link truncate}: send the system messages, the pinned messages and the
 *   newest turns that fit. The history itself is untouched; a tool call and
 *   its result are dropped or kept together, never apart.
 * - {@link compact}: a summarizing harness replaces the oldest turns with one
 *   summary message, in the history itself. The next compaction summarizes
 *   the previous summary and the turns since (incremental), not everything.
 *
 * An agent applies the window before each model call, and again, harder, when
 * the provider still answers `ContextOverflow` (compact, then retry once).
 *
 * Counting is incremental: each message is tokenized once (counts are cached
 * per message), and a tracker per history keeps running totals, so preparing
 * step N costs what changed since step N-1, whatever the length of the history.
 *
 * @example
 * ```ts
 * import { ContextWindow } from "@effect-harness/core"
 * import { Layer } from "effect"
 * import { Tokenizer } from "effect/ai"
 *
 * const Window = ContextWindow.layer({ maxTokens: 128_000, reserve: 4_096 }).pipe(
 *   Layer.provide(Layer.succeed(Tokenizer.Tokenizer, ContextWindow.approximateTokenizer))
 * )
 * ```
 *
 * @since 0.1.0
 */
import { Context, Effect, Layer, Schema } from "effect"
import { type LanguageModel, Prompt, type Tool, Tokenizer } from "effect/ai"
import type * as HarnessError from "../harness/HarnessError.ts"
import type { Harness } from "../harness/internal/harness.ts"
import { prompt } from "../harness/internal/prompt.ts"
import * as W from "./internal/window.ts"
import { makeService } from "./internal/windowService.ts"
import type * as Journal from "../durable/Journal.ts"

/**
 * What a summarizer receives: the previous summary (if any) and the turns to
 * fold into it.
 *
 * @since 0.1.0
 */
export interface CompactInput {
  readonly previous: string | undefined
  readonly messages: ReadonlyArray<Prompt.Message>
}

/**
 * The errors a preparation can fail with (those of the summarizer).
 *
 * @since 0.1.0
 */
export type WindowError = HarnessError.HarnessError | Journal.JournalMismatch | Journal.JournalError

/**
 * How to fit a history that is too long.
 *
 * @since 0.1.0
 */
export type Strategy<R = never> =
  | { readonly _tag: "Truncate" }
  | {
    readonly _tag: "Compact"
    readonly summarize: Harness<CompactInput, string, WindowError, R>
    readonly target: number
  }

/**
 * Keep system messages, pinned messages and the newest turns that fit.
 *
 * @since 0.1.0
 */
export const truncate: Strategy = { _tag: "Truncate" }

/**
 * Replace the oldest turns with a summary. `target` is the share of the
 * window the history should fill after a compaction (default 0.5), so that
 * compactions are rare rather than once per step.
 *
 * @example
 * ```ts
 * import { ContextWindow } from "@effect-harness/core"
 *
 * const strategy = ContextWindow.compact(ContextWindow.summarizer(), { target: 0.4 })
 * ```
 *
 * @since 0.1.0
 */
export const compact = <E extends WindowError, R>(
  summarize: Harness<CompactInput, string, E, R>,
  options?: { readonly target?: number | undefined }
): Strategy<R> => ({ _tag: "Compact", summarize, target: options?.target ?? 0.5 })

/**
 * A summarizing harness built on `Harness.prompt`: it asks the model to
 * extend the previous summary with the given turns.
 *
 * @since 0.1.0
 */
export const summarizer = (options?: {
  readonly name?: string | undefined
  readonly instructions?: string | undefined
}): Harness<CompactInput, string, WindowError, LanguageModel.LanguageModel> =>
  prompt({
    name: options?.name ?? "ContextWindow.summarize",
    output: Schema.String,
    system: options?.instructions ??
      "You maintain a running summary of a conversation. Keep every fact, name, identifier, number and decision " +
        "that later turns may need. Answer with the updated summary only.",
    render: (input: CompactInput) =>
      (input.previous === undefined ? "" : `Summary so far:\n${input.previous}\n\n`) +
      `Turns to add to the summary:\n${W.transcript(input.messages)}`
  })

/**
 * Marks a message as pinned: truncation and compaction always keep it. The
 * mark lives in the message's `options`, so it survives export and import.
 *
 * @example
 * ```ts
 * import { ContextWindow, Messages } from "@effect-harness/core"
 *
 * const rules = ContextWindow.pin(Messages.user("My booking code is ZFA04Y."))
 * ```
 *
 * @since 0.1.0
 */
export const pin = <M extends Prompt.Message>(message: M): M => W.withMarks(message, { pinned: true })

/**
 * Whether a message is pinned.
 *
 * @since 0.1.0
 */
export const isPinned: (message: Prompt.Message) => boolean = W.isPinned

/**
 * Whether a message is a summary written by compaction.
 *
 * @since 0.1.0
 */
export const isSummary: (message: Prompt.Message) => boolean = W.isSummary

const summaryPrefix = "Summary of the earlier conversation:\n"

/**
 * The summary message compaction writes.
 *
 * @since 0.1.0
 */
export const summaryMessage = (text: string): Prompt.SystemMessage =>
  W.withMarks(Prompt.systemMessage({ content: summaryPrefix + text }), { summary: true })

const summaryText = (message: Prompt.Message): string =>
  typeof message.content === "string" && message.content.startsWith(summaryPrefix)
    ? message.content.slice(summaryPrefix.length)
    : W.transcript([message])

/**
 * What to send, and what changed.
 *
 * @since 0.1.0
 */
export interface Prepared {
  /** The request's messages: the fixed ones, then the kept history. */
  readonly messages: ReadonlyArray<Prompt.Message>
  /** Their token count, tools and fixed messages included. */
  readonly tokens: number
  /** The token count before this preparation trimmed anything. */
  readonly tokensBefore: number
  /** Messages of the history left out of this request by truncation (so far). */
  readonly truncated: number
  /**
   * Set when compaction rewrote the history: replace its oldest `count`
   * messages with `replacement` in the store it came from.
   */
  readonly compaction?: {
    readonly count: number
    readonly replacement: ReadonlyArray<Prompt.Message>
    readonly tokensBefore: number
  } | undefined
}

/**
 * What to prepare.
 *
 * @since 0.1.0
 */
export interface PrepareInput {
  /** Sent first, always (the instructions). */
  readonly fixed: ReadonlyArray<Prompt.Message>
  readonly history: ReadonlyArray<Prompt.Message>
  /** The tools offered with the request: their definitions take room too. */
  readonly tools?: ReadonlyArray<Tool.Any> | undefined
  /**
   * After the provider rejected a request as too long: shrink the history to
   * half of what was last sent, whatever the estimate says.
   */
  readonly force?: boolean | undefined
}

/**
 * The context window service.
 *
 * @since 0.1.0
 */
export interface Service {
  readonly maxTokens: number
  /** Tokens kept free for the answer. */
  readonly reserve: number
  /** The token count of one message (cached). */
  readonly count: (message: Prompt.Message) => Effect.Effect<number>
  /**
   * Fits a history into the window. `owner` identifies the history (a
   * conversation, or a run): the running totals are kept per owner.
   */
  readonly prepare: (owner: object, input: PrepareInput) => Effect.Effect<Prepared, WindowError>
}

/**
 * The context window of the current model.
 *
 * @since 0.1.0
 */
export class ContextWindow extends Context.Service<ContextWindow, Service>()("@effect-harness/core/ContextWindow") {}

/**
 * Options of a context window.
 *
 * @since 0.1.0
 */
export interface Options<R = never> {
  /** The model's context window, in tokens. */
  readonly maxTokens: number
  /** Tokens kept free for the answer. Default 0. */
  readonly reserve?: number | undefined
  /** Default {@link truncate}. */
  readonly strategy?: Strategy<R> | undefined
}

/**
 * A token count of about one token per four characters: for tests, and for
 * models without a tokenizer of their own.
 *
 * @since 0.1.0
 */
export const approximateTokenizer: Tokenizer.Service = Tokenizer.make({
  tokenize: (prompt) => {
    let chars = 0
    for (const message of prompt.content) chars += 4 + W.transcript([message]).length
    return Effect.succeed(new Array<number>(Math.ceil(chars / 4)).fill(0))
  }
})

/**
 * Builds a context window over the `Tokenizer` of the context.
 *
 * @since 0.1.0
 */
export const make = <R = never>(options: Options<R>): Effect.Effect<Service, never, Tokenizer.Tokenizer | R> =>
  Effect.gen(function*() {
    const tokenizer = yield* Tokenizer.Tokenizer
    const context = yield* Effect.context<R>()
    return makeService({
      maxTokens: options.maxTokens,
      reserve: options.reserve ?? 0,
      strategy: (options.strategy ?? truncate) as Strategy<any>,
      tokenizer,
      context,
      summaryMessage,
      summaryText
    })
  })

/**
 * A layer with a context window; it needs a `Tokenizer` (and whatever the
 * summarizer of a compact strategy needs).
 *
 * @since 0.1.0
 */
export const layer = <R = never>(options: Options<R>): Layer.Layer<ContextWindow, never, Tokenizer.Tokenizer | R> =>
  Layer.effect(ContextWindow, make(options))
