/* The cosaliency element: foreground extraction with the RCAN co-saliency
 * network, the frames of a sliding window forming the group.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifndef GST_COSALIENCY_H
#define GST_COSALIENCY_H

#include <gst/gst.h>
#include <gst/video/gstvideofilter.h>

G_BEGIN_DECLS

typedef enum {
  GST_COSALIENCY_MODE_STREAMING = 0,
  GST_COSALIENCY_MODE_WINDOW = 1,
} GstCosaliencyMode;

typedef enum {
  GST_COSALIENCY_OUTPUT_ALPHA = 0,
  GST_COSALIENCY_OUTPUT_MASK = 1,
  GST_COSALIENCY_OUTPUT_META = 2,
} GstCosaliencyOutput;

typedef enum {
  GST_COSALIENCY_EDGE_REFINE_NONE = 0,
  GST_COSALIENCY_EDGE_REFINE_GUIDED = 1,
} GstCosaliencyEdgeRefine;

#define GST_TYPE_COSALIENCY_MODE (gst_cosaliency_mode_get_type())
GType gst_cosaliency_mode_get_type(void);
#define GST_TYPE_COSALIENCY_OUTPUT (gst_cosaliency_output_get_type())
GType gst_cosaliency_output_get_type(void);
#define GST_TYPE_COSALIENCY_EDGE_REFINE (gst_cosaliency_edge_refine_get_type())
GType gst_cosaliency_edge_refine_get_type(void);

#define GST_TYPE_COSALIENCY (gst_cosaliency_get_type())
G_DECLARE_FINAL_TYPE(GstCosaliency, gst_cosaliency, GST, COSALIENCY, GstVideoFilter)

/* Registers the element with `plugin` (the plugin's init function; tests
 * pass it to gst_plugin_register_static). */
gboolean gst_cosaliency_plugin_init(GstPlugin* plugin);

G_END_DECLS

#endif /* GST_COSALIENCY_H */
