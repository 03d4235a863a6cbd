//! The lean RTSP receiver: [retina](https://github.com/scottlamb/retina) (moonfire-nvr's RTSP client)
//! for the cameras whose key-frames go to the shared decoders.
//!
//! GStreamer's `rtspsrc` gives every camera an `rtpbin`, a jitter buffer and several threads of its own;
//! with one key-frame every two seconds to analyse, receiving was the largest part of a camera's cost.
//! Here every camera is one task on a small shared tokio runtime: RTP interleaved in the RTSP TCP
//! connection (in order, so no jitter buffer), depacketized into access units by retina, delta frames
//! dropped as soon as they are whole, key-frames handed on as an Annex B byte stream with their
//! parameter sets in front. Decoding stays in GStreamer (see [`super::KeyframeDecoders`]).

use std::{
    num::NonZeroU32,
    sync::Arc,
    time::{Duration, Instant},
};

use chrono::{DateTime, Utc};
use crossbeam_channel::{Receiver, TryRecvError};
use futures_util::StreamExt;
use retina::{
    client::{Credentials, PlayOptions, SessionOptions, SetupOptions, TcpTransportOptions, Transport},
    codec::{CodecItem, FrameFormat, ParameterSetInsertion, h26x::Framing},
};
use tokio::runtime::{Handle, Runtime};

use super::CameraSettings;
use crate::{Error, Result, urls::redact_url};

/// How often a receiving camera looks at the shutdown signal and its watchdog.
const POLL: Duration = Duration::from_millis(200);
/// NTP counts from 1900, Unix from 1970.
const NTP_UNIX_OFFSET_S: u64 = 2_208_988_800;

/// The shared runtime of the retina receivers. Cloning is cheap; the runtime stops when the last clone
/// is dropped.
#[derive(Clone)]
pub struct RtspClients {
    runtime: Arc<OwnedRuntime>,
}

/// The runtime, shut down without waiting when dropped: the last clone may go on any thread, an
/// async one included, where a plain drop of a runtime would panic.
struct OwnedRuntime(Option<Runtime>);

impl Drop for OwnedRuntime {
    fn drop(&mut self) {
        if let Some(runtime) = self.0.take() {
            runtime.shutdown_background();
        }
    }
}

impl RtspClients {
    /// A runtime of `threads` (at least 1) worker threads for every receiving camera.
    pub fn start(threads: usize) -> Result<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads.max(1))
            .thread_name("rtsp-receiver")
            .enable_all()
            .build()
            .map_err(|source| Error::Thread { what: "RTSP receiver", source })?;
        Ok(Self { runtime: Arc::new(OwnedRuntime(Some(runtime))) })
    }

    /// One worker thread per core this process may run on.
    pub fn start_per_core() -> Result<Self> {
        Self::start(std::thread::available_parallelism().map_or(1, |n| n.get()))
    }

    /// Runs `future` on the shared runtime and waits for it on the calling thread (a camera's own thread,
    /// which only waits: the receiving is done by the runtime's workers, for every camera together).
    pub(crate) fn run<T: Send + 'static>(&self, future: impl Future<Output = T> + Send + 'static) -> Option<T> {
        let handle: &Handle = self.runtime.0.as_ref().expect("taken only when dropped").handle();
        handle.block_on(handle.spawn(future)).ok()
    }
}

/// An encoded key-frame as received: Annex B, parameter sets first.
pub(crate) struct ReceivedKeyframe {
    pub annex_b: Vec<u8>,
    /// Presentation time on the stream's clock.
    pub pts: Duration,
    /// Capture time by the sender's RTCP clock, when it has sent one.
    pub sender_time: Option<DateTime<Utc>>,
}

/// The user name and password of `url`, and the URL without them (retina takes them apart).
fn split_credentials(url: &str) -> std::result::Result<(url::Url, Option<Credentials>), String> {
    let mut parsed = url::Url::parse(url).map_err(|e| format!("bad URL {}: {e}", redact_url(url)))?;
    let username = percent_decode(parsed.username());
    let password = parsed.password().map(percent_decode).unwrap_or_default();
    if username.is_empty() && password.is_empty() {
        return Ok((parsed, None));
    }
    // Clearing the credentials of an rtsp:// URL that had them cannot fail.
    let _ = parsed.set_username("");
    let _ = parsed.set_password(None);
    Ok((parsed, Some(Credentials { username, password })))
}

fn percent_decode(text: &str) -> String {
    percent_encoding::percent_decode_str(text).decode_utf8_lossy().into_owned()
}

/// The sender's clock at one RTP time, from its latest RTCP sender report.
#[derive(Clone, Copy)]
struct SenderClock {
    at: DateTime<Utc>,
    rtp: i64,
    clock_rate: NonZeroU32,
}

impl SenderClock {
    fn time_of(&self, rtp: i64) -> DateTime<Utc> {
        let nanos = (rtp - self.rtp) as i128 * 1_000_000_000 / i128::from(self.clock_rate.get());
        self.at + chrono::TimeDelta::nanoseconds(nanos as i64)
    }
}

/// An NTP timestamp (seconds since 1900 in 32.32 fixed point) as a UTC time.
fn ntp_to_utc(ntp: u64) -> Option<DateTime<Utc>> {
    let seconds = (ntp >> 32).checked_sub(NTP_UNIX_OFFSET_S)?;
    let nanos = ((ntp & 0xffff_ffff) * 1_000_000_000) >> 32;
    DateTime::from_timestamp(i64::try_from(seconds).ok()?, nanos as u32)
}

/// Receives the camera's stream once: connects, plays, and hands each key-frame to `keyframe` until
/// shutdown (`Ok`), or until the stream fails, ends or stalls (the error; `streamed` tells whether any
/// frame had arrived).
pub(crate) async fn receive(
    settings: CameraSettings,
    shutdown: Receiver<()>,
    mut keyframe: impl FnMut(ReceivedKeyframe) + Send,
) -> std::result::Result<(), (Error, bool)> {
    let camera = settings.id.to_string();
    let failed = |message: String| Error::Rtsp { camera: camera.clone(), message };
    let (url, creds) = split_credentials(&settings.url).map_err(|message| (failed(message), false))?;
    let connect = async {
        let mut session = retina::client::Session::describe(url, SessionOptions::default().creds(creds))
            .await
            .map_err(|e| failed(format!("DESCRIBE: {e}")))?;
        let video = session
            .streams()
            .iter()
            .position(|stream| stream.media() == "video")
            .ok_or_else(|| failed("the stream has no video".into()))?;
        let format = FrameFormat {
            h26x_framing: Framing::AnnexB,
            parameter_set_insertion: ParameterSetInsertion::EachKeyFrame,
            ..FrameFormat::default()
        };
        let setup =
            SetupOptions::default().transport(Transport::Tcp(TcpTransportOptions::default())).frame_format(format);
        session.setup(video, setup).await.map_err(|e| failed(format!("SETUP: {e}")))?;
        let playing = session.play(PlayOptions::default()).await.map_err(|e| failed(format!("PLAY: {e}")))?;
        let demuxed = playing.demuxed().map_err(|e| failed(e.to_string()))?;
        Ok::<_, Error>((demuxed, video))
    };
    let (mut demuxed, video) = match tokio::time::timeout(settings.stall_timeout, connect).await {
        Ok(result) => result.map_err(|error| (error, false))?,
        Err(_) => return Err((failed(format!("no answer within {:?}", settings.stall_timeout)), false)),
    };

    let started = Instant::now();
    let mut last_frame: Option<Instant> = None;
    let mut sender_clock: Option<SenderClock> = None;
    loop {
        if matches!(shutdown.try_recv(), Err(TryRecvError::Disconnected)) {
            return Ok(());
        }
        let silent = last_frame.unwrap_or(started).elapsed();
        if silent > settings.stall_timeout {
            return Err((Error::Stalled { camera, seconds: silent.as_secs_f64() }, last_frame.is_some()));
        }
        let item = match tokio::time::timeout(POLL, demuxed.next()).await {
            Err(_) => continue,
            Ok(None) => return Err((Error::EndOfStream { camera }, last_frame.is_some())),
            Ok(Some(Err(e))) => return Err((failed(e.to_string()), last_frame.is_some())),
            Ok(Some(Ok(item))) => item,
        };
        match item {
            CodecItem::VideoFrame(frame) if frame.stream_id() == video => {
                last_frame = Some(Instant::now());
                if !frame.is_random_access_point() {
                    continue;
                }
                let timestamp = frame.timestamp();
                let pts = Duration::from_secs_f64(timestamp.elapsed_secs().max(0.0));
                let sender_time = sender_clock.map(|clock| clock.time_of(timestamp.timestamp()));
                keyframe(ReceivedKeyframe { annex_b: frame.into_data(), pts, sender_time });
            }
            CodecItem::Rtcp(report) if report.stream_id() == video => {
                let Some(rtp) = report.rtp_timestamp() else { continue };
                let sender_report = report.pkts().find_map(|packet| packet.as_sender_report().ok().flatten());
                if let Some(at) = sender_report.and_then(|report| ntp_to_utc(report.ntp_timestamp().0)) {
                    sender_clock = Some(SenderClock { at, rtp: rtp.timestamp(), clock_rate: rtp.clock_rate() });
                }
            }
            _ => {}
        }
    }
}

/// Whether the camera is received by retina: TCP transport and key-frames to the shared decoders
/// (UDP stays with `rtspsrc`, whose jitter buffer reorders; retina's UDP has none).
pub(crate) fn receives(settings: &CameraSettings, shares_decoder: bool) -> bool {
    shares_decoder && settings.transport == super::Transport::Tcp && settings.client == super::RtspClient::Retina
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_taken_out_of_the_url() {
        let (url, creds) = split_credentials("rtsp://admin:p%40ss+1@10.0.0.7:554/ch1").unwrap();
        assert_eq!(url.as_str(), "rtsp://10.0.0.7:554/ch1");
        assert_eq!(creds, Some(Credentials { username: "admin".into(), password: "p@ss+1".into() }));
        let (url, creds) = split_credentials("rtsp://127.0.0.1:8554/street").unwrap();
        assert_eq!((url.as_str(), creds), ("rtsp://127.0.0.1:8554/street", None));
        let error = split_credentials("rtsp://admin:secret@[::1").unwrap_err();
        assert!(!error.contains("secret"), "{error}");
    }

    #[test]
    fn sender_reports_map_rtp_time_to_utc() {
        // 2024-01-01T00:00:00.5Z in NTP.
        let unix = 1_704_067_200u64;
        let ntp = ((unix + NTP_UNIX_OFFSET_S) << 32) | (1u64 << 31);
        let at = ntp_to_utc(ntp).unwrap();
        assert_eq!(at.to_rfc3339(), "2024-01-01T00:00:00.500+00:00");
        let clock = SenderClock { at, rtp: 1_000, clock_rate: NonZeroU32::new(90_000).unwrap() };
        assert_eq!(clock.time_of(1_000 + 45_000).to_rfc3339(), "2024-01-01T00:00:01+00:00");
        assert_eq!(clock.time_of(1_000 - 90_000).to_rfc3339(), "2023-12-31T23:59:59.500+00:00");
        assert_eq!(ntp_to_utc(5), None, "before 1970");
    }
}
