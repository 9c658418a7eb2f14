/**
 * The versioned export format of a conversation, and the migrations from
 * every older version to the current one.
 *
 * Adding a version: define `DocumentV<n+1>`, add it to `AnyDocument`, bump
 * `currentVersion`, and write the step from version n in `migrate`. Never
 * change a released version's schema: old exports must keep decoding.
 *
 * @internal
 */
import { Schema } from "effect"
import { Prompt } from "effect/ai"

export const currentVersion = 2 as const

/** Version 1: a plain text transcript, as an OpenAI-style chat log. */
export const DocumentV1 = Schema.Struct({
  version: Schema.Literal(1),
  messages: Schema.Array(Schema.Struct({
    role: Schema.Literals(["system", "user", "assistant"]),
    content: Schema.String
  }))
}).annotate({ identifier: "ConversationDocumentV1" })

/** Version 2 (current): effect `Prompt` messages with all their parts and options, and the conversation id. */
export const DocumentV2 = Schema.Struct({
  version: Schema.Literal(2),
  id: Schema.String,
  messages: Schema.Array(Prompt.Message)
}).annotate({ identifier: "ConversationDocumentV2" })

export const AnyDocument = Schema.Union([DocumentV1, DocumentV2])

export type AnyDocument = typeof AnyDocument.Type

const fromV1 = (document: typeof DocumentV1.Type): typeof DocumentV2.Type => ({
  version: 2,
  // version 1 had no ids: the import gets a fresh one
  id: globalThis.crypto.randomUUID(),
  messages: document.messages.map((message): Prompt.Message => {
    switch (message.role) {
      case "system":
        return Prompt.systemMessage({ content: message.content })
      case "user":
        return Prompt.userMessage({ content: [Prompt.textPart({ text: message.content })] })
      case "assistant":
        return Prompt.assistantMessage({ content: [Prompt.textPart({ text: message.content })] })
    }
  })
})

export const migrate = (document: AnyDocument): typeof DocumentV2.Type => {
  switch (document.version) {
    case 1:
      return fromV1(document)
    case 2:
      return document
  }
}
