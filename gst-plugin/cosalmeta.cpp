// GstCosalMaskMeta registration and its init/free/transform functions.
#include "cosalmeta.h"

#include <gst/video/video.h>

GType gst_cosal_mask_meta_api_get_type(void) {
  static GType type = 0;
  if (g_once_init_enter(&type)) {
    // The mask has the frame's geometry: elements that scale or crop must
    // drop it, elements that only touch colours may keep it.
    static const gchar* tags[] = {GST_META_TAG_VIDEO_STR, GST_META_TAG_VIDEO_SIZE_STR,
                                  GST_META_TAG_VIDEO_ORIENTATION_STR, nullptr};
    GType t = gst_meta_api_type_register(GST_COSAL_MASK_META_API_NAME, tags);
    g_once_init_leave(&type, t);
  }
  return type;
}

static gboolean cosal_mask_meta_init(GstMeta* meta, gpointer /*params*/, GstBuffer* /*buffer*/) {
  auto* m = reinterpret_cast<GstCosalMaskMeta*>(meta);
  m->width = m->height = m->stride = 0;
  m->data = nullptr;
  m->mask = nullptr;
  m->map = GstMapInfo{};
  return TRUE;
}

static void cosal_mask_meta_free(GstMeta* meta, GstBuffer* /*buffer*/) {
  auto* m = reinterpret_cast<GstCosalMaskMeta*>(meta);
  if (m->mask) {
    gst_buffer_unmap(m->mask, &m->map);
    gst_buffer_unref(m->mask);
    m->mask = nullptr;
  }
  m->data = nullptr;
}

static gboolean cosal_mask_meta_transform(GstBuffer* dest, GstMeta* meta, GstBuffer* /*buffer*/,
                                          GQuark type, gpointer /*data*/) {
  auto* m = reinterpret_cast<GstCosalMaskMeta*>(meta);
  // Only plain copies keep the mask: any other transform changes geometry.
  if (!GST_META_TRANSFORM_IS_COPY(type) || !m->mask) return FALSE;
  return gst_buffer_add_cosal_mask_meta(dest, m->mask, m->width, m->height, m->stride) != nullptr;
}

const GstMetaInfo* gst_cosal_mask_meta_get_info(void) {
  static const GstMetaInfo* info = nullptr;
  if (g_once_init_enter(&info)) {
    const GstMetaInfo* i = gst_meta_register(
        GST_COSAL_MASK_META_API_TYPE, GST_COSAL_MASK_META_IMPL_NAME, sizeof(GstCosalMaskMeta),
        cosal_mask_meta_init, cosal_mask_meta_free, cosal_mask_meta_transform);
    g_once_init_leave(&info, i);
  }
  return info;
}

GstCosalMaskMeta* gst_buffer_add_cosal_mask_meta(GstBuffer* buffer, GstBuffer* mask, guint width,
                                                 guint height, guint stride) {
  g_return_val_if_fail(GST_IS_BUFFER(buffer) && GST_IS_BUFFER(mask), nullptr);
  g_return_val_if_fail(gst_buffer_is_writable(buffer), nullptr);
  g_return_val_if_fail(stride >= width, nullptr);
  if (gst_buffer_get_size(mask) < static_cast<gsize>(stride) * height) return nullptr;
  GstMapInfo map;
  if (!gst_buffer_map(mask, &map, GST_MAP_READ)) return nullptr;
  auto* m = reinterpret_cast<GstCosalMaskMeta*>(
      gst_buffer_add_meta(buffer, GST_COSAL_MASK_META_INFO, nullptr));
  if (!m) {
    gst_buffer_unmap(mask, &map);
    return nullptr;
  }
  m->mask = gst_buffer_ref(mask);
  m->map = map;
  m->width = width;
  m->height = height;
  m->stride = stride;
  m->data = map.data;
  return m;
}
