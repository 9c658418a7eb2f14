/**
 * The scripted chat model: a support assistant that answers from the
 * knowledge base, written as a function of the request. It looks up what it
 * does not know (search, then read the best article), remembers what the
 * conversation says (a name given earlier, even once folded into a
 * summary), and writes the summaries `ContextWindow` asks for when it
 * compacts the history. Its first search of a process meets a 429, so the
 * retry shows.
 */
import type { FakeOpenAiServer } from "@effect-harness/testing"
import { Option } from "effect"
import { terms } from "../shared/data.ts"
import * as Kit from "../shared/scriptKit.ts"

const nameFact = /\bmy name is ([A-Z][\w-]*)/i
const knownName = /\b(?:my name is|user's name is) ([A-Z][\w-]*)/i

const sentences = (text: string) => text.split(/(?<=[.!?])\s+/).filter((s) => s.length > 0)

/** The summary `ContextWindow.summarizer()` asks for: facts kept, questions listed, the newest last. */
const summarize = (conversation: Kit.Conversation, seed: string) => {
  const request = Kit.textOf(conversation.messages.find((m) => m.role === "user"))
  const previous = /Summary so far:\n([\s\S]*?)\n\nTurns to add/.exec(request)?.[1] ?? ""
  const turns = request.split("Turns to add to the summary:\n")[1] ?? request
  const bullets = previous.split("\n").filter((line) => line.startsWith("- "))
  for (const line of turns.split("\n")) {
    const said = /^user: (.*)$/.exec(line)?.[1]
    if (said !== undefined) {
      const name = nameFact.exec(said)?.[1]
      bullets.push(name !== undefined ? `- The user's name is ${name}.` : `- The user asked: ${said}`)
      continue
    }
    const read = /^tool get_article returned: .*"title":"([^"]+)"/.exec(line)?.[1]
    if (read !== undefined) bullets.push(`- Answered from the article "${read}".`)
  }
  // facts stay, questions are kept to the newest eight
  const facts = bullets.filter((b) => !b.startsWith("- The user asked"))
  const questions = bullets.filter((b) => b.startsWith("- The user asked")).slice(-8)
  return Kit.text(conversation, [...new Set([...facts, ...questions])].join("\n"), seed)
}

export const make = (): ((request: FakeOpenAiServer.ReceivedRequest) => FakeOpenAiServer.Reply) => {
  let rateLimited = false

  return (request) => {
    const read = Kit.read(request)
    if (Option.isNone(read)) return Kit.unreadable()
    const conversation = read.value
    const seed = `${conversation.messages.length}/${Kit.textOf(conversation.last)}`
    const system = Kit.textOf(conversation.messages[0])
    if (system.startsWith("You maintain a running summary")) return summarize(conversation, seed)

    const users = conversation.messages.filter((m) => m.role === "user")
    const question = Kit.textOf(users[users.length - 1])
    const lower = question.toLowerCase()
    const last = conversation.last
    const turn = conversation.turns[conversation.turns.length - 1] ?? []
    const everything = conversation.messages.map(Kit.textOf).join("\n")

    if (last?.role === "tool") {
      const exchange = turn[0]!
      if (exchange.name === "search_kb") {
        const hits = (exchange.result as { results?: Array<{ id: string }> })?.results ?? []
        if (hits.length === 0) {
          return Kit.text(conversation, "I could not find anything about that in the knowledge base. Could you rephrase it?", seed)
        }
        return Kit.toolCalls(conversation, [{ name: "get_article", arguments: { id: hits[0]!.id } }], seed)
      }
      if (exchange.name === "get_article" && !exchange.failed) {
        const article = exchange.result as { title: string; body: string }
        const wanted = new Set(terms(question))
        const best = sentences(article.body)
          .map((s, i) => ({ s, i, score: terms(s).filter((w) => wanted.has(w)).length }))
          .sort((a, b) => b.score - a.score || a.i - b.i)
          .slice(0, 2)
          .sort((a, b) => a.i - b.i)
          .map((x) => x.s)
        return Kit.text(conversation, `${best.join(" ")} (from "${article.title}")`, seed)
      }
      return Kit.text(conversation, "Sorry, I could not read that article.", seed)
    }

    const name = nameFact.exec(question)?.[1]
    if (name !== undefined) {
      return Kit.text(conversation, `Nice to meet you, ${name}! Ask me anything about billing, logins, exports or the API.`, seed)
    }
    if (/what('s| is) my name|who am i/.test(lower)) {
      const known = knownName.exec(everything.replace(question, ""))?.[1]
      return Kit.text(conversation, known === undefined ? "You have not told me your name yet." : `Your name is ${known}.`, seed)
    }
    if (/^(hi|hello|hey)\b/.test(lower)) {
      return Kit.text(conversation, "Hello! I answer questions from the Acme knowledge base. What do you need?", seed)
    }
    if (/^(thanks|thank you)/.test(lower)) return Kit.text(conversation, "You're welcome!", seed)
    if (!rateLimited) {
      rateLimited = true
      return Kit.rateLimited(conversation.request.model, 300)
    }
    const query = [...new Set(terms(question))].slice(0, 6).join(" ")
    return Kit.toolCalls(conversation, [{ name: "search_kb", arguments: { query } }], seed)
  }
}
