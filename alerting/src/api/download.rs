//! Files the API hands out to download (statistics, case exports): CSV written in memory, and the
//! response that carries a file under its name.

use axum::{
    http::header,
    response::{IntoResponse, Response},
};

/// `header` and `records` as CSV (the `csv` crate quotes what needs it). Every record must have the
/// header's length.
pub fn csv_bytes<H, R>(header: H, records: impl IntoIterator<Item = R>) -> Vec<u8>
where
    H: IntoIterator,
    H::Item: AsRef<[u8]>,
    R: IntoIterator,
    R::Item: AsRef<[u8]>,
{
    // Into memory, every record as long as the header: the writer has nothing that can fail.
    const INFALLIBLE: &str = "a CSV of equal-length records into a Vec";
    let mut out = csv::Writer::from_writer(Vec::new());
    out.write_record(header).expect(INFALLIBLE);
    for record in records {
        out.write_record(record).expect(INFALLIBLE);
    }
    out.into_inner().expect(INFALLIBLE)
}

/// `body` as a file of `content_type` that the browser saves as `file_name`.
pub fn attachment(content_type: &str, file_name: &str, body: Vec<u8>) -> Response {
    let disposition = format!("attachment; filename=\"{file_name}\"");
    ([(header::CONTENT_TYPE, content_type.to_owned()), (header::CONTENT_DISPOSITION, disposition)], body)
        .into_response()
}
