// ThreadSanitizer builds only (tests/meson.build links it into the element's
// tests when b_sanitize=thread): makes the synchronisation of Debian's
// uninstrumented GLib and GStreamer visible to TSan.
//
// GMutex and GCond are futex-based and reference counts are atomics in
// uninstrumented code, so TSan sees none of the happens-before that orders a
// buffer pushed through a queue, a bus message, or an object finalized by
// the last unref in another thread, and reports every such hand-off as a
// race. Defining these functions in the executable interposes them for the
// calls that GStreamer's libraries make through the PLT (and for ours); each
// calls GLib's own and tells TSan exactly the ordering that function
// guarantees, nothing more: a lock acquires what the previous unlock of the
// same mutex released, and the last unref acquires what every earlier unref
// released (the acquire-release of the atomic decrement). No access is
// ignored and no report is suppressed here; only edges that exist are added.
// Calls GLib makes to itself do not go through the PLT and stay invisible
// (its thread pool's queue: tools/sanitizers/tsan.supp).
#include <dlfcn.h>
#include <glib-object.h>
#include <gst/gst.h>
#include <sanitizer/tsan_interface.h>

#include <cstdlib>

namespace {

template <typename Fn>
Fn real(const char* name) {
  void* f = dlsym(RTLD_NEXT, name);
  if (!f) abort();  // GLib without the function: cannot interpose
  return reinterpret_cast<Fn>(f);
}

}  // namespace

extern "C" {

void g_mutex_lock(GMutex* mutex) {
  static const auto fn = real<void (*)(GMutex*)>("g_mutex_lock");
  fn(mutex);
  __tsan_acquire(mutex);
}

gboolean g_mutex_trylock(GMutex* mutex) {
  static const auto fn = real<gboolean (*)(GMutex*)>("g_mutex_trylock");
  const gboolean locked = fn(mutex);
  if (locked) __tsan_acquire(mutex);
  return locked;
}

void g_mutex_unlock(GMutex* mutex) {
  static const auto fn = real<void (*)(GMutex*)>("g_mutex_unlock");
  __tsan_release(mutex);
  fn(mutex);
}

// The mutex is released while waiting and held again on return.
void g_cond_wait(GCond* cond, GMutex* mutex) {
  static const auto fn = real<void (*)(GCond*, GMutex*)>("g_cond_wait");
  __tsan_release(mutex);
  fn(cond, mutex);
  __tsan_acquire(mutex);
}

gboolean g_cond_wait_until(GCond* cond, GMutex* mutex, gint64 end_time) {
  static const auto fn = real<gboolean (*)(GCond*, GMutex*, gint64)>("g_cond_wait_until");
  __tsan_release(mutex);
  const gboolean signalled = fn(cond, mutex, end_time);
  __tsan_acquire(mutex);
  return signalled;
}

// Every unref releases; the one that drops the last reference (nobody else
// holds one, so nobody can add one) acquires before the object is freed.
void gst_mini_object_unref(GstMiniObject* object) {
  static const auto fn = real<void (*)(GstMiniObject*)>("gst_mini_object_unref");
  // Read before the release, so that the free acquires this read too.
  const bool last = g_atomic_int_get(&object->refcount) == 1;
  __tsan_release(object);
  if (last) __tsan_acquire(object);
  fn(object);
}

void g_object_unref(gpointer object) {
  static const auto fn = real<void (*)(gpointer)>("g_object_unref");
  const bool last = g_atomic_int_get(&static_cast<GObject*>(object)->ref_count) == 1;
  __tsan_release(object);
  if (last) __tsan_acquire(object);
  fn(object);
}

// GStreamer's mini objects and GObject instances are freed through
// g_slice_free1 once the last reference is gone, often by the last unref in
// code that calls the unref directly (not through the PLT, so not above):
// the free acquires what every unref of that object released.
// A GObject instance lies after its private data, whose size GLib rounds
// to 16 bytes, so the unrefs released at one of the block's 16-byte steps.
void g_slice_free1(gsize block_size, gpointer mem_block) {
  static const auto fn = real<void (*)(gsize, gpointer)>("g_slice_free1");
  if (mem_block)
    for (gsize off = 0; off < block_size; off += 16)
      __tsan_acquire(static_cast<char*>(mem_block) + off);
  fn(block_size, mem_block);
}

// A task handed to a GThreadPool (GStreamer's streaming threads) runs after
// it was pushed: the push releases the task's data, the pool's worker
// acquires it before running the pool's function.
namespace {
struct PoolFunc {
  GFunc func;
  gpointer user_data;
};
void run_pool_task(gpointer data, gpointer pool_func) {
  __tsan_acquire(data);
  const auto* p = static_cast<const PoolFunc*>(pool_func);
  p->func(data, p->user_data);
}
}  // namespace

GThreadPool* g_thread_pool_new(GFunc func, gpointer user_data, gint max_threads, gboolean exclusive,
                               GError** error) {
  static const auto fn =
      real<GThreadPool* (*)(GFunc, gpointer, gint, gboolean, GError**)>("g_thread_pool_new");
  // Lives as long as the pool; pools are few and live for the process.
  auto* p = new PoolFunc{func, user_data};
  return fn(run_pool_task, p, max_threads, exclusive, error);
}

gboolean g_thread_pool_push(GThreadPool* pool, gpointer data, GError** error) {
  static const auto fn = real<gboolean (*)(GThreadPool*, gpointer, GError**)>("g_thread_pool_push");
  __tsan_release(data);
  return fn(pool, data, error);
}

}  // extern "C"
