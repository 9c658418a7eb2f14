/**
 * Chat sessions on disk, in a `ConversationStore`: the file store in
 * `<state>/chat`, one directory per session, a new revision written after
 * every answered turn. `--session <name>` loads it again; documents saved by
 * an older version of the library are migrated as they load. Two chats on one
 * session cannot overwrite each other: the second to save gets
 * `ConversationConflict`, and the store keeps the first one's turn.
 */
import { type Conversation, ConversationStore } from "@effect-harness/core"
import { Effect, type FileSystem, Layer } from "effect"
import { ExampleError, oneLine } from "../shared/cli.ts"

const validName = /^[A-Za-z0-9_-]{1,64}$/

export interface Session {
  readonly name: string
  readonly directory: string
  readonly conversation: Conversation.Service
  readonly resumed: boolean
}

/** The store of the chat's sessions, in `<stateDir>/chat`. */
export const store = (directory: string): Layer.Layer<ConversationStore.ConversationStore, ExampleError, FileSystem.FileSystem> =>
  ConversationStore.layerFileSystem({ directory }).pipe(
    Layer.catchTag("ConversationStoreError", (error) =>
      Layer.effect(
        ConversationStore.ConversationStore,
        Effect.fail(new ExampleError({ message: `${oneLine(error.message, 200)}; check --state` }))
      ))
  )

/** Opens the session `name`: its saved conversation, or a new empty one. */
export const open = Effect.fn("session.open")(function*(directory: string, name: string) {
  if (!validName.test(name)) {
    return yield* new ExampleError({
      message: `"${name}" is not a session name: use letters, digits, "-" and "_" (at most 64)`
    })
  }
  const conversation = yield* ConversationStore.load(name).pipe(
    Effect.catchTags({
      ImportError: (error) =>
        Effect.fail(
          new ExampleError({
            message: `Session ${name} in ${directory} is not a saved session (${oneLine(error.message, 120)}): ` +
              `move it away, or use another --session`
          })
        ),
      ConversationStoreError: (error) =>
        Effect.fail(new ExampleError({ message: `${oneLine(error.message, 200)}; check --state` }))
    })
  )
  return { name, directory, conversation, resumed: ConversationStore.revision(conversation) > 0 } satisfies Session
})

/** Saves the session: a new revision, whole or not at all. */
export const save = (session: Session) =>
  ConversationStore.save(session.conversation).pipe(
    Effect.catchTags({
      ConversationConflict: () =>
        Effect.fail(
          new ExampleError({
            message: `Session ${session.name} was saved by another chat since this one opened it: this answer is not ` +
              `saved (the other chat's is); run --session ${session.name} again to continue from it`
          })
        ),
      ConversationStoreError: (error) =>
        Effect.fail(new ExampleError({ message: `${oneLine(error.message, 200)}; check --state` }))
    })
  )
