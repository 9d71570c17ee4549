#!/usr/bin/python3
"""A real RTSP server for the source tests: GStreamer's gst-rtsp-server
serving a folder of JPEGs (img-00.jpg, img-01.jpg, ...) as an H.264
stream at rtsp://127.0.0.1:PORT/cam.

  rtsp_server.py PORT DIR [--fps N] [--size WxH] [--switch-to WxH --switch-after SECONDS]

--switch-to changes the stream's resolution mid-way, as a camera whose
settings someone changes does. Prints "ready" once it listens.
Needs Debian's gir1.2-gst-rtsp-server-1.0, gstreamer1.0-plugins-ugly
(x264enc), -base, -good and python3-gi.
"""
import argparse
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402


def caps(size):
    w, h = size.split("x")
    return Gst.Caps.from_string(f"video/x-raw,width={w},height={h}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("port")
    ap.add_argument("dir")
    ap.add_argument("--fps", type=int, default=10)
    ap.add_argument("--size", default="320x240")
    ap.add_argument("--switch-to")
    ap.add_argument("--switch-after", type=float, default=1.0)
    a = ap.parse_args()
    Gst.init(None)
    w, h = a.size.split("x")
    launch = (
        f"( multifilesrc location={a.dir}/img-%02d.jpg loop=true "
        f"caps=image/jpeg,framerate={a.fps}/1 ! jpegdec ! videoconvert ! videoscale ! "
        f"capsfilter name=size caps=video/x-raw,width={w},height={h} ! "
        "x264enc tune=zerolatency speed-preset=ultrafast key-int-max=5 ! "
        "rtph264pay name=pay0 pt=96 config-interval=1 )"
    )
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(a.port)
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(launch)
    factory.set_shared(True)

    def configured(_factory, media):
        if not a.switch_to:
            return
        size = media.get_element().get_by_name("size")

        def switch():
            size.set_property("caps", caps(a.switch_to))
            return False

        GLib.timeout_add(int(a.switch_after * 1000), switch)

    factory.connect("media-configure", configured)
    server.get_mount_points().add_factory("/cam", factory)
    if server.attach(None) == 0:
        print(f"cannot listen on 127.0.0.1:{a.port}", file=sys.stderr)
        sys.exit(1)
    print("ready", flush=True)
    GLib.MainLoop().run()


if __name__ == "__main__":
    main()
