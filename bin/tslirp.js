#!/usr/bin/env node
// tslirp executable: the slirp4netns-compatible CLI, compiled (npm run build produces dist/).
import '../dist/cli/main.js';
