//! `GET /api/v1/dataset`: operators' decisions as a YOLO dataset in a tar, streamed as it is written
//! (an export of thousands of frames never sits in memory), for admins.

use std::io::{self, Write};

use axum::{
    Extension,
    body::{Body, Bytes},
    extract::{Query, State, rejection::QueryRejection},
    http::header,
    response::{IntoResponse, Response},
};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use tokio::sync::mpsc;

use super::{
    auth::admin_only,
    error::{ApiError, ErrorBody},
    state::ApiState,
};
use crate::{cases::Principal, casework::dataset};

/// Bytes handed to the response at a time.
const CHUNK_BYTES: usize = 256 * 1024;

/// The window of `GET /api/v1/dataset`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct DatasetQuery {
    /// Cases opened at or after.
    pub since: DateTime<Utc>,
    /// Cases opened before (default: now).
    pub until: Option<DateTime<Utc>>,
}

/// `GET /api/v1/dataset`: the camera cases opened in the window that operators verified or voided as
/// false detections, as a tar of `images/`, `labels/`, `data.yaml`, `manifest.csv` (and `skipped.txt`).
#[utoipa::path(get, path = "/api/v1/dataset", tag = "cameras", params(DatasetQuery), responses(
    (status = 200, description = "a tar: images/<case>.jpg, labels/<case>.txt (YOLO), data.yaml, manifest.csv", content_type = "application/x-tar"),
    (status = 400, description = "a bad or empty window, named", body = ErrorBody),
    (status = 403, description = "not an admin", body = ErrorBody),
    (status = 409, description = "no detector manifest to number the labels by", body = ErrorBody),
    (status = 401, description = "no or an unknown token", body = ErrorBody)))]
pub async fn export(
    State(state): State<ApiState>,
    Extension(who): Extension<Principal>,
    query: Result<Query<DatasetQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    admin_only(&who, "export the dataset")?;
    let Query(query) = query.map_err(|rejection| ApiError::BadRequest(rejection.body_text()))?;
    let until = query.until.unwrap_or_else(|| state.clock.now());
    if query.since >= until {
        return Err(ApiError::BadRequest(format!("since: {} is not before until {until}", query.since)));
    }
    if state.dataset_classes.is_empty() {
        return Err(ApiError::Conflict(
            "no detector manifest was loaded: there are no classes to number labels by".into(),
        ));
    }
    let cases = state.store.labelled_cases(query.since, until).await?;
    let plan = dataset::plan(&cases, &state.dataset_classes, &state.evidence);
    let (chunks, received) = mpsc::channel::<io::Result<Bytes>>(4);
    tokio::task::spawn_blocking(move || {
        let writer = ChunkWriter { chunks: chunks.clone(), buffer: Vec::with_capacity(CHUNK_BYTES) };
        if let Err(error) = plan.write_tar(writer).and_then(|mut writer| writer.flush()) {
            // The client sees the transfer break off rather than a short archive that looks whole.
            let _ = chunks.blocking_send(Err(error));
        }
    });
    let stream = futures_util::stream::unfold(received, |mut received| async move {
        received.recv().await.map(|chunk| (chunk, received))
    });
    let file_name = format!("sharpeyes-dataset-{}-{}.tar", query.since.format("%Y%m%d"), until.format("%Y%m%d"));
    let disposition = format!("attachment; filename=\"{file_name}\"");
    Ok((
        [(header::CONTENT_TYPE, "application/x-tar".to_owned()), (header::CONTENT_DISPOSITION, disposition)],
        Body::from_stream(stream),
    )
        .into_response())
}

/// The tar's bytes, handed to the response in chunks; a client that went away ends the writing.
struct ChunkWriter {
    chunks: mpsc::Sender<io::Result<Bytes>>,
    buffer: Vec<u8>,
}

impl ChunkWriter {
    fn send(&mut self) -> io::Result<()> {
        let chunk = Bytes::from(std::mem::replace(&mut self.buffer, Vec::with_capacity(CHUNK_BYTES)));
        self.chunks
            .blocking_send(Ok(chunk))
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the client stopped reading the dataset"))
    }
}

impl Write for ChunkWriter {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.buffer.extend_from_slice(bytes);
        if self.buffer.len() >= CHUNK_BYTES {
            self.send()?;
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.buffer.is_empty() { Ok(()) } else { self.send() }
    }
}
