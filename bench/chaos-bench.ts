// The long chaos run: rollouts of each strategy while the server is killed with
// SIGKILL at step boundaries and mid-step, until the total number of kills is reached.
// Prints kills, rollouts, failed requests, duplicates and orphans.
//
//   node --import tsx bench/chaos-bench.ts [--kills 50]

import { parseArgs } from 'node:util';
import { CHAOS_STRATEGIES, runChaos } from '../test/support/chaos.ts';

const { values } = parseArgs({ options: { kills: { type: 'string', default: '50' } } });
const target = Number(values.kills);
let kills = 0;
let rollouts = 0;
let sent = 0;
let failed = 0;
let problems = 0;
const strategies = Object.keys(CHAOS_STRATEGIES);
console.log(`chaos: kill -9 of the server at step boundaries and mid-step until ${target} kills`);
console.log('strategy     kills  mid-step  phase       sent    failed  instances  duplicates  orphans');
while (kills < target) {
  const strategy = strategies[rollouts % strategies.length]!;
  const r = await runChaos({ strategy, maxKills: Math.min(12, target - kills) });
  rollouts++;
  kills += r.kills;
  sent += r.traffic.sent;
  failed += r.traffic.failed;
  const bad = r.phase !== 'succeeded' || r.traffic.failed > 0 || r.duplicates > 0 || r.orphans > 0 || r.instances !== 3;
  if (bad) problems++;
  console.log(`${strategy.padEnd(12)} ${String(r.kills).padEnd(6)} ${String(r.midStepKills).padEnd(9)} ${r.phase.padEnd(11)} ${String(r.traffic.sent).padEnd(7)} ${String(r.traffic.failed).padEnd(7)} ${String(r.instances).padEnd(10)} ${String(r.duplicates).padEnd(11)} ${r.orphans}`);
  if (bad) console.log('  events:', r.events.slice(-8).join(' | '), r.traffic.errors);
}
console.log(`total: ${kills} kills over ${rollouts} rollouts; requests sent ${sent}, failed ${failed}; rollouts with a problem: ${problems}`);
