//! The cap on the event streams (`/api/v1/stream`) one token holds open.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

/// The event streams each token holds open, at most `per_token` at once: a client that opens stream
/// after stream (a script, a tab reloading without end) is refused rather than holding the server's
/// connections and database looks.
#[derive(Debug)]
pub struct StreamLimit {
    /// Most streams per token.
    pub per_token: usize,
    open: Mutex<HashMap<Arc<str>, usize>>,
}

impl StreamLimit {
    /// At most `per_token` streams per token.
    pub fn new(per_token: usize) -> Self {
        Self { per_token, open: Mutex::default() }
    }

    /// A slot for one more stream of `token`, or none when it has `per_token` open.
    pub(super) fn take(self: &Arc<Self>, token: &Arc<str>) -> Option<StreamSlot> {
        let mut open = self.open.lock().expect("the stream counts are never poisoned");
        let count = open.entry(token.clone()).or_default();
        if *count >= self.per_token {
            return None;
        }
        *count += 1;
        Some(StreamSlot { limit: self.clone(), token: token.clone() })
    }
}

/// One open stream of a token; closing the stream (dropping it) frees the slot.
#[derive(Debug)]
pub(super) struct StreamSlot {
    limit: Arc<StreamLimit>,
    token: Arc<str>,
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        let mut open = self.limit.open.lock().expect("the stream counts are never poisoned");
        if let Some(count) = open.get_mut(&self.token) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.token);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_holds_at_most_its_cap_and_a_closed_stream_frees_its_place() {
        let limit = Arc::new(StreamLimit::new(2));
        let (desk, wall): (Arc<str>, Arc<str>) = ("desk".into(), "wall".into());
        let first = limit.take(&desk).expect("first");
        let _second = limit.take(&desk).expect("second");
        assert!(limit.take(&desk).is_none(), "a third is refused");
        assert!(limit.take(&wall).is_some(), "another token has its own places");
        drop(first);
        assert!(limit.take(&desk).is_some(), "a closed stream frees its place");
    }
}
