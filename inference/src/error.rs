use std::path::PathBuf;

/// Errors of the inference stage. Each names the model, manifest key or file it concerns.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A manifest could not be read.
    #[error("cannot read manifest '{path}': {source}")]
    ManifestRead { path: PathBuf, source: std::io::Error },

    /// A manifest is not valid TOML or a key has the wrong type.
    #[error("manifest '{path}': {key}: {message}")]
    ManifestParse { path: PathBuf, key: String, message: String },

    /// A manifest key has a value outside its range.
    #[error("manifest '{path}': {key}: {message}")]
    ManifestValue { path: PathBuf, key: String, message: String },

    /// ONNX Runtime's library could not be found or loaded.
    #[error("cannot load ONNX Runtime: {0}")]
    Runtime(String),

    /// The model file is missing or ONNX Runtime cannot read it.
    #[error("model {model}: cannot load '{path}': {reason}")]
    ModelFile { model: String, path: PathBuf, reason: String },

    /// ONNX Runtime refused a run.
    #[error("model {model}: {source}")]
    Ort { model: String, source: ort::Error },

    /// The model's inputs or outputs do not match its manifest.
    #[error("model {model}: {what}: the manifest expects {expected}, the model has {actual}")]
    ShapeMismatch { model: String, what: String, expected: String, actual: String },

    /// An image file could not be read or decoded.
    #[error("cannot read image '{path}': {source}")]
    Image { path: PathBuf, source: image::ImageError },

    /// A frame could not be resized into the model's input.
    #[error("model {model}: cannot resize a {width}x{height} frame: {reason}")]
    Resize { model: String, width: u32, height: u32, reason: String },
}

/// The inference crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
