/**
 * No false alarm under a flood: 2,000 connections opened at once to a shard's leader, each
 * sending one PUT, must not make any follower believe its leader is gone. Every
 * shard keeps its leader and its term through the flood (checked as terms and leader-change
 * counts, not as timings), and every PUT is answered, 200 or a catalogue 503 over the in-flight
 * cap. The flood holds the leader's event loop in long I/O phases; its ticks, and so its
 * heartbeats, keep going because client I/O runs them when they are due (LoopClock).
 */

import { connect, type Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { useCluster } from './harness.js';

const connections = 2_000;

/** Opens one connection, sends one PUT, resolves with the status of its answer (0 if none). */
function putOnce(port: number, i: number): Promise<number> {
  return new Promise((resolve) => {
    const body = `flood ${i}`;
    let answer = '';
    const socket: Socket = connect(port, '127.0.0.1', () => {
      socket.write(
        `PUT /v1/kv/flood/${i} HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/octet-stream\r\n` +
          `content-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
      );
    });
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      answer += chunk;
    });
    socket.on('error', () => undefined);
    socket.on('close', () => resolve(Number(/^HTTP\/1\.1 (\d{3})/.exec(answer)?.[1] ?? 0)));
  });
}

describe('no false alarm', () => {
  const cluster = useCluster({ name: 'no-false-alarm', shards: 3 });

  it(`${connections} connections opened at once to a leader change no leader`, async () => {
    const cl = cluster();
    const leaders = await cl.waitBalanced();
    // The flooded node leads shard 0: its heartbeats are what a starved event loop would delay.
    const target = leaders[0]!;
    const before = await Promise.all(leaders.map((leader, s) => cl.groupStatus(leader, s)));

    const port = Number(new URL(cl.spec(target).api).port);
    const statuses = await Promise.all(Array.from({ length: connections }, (_, i) => putOnce(port, i)));

    const after = await Promise.all(leaders.map((leader, s) => cl.groupStatus(leader, s)));
    const metrics = await (await fetch(`${cl.spec(target).api}/metrics`)).text();
    const kept = /^raftkv_ticks_kept_total (\d+)/m.exec(metrics)?.[1];
    const counts = new Map<number, number>();
    for (const s of statuses) counts.set(s, (counts.get(s) ?? 0) + 1);
    console.log(
      `[no-false-alarm] ${connections} connections at once to ${target}: answers ${JSON.stringify(Object.fromEntries(counts))}; terms ${before.map((g) => g.term).join('/')} -> ${after.map((g) => g.term).join('/')}; ticks run by client I/O on ${target}: ${kept}`,
    );
    expect(after.map((g) => ({ leader: g.leader, term: g.term }))).toEqual(
      before.map((g) => ({ leader: g.leader, term: g.term })),
    );
    expect([...counts.keys()].filter((s) => s !== 200 && s !== 503)).toEqual([]);
  });
});
