// Plugin entry point: registers the cosaliency element and its meta.
#include <gst/gst.h>

#include "gstcosaliency.h"

GST_PLUGIN_DEFINE(GST_VERSION_MAJOR, GST_VERSION_MINOR, cosaliency,
                  "Co-saliency foreground extraction (RCAN) for live and recorded video",
                  gst_cosaliency_plugin_init, VERSION, "LGPL", "cosaliency",
                  "Unknown package origin")
