//! `GET /api/v1/stream`: every case change the caller may read as Server-Sent Events, resumable.

use std::{
    convert::Infallible,
    time::{Duration, Instant},
};

use axum::{
    Extension,
    extract::State,
    http::HeaderMap,
    response::sse::{Event, KeepAlive, Sse},
};
use futures_util::stream::{self, Stream};

use super::{
    error::{ApiError, ErrorBody},
    state::ApiState,
};
use crate::{
    cases::Principal,
    store::{ReadScope, Store, TimelineEntry},
};

/// Whether `entry` belongs to a case within `scope`; a store error counts as no (the entry is not
/// sent; the client still sees it if it reconnects and the case is its).
async fn within(store: &Store, scope: &ReadScope, entry: &TimelineEntry) -> bool {
    store.case_in_scope(entry.case_id, scope).await.unwrap_or(false)
}

/// Entries read per database round trip.
const BATCH: i64 = 200;
/// Longest wait between two looks at the store (other processes may write to it).
const LOOK_EVERY: Duration = Duration::from_secs(1);
/// How long a hole in the entry ids is waited for before the stream goes past it. On PostgreSQL ids
/// are taken when a transaction inserts and become visible when it commits, so a later id can be
/// seen before an earlier one; an id whose transaction rolled back never comes.
const GAP_GRACE: Duration = Duration::from_secs(3);

/// The entries that may be sent after `last`: those that follow it without a hole in the ids, or,
/// once a hole has been waited for long enough, all of them.
fn sendable(last: i64, entries: Vec<TimelineEntry>, hole_waited_out: bool) -> Vec<TimelineEntry> {
    if hole_waited_out {
        return entries;
    }
    let contiguous = entries.iter().zip(last + 1..).take_while(|(entry, expected)| entry.id == *expected).count();
    entries.into_iter().take(contiguous).collect()
}

/// `GET /api/v1/stream`: timeline entries as events of type `case` with the entry's id as the event
/// id and the entry as JSON data. A client that sends `Last-Event-ID` (as browsers do when they
/// reconnect) gets every entry after it first; without it, the stream starts with the next change.
/// Entries go out in id order, none skipped while its transaction may still commit ([`GAP_GRACE`]);
/// only those of cases the caller may read. 429 when the token has its cap of streams open.
#[utoipa::path(get, path = "/api/v1/stream", tag = "cases", params(("Last-Event-ID" = Option<i64>, Header, description = "resume after this entry")), responses((status = 200, description = "Server-Sent Events `case`, data a TimelineEntry", content_type = "text/event-stream", body = TimelineEntry), (status = 400, body = ErrorBody), (status = 429, description = "the token has its cap of streams open", body = ErrorBody), (status = 401, description = "no or an unknown token", body = ErrorBody)))]
pub async fn stream(
    State(state): State<ApiState>,
    Extension(who): Extension<Principal>,
    headers: HeaderMap,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let slot = state.streams.take(&who.name).ok_or(ApiError::TooManyStreams(state.streams.per_token))?;
    let scope = state.read_scope(&who);
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
        (store, changes, last, Vec::<TimelineEntry>::new().into_iter(), None::<Instant>, (scope, slot)),
        |(store, mut changes, mut last, mut pending, mut hole_since, reader)| async move {
            loop {
                if let Some(entry) = pending.next() {
                    last = entry.id;
                    if !within(&store, &reader.0, &entry).await {
                        continue;
                    }
                    let event = Event::default().id(entry.id.to_string()).event("case").json_data(&entry);
                    let event = event.expect("a timeline entry serialises");
                    return Some((Ok(event), (store, changes, last, pending, hole_since, reader)));
                }
                let entries = store.entries_after(last, BATCH).await.unwrap_or_default();
                let found = !entries.is_empty();
                let waited_out = hole_since.is_some_and(|since| since.elapsed() >= GAP_GRACE);
                let ready = sendable(last, entries, waited_out);
                if !ready.is_empty() {
                    hole_since = None;
                    pending = ready.into_iter();
                    continue;
                }
                if found {
                    // Newer entries behind a hole: give the hole's transaction time to commit.
                    hole_since.get_or_insert_with(Instant::now);
                }
                // Nothing to send yet (or the store is away for a moment): wait for a change.
                let _ = tokio::time::timeout(
                    if found { Duration::from_millis(100) } else { LOOK_EVERY },
                    changes.changed(),
                )
                .await;
            }
        },
    );
    Ok(Sse::new(events).keep_alive(KeepAlive::default()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(ids: &[i64]) -> Vec<TimelineEntry> {
        let entry = |id| TimelineEntry { id, ..crate::notify::routes::tests::entry("litter", "", "normal", "report") };
        ids.iter().map(|&id| entry(id)).collect()
    }

    fn ids(entries: Vec<TimelineEntry>) -> Vec<i64> {
        entries.into_iter().map(|e| e.id).collect()
    }

    #[test]
    fn entries_behind_a_hole_wait_until_it_is_waited_out() {
        assert_eq!(ids(sendable(4, entries(&[5, 6, 7]), false)), [5, 6, 7]);
        assert_eq!(ids(sendable(4, entries(&[5, 6, 8, 9]), false)), [5, 6], "7 may still commit");
        assert!(sendable(4, entries(&[6, 7]), false).is_empty());
        assert_eq!(ids(sendable(4, entries(&[6, 7]), true)), [6, 7], "5 rolled back: go on");
    }
}
