//! The violation message an edge node publishes and a center consumes: JSON, one violation per
//! message, its frames as plain (un-annotated) JPEGs in base64. The center draws the zone and boxes
//! itself, so evidence looks the same whichever role confirmed the violation. The case engine keeps a
//! violation it cannot file (parks it) in the same form.

use std::{io::Cursor, sync::Arc};

use base64::Engine;
use chrono::{DateTime, Utc};
use image::{ImageReader, Limits, RgbImage, codecs::jpeg::JpegEncoder};
use serde::{Deserialize, Serialize};
use sharpeyes_inference::BBox;
use sharpeyes_ingest::{Frame, mqtt::SensorReading};

use crate::rules::{CameraViolation, Category, FrameObject, ObjectCleared, SensorViolation, Violation};

/// Largest side of a frame a message may carry (a decompression bomb is refused before decoding).
pub const MAX_FRAME_SIDE: u32 = 8192;
/// Most bytes a decoded frame may take.
const MAX_DECODE_BYTES: u64 = 256 * 1024 * 1024;
/// JPEG quality of the frames sent (the center re-encodes after drawing).
const SENT_QUALITY: u8 = 92;

/// Why a message is not a violation; named in the dead-letter record.
#[derive(Debug, thiserror::Error)]
pub enum WireError {
    /// Not the JSON of a violation.
    #[error("not a violation message: {0}")]
    Json(#[from] serde_json::Error),
    /// The id is not the one its content gives.
    #[error("id {sent} does not match the violation's content (expected {expected})")]
    Id {
        /// The id in the message.
        sent: String,
        /// The id its content gives.
        expected: String,
    },
    /// A frame is not a decodable JPEG within the limits.
    #[error("frame '{field}': {reason}")]
    Frame {
        /// `frame` or `before`.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// The message is not signed with the relay's key (`cluster.relay_secret_env`).
    #[error("signature: {0}")]
    Signature(&'static str),
    /// A value out of its range.
    #[error("{field}: {reason}")]
    Invalid {
        /// The field.
        field: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
}

/// One violation as sent between nodes.
#[derive(Debug, Serialize, Deserialize)]
pub struct ViolationMessage {
    /// [`Violation::stable_id`]: the same for every copy of the violation.
    pub id: String,
    /// The edge node that confirmed it.
    pub node: String,
    /// What was seen.
    #[serde(flatten)]
    pub body: Body,
}

/// The violation itself.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "source", rename_all = "snake_case")]
pub enum Body {
    /// See [`CameraViolation`].
    Camera {
        /// Camera id.
        camera: String,
        /// Zone id.
        zone: String,
        /// The zone's polygon, normalised.
        zone_points: Vec<[f64; 2]>,
        /// Case category.
        category: Category,
        /// Tracker id on the edge node.
        track_id: u64,
        /// Detector class.
        class: String,
        /// Detector score.
        score: f32,
        /// The object's box.
        bbox: BBox,
        /// Boxes of the zone's other objects.
        zone_boxes: Vec<BBox>,
        /// When the object was first seen standing there.
        first_seen: DateTime<Utc>,
        /// When the rule confirmed it.
        confirmed_at: DateTime<Utc>,
        /// The confirming frame.
        frame: SentFrame,
        /// The earlier view, when kept.
        before: Option<SentFrame>,
        /// Every object the detector found in the confirming frame (absent from an older edge's
        /// messages: none).
        #[serde(default)]
        frame_objects: Vec<FrameObject>,
    },
    /// See [`SensorViolation`].
    Sensor {
        /// Device id.
        device: String,
        /// Rule id.
        rule: String,
        /// Case category.
        category: Category,
        /// The device's grid.
        grid: String,
        /// `[longitude, latitude]`.
        location: Option<[f64; 2]>,
        /// The confirming reading.
        reading: SensorReading,
        /// When the condition began to hold.
        since: DateTime<Utc>,
        /// When it had held long enough.
        confirmed_at: DateTime<Utc>,
    },
    /// See [`ObjectCleared`].
    Cleared {
        /// Camera id.
        camera: String,
        /// Zone id.
        zone: String,
        /// The zone's polygon, normalised.
        zone_points: Vec<[f64; 2]>,
        /// Category of the violation it ends.
        category: Category,
        /// Id of the violation's object.
        track_id: u64,
        /// Where the object stood.
        bbox: BBox,
        /// When it was seen gone.
        seen_at: DateTime<Utc>,
        /// The frame that shows the place bare.
        frame: SentFrame,
        /// Whether the case is to be reported handled.
        report_handled: bool,
    },
}

/// A frame as a JPEG.
#[derive(Debug, Serialize, Deserialize)]
pub struct SentFrame {
    /// Capture time.
    pub captured_at: DateTime<Utc>,
    /// Base64 of the JPEG.
    pub jpeg: String,
}

/// The message for `violation`, confirmed on `node`. Encodes its frames (CPU work: call it off the
/// async workers).
pub fn encode(violation: &Violation, node: &str) -> Result<Vec<u8>, image::ImageError> {
    let body = match violation {
        Violation::Camera(v) => Body::Camera {
            camera: v.camera.to_string(),
            zone: v.zone.to_string(),
            zone_points: v.zone_points.clone(),
            category: v.category,
            track_id: v.track_id,
            class: v.class.to_string(),
            score: v.score,
            bbox: v.bbox,
            zone_boxes: v.zone_boxes.clone(),
            first_seen: v.first_seen,
            confirmed_at: v.confirmed_at,
            frame: sent_frame(&v.frame)?,
            before: v.before.as_ref().map(sent_frame).transpose()?,
            frame_objects: v.frame_objects.clone(),
        },
        Violation::Sensor(v) => Body::Sensor {
            device: v.device.to_string(),
            rule: v.rule.to_string(),
            category: v.category,
            grid: v.grid.clone(),
            location: v.location,
            reading: v.reading.clone(),
            since: v.since,
            confirmed_at: v.confirmed_at,
        },
        Violation::Cleared(v) => Body::Cleared {
            camera: v.camera.to_string(),
            zone: v.zone.to_string(),
            zone_points: v.zone_points.clone(),
            category: v.category,
            track_id: v.track_id,
            bbox: v.bbox,
            seen_at: v.seen_at,
            frame: sent_frame(&v.frame)?,
            report_handled: v.report_handled,
        },
    };
    let message = ViolationMessage { id: violation.stable_id(), node: node.to_owned(), body };
    Ok(serde_json::to_vec(&message).expect("a violation message serialises"))
}

fn sent_frame(frame: &Frame) -> Result<SentFrame, image::ImageError> {
    let image = RgbImage::from_raw(frame.width, frame.height, frame.rgb.to_vec())
        .expect("a frame holds width * height * 3 bytes");
    let mut jpeg = Vec::new();
    JpegEncoder::new_with_quality(&mut jpeg, SENT_QUALITY).encode_image(&image)?;
    Ok(SentFrame { captured_at: frame.captured_at, jpeg: base64::engine::general_purpose::STANDARD.encode(jpeg) })
}

/// The user property of a message that carries its signature.
pub const SIGNATURE_PROPERTY: &str = "signature";

/// Hex HMAC-SHA256 of `payload` under `key`: sent with each message when the relay has a key, so that
/// a center files only what an edge node holding the key sent, whoever else may publish to the broker.
pub fn sign(key: &[u8], payload: &[u8]) -> String {
    use hmac::Mac;
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(payload);
    hex::encode(mac.finalize().into_bytes())
}

/// Checks (in constant time) that `signature` is `payload`'s under `key`.
pub fn verify(key: &[u8], payload: &[u8], signature: Option<&str>) -> Result<(), WireError> {
    use hmac::Mac;
    let signature = signature.ok_or(WireError::Signature("missing"))?;
    let bytes = hex::decode(signature).map_err(|_| WireError::Signature("not hex"))?;
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(payload);
    mac.verify_slice(&bytes).map_err(|_| WireError::Signature("does not match"))
}

/// The violation in `payload`, with its id and node; refuses what is malformed, whose id does not
/// match its content, or whose frames are not JPEGs within [`MAX_FRAME_SIDE`]. Decodes the frames
/// (CPU work: call it off the async workers).
pub fn decode(payload: &[u8]) -> Result<(Violation, ViolationMessage), WireError> {
    let mut message: ViolationMessage = serde_json::from_slice(payload)?;
    let violation = match &mut message.body {
        Body::Camera {
            camera,
            zone,
            zone_points,
            category,
            track_id,
            class,
            score,
            bbox,
            zone_boxes,
            first_seen,
            confirmed_at,
            frame,
            before,
            frame_objects,
        } => {
            let camera: Arc<str> = camera.as_str().into();
            check_zone(zone_points)?;
            let boxes =
                [*bbox].into_iter().chain(zone_boxes.iter().copied()).chain(frame_objects.iter().map(|o| o.bbox));
            if !score.is_finite() || boxes.into_iter().any(|b| !finite_box(&b)) {
                return Err(WireError::Invalid { field: "bbox", reason: "not finite" });
            }
            let frame = received_frame(&camera, frame, "frame")?;
            let before = before.as_mut().map(|b| received_frame(&camera, b, "before")).transpose()?;
            check_inside(bbox, &frame)?;
            Violation::from(CameraViolation {
                camera,
                zone: zone.as_str().into(),
                zone_points: std::mem::take(zone_points),
                category: *category,
                track_id: *track_id,
                class: class.as_str().into(),
                score: *score,
                bbox: *bbox,
                zone_boxes: std::mem::take(zone_boxes),
                first_seen: *first_seen,
                confirmed_at: *confirmed_at,
                frame,
                before,
                frame_objects: std::mem::take(frame_objects),
                receipt: None,
            })
        }
        Body::Sensor { device, rule, category, grid, location, reading, since, confirmed_at } => {
            Violation::Sensor(SensorViolation {
                device: device.as_str().into(),
                rule: rule.as_str().into(),
                category: *category,
                grid: grid.clone(),
                location: *location,
                reading: reading.clone(),
                since: *since,
                confirmed_at: *confirmed_at,
                receipt: None,
            })
        }
        Body::Cleared { camera, zone, zone_points, category, track_id, bbox, seen_at, frame, report_handled } => {
            let camera: Arc<str> = camera.as_str().into();
            check_zone(zone_points)?;
            if !finite_box(bbox) {
                return Err(WireError::Invalid { field: "bbox", reason: "not finite" });
            }
            let frame = received_frame(&camera, frame, "frame")?;
            check_inside(bbox, &frame)?;
            Violation::Cleared(ObjectCleared {
                camera,
                zone: zone.as_str().into(),
                zone_points: std::mem::take(zone_points),
                category: *category,
                track_id: *track_id,
                bbox: *bbox,
                seen_at: *seen_at,
                frame,
                report_handled: *report_handled,
                receipt: None,
            })
        }
    };
    let expected = violation.stable_id();
    if expected != message.id {
        return Err(WireError::Id { sent: message.id, expected });
    }
    Ok((violation, message))
}

/// Refuses a zone that is not a polygon of finite points.
fn check_zone(points: &[[f64; 2]]) -> Result<(), WireError> {
    if points.len() < 3 || points.iter().flatten().any(|c| !c.is_finite()) {
        return Err(WireError::Invalid { field: "zone_points", reason: "not a polygon of finite points" });
    }
    Ok(())
}

/// Refuses a box that reaches outside its frame.
fn check_inside(bbox: &BBox, frame: &Frame) -> Result<(), WireError> {
    if bbox.x2 > frame.width as f32 + 1.0 || bbox.y2 > frame.height as f32 + 1.0 {
        return Err(WireError::Invalid { field: "bbox", reason: "outside the frame" });
    }
    Ok(())
}

fn finite_box(b: &BBox) -> bool {
    [b.x1, b.y1, b.x2, b.y2].iter().all(|c| c.is_finite()) && b.x1 <= b.x2 && b.y1 <= b.y2
}

/// Decodes a sent frame (taking its base64 text) within the limits.
fn received_frame(camera: &Arc<str>, sent: &mut SentFrame, field: &'static str) -> Result<Frame, WireError> {
    let bad = |reason: String| WireError::Frame { field, reason };
    let jpeg = base64::engine::general_purpose::STANDARD
        .decode(std::mem::take(&mut sent.jpeg))
        .map_err(|error| bad(format!("not base64: {error}")))?;
    let mut reader = ImageReader::with_format(Cursor::new(jpeg), image::ImageFormat::Jpeg);
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_FRAME_SIDE);
    limits.max_image_height = Some(MAX_FRAME_SIDE);
    limits.max_alloc = Some(MAX_DECODE_BYTES);
    reader.limits(limits);
    let image = reader.decode().map_err(|error| bad(error.to_string()))?.into_rgb8();
    let (width, height) = image.dimensions();
    Ok(Frame::from_rgb(camera.clone(), sent.captured_at, width, height, image.into_raw().into()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use sharpeyes_ingest::mqtt::SensorReading;

    fn frame(width: u32, height: u32) -> Frame {
        let rgb: Vec<u8> = (0..width * height * 3).map(|i| (i % 251) as u8).collect();
        Frame::from_rgb("cam".into(), Utc::now(), width, height, rgb.into())
    }

    fn camera_violation() -> Violation {
        Violation::from(CameraViolation {
            camera: "cam".into(),
            zone: "np-1".into(),
            zone_points: vec![[0.0, 0.5], [1.0, 0.5], [1.0, 1.0]],
            category: Category::IllegalParking,
            track_id: 7,
            class: "truck".into(),
            score: 0.88,
            bbox: BBox::new(10.0, 20.0, 60.0, 40.0),
            zone_boxes: vec![BBox::new(1.0, 2.0, 3.0, 4.0)],
            first_seen: Utc::now() - chrono::TimeDelta::seconds(300),
            confirmed_at: Utc::now(),
            frame: frame(64, 48),
            before: Some(frame(64, 48)),
            frame_objects: vec![
                FrameObject { class: "truck".into(), bbox: BBox::new(10.0, 20.0, 60.0, 40.0) },
                FrameObject { class: "car".into(), bbox: BBox::new(1.0, 2.0, 3.0, 4.0) },
            ],
            receipt: None,
        })
    }

    #[test]
    fn a_camera_violation_survives_the_trip_with_its_id() {
        let violation = camera_violation();
        let payload = encode(&violation, "edge-0").unwrap();
        let (received, message) = decode(&payload).unwrap();
        assert_eq!(message.id, violation.stable_id());
        assert_eq!(message.node, "edge-0");
        let (Violation::Camera(sent), Violation::Camera(got)) = (&violation, &received) else { panic!("camera") };
        assert_eq!((got.camera.as_ref(), got.zone.as_ref(), got.track_id), ("cam", "np-1", 7));
        assert_eq!((got.bbox, got.first_seen, got.confirmed_at), (sent.bbox, sent.first_seen, sent.confirmed_at));
        assert_eq!((got.frame.width, got.frame.height), (64, 48));
        assert!(got.before.is_some());
        assert_eq!(got.frame_objects, sent.frame_objects, "every object of the frame travels with it");
    }

    #[test]
    fn a_clearing_survives_the_trip_and_a_box_outside_its_frame_is_refused() {
        let cleared = |bbox| {
            Violation::Cleared(ObjectCleared {
                camera: "cam".into(),
                zone: "nd-1".into(),
                zone_points: vec![[0.0, 0.0], [1.0, 0.0], [1.0, 1.0]],
                category: Category::Stacking,
                track_id: 1 << 48,
                bbox,
                seen_at: Utc::now(),
                frame: frame(64, 48),
                report_handled: true,
                receipt: None,
            })
        };
        let sent = cleared(BBox::new(4.0, 4.0, 20.0, 30.0));
        let (received, message) = decode(&encode(&sent, "edge-0").unwrap()).unwrap();
        assert_eq!(message.id, sent.stable_id());
        let (Violation::Cleared(sent), Violation::Cleared(got)) = (&sent, &received) else { panic!("a clearing") };
        assert_eq!(
            (got.track_id, got.bbox, got.seen_at, got.category),
            (sent.track_id, sent.bbox, sent.seen_at, sent.category)
        );
        assert!(got.report_handled);
        assert_eq!((got.frame.width, got.frame.height), (64, 48));
        let outside = encode(&cleared(BBox::new(4.0, 4.0, 200.0, 30.0)), "edge-0").unwrap();
        assert!(matches!(decode(&outside), Err(WireError::Invalid { field: "bbox", .. })));
    }

    #[test]
    fn a_sensor_violation_survives_the_trip() {
        let violation = Violation::Sensor(SensorViolation {
            device: "mh-1".into(),
            rule: "open".into(),
            category: Category::ManholeCover,
            grid: "110105001001001".into(),
            location: Some([116.4, 39.9]),
            reading: SensorReading::ManholeCover { tilt_deg: 30.0, open: true },
            since: Utc::now(),
            confirmed_at: Utc::now(),
            receipt: None,
        });
        let (received, _) = decode(&encode(&violation, "edge-1").unwrap()).unwrap();
        assert_eq!(received.stable_id(), violation.stable_id());
        let Violation::Sensor(got) = received else { panic!("sensor") };
        assert_eq!(got.reading, SensorReading::ManholeCover { tilt_deg: 30.0, open: true });
    }

    #[test]
    fn tampered_or_broken_messages_are_refused_by_name() {
        let payload = encode(&camera_violation(), "edge-0").unwrap();
        let mut value: serde_json::Value = serde_json::from_slice(&payload).unwrap();
        value["track_id"] = 8.into();
        let error = decode(&serde_json::to_vec(&value).unwrap()).unwrap_err();
        assert!(matches!(error, WireError::Id { .. }), "{error}");

        let mut value: serde_json::Value = serde_json::from_slice(&payload).unwrap();
        value["frame"]["jpeg"] = "aGVsbG8=".into();
        let error = decode(&serde_json::to_vec(&value).unwrap()).unwrap_err();
        assert!(error.to_string().starts_with("frame 'frame'"), "{error}");

        let mut value: serde_json::Value = serde_json::from_slice(&payload).unwrap();
        value["zone_points"] = serde_json::json!([[0.0, 0.0]]);
        assert!(decode(&serde_json::to_vec(&value).unwrap()).unwrap_err().to_string().starts_with("zone_points"));
        assert!(matches!(decode(b"{\"id\": 1}").unwrap_err(), WireError::Json(_)));
        let mut older =
            serde_json::from_slice::<serde_json::Value>(&encode(&camera_violation(), "edge-0").unwrap()).unwrap();
        older.as_object_mut().unwrap().remove("frame_objects").expect("the message carries the frame's objects");
        let Violation::Camera(got) = decode(&serde_json::to_vec(&older).unwrap()).unwrap().0 else { panic!("camera") };
        assert!(got.frame_objects.is_empty(), "an older edge's message, without them, is taken");
        let mut infinite =
            serde_json::from_slice::<serde_json::Value>(&encode(&camera_violation(), "edge-0").unwrap()).unwrap();
        infinite["frame_objects"][1]["bbox"]["x2"] = serde_json::json!(1e39);
        assert!(decode(&serde_json::to_vec(&infinite).unwrap()).is_err(), "a box that is not finite is refused");
    }

    #[test]
    fn signatures_hold_only_for_the_key_and_the_payload() {
        let payload = encode(&camera_violation(), "edge-0").unwrap();
        let signature = sign(b"relay key", &payload);
        assert!(verify(b"relay key", &payload, Some(&signature)).is_ok());
        assert!(verify(b"other key", &payload, Some(&signature)).is_err());
        let mut changed = payload.clone();
        changed[10] ^= 1;
        assert!(verify(b"relay key", &changed, Some(&signature)).is_err());
        assert!(matches!(verify(b"relay key", &payload, None), Err(WireError::Signature("missing"))));
        assert!(matches!(verify(b"relay key", &payload, Some("zz")), Err(WireError::Signature("not hex"))));
    }

    #[test]
    fn an_oversized_frame_is_refused_before_it_is_decoded() {
        // A 10000 x 10 JPEG: small on the wire, over the side limit.
        let mut jpeg = Vec::new();
        JpegEncoder::new(&mut jpeg).encode_image(&RgbImage::new(10_000, 10)).unwrap();
        let mut value: serde_json::Value =
            serde_json::from_slice(&encode(&camera_violation(), "edge-0").unwrap()).unwrap();
        value["frame"]["jpeg"] = base64::engine::general_purpose::STANDARD.encode(jpeg).into();
        let error = decode(&serde_json::to_vec(&value).unwrap()).unwrap_err();
        assert!(error.to_string().contains("frame 'frame'"), "{error}");
    }
}
