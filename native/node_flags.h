/*
 * The flags the launcher (native/launcher.c) passes to Node before the script, on every exec: the one
 * list of V8/Node options tslirp runs with. Empty for now; measure RSS and start-up before adding one
 * (bench/startup.ts times the start). Each entry is one argv word, e.g. "--max-semi-space-size=1".
 */
#ifndef TSLIRP_NODE_FLAGS_H
#define TSLIRP_NODE_FLAGS_H

static const char *const TSLIRP_NODE_FLAGS[] = {
    NULL /* end of the list */
};

#endif
