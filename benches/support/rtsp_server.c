/*
 * The camera capacity bench's RTSP server: Debian's gst-rtsp-server library, nothing of sharpeyes.
 *
 *   rtsp_server PORT CAMERAS FILE
 *
 * Serves CAMERAS mounts, rtsp://127.0.0.1:PORT/cam-000 ... cam-NNN, each of them the H.264 in FILE (an
 * MP4) as it is, without re-encoding. No mount is shared: every client gets its own session and its own
 * media pipeline (filesrc, qtdemux, h264parse, rtph264pay), paced in real time, as from that many
 * cameras. Prints "ready" on a line once it listens.
 */
#include <stdio.h>
#include <stdlib.h>

#include <gst/gst.h>
#include <gst/rtsp-server/rtsp-server.h>

int main(int argc, char **argv) {
  gst_init(&argc, &argv);
  if (argc != 4) {
    g_printerr("usage: %s PORT CAMERAS FILE\n", argv[0]);
    return 2;
  }
  int cameras = atoi(argv[2]);
  GstRTSPServer *server = gst_rtsp_server_new();
  gst_rtsp_server_set_address(server, "127.0.0.1");
  gst_rtsp_server_set_service(server, argv[1]);
  GstRTSPMountPoints *mounts = gst_rtsp_server_get_mount_points(server);
  gchar *launch = g_strdup_printf(
      "( filesrc location=\"%s\" ! qtdemux ! h264parse ! rtph264pay name=pay0 pt=96 config-interval=-1 )", argv[3]);
  for (int i = 0; i < cameras; i++) {
    GstRTSPMediaFactory *factory = gst_rtsp_media_factory_new();
    gst_rtsp_media_factory_set_launch(factory, launch);
    gst_rtsp_media_factory_set_shared(factory, FALSE);
    gchar *path = g_strdup_printf("/cam-%03d", i);
    gst_rtsp_mount_points_add_factory(mounts, path, factory);
    g_free(path);
  }
  g_free(launch);
  g_object_unref(mounts);
  if (gst_rtsp_server_attach(server, NULL) == 0) {
    g_printerr("cannot listen on 127.0.0.1:%s\n", argv[1]);
    return 1;
  }
  printf("ready\n");
  fflush(stdout);
  g_main_loop_run(g_main_loop_new(NULL, FALSE));
  return 0;
}
