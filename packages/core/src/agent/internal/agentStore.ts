/**
 * Where an agent run keeps its history (the `Conversation` of the context, or
 * its own array), and the history's JSON form for journal requests.
 *
 * @internal
 */
import { Effect } from "effect"
import { Prompt } from "effect/ai"
import type * as Conversation from "../../state/Conversation.ts"
import * as Live from "../../state/internal/conversationLive.ts"

export interface Store {
  readonly owner: object
  /** The history without an effect, when the store can give it so (one step less per read). */
  readonly readNow: (() => ReadonlyArray<Prompt.Message>) | undefined
  /** Appends without an effect, when the store can (the run's own array). */
  readonly appendNow: ((messages: ReadonlyArray<Prompt.Message>) => void) | undefined
  readonly read: Effect.Effect<ReadonlyArray<Prompt.Message>>
  readonly append: (messages: ReadonlyArray<Prompt.Message>) => Effect.Effect<void>
  readonly replace: (count: number, replacement: ReadonlyArray<Prompt.Message>) => Effect.Effect<void>
  readonly snapshot: Effect.Effect<Prompt.Prompt | undefined>
}

// The run's own history: a plain array only this run appends to (a class:
// one object per run rather than a closure per method).
class LocalStore implements Store {
  readonly owner: Array<Prompt.Message>
  constructor(initial: ReadonlyArray<Prompt.Message>) {
    this.owner = initial.slice()
  }
  readNow(): ReadonlyArray<Prompt.Message> {
    return this.owner
  }
  appendNow(messages: ReadonlyArray<Prompt.Message>): void {
    this.owner.push(...messages)
  }
  get read(): Effect.Effect<ReadonlyArray<Prompt.Message>> {
    return Effect.succeed(this.owner)
  }
  append(messages: ReadonlyArray<Prompt.Message>): Effect.Effect<void> {
    return Effect.sync(() => this.appendNow(messages))
  }
  replace(count: number, replacement: ReadonlyArray<Prompt.Message>): Effect.Effect<void> {
    return Effect.sync(() => void this.owner.splice(0, count, ...replacement))
  }
  get snapshot(): Effect.Effect<Prompt.Prompt | undefined> {
    return Effect.sync(() => Prompt.fromMessages(this.owner.slice()))
  }
}

export const localStore = (initial: ReadonlyArray<Prompt.Message>): Store => new LocalStore(initial)

export const conversationStore = (conversation: Conversation.Service): Store => {
  const live = Live.live(conversation)
  return {
    owner: conversation,
    readNow: live,
    appendNow: undefined,
    // the live array of our own conversations (no copy per step); a copy otherwise
    read: live === undefined ? conversation.messages : Effect.sync(live),
    append: conversation.append,
    replace: conversation.replace,
    snapshot: Effect.succeed(undefined)
  }
}

// The journal request of a model step: messages in Prompt's encoded JSON
// shape, built directly (no Schema pass) since the agent built them itself.
const partJson = (part: Prompt.Part): unknown => {
  switch (part.type) {
    case "text":
    case "reasoning":
      return { type: part.type, text: part.text }
    case "tool-call":
      return { type: part.type, id: part.id, name: part.name, params: part.params }
    case "tool-result":
      return { type: part.type, id: part.id, name: part.name, isFailure: part.isFailure, result: part.result }
    case "file":
      return { type: part.type, mediaType: part.mediaType, fileName: part.fileName }
    default:
      return { type: part.type }
  }
}

export const messageJson = (message: Prompt.Message): unknown =>
  typeof message.content === "string"
    ? { role: message.role, content: message.content }
    : { role: message.role, content: (message.content as ReadonlyArray<Prompt.Part>).map(partJson) }

// A conversation whose last turn is tool calls without results was paused and
// never resumed: a new input moves on, so the calls are answered as denied
// (a request with unanswered tool calls would be rejected by the provider).
export const unanswered = (history: ReadonlyArray<Prompt.Message>): Prompt.ToolMessage | undefined => {
  const last = history[history.length - 1]
  if (last === undefined || last.role !== "assistant") return undefined
  const calls = last.content.filter((part): part is Prompt.ToolCallPart => part.type === "tool-call")
  if (calls.length === 0) return undefined
  return Prompt.toolMessage({
    content: calls.map((call) =>
      Prompt.toolResultPart({
        id: call.id,
        name: call.name,
        isFailure: true,
        result: { type: "execution-denied", reason: "The user moved on without answering this call." },
        providerExecuted: false
      })
    )
  })
}
