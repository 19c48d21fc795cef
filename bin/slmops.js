#!/usr/bin/env node
// The slmops CLI: the bundle built from src/cli/main.ts by scripts/build.mjs (npm run build).
import '../dist/cli/index.js';
