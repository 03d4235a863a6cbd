//! `GET /api/v1/stream`: every case change as Server-Sent Events, resumable.

use std::{convert::Infallible, time::Duration};

use axum::{
    extract::State,
    http::HeaderMap,
    response::sse::{Event, KeepAlive, Sse},
};
use futures_util::stream::{self, Stream};

use super::{ApiError, ApiState, ErrorBody};
use crate::store::TimelineEntry;

/// Entries read per database round trip.
const BATCH: i64 = 200;
/// Longest wait between two looks at the store (other processes may write to it).
const LOOK_EVERY: Duration = Duration::from_secs(1);

/// `GET /api/v1/stream`: timeline entries as events of type `case` with the entry's id as the event
/// id and the entry as JSON data. A client that sends `Last-Event-ID` (as browsers do when they
/// reconnect) gets every entry after it first; without it, the stream starts with the next change.
#[utoipa::path(get, path = "/api/v1/stream", tag = "cases", params(("Last-Event-ID" = Option<i64>, Header, description = "resume after this entry")), responses((status = 200, description = "Server-Sent Events `case`, data a TimelineEntry", content_type = "text/event-stream", body = TimelineEntry), (status = 400, body = ErrorBody), (status = 401, description = "no or an unknown token", body = ErrorBody)))]
pub async fn stream(
    State(state): State<ApiState>,
    headers: HeaderMap,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let last = match headers.get("last-event-id") {
        Some(value) => value
            .to_str()
            .ok()
            .and_then(|text| text.trim().parse::<i64>().ok())
            .ok_or_else(|| ApiError::BadRequest("Last-Event-ID: not an event id".into()))?,
        None => state.store.latest_entry_id().await?,
    };
    let changes = state.store.timeline_changes();
    let store = state.store.clone();
    let events = stream::unfold(
        (store, changes, last, Vec::<TimelineEntry>::new().into_iter()),
        |(store, mut changes, mut last, mut pending)| async move {
            loop {
                if let Some(entry) = pending.next() {
                    last = entry.id;
                    let event = Event::default().id(entry.id.to_string()).event("case").json_data(&entry);
                    let event = event.expect("a timeline entry serialises");
                    return Some((Ok(event), (store, changes, last, pending)));
                }
                match store.entries_after(last, BATCH).await {
                    Ok(entries) if !entries.is_empty() => pending = entries.into_iter(),
                    // Nothing new (or the store is away for a moment): wait for a change.
                    _ => {
                        let _ = tokio::time::timeout(LOOK_EVERY, changes.changed()).await;
                    }
                }
            }
        },
    );
    Ok(Sse::new(events).keep_alive(KeepAlive::default()))
}
