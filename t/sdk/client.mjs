// One call with an official SDK, as an application makes it; prints what
// the application saw, as one line of JSON.  Run by t/sdk.t from the
// directory the SDKs are installed in:
//
//   node client.mjs '{"call": "chat-stream", "baseURL": "http://...",
//                     "headers": {"X-Mock-Break-After": "3"}}'
//
// Output: {"ok": true, ...what came} or {"ok": false, "error": CLASS,
// "message": ...}, and "chunks", "text", "emptyChoices" for streams.

import OpenAI from 'openai';
import Anthropic from '@anthropic-ai/sdk';

const spec = JSON.parse(process.argv[2]);
const headers = spec.headers || {};
const key = spec.key || 'sk-sdk-test';

const openai = new OpenAI({ apiKey: key, baseURL: spec.baseURL,
                            defaultHeaders: headers, maxRetries: 0,
                            timeout: 10000 });
const anthropic = new Anthropic({ apiKey: key, baseURL: spec.baseURL,
                                  defaultHeaders: headers, maxRetries: 0,
                                  timeout: 10000 });

const messages = [{ role: 'user', content: 'Say hello to the team.' }];
const out = { ok: true, chunks: 0, text: '', emptyChoices: 0 };

async function chatStream() {
    const s = await openai.chat.completions.create({
        model: 'auto', messages, max_tokens: 100, stream: true });

    for await (const c of s) {
        out.chunks++;

        // what application code does with each chunk
        if (c.choices.length === 0) {
            out.emptyChoices++;
            continue;
        }

        out.text += c.choices[0].delta.content || '';
    }
}

async function responsesStream() {
    const s = await openai.responses.create({
        model: 'auto', input: 'Say hello to the team.',
        max_output_tokens: 100, stream: true });

    for await (const e of s) {
        out.chunks++;

        if (e.type === 'response.output_text.delta') {
            out.text += e.delta;
        }
    }
}

async function messagesStream() {
    const s = await anthropic.messages.create({
        model: 'auto', messages, max_tokens: 100, stream: true });

    for await (const e of s) {
        out.chunks++;

        if (e.type === 'content_block_delta' && e.delta.type === 'text_delta') {
            out.text += e.delta.text;
        }
    }
}

const calls = {
    // the cost the module puts in the usage, as the application reads it
    'chat-cost': async () => {
        const r = await openai.chat.completions.create({
            model: 'auto', messages, max_tokens: 100 });
        out.cost = r.usage.cost;
    },
    'chat-stream-cost': async () => {
        const s = await openai.chat.completions.create({
            model: 'auto', messages, max_tokens: 100, stream: true,
            stream_options: { include_usage: true } });

        for await (const c of s) {
            if (c.usage) {
                out.cost = c.usage.cost;
            }
        }
    },
    'messages-cost': async () => {
        const r = await anthropic.messages.create({
            model: 'auto', messages, max_tokens: 100 });
        out.cost = r.usage.cost;
    },

    'chat-stream': chatStream,
    'responses-stream': responsesStream,
    'messages-stream': messagesStream,

    'chat': async () => {
        const r = await openai.chat.completions.create({
            model: 'auto', messages, max_tokens: 100 });
        out.text = r.choices[0].message.content;
        out.model = r.model;
    },
    'models-list': async () => {
        out.ids = [];
        for await (const m of openai.models.list()) {
            out.ids.push(m.id);
        }
    },
    'responses-retrieve': async () => {
        const r = await openai.responses.retrieve('resp_mock123');
        out.id = r.id;
        out.status = r.status;
    },
    'embeddings': async () => {
        const r = await openai.embeddings.create({
            model: 'text-embedding-3-small', input: 'hello' });
        out.model = r.model;
        out.dims = r.data[0].embedding.length;
    },
    'count-tokens': async () => {
        const r = await anthropic.messages.countTokens({
            model: 'claude-sonnet-4-5', messages });
        out.inputTokens = r.input_tokens;
    },
    'batches-list': async () => {
        out.ids = [];
        for await (const b of anthropic.messages.batches.list()) {
            out.ids.push(b.id);
        }
    },
};

try {
    if (!calls[spec.call]) {
        throw new Error(`no such call: ${spec.call}`);
    }

    await calls[spec.call]();

} catch (e) {
    out.ok = false;
    out.error = e.constructor.name;
    out.status = e.status;
    out.message = String(e.message).slice(0, 300);
}

process.stdout.write(JSON.stringify(out) + '\n');
