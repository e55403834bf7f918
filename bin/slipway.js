#!/usr/bin/env node
// The `slipway` command. slipway runs its TypeScript sources with no build step:
// from a bundle made on first start (bin/launch.js), else through tsx's loader.
import { launch } from './launch.js';

await launch();
