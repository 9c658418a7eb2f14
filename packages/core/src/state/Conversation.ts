/**
 * A conversation: the history of one session, as effect `Prompt` messages,
 * held in a `Ref` inside a service. Provide one per session with
 * {@link layer}; an agent run inside it reads its history from it and appends
 * what it adds, so successive runs continue the same conversation.
 *
 * Appends are atomic `Ref` updates: fibers appending to one conversation at
 * the same time never lose a message. {@link fork} copies a conversation to
 * explore a branch without touching the original.
 *
 * Conversations export to, and import from, versioned JSON through Schema
 * (see {@link Document}). Every version ever written stays importable: an
 * import decodes any known version and migrates it to the current one.
 *
 * @example
 * ```ts
 * import { Conversation, Messages } from "@effect-harness/core"
 * import { Effect } from "effect"
 *
 * const program = Effect.gen(function*() {
 *   yield* Conversation.append(Messages.user("Hi, I am Ada"))
 *   const json = yield* Conversation.exportJson
 *   const copy = yield* Conversation.importJson(json)
 *   return (yield* copy.messages).length // 1
 * }).pipe(Effect.provide(Conversation.layer()))
 * ```
 *
 * @since 0.1.0
 */
import { Context, Effect, Layer, Ref, Schema } from "effect"
import { Prompt } from "effect/ai"
import * as Doc from "./internal/conversationDocument.ts"
import * as Live from "./internal/conversationLive.ts"

/**
 * A conversation's operations.
 *
 * @since 0.1.0
 */
export interface Service {
  readonly id: string
  /** The history, oldest first (a snapshot: later appends do not change it). */
  readonly messages: Effect.Effect<ReadonlyArray<Prompt.Message>>
  /** Appends messages, atomically and in order. */
  readonly append: (messages: ReadonlyArray<Prompt.Message>) => Effect.Effect<void>
  /**
   * Replaces the oldest `count` messages with `replacement` (compaction). Messages
   * appended meanwhile are kept.
   */
  readonly replace: (count: number, replacement: ReadonlyArray<Prompt.Message>) => Effect.Effect<void>
  /** A new conversation with a copy of this history, to branch off. */
  readonly fork: (options?: { readonly id?: string | undefined }) => Effect.Effect<Service>
}

/**
 * The conversation of the current session.
 *
 * @since 0.1.0
 */
export class Conversation extends Context.Service<Conversation, Service>()("@effect-harness/core/Conversation") {}

/**
 * Options of a new conversation.
 *
 * @since 0.1.0
 */
export interface Options {
  /** Default: a random UUID. */
  readonly id?: string | undefined
  /** The history to start from. */
  readonly messages?: ReadonlyArray<Prompt.Message> | undefined
}

// The history is an append-only array in a Ref: an append pushes onto it
// (one synchronous, hence atomic, update), so appending costs the same at
// message 10 and at message 10,000; `messages` hands out a copy, which later
// appends do not change. Compaction swaps in a new array.
const makeUnsafe = (id: string, initial: ReadonlyArray<Prompt.Message>): Service => {
  const ref = Ref.makeUnsafe<Array<Prompt.Message>>(initial.slice())
  const service: Service = {
    id,
    messages: Effect.map(Ref.get(ref), (history) => history.slice()),
    append: (messages) =>
      messages.length === 0 ? Effect.void : Ref.update(ref, (history) => {
        for (const message of messages) history.push(message)
        return history
      }),
    replace: (count, replacement) =>
      Ref.update(ref, (history) => replacement.concat(history.slice(Math.min(count, history.length)))),
    fork: (options) => Effect.map(Ref.get(ref), (history) => makeUnsafe(options?.id ?? newId(), history))
  }
  Live.register(service, () => ref.ref.current)
  return service
}

const newId = (): string => globalThis.crypto.randomUUID()

/**
 * Creates a conversation.
 *
 * @since 0.1.0
 */
export const make = (options: Options = {}): Effect.Effect<Service> =>
  Effect.sync(() => makeUnsafe(options.id ?? newId(), options.messages ?? []))

/**
 * A layer with a fresh conversation: provide one per session.
 *
 * @example
 * ```ts
 * import { Conversation, Messages } from "@effect-harness/core"
 *
 * const Session = Conversation.layer({ messages: [Messages.user("Hello")] })
 * ```
 *
 * @since 0.1.0
 */
export const layer = (options: Options = {}): Layer.Layer<Conversation> => Layer.effect(Conversation, make(options))

/**
 * The history of the current conversation.
 *
 * @since 0.1.0
 */
export const messages: Effect.Effect<ReadonlyArray<Prompt.Message>, never, Conversation> = Effect.flatMap(
  Effect.service(Conversation),
  (conversation) => conversation.messages
)

/**
 * Appends messages to the current conversation.
 *
 * @since 0.1.0
 */
export const append = (...messages: ReadonlyArray<Prompt.Message>): Effect.Effect<void, never, Conversation> =>
  Effect.flatMap(Effect.service(Conversation), (conversation) => conversation.append(messages))

/**
 * Runs an effect on a fork of the current conversation: what it appends stays
 * in the fork.
 *
 * @example
 * ```ts
 * import { Conversation, Messages } from "@effect-harness/core"
 *
 * const whatIf = Conversation.append(Messages.user("What if I fly tomorrow?")).pipe(Conversation.forked)
 * ```
 *
 * @since 0.1.0
 */
export const forked = <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E, R | Conversation> =>
  Effect.flatMap(Effect.service(Conversation), (conversation) =>
    Effect.flatMap(conversation.fork(), (fork) => Effect.provideService(self, Conversation, fork)))

// -----------------------------------------------------------------------------
// Export / import
// -----------------------------------------------------------------------------

/**
 * The current version of the export format.
 *
 * @since 0.1.0
 */
export const currentVersion = Doc.currentVersion

/**
 * The export format, current version: `{ version: 2, id, messages }` where
 * `messages` are effect `Prompt` messages in their encoded (JSON) form, with
 * their options (pinned and summary marks included).
 *
 * @since 0.1.0
 */
export const Document = Doc.DocumentV2

/**
 * @since 0.1.0
 */
export type Document = typeof Doc.DocumentV2.Type

/**
 * Version 1 of the export format: a plain transcript,
 * `{ version: 1, messages: [{ role, content }] }` with text content only.
 * Still importable.
 *
 * @since 0.1.0
 */
export const DocumentV1 = Doc.DocumentV1

/**
 * A document that is not a conversation export of a known version.
 *
 * @since 0.1.0
 */
export class ImportError extends Schema.TaggedError<ImportError>()("ImportError", {
  message: Schema.String
}) {}

/**
 * Turns a decoded document of any known version into the current version.
 *
 * @since 0.1.0
 */
export const migrate: (document: Doc.AnyDocument) => Document = Doc.migrate

/**
 * The current conversation as a document of the current version (a plain
 * JSON-compatible object).
 *
 * @since 0.1.0
 */
export const exportDocument = (self: Service): Effect.Effect<typeof Doc.DocumentV2.Encoded> =>
  Effect.flatMap(self.messages, (messages) =>
    Schema.encodeEffect(Doc.DocumentV2)({ version: Doc.currentVersion, id: self.id, messages }).pipe(
      // our own messages always encode; a failure here is a bug
      Effect.orDie
    ))

/**
 * Reads a document of any known version into a new conversation.
 *
 * @since 0.1.0
 */
export const importDocument = (document: unknown): Effect.Effect<Service, ImportError> =>
  Schema.decodeUnknownEffect(Doc.AnyDocument)(document).pipe(
    Effect.mapError((error) => new ImportError({ message: `Not a conversation document: ${error.message}` })),
    Effect.flatMap((decoded) => {
      const current = Doc.migrate(decoded)
      return make({ id: current.id, messages: current.messages })
    })
  )

/**
 * The current conversation as a JSON string.
 *
 * @since 0.1.0
 */
export const exportJson: Effect.Effect<string, never, Conversation> = Effect.flatMap(
  Effect.service(Conversation),
  (conversation) => Effect.map(exportDocument(conversation), (document) => JSON.stringify(document))
)

/**
 * Reads a JSON export of any known version into a new conversation.
 *
 * @since 0.1.0
 */
export const importJson = (json: string): Effect.Effect<Service, ImportError> =>
  Effect.suspend(() => {
    let parsed: unknown
    try {
      parsed = JSON.parse(json)
    } catch (error) {
      return Effect.fail(new ImportError({ message: `Not JSON: ${(error as Error).message}` }))
    }
    return importDocument(parsed)
  })

/**
 * A layer with a conversation imported from a JSON export (to resume a saved
 * session).
 *
 * @since 0.1.0
 */
export const layerJson = (json: string): Layer.Layer<Conversation, ImportError> =>
  Layer.effect(Conversation, importJson(json))

/**
 * Re-exported so that `Prompt.Message` values can be built without a second
 * import.
 *
 * @since 0.1.0
 */
export type Message = Prompt.Message
