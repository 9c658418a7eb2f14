/**
 * The triage agent: a core `Agent` with the knowledge-base and draft tools,
 * whose final answer is a `Triage` validated by Schema. An answer that does
 * not decode (not JSON, a category that does not exist, an article id the
 * knowledge base does not have) is sent back to the model with the issues,
 * up to `repairs` times.
 */
import { Agent, type RetryPolicy } from "@effect-harness/core"
import { Schema } from "effect"
import type { Article, Ticket } from "../shared/data.ts"
import { TriageTools } from "./tools.ts"

export const Category = Schema.Literals(["billing", "account", "bug", "how-to", "other"])
export const Priority = Schema.Literals(["low", "normal", "high", "urgent"])

/**
 * The structured result of one ticket. `articles` is built from the
 * knowledge base at hand, so an invented article id fails validation (and is
 * repaired) instead of reaching the results file.
 */
export const triageSchema = (articleIds: ReadonlyArray<string>) =>
  Schema.Struct({
    ticketId: Schema.String,
    category: Category,
    priority: Priority,
    summary: Schema.String.annotate({ description: "One sentence: what the customer needs" }),
    articles: Schema.Array(Schema.Literals(articleIds)).annotate({
      description: "Ids of the knowledge-base articles the reply relies on"
    }),
    reply: Schema.String.annotate({ description: "The draft returned by draft_reply, unchanged" }),
    needsHuman: Schema.Boolean.annotate({
      description: "True when a person must act before or after replying (a refund, a re-issued invoice, a bug fix)"
    })
  })

export type Triage = ReturnType<typeof triageSchema>["Type"]

export const instructions = `You triage customer support tickets for Acme, a SaaS product.
For each ticket:
1. Search the knowledge base with search_kb (short keyword queries).
2. Read the relevant articles with get_article.
3. Write a short, friendly reply that only promises what the articles say, and pass it to draft_reply.
4. Answer with JSON only: ticketId, category (billing, account, bug, how-to, other), priority (low, normal, high,
   urgent), a one-sentence summary, the ids of the articles you used, the reply exactly as draft_reply returned it,
   and needsHuman (true when someone on the team must act).`

/** The ticket as the model reads it. */
export const render = (ticket: Ticket): string =>
  `Ticket ${ticket.id} from ${ticket.from}\nSubject: ${ticket.subject}\n\n${ticket.body}`

/**
 * Builds the agent for a knowledge base and a model name (the name is for
 * spans and pricing); `retry` replaces the default retry policy of its model
 * calls.
 */
export const make = (articles: ReadonlyArray<Article>, model: string, retry?: RetryPolicy.RetryPolicy) =>
  Agent.make({
    name: "triage",
    instructions,
    toolkit: TriageTools,
    output: triageSchema(articles.map((article) => article.id)),
    render,
    // search, read, draft, answer, plus room for a repair or a corrected tool call
    maxSteps: 8,
    repairs: 2,
    concurrency: 4,
    modelLabel: model,
    retry
  })
