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
import { type LanguageModel, Prompt, Tool, Tokenizer } from "effect/ai"
import type * as HarnessError from "../harness/HarnessError.ts"
import type { Harness } from "../harness/internal/harness.ts"
import { prompt } from "../harness/Harness.ts"
import * as W from "./internal/window.ts"
import * as Journal from "../durable/Journal.ts"

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
    instructions: options?.instructions ??
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

// -----------------------------------------------------------------------------
// The service: counting with a per-message cache, and the preparation of a
// request (compaction, then truncation) on top of the trackers of
// internal/window.ts
// -----------------------------------------------------------------------------

interface Config {
  readonly maxTokens: number
  readonly reserve: number
  readonly strategy: Strategy<any>
  readonly tokenizer: Tokenizer.Service
  readonly context: Context.Context<any>
  readonly summaryMessage: (text: string) => Prompt.Message
  readonly summaryText: (message: Prompt.Message) => string
}

const makeService = (config: Config): Service => {
  const { strategy, tokenizer } = config
  const counts = new WeakMap<Prompt.Message, number>()
  const toolCounts = new WeakMap<ReadonlyArray<Tool.Any>, number>()
  const trackers = new WeakMap<object, W.Tracker>()

  const tokenize = (input: Prompt.RawInput) =>
    // a tokenizer that fails is broken, not a condition the run can handle
    Effect.orDie(Effect.map(tokenizer.tokenize(input), (tokens) => tokens.length))

  const count = (message: Prompt.Message): Effect.Effect<number> => {
    const cached = counts.get(message)
    if (cached !== undefined) return Effect.succeed(cached)
    return Effect.map(tokenize(Prompt.fromMessages([message])), (n) => {
      counts.set(message, n)
      return n
    })
  }

  // Tokens of the tool definitions sent with each request, once per tools array.
  const countTools = (tools: ReadonlyArray<Tool.Any>): Effect.Effect<number> => {
    if (tools.length === 0) return Effect.succeed(0)
    const cached = toolCounts.get(tools)
    if (cached !== undefined) return Effect.succeed(cached)
    const text = JSON.stringify(tools.map((tool) => ({
      name: tool.name,
      description: Tool.getDescription(tool),
      parameters: Tool.getJsonSchema(tool)
    })))
    return Effect.map(tokenize(text), (n) => {
      toolCounts.set(tools, n)
      return n
    })
  }

  const countAt = (history: ReadonlyArray<Prompt.Message>) => (index: number) => counts.get(history[index]!)!

  // Counts what was appended since the tracker last looked (only that).
  const sync = Effect.fnUntraced(function*(tracker: W.Tracker, history: ReadonlyArray<Prompt.Message>) {
    if (!W.extendsTracked(tracker, history)) W.resetTracker(tracker)
    for (let i = tracker.counted; i < history.length; i++) {
      const message = history[i]!
      const cached = counts.get(message)
      tracker.tail += cached !== undefined ? cached : yield* count(message)
    }
    tracker.counted = history.length
    tracker.last = history[history.length - 1]
  })

  const compactHistory = Effect.fnUntraced(function*(
    tracker: W.Tracker,
    history: ReadonlyArray<Prompt.Message>,
    limit: number,
    summarize: Extract<Strategy<any>, { _tag: "Compact" }>
  ) {
    const at = countAt(history)
    let total = 0
    for (let i = 0; i < history.length; i++) total += at(i)
    const end = W.foldEnd(history, at, total, summarize.target * limit)
    if (end === 0) return undefined
    const folded = history.slice(0, end)
    const summaries = folded.filter(W.isSummary)
    const previous = summaries.length === 0 ? undefined : summaries.map(config.summaryText).join("\n")
    const toFold = folded.filter((message) => !W.isKept(message))
    const kept = folded.filter((message) => W.isKept(message) && !W.isSummary(message))
    const text = yield* Journal.step(
      { kind: "compaction", name: "ContextWindow.compact", request: { folded: end, tokens: total } },
      Schema.String,
      Effect.provideContext(summarize.summarize.run({ previous, messages: toFold }), config.context)
    )
    const replacement = [...kept, config.summaryMessage(text)]
    const rewritten = replacement.concat(history.slice(end))
    W.resetTracker(tracker)
    yield* sync(tracker, rewritten)
    return { count: end, replacement, rewritten }
  })

  const prepare = Effect.fnUntraced(function*(owner: object, input: PrepareInput) {
    let tracker = trackers.get(owner)
    if (tracker === undefined) {
      tracker = W.makeTracker()
      trackers.set(owner, tracker)
    }
    let history = input.history
    yield* sync(tracker, history)
    let fixedTokens = 0
    for (const message of input.fixed) fixedTokens += yield* count(message)
    const overhead = fixedTokens + (input.tools === undefined ? 0 : yield* countTools(input.tools))
    let limit = config.maxTokens - config.reserve - overhead
    const before = tracker.pinnedTokens + tracker.tail
    if (input.force === true) limit = Math.min(limit, Math.floor(before / 2))

    let compaction: Prepared["compaction"]
    if (before > limit && strategy._tag === "Compact") {
      const compacted = yield* compactHistory(tracker, history, limit, strategy)
      if (compacted !== undefined) {
        history = compacted.rewritten
        compaction = { count: compacted.count, replacement: compacted.replacement, tokensBefore: before + overhead }
      }
    }
    W.truncate(tracker, history, countAt(history), limit)

    // one preallocated copy of what is sent (the only work proportional to it)
    const { fixed } = input
    const { cut, pinned } = tracker
    const messages = new Array<Prompt.Message>(fixed.length + pinned.length + history.length - cut)
    let k = 0
    for (let i = 0; i < fixed.length; i++) messages[k++] = fixed[i]!
    for (let i = 0; i < pinned.length; i++) messages[k++] = pinned[i]!
    for (let i = cut; i < history.length; i++) messages[k++] = history[i]!
    const prepared: Prepared = {
      messages,
      tokens: overhead + tracker.pinnedTokens + tracker.tail,
      tokensBefore: before + overhead,
      truncated: tracker.cut - tracker.pinned.length,
      compaction
    }
    return prepared
  })

  return { maxTokens: config.maxTokens, reserve: config.reserve, count, prepare }
}

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
