#!/usr/bin/env node
// tslirp executable: runs the compiled CLI (npm run build produces dist/).
import '../dist/cli/attach-main.js';
