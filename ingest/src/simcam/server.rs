use std::{net::SocketAddr, thread::JoinHandle};

use gstreamer::glib;
use gstreamer_rtsp_server::{self as rtsp, prelude::*};
use tracing::info;

use super::{
    EncodeOptions, StreamSpec,
    player::{Player, probe_size, raw_caps},
};
use crate::{Error, Result};

/// A running simcam RTSP server. Dropping it stops the server and every player.
pub struct SimcamServer {
    address: SocketAddr,
    names: Vec<String>,
    main_loop: glib::MainLoop,
    thread: Option<JoinHandle<()>>,
    _players: Vec<Player>,
}

impl SimcamServer {
    /// Starts serving `streams` on `listen` (port 0 picks a free port; see [`SimcamServer::address`]).
    pub fn start(listen: SocketAddr, streams: &[StreamSpec], options: EncodeOptions) -> Result<Self> {
        crate::init_gstreamer()?;
        let server = rtsp::RTSPServer::new();
        server.set_address(&listen.ip().to_string());
        server.set_service(&listen.port().to_string());
        let mounts = server.mount_points().expect("a new server has mount points");

        let mut players = Vec::with_capacity(streams.len());
        for spec in streams {
            spec.check_readable()?;
            let factory = rtsp::RTSPMediaFactory::new();
            if options.passthrough {
                factory.set_launch(&format!("( {} )", options.passthrough_launch(&spec.path)));
                info!(stream = %spec.name, file = %spec.path.display(), codec = ?options.codec, "simcam stream ready (passthrough)");
            } else {
                let (source_width, source_height) = probe_size(spec)?;
                let width = options.width.unwrap_or(source_width) & !1;
                let height = options.height.unwrap_or(source_height) & !1;
                let caps = raw_caps(width, height, options.fps);
                players.push(Player::start(spec, &caps)?);
                factory.set_launch(&format!(
                    "( intervideosrc channel={name} ! {caps} ! {encoder} )",
                    name = spec.name,
                    encoder = options.encoder(),
                ));
                info!(stream = %spec.name, file = %spec.path.display(), width, height, fps = options.fps, gop = options.gop, codec = ?options.codec, "simcam stream ready");
            }
            factory.set_shared(true);
            mounts.add_factory(&format!("/{}", spec.name), factory);
        }

        let context = glib::MainContext::new();
        server
            .attach(Some(&context))
            .map_err(|err| Error::SimcamListen { listen: listen.to_string(), reason: err.to_string() })?;
        let address = SocketAddr::new(listen.ip(), server.bound_port() as u16);
        let main_loop = glib::MainLoop::new(Some(&context), false);
        let thread = {
            let main_loop = main_loop.clone();
            std::thread::Builder::new()
                .name("simcam-rtsp".into())
                .spawn(move || {
                    // The server lives as long as its main loop runs.
                    let _server = server;
                    main_loop.run();
                })
                .expect("spawning a thread")
        };
        Ok(Self {
            address,
            names: streams.iter().map(|s| s.name.clone()).collect(),
            main_loop,
            thread: Some(thread),
            _players: players,
        })
    }

    /// The address the server listens on.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// The URL of every stream, in the order given.
    pub fn urls(&self) -> Vec<String> {
        self.names.iter().map(|name| format!("rtsp://{}/{name}", self.address)).collect()
    }
}

impl Drop for SimcamServer {
    fn drop(&mut self) {
        self.main_loop.quit();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
