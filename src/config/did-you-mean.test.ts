import { describe, expect, it } from 'vitest';
import { editDistance, suggestKey } from './did-you-mean.ts';

const HEALTH_KEYS = ['path', 'interval', 'timeout', 'healthy_threshold', 'unhealthy_threshold', 'start_deadline'];

describe('editDistance', () => {
  it.each([
    ['interval', 'interval', 0],
    ['intervall', 'interval', 1],
    ['intreval', 'interval', 1],
    ['timout', 'timeout', 1],
    ['kitten', 'sitting', 3],
    ['', 'abc', 3],
  ])('%s → %s is %i', (a, b, d) => {
    expect(editDistance(a, b)).toBe(d);
  });
});

describe('suggestKey', () => {
  it.each([
    ['intervall', 'interval'],
    ['intreval', 'interval'],
    ['timout', 'timeout'],
    ['healthyThreshold', 'healthy_threshold'],
    ['start-deadline', 'start_deadline'],
    ['healthy_treshold', 'healthy_threshold'],
  ])('suggests a close key for %s', (key, expected) => {
    expect(suggestKey(key, HEALTH_KEYS)).toBe(expected);
  });

  it.each(['colour', 'port', 'retries', 'x'])('suggests nothing for the unrelated %s', (key) => {
    expect(suggestKey(key, HEALTH_KEYS)).toBeNull();
  });
});
