/**
 * The bookkeeping behind `ContextWindow`: per-message token counts, turn
 * blocks that keep a tool call with its results, and a tracker per history
 * that makes each preparation cost proportional to what changed since the
 * previous one, not to the length of the history.
 *
 * @internal
 */
import type { Prompt } from "effect/ai"

/** The key under which our marks live in a message's `options`. */
export const optionsKey = "effect-harness"

interface Marks {
  readonly pinned?: boolean
  readonly summary?: boolean
}

const marksOf = (message: Prompt.Message): Marks | undefined => {
  const value = (message.options as Record<string, unknown>)[optionsKey]
  return typeof value === "object" && value !== null ? value as Marks : undefined
}

/** Whether truncation and compaction must keep this message. */
export const isKept = (message: Prompt.Message): boolean =>
  message.role === "system" || marksOf(message)?.pinned === true

export const isSummary = (message: Prompt.Message): boolean => marksOf(message)?.summary === true

export const isPinned = (message: Prompt.Message): boolean => marksOf(message)?.pinned === true

export const withMarks = <M extends Prompt.Message>(message: M, marks: Marks): M => ({
  ...message,
  options: { ...message.options, [optionsKey]: { ...marksOf(message), ...marks } }
})

const hasToolCalls = (message: Prompt.Message): boolean =>
  message.role === "assistant" && message.content.some((part) => part.type === "tool-call")

/**
 * The end (exclusive) of the block starting at `start`: an assistant message
 * with tool calls and the tool messages that follow it, a run of tool
 * messages, or a single message. Cutting only between blocks never separates
 * a tool call from its result.
 */
export const blockEnd = (history: ReadonlyArray<Prompt.Message>, start: number): number => {
  const first = history[start]!
  let end = start + 1
  if (first.role === "tool" || hasToolCalls(first)) {
    while (end < history.length && history[end]!.role === "tool") end++
  }
  return end
}

/**
 * What a tracker remembers about one history between two preparations.
 * `cut` is where the sent tail starts (truncation only ever moves it
 * forward); the kept messages before it are in `pinned`.
 */
export interface Tracker {
  counted: number
  last: Prompt.Message | undefined
  cut: number
  tail: number
  pinned: Array<Prompt.Message>
  pinnedTokens: number
}

export const makeTracker = (): Tracker => ({
  counted: 0,
  last: undefined,
  cut: 0,
  tail: 0,
  pinned: [],
  pinnedTokens: 0
})

export const resetTracker = (tracker: Tracker): void => {
  tracker.counted = 0
  tracker.last = undefined
  tracker.cut = 0
  tracker.tail = 0
  tracker.pinned = []
  tracker.pinnedTokens = 0
}

/**
 * Whether the history still extends what the tracker counted (only appends
 * since): then only the new messages need counting. Anything else (a
 * compaction, an import) resets the tracker.
 */
export const extendsTracked = (tracker: Tracker, history: ReadonlyArray<Prompt.Message>): boolean =>
  tracker.counted === 0 ||
  (history.length >= tracker.counted && history[tracker.counted - 1] === tracker.last)

/**
 * Moves the cut forward, block by block, until the kept tokens fit `limit`
 * or only the newest block is left. Kept messages (system, pinned) of a
 * passed block move to `pinned`, in their order.
 */
export const truncate = (
  tracker: Tracker,
  history: ReadonlyArray<Prompt.Message>,
  counts: ReadonlyArray<number> | ((index: number) => number),
  limit: number
): number => {
  const countAt = typeof counts === "function" ? counts : (index: number) => counts[index]!
  let dropped = 0
  while (tracker.pinnedTokens + tracker.tail > limit && tracker.cut < history.length) {
    const end = blockEnd(history, tracker.cut)
    if (end >= history.length) break
    let blockTokens = 0
    let kept = false
    for (let i = tracker.cut; i < end; i++) {
      blockTokens += countAt(i)
      if (isKept(history[i]!)) kept = true
    }
    if (kept) {
      for (let i = tracker.cut; i < end; i++) tracker.pinned.push(history[i]!)
      tracker.pinnedTokens += blockTokens
    } else {
      dropped += end - tracker.cut
    }
    tracker.tail -= blockTokens
    tracker.cut = end
  }
  return dropped
}

/**
 * The oldest blocks to fold into a summary so that the rest fits `target`
 * tokens: returns the end of the folded range (0 when nothing can be folded:
 * the newest block is never folded).
 */
export const foldEnd = (
  history: ReadonlyArray<Prompt.Message>,
  countAt: (index: number) => number,
  total: number,
  target: number
): number => {
  let end = 0
  let remaining = total
  while (remaining > target && end < history.length) {
    const next = blockEnd(history, end)
    if (next >= history.length) break
    for (let i = end; i < next; i++) if (!isKept(history[i]!) || isSummary(history[i]!)) remaining -= countAt(i)
    end = next
  }
  return end
}

/** A plain-text transcript of messages, for summarizers. */
export const transcript = (messages: ReadonlyArray<Prompt.Message>): string => {
  const lines: Array<string> = []
  for (const message of messages) {
    if (typeof message.content === "string") {
      lines.push(`${message.role}: ${message.content}`)
      continue
    }
    for (const part of message.content) {
      switch (part.type) {
        case "text":
          lines.push(`${message.role}: ${part.text}`)
          break
        case "tool-call":
          lines.push(`${message.role} called ${part.name}(${JSON.stringify(part.params)})`)
          break
        case "tool-result":
          lines.push(
            `tool ${part.name} ${part.isFailure ? "failed" : "returned"}: ${
              typeof part.result === "string" ? part.result : JSON.stringify(part.result)
            }`
          )
          break
      }
    }
  }
  return lines.join("\n")
}
