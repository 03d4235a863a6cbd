use std::path::PathBuf;

/// Errors of the alerting stage.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The database refused an operation.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),

    /// The database schema could not be brought up to date.
    #[error("database migration: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),

    /// A file under the data directory could not be written or read.
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },

    /// A stored row holds a value the code does not know (written by a newer version, or edited by hand).
    #[error("database holds an unexpected value: {0}")]
    Corrupt(String),

    /// A row kept being changed by others while an update tried to apply.
    #[error("contended: {0}")]
    Contended(String),

    /// The plate reader failed on a vehicle.
    #[error("plate reader: {0}")]
    Plate(String),

    /// An evidence image could not be encoded.
    #[error("evidence image for case {case}: {source}")]
    Evidence { case: i64, source: image::ImageError },

    /// A camera's latest frame could not be encoded for the dashboard.
    #[error("latest frame of camera {camera}: {source}")]
    Preview { camera: String, source: image::ImageError },

    /// A camera's kept frame could not be decoded again from its key-frame.
    #[error("latest frame of camera {camera}: {error}")]
    FrameDecode { camera: String, error: sharpeyes_ingest::Error },

    /// A component could not be built from its configuration section.
    #[error("configuration: {0}")]
    Config(String),

    /// The MQTT connection of the violation relay could not be set up.
    #[error("mqtt: {0}")]
    Mqtt(String),

    /// A spreadsheet export could not be written.
    #[error("spreadsheet: {0}")]
    Spreadsheet(#[from] rust_xlsxwriter::XlsxError),
}

impl Error {
    /// Whether the operation may succeed if tried again: the database is unreachable, restarting,
    /// out of connections or busy. Such a failure must delay a case, never lose it.
    pub fn is_transient(&self) -> bool {
        let Self::Database(error) = self else {
            return false;
        };
        match error {
            sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::Tls(_) | sqlx::Error::Protocol(_) => true,
            sqlx::Error::Database(database) => database.code().is_some_and(|code| {
                // PostgreSQL: connection exceptions (08xxx), shutting down or starting (57P01..03),
                // too many connections (53300), serialization failure or deadlock (40001, 40P01);
                // SQLite: busy (5) or locked (6), and their extended codes (busy recovery 261, busy
                // snapshot 517 — a transaction that read and then wants to write —, busy timeout 773,
                // locked shared cache 262).
                code.starts_with("08")
                    || ["57P01", "57P02", "57P03", "53300", "40001", "40P01", "5", "6", "261", "262", "517", "773"]
                        .contains(&&*code)
            }),
            _ => false,
        }
    }
}

/// The alerting crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
