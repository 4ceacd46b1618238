// The tools' video output formats as gst-launch fragments, in one place, so
// every tool that writes a mask or cut-out video encodes it the same way.
// Each fragment takes raw video in any format (it starts with videoconvert,
// a pass-through when the format already matches) and ends in the muxer;
// the caller appends "! filesink ...". Header-only and free of GStreamer
// headers: these are strings for gst_parse_launch.
#pragma once

namespace cosal {

struct VideoEncoder {
  const char* format;     // the name a --format option takes
  const char* extension;  // file name suffix, with the dot
  const char* pipeline;   // "videoconvert ! ... ! <muxer>"
};

// Lossless FFV1 in Matroska, one GRAY8 plane: masks stay bit-exact.
inline constexpr VideoEncoder kMkvGrayMask{
    "mkv", ".mkv", "videoconvert ! video/x-raw,format=GRAY8 ! avenc_ffv1 ! matroskamux"};
// Lossless FFV1 in Matroska with the alpha channel: cut-outs (BGRA is the
// packed layout with alpha that FFV1 stores).
inline constexpr VideoEncoder kMkvBgraCutout{
    "mkv", ".mkv", "videoconvert ! video/x-raw,format=BGRA ! avenc_ffv1 ! matroskamux"};
// VP8 in WebM, for grey or colour video: small files that browsers play, for
// looking at rather than further processing (lossy, no alpha). Real-time
// settings (deadline=1, cpu-used=8) keep encoding far below the network's
// cost per frame.
inline constexpr VideoEncoder kWebmVp8{
    "webm", ".webm",
    "videoconvert ! vp8enc deadline=1 cpu-used=8 target-bitrate=2000000 ! webmmux"};

}  // namespace cosal
