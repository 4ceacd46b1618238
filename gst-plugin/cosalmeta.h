/* GstCosalMaskMeta: the foreground mask that the cosaliency element attaches
 * to each frame with output=meta. The frame itself passes through untouched.
 *
 * The mask has the frame's resolution: `height` rows of `width` bytes, rows
 * `stride` bytes apart, 0 = background, 255 = foreground (soft values in
 * between unless the element's `threshold` is set). `data` stays valid as
 * long as the buffer carrying the meta (the meta keeps the mask memory
 * mapped and referenced).
 *
 * Reading it from an application that does not link the plugin:
 *
 *   GType api = gst_cosal_mask_meta_api_type_lookup ();
 *   GstCosalMaskMeta *m = api ? (GstCosalMaskMeta *) gst_buffer_get_meta (buf, api) : NULL;
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifndef GST_COSAL_MASK_META_H
#define GST_COSAL_MASK_META_H

#include <gst/gst.h>

G_BEGIN_DECLS

#define GST_COSAL_MASK_META_API_NAME "GstCosalMaskMetaAPI"
#define GST_COSAL_MASK_META_IMPL_NAME "GstCosalMaskMeta"

typedef struct _GstCosalMaskMeta {
  GstMeta meta;

  guint width;
  guint height;
  guint stride;
  const guint8* data;

  /*< private >*/
  GstBuffer* mask; /* owns the bytes; returned to the element's pool on free */
  GstMapInfo map;
} GstCosalMaskMeta;

/* Registered by the plugin (element code and tests that link it). */
GType gst_cosal_mask_meta_api_get_type(void);
const GstMetaInfo* gst_cosal_mask_meta_get_info(void);
#define GST_COSAL_MASK_META_API_TYPE (gst_cosal_mask_meta_api_get_type())
#define GST_COSAL_MASK_META_INFO (gst_cosal_mask_meta_get_info())

/* Attaches `mask` (a buffer of at least stride*height bytes; a reference is
 * taken) to `buffer`, which must be writable. Returns NULL if `mask` cannot be
 * mapped. */
GstCosalMaskMeta* gst_buffer_add_cosal_mask_meta(GstBuffer* buffer, GstBuffer* mask, guint width,
                                                 guint height, guint stride);

#define gst_buffer_get_cosal_mask_meta(b) \
  ((GstCosalMaskMeta*)gst_buffer_get_meta((b), GST_COSAL_MASK_META_API_TYPE))

/* For applications that load the plugin but do not link it: the API type by
 * name, 0 until the plugin has been loaded (e.g. by creating the element). */
static inline GType gst_cosal_mask_meta_api_type_lookup(void) {
  return g_type_from_name(GST_COSAL_MASK_META_API_NAME);
}

G_END_DECLS

#endif /* GST_COSAL_MASK_META_H */
