// Running a pipeline's bus to its end, for the tests that build whole
// pipelines (test_element, test_element_abuse, test_pipelines).
#pragma once

#include <gst/gst.h>

#include <string>

namespace cosal::test {

// Pops messages until EOS or ERROR (re-computing latency when asked, counting
// warnings); returns the final message type (0 on timeout) and the error text.
inline GstMessageType run_to_end(GstElement* pipeline, GstClockTime timeout, std::string* error,
                                 int* warnings = nullptr) {
  GstBus* bus = gst_element_get_bus(pipeline);
  const gint64 deadline = g_get_monotonic_time() + static_cast<gint64>(timeout / 1000);
  GstMessageType result = static_cast<GstMessageType>(0);
  while (g_get_monotonic_time() < deadline) {
    GstMessage* m = gst_bus_timed_pop_filtered(
        bus, 100 * GST_MSECOND,
        static_cast<GstMessageType>(GST_MESSAGE_EOS | GST_MESSAGE_ERROR | GST_MESSAGE_LATENCY |
                                    GST_MESSAGE_WARNING));
    if (!m) continue;
    const GstMessageType t = GST_MESSAGE_TYPE(m);
    if (t == GST_MESSAGE_WARNING) {
      if (warnings) ++*warnings;
      gst_message_unref(m);
      continue;
    }
    if (t == GST_MESSAGE_LATENCY) {
      gst_bin_recalculate_latency(GST_BIN(pipeline));
      gst_message_unref(m);
      continue;
    }
    if (t == GST_MESSAGE_ERROR && error) {
      GError* e = nullptr;
      gchar* dbg = nullptr;
      gst_message_parse_error(m, &e, &dbg);
      *error = std::string(e->message) + " (" + (dbg ? dbg : "") + ")";
      g_error_free(e);
      g_free(dbg);
    }
    gst_message_unref(m);
    result = t;
    break;
  }
  gst_object_unref(bus);
  return result;
}

}  // namespace cosal::test
