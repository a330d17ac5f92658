/*
 * V8's low-memory notification for the addon's C code (malloc_control.c): the one place the addon
 * uses V8's C++ API rather than N-API, since N-API has no way to ask for a memory-reducing GC.
 */
#include <v8.h>

extern "C" void tslirp_v8_low_memory(void) {
  v8::Isolate *isolate = v8::Isolate::GetCurrent();
  if (isolate != nullptr) isolate->LowMemoryNotification();
}
