/**
 * The live history of the conversations built by `Conversation.make`: the
 * append-only array itself, without the copy that `messages` makes. The agent
 * reads it once per step, so that a step's cost does not grow with the
 * length of the conversation; anything else reads `messages`.
 *
 * @internal
 */
import type { Prompt } from "effect/ai"

const views = new WeakMap<object, () => ReadonlyArray<Prompt.Message>>()

export const register = (service: object, view: () => ReadonlyArray<Prompt.Message>): void => {
  views.set(service, view)
}

/** The live history of a conversation built here, or `undefined` for other implementations. */
export const live = (service: object): (() => ReadonlyArray<Prompt.Message>) | undefined => views.get(service)
