/**
 * The scripted triage model: what a capable model does with a ticket,
 * written as a function of the request. It reads the conversation (the
 * ticket, the tool results so far) and plays the next turn: search the
 * knowledge base, read the best articles, draft a reply, answer with JSON.
 *
 * It also fails the way real APIs and models do, once per ticket in a
 * process (again after a minute, so that a worker that lives on plays them in
 * each batch it runs), so the harness's recovery shows:
 * - a 429 rate limit with `retry-after-ms` (retried after the wait asked for);
 * - a 503 overload (retried with back-off);
 * - an invented article id (the tool fails, the model reads why and corrects);
 * - an answer that is not JSON, and one that fails the Schema (sent back with
 *   the issues, and repaired).
 */
import type { FakeOpenAiServer } from "@effect-harness/testing"
import { Option } from "effect"
import { terms } from "../shared/data.ts"
import * as Kit from "../shared/scriptKit.ts"

interface TicketText {
  readonly id: string
  readonly from: string
  readonly subject: string
  readonly body: string
}

// The failures, by ticket of the bundled data set (other tickets just work).
const rateLimitedFirst = new Set(["T-1002", "T-1006"])
const overloadedAtDraft = new Set(["T-1005"])
const inventsArticleId = new Set(["T-1004"])
const fencedAnswer = new Set(["T-1003"])
const wrongPriority = new Set(["T-1007"])

const readTicket = (text: string): TicketText | undefined => {
  const match = /^Ticket (\S+) from (\S*)\nSubject: (.*)\n\n([\s\S]*)$/.exec(text)
  return match === null ? undefined : { id: match[1]!, from: match[2]!, subject: match[3]!, body: match[4]! }
}

// -----------------------------------------------------------------------------
// The model's judgement, as rules
// -----------------------------------------------------------------------------

const categoryOf = (t: TicketText) => {
  const text = `${t.subject} ${t.body}`.toLowerCase()
  if (/^how (do|can|to)\b/.test(t.subject.toLowerCase())) return "how-to"
  if (/charge|invoice|refund|vat|subscription|cancel|billing/.test(text)) return "billing"
  if (/log ?in|password|sso|account/.test(text)) return "account"
  if (/slow|error|\b\d{3}\b|loses|broken|crash|fails?/.test(text)) return "bug"
  return "other"
}

const priorityOf = (t: TicketText) => {
  const text = `${t.subject} ${t.body}`.toLowerCase()
  if (/outage|down for everyone|data loss|security/.test(text)) return "urgent"
  if (/cannot|can't|twice|two charges|every (call|time)|nearly every|all the time/.test(text)) return "high"
  if (/^how |cancel/.test(t.subject.toLowerCase())) return "low"
  return "normal"
}

const needsHuman = (t: TicketText, category: string) =>
  category === "bug" || /refund|twice|re-?issue|wrong vat|cancel/.test(`${t.subject} ${t.body}`.toLowerCase())

/** A keyword query, as a model writes one: the subject's words, then the body's, six at most. */
const queryOf = (t: TicketText) => [...new Set(terms(`${t.subject} ${t.body}`))].slice(0, 6).join(" ")

const sentences = (text: string) => text.split(/(?<=[.!?])\s+/).filter((s) => s.length > 0)

/** The reply body: the article sentences closest to the ticket, an opening and a closing line. */
const replyBody = (t: TicketText, articles: ReadonlyArray<{ readonly body: string }>, short: boolean) => {
  const wanted = new Set(terms(`${t.subject} ${t.body}`))
  const picked: Array<string> = []
  for (const article of articles) {
    const ranked = sentences(article.body)
      .map((sentence, index) => ({ sentence, index, score: terms(sentence).filter((w) => wanted.has(w)).length }))
      .sort((a, b) => b.score - a.score || a.index - b.index)
    picked.push(...ranked.slice(0, short ? 1 : 2).sort((a, b) => a.index - b.index).map((r) => r.sentence))
  }
  const human = needsHuman(t, categoryOf(t))
  return [
    `Thank you for contacting us about "${t.subject}".`,
    ...(picked.length > 0 ? picked.slice(0, short ? 2 : 4) : ["I could not find an article on this, so I have asked a colleague to look into it."]),
    human ? "I have passed your ticket to the team, and we will confirm here as soon as it is done." :
    "If this does not solve it, just reply to this message."
  ].join(" ")
}

const summaryOf = (t: TicketText) => {
  const first = (sentences(t.body)[0] ?? "").replace(/^(hi|hello|dear)\b[^,]*,\s*/i, "")
  const text = first.length < 40 ? `${t.subject.replace(/([^.?!])$/, "$1.")} ${first}` : first
  return text.length > 160 ? `${text.slice(0, 159)}…` : text
}

// -----------------------------------------------------------------------------
// The script
// -----------------------------------------------------------------------------

const repairMarker = "Your previous answer was not valid"

const flat = (conversation: Kit.Conversation) => conversation.turns.flat()

const articlesRead = (conversation: Kit.Conversation) =>
  flat(conversation).filter((x) => x.name === "get_article" && !x.failed && x.result !== undefined)
    .map((x) => x.result as { id: string; title: string; body: string })

const searchHits = (conversation: Kit.Conversation) => {
  const searches = flat(conversation).filter((x) => x.name === "search_kb" && !x.failed)
  const last = searches[searches.length - 1]?.result as { results?: Array<{ id: string; score: number }> } | undefined
  return last?.results ?? []
}

/** How long a played failure is not played again: far longer than a ticket's retries take. */
const replayAfterMs = 60_000

/**
 * The script: one reply per request. `played` remembers when each failure
 * was played in this process, so each is played once per ticket (and again
 * after a minute, for a worker's next batch).
 */
export const make = (): ((request: FakeOpenAiServer.ReceivedRequest) => FakeOpenAiServer.Reply) => {
  const played = new Map<string, number>()
  const once = (key: string) => {
    const now = Date.now()
    const last = played.get(key)
    if (last !== undefined && now - last < replayAfterMs) return false
    played.set(key, now)
    return true
  }

  return (request) => {
    const read = Kit.read(request)
    if (Option.isNone(read)) return Kit.unreadable()
    const conversation = read.value
    const firstUser = conversation.messages.find((m) => m.role === "user")
    const ticket = readTicket(Kit.textOf(firstUser))
    if (ticket === undefined) {
      return Kit.text(conversation, "This scripted model only triages tickets: send one as `Ticket <id> from ...`.", "?")
    }
    const step = conversation.messages.filter((m) => m.role === "assistant").length + 1
    const seed = `${ticket.id}/${step}`
    const model = conversation.request.model
    const turns = conversation.turns
    const lastTurn = turns[turns.length - 1] ?? []
    const category = categoryOf(ticket)
    const read_ = articlesRead(conversation)

    const finalAnswer = (repaired: boolean) => {
      const drafts = flat(conversation).filter((x) => x.name === "draft_reply" && !x.failed)
      const draft = drafts[drafts.length - 1]?.result as { text?: string } | undefined
      const answer = {
        ticketId: ticket.id,
        category,
        priority: priorityOf(ticket),
        summary: summaryOf(ticket),
        articles: [...new Set(read_.map((a) => a.id))],
        reply: draft?.text ?? "",
        needsHuman: needsHuman(ticket, category)
      }
      if (!repaired && fencedAnswer.has(ticket.id)) {
        // a chatty model wraps its JSON in prose and a Markdown fence
        return Kit.text(conversation, `Here is the triage:\n\`\`\`json\n${JSON.stringify(answer, null, 2)}\n\`\`\``, seed)
      }
      if (!repaired && wrongPriority.has(ticket.id)) {
        return Kit.text(conversation, JSON.stringify({ ...answer, priority: "P2" }), seed)
      }
      return Kit.text(conversation, JSON.stringify(answer), seed)
    }

    // the harness sent the last answer back with its issues
    if (conversation.last?.role === "user" && Kit.textOf(conversation.last).includes(repairMarker)) {
      return finalAnswer(true)
    }

    if (turns.length === 0) {
      if (rateLimitedFirst.has(ticket.id) && once(`429/${ticket.id}`)) return Kit.rateLimited(model, 400)
      return Kit.toolCalls(conversation, [{ name: "search_kb", arguments: { query: queryOf(ticket) } }], seed)
    }

    const last = lastTurn[0]?.name
    const draft = (short: boolean) => {
      if (overloadedAtDraft.has(ticket.id) && once(`503/${ticket.id}`)) return Kit.overloaded()
      return Kit.toolCalls(conversation, [{
        name: "draft_reply",
        arguments: { ticketId: ticket.id, body: replyBody(ticket, read_, short) }
      }], seed)
    }

    if (last === "search_kb") {
      const hits = searchHits(conversation)
      if (hits.length === 0) return draft(false)
      if (inventsArticleId.has(ticket.id) && !flat(conversation).some((x) => x.name === "get_article")) {
        // a plausible id that is not in the knowledge base
        return Kit.toolCalls(conversation, [{ name: "get_article", arguments: { id: "inviting-users" } }], seed)
      }
      const top = hits[0]!
      const chosen = hits.filter((hit, i) => i === 0 || (hit.score >= 0.3 && hit.score >= top.score * 0.6)).slice(0, 2)
      return Kit.toolCalls(conversation, chosen.map((hit) => ({ name: "get_article", arguments: { id: hit.id } })), seed)
    }

    if (last === "get_article") {
      if (read_.length > 0) return draft(false)
      // the article did not exist: read the search's best hit instead
      const hit = searchHits(conversation)[0]
      if (hit === undefined) return draft(false)
      return Kit.toolCalls(conversation, [{ name: "get_article", arguments: { id: hit.id } }], seed)
    }

    if (last === "draft_reply") {
      // a rejected draft (too long, say) is written again, shorter
      return lastTurn[0]!.failed ? draft(true) : finalAnswer(false)
    }

    return finalAnswer(false)
  }
}
