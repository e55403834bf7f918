#!/usr/bin/env node
// The `slipway` command. slipway runs its TypeScript sources through tsx's loader,
// so an install needs no build step and stack traces point at the real files.
import { register } from 'tsx/esm/api';

register();
await import('../src/cli/main.ts');
