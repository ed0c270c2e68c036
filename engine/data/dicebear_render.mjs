// The Node half of `mascot-engine data dicebear`: draws DiceBear avatars as SVG.
//
//   node dicebear_render.mjs NPM_PREFIX STYLE_EXPORT[,STYLE_EXPORT...]
//
// First line out: {"meta": {export: style meta}, "version": ...} (licence and credit,
// read from the packages so the data set card never invents them).
// Then, per line in: a JSON array of requests {style, options, probes}; per line out: a
// JSON array of {svg, extra, probes}. `extra` is what DiceBear actually drew (the
// options after its own random picks), so labels come from it, not from the request.
// `probes` maps an option (e.g. "hairColor") to another colour: the same avatar is drawn
// again with only that colour changed, and Python compares the pixels to learn whether
// that part is visible at all (hair under a hat).
// One request line is answered by one response line, so the pipes never fill both ways.

import { createRequire } from 'node:module';
import path from 'node:path';
import readline from 'node:readline';
import { pathToFileURL } from 'node:url';

const [prefix, exportList] = process.argv.slice(2);
const requireFromCache = createRequire(path.join(prefix, 'package.json'));
const load = (name) => import(pathToFileURL(requireFromCache.resolve(name)).href);
const core = await load('@dicebear/core');
const collection = await load('@dicebear/collection');

const styles = {};
const meta = {};
for (const name of exportList.split(',')) {
  if (!collection[name]) throw new Error(`@dicebear/collection has no style '${name}'`);
  styles[name] = collection[name];
  meta[name] = collection[name].meta;
}
process.stdout.write(JSON.stringify({ meta }) + '\n');

function draw(request) {
  const style = styles[request.style];
  const avatar = core.createAvatar(style, request.options).toJson();
  const probes = {};
  for (const [option, colour] of Object.entries(request.probes ?? {})) {
    // Same seed and same option shapes: every random pick repeats, only this colour moves.
    probes[option] = core.createAvatar(style, { ...request.options, [option]: [colour] }).toString();
  }
  return { svg: avatar.svg, extra: avatar.extra, probes };
}

const lines = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
for await (const line of lines) {
  if (!line.trim()) continue;
  let reply;
  try {
    reply = JSON.parse(line).map(draw);
  } catch (err) {
    reply = { error: String(err?.stack ?? err) };
  }
  process.stdout.write(JSON.stringify(reply) + '\n');
}
