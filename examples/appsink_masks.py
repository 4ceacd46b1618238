#!/usr/bin/env python3
"""Reads the cosaliency element's masks in Python, from an appsink.

    python3 examples/appsink_masks.py VIDEO [--frames N]
    python3 examples/appsink_masks.py --test-pattern [--frames N]

For every frame it prints the frame's timestamp, the share of the picture
that is foreground (mask >= 128) and the foreground's bounding box: the
numbers an application would act on (crop, re-frame, trigger). The mask is
a GRAY8 plane at the video's resolution, 0 = background, 255 = foreground.
Needs PyGObject (Debian: python3-gi, gir1.2-gst-plugins-base-1.0) and the
cosaliency plugin on GST_PLUGIN_PATH.
"""
import argparse
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstVideo", "1.0")
from gi.repository import Gst, GstVideo  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("video", nargs="?", help="a video file GStreamer can decode")
    parser.add_argument("--test-pattern", action="store_true",
                        help="use videotestsrc's moving ball instead of a file")
    parser.add_argument("--frames", type=int, default=0, help="stop after N frames (0: all)")
    parser.add_argument("--model", help="weights file (default: the element's default model)")
    args = parser.parse_args()
    if not args.video and not args.test_pattern:
        parser.error("give a VIDEO or --test-pattern")

    Gst.init(None)
    if args.test_pattern:
        source = "videotestsrc pattern=ball is-live=false"
        if args.frames:
            source += f" num-buffers={args.frames}"
        source += " ! video/x-raw,width=320,height=240,framerate=25/1"
    else:
        source = f'filesrc location="{args.video}" ! decodebin'
    model = f' model="{args.model}"' if args.model else ""
    pipeline = Gst.parse_launch(
        f"{source} ! videoconvert ! cosaliency output=mask{model} ! "
        "appsink name=masks sync=false max-buffers=4 caps=video/x-raw,format=GRAY8")
    sink = pipeline.get_by_name("masks")
    pipeline.set_state(Gst.State.PLAYING)

    frames = 0
    while not args.frames or frames < args.frames:
        sample = sink.emit("pull-sample")
        if sample is None:  # end of stream, or an error (on the bus below)
            break
        info = GstVideo.VideoInfo.new_from_caps(sample.get_caps())
        buf = sample.get_buffer()
        ok, mapinfo = buf.map(Gst.MapFlags.READ)
        if not ok:
            break
        try:
            width, height, stride = info.width, info.height, info.stride[0]
            data = mapinfo.data
            fg = 0
            x0, y0, x1, y1 = width, height, -1, -1
            for y in range(height):
                row = data[y * stride:y * stride + width]
                cols = [x for x, v in enumerate(row) if v >= 128]
                if cols:
                    fg += len(cols)
                    x0, x1 = min(x0, cols[0]), max(x1, cols[-1])
                    y0, y1 = min(y0, y), max(y1, y)
        finally:
            buf.unmap(mapinfo)
        box = f"{x0},{y0}-{x1},{y1}" if x1 >= 0 else "none"
        t = buf.pts / Gst.SECOND if buf.pts != Gst.CLOCK_TIME_NONE else float("nan")
        print(f"frame {frames} t={t:.3f}s foreground={fg / (width * height):.3f} box={box}",
              flush=True)
        frames += 1

    bus = pipeline.get_bus()
    msg = bus.pop_filtered(Gst.MessageType.ERROR)
    pipeline.set_state(Gst.State.NULL)
    if msg:
        err, debug = msg.parse_error()
        print(f"error: {err.message} ({debug})", file=sys.stderr)
        return 1
    if frames == 0:
        print("error: no frames came out", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
