// Per-node profiling: every node is timed, shares add up to one, heavy nodes rank first.
import { describe, expect, it } from 'vitest';
import { GraphBuilder } from '../lib/graph/builder.js';
import { Tensor } from '../lib/graph/tensor.js';
import { compile } from '../lib/runtime/session.js';

describe('session profiling', () => {
  it('times every node and ranks a big convolution above a tiny relu', async () => {
    const g = new GraphBuilder('profiled');
    const x = g.input('x', [1, 32, 64, 64]);
    const c = g.conv2d(x, { out: 64, kernel: 3, pad: 1, name: 'big_conv' });
    const small = g.op1('Relu', [g.op1('GlobalAveragePool', [c], {}, 'pool')], {}, 'tiny_relu');
    g.output(small, 'y');
    const s = await compile(g.build(), { profile: true, threads: 1 });
    expect(s.profile()).toEqual([]);
    for (let i = 0; i < 3; ++i) await s.run({ x: Tensor.random([1, 32, 64, 64], i) });
    const p = s.profile();
    expect(p.map((n) => n.name).sort()).toEqual(['big_conv', 'pool', 'tiny_relu', 'y'].sort());
    expect(p[0].name).toBe('big_conv');
    expect(p.reduce((a, n) => a + n.share, 0)).toBeCloseTo(1, 6);
    expect(p.every((n) => n.ms >= 0)).toBe(true);
    s.dispose();
    const plain = await compile(g.build());
    await plain.run({ x: Tensor.random([1, 32, 64, 64]) });
    expect(plain.profile()).toEqual([]);
    plain.dispose();
  });
});
