/**
 * The triage agent's tools: the knowledge-base tools, and `draft_reply`,
 * which turns the body the model wrote into a reply ready to send (greeting,
 * signature) after checking it, the way a help desk's draft API would.
 */
import { Context, Effect, Layer, Schema } from "effect"
import { Tool, Toolkit } from "effect/ai"
import type { Article, Ticket } from "../shared/data.ts"
import { GetArticle, kbHandlers, KnowledgeBase, SearchKb } from "../shared/kbTools.ts"

/** The tickets of the run, by id, for `draft_reply`. */
export class TicketBook extends Context.Service<TicketBook, ReadonlyMap<string, Ticket>>()(
  "@effect-harness/examples/triage/TicketBook"
) {
  static readonly layer = (tickets: ReadonlyArray<Ticket>) =>
    Layer.succeed(TicketBook, new Map(tickets.map((ticket) => [ticket.id, ticket])))
}

/** `draft_reply` refused the draft; the model reads why and writes another. */
export class DraftRejected extends Schema.TaggedError<DraftRejected>()("DraftRejected", {
  reason: Schema.String
}) {
  override get message(): string {
    return this.reason
  }
}

export const maxReplyWords = 150

export const DraftReply = Tool.make("draft_reply", {
  description: "Turn a reply body into a draft ready to send: adds the greeting and the signature. " +
    `The body must be plain text, at most ${maxReplyWords} words, without greeting or signature.`,
  parameters: Schema.Struct({
    ticketId: Schema.String,
    body: Schema.String.annotate({ description: "The reply, without greeting or signature" })
  }),
  success: Schema.Struct({ ticketId: Schema.String, text: Schema.String, words: Schema.Number }),
  failure: DraftRejected,
  // read when the tool runs, not when its layer is built: a server provides the book per request
  dependencies: [TicketBook]
}).annotate(Tool.Idempotent, true) // a pure function of its arguments: safe to run again on resume

export const TriageTools = Toolkit.make(SearchKb, GetArticle, DraftReply)

// "maria@acme.example" -> "Maria"; role addresses get a neutral greeting.
const roleAddresses = new Set(["dev", "ops", "finance", "support", "info", "admin", "billing", "it", "team"])
export const greetingName = (from: string): string => {
  const local = from.split("@")[0]?.split(/[._+-]/)[0] ?? ""
  return local.length < 2 || roleAddresses.has(local.toLowerCase())
    ? "there"
    : local[0]!.toUpperCase() + local.slice(1).toLowerCase()
}

export const TriageToolsLive = TriageTools.toLayer(Effect.gen(function*() {
  const kb = yield* kbHandlers
  return TriageTools.of({
    ...kb,
    draft_reply: ({ body, ticketId }) => Effect.gen(function*() {
      const tickets = yield* TicketBook
      const ticket = tickets.get(ticketId.trim())
      if (ticket === undefined) {
        return yield* new DraftRejected({ reason: `No ticket "${ticketId}" in this run` })
      }
      const text = body.trim()
      const words = text.split(/\s+/).filter((word) => word.length > 0).length
      if (words === 0) return yield* new DraftRejected({ reason: "The body is empty" })
      if (words > maxReplyWords) {
        return yield* new DraftRejected({ reason: `The body has ${words} words; keep it under ${maxReplyWords}` })
      }
      if (/^(hi|hello|dear)\b/i.test(text)) {
        return yield* new DraftRejected({ reason: "Leave out the greeting: draft_reply adds it" })
      }
      return {
        ticketId: ticket.id,
        text: `Hi ${greetingName(ticket.from)},\n\n${text}\n\nBest regards,\nAcme Support`,
        words
      }
    })
  })
}))

/** The tools' handlers over the articles of a knowledge base (`draft_reply` reads the `TicketBook` of each call). */
export const layer = (articles: ReadonlyArray<Article>) => TriageToolsLive.pipe(Layer.provide(KnowledgeBase.layer(articles)))
