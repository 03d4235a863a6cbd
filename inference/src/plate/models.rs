//! The plate reader's two model manifests (`models/plate_det.toml`, `models/plate_rec.toml`): where the
//! PP-OCRv6 weights are and how to feed and read them.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::{ChannelOrder, Error, Result, manifest::parse_toml};

/// The text detector's manifest (a DB model: image in, per-pixel text probability out).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TextDetectorManifest {
    /// Model name, used in logs and errors.
    pub name: String,
    /// ONNX file, relative to the manifest.
    pub file: PathBuf,
    /// Channel order the model was trained on.
    pub channels: ChannelOrder,
    /// Per-channel mean subtracted after scaling to 0..1, in the model's channel order.
    pub mean: [f32; 3],
    /// Per-channel standard deviation, in the model's channel order.
    pub std: [f32; 3],
    /// Images whose short side is below this are scaled up to it ...
    pub short_side: u32,
    /// ... but by this factor at most.
    pub max_upscale: f32,
    /// Both input sides are rounded to a multiple of this.
    pub multiple: u32,
    /// Pixels whose probability exceeds this are text.
    pub binary_threshold: f32,
    /// A region is kept when its mean probability reaches this.
    pub box_threshold: f32,
    /// A region's rectangle grows by `area × unclip_ratio / perimeter` on every side.
    pub unclip_ratio: f32,
    /// Directory of the manifest file.
    #[serde(skip)]
    pub base_dir: PathBuf,
}

/// The text recogniser's manifest (a CTC model: a text line in, per-column character probabilities out).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecogniserManifest {
    /// Model name, used in logs and errors.
    pub name: String,
    /// ONNX file, relative to the manifest.
    pub file: PathBuf,
    /// The character list, one per line, relative to the manifest; output index `i` is line `i − 1`,
    /// index 0 the CTC blank and the last index a space.
    pub dictionary: PathBuf,
    /// Channel order the model was trained on.
    pub channels: ChannelOrder,
    /// Input height; a line is scaled to it, its aspect kept.
    pub height: u32,
    /// Narrower lines are padded (with zeros, after normalisation) to this width.
    pub min_width: u32,
    /// Wider lines are squeezed to this width.
    pub max_width: u32,
    /// Per-channel mean subtracted after scaling to 0..1.
    pub mean: [f32; 3],
    /// Per-channel standard deviation.
    pub std: [f32; 3],
    /// Directory of the manifest file.
    #[serde(skip)]
    pub base_dir: PathBuf,
}

fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|source| Error::ManifestRead { path: path.into(), source })
}

fn positive(path: &Path, key: &str, value: f32) -> Result<()> {
    if value > 0.0 && value.is_finite() {
        Ok(())
    } else {
        Err(Error::ManifestValue { path: path.into(), key: key.into(), message: format!("{value} must be above 0") })
    }
}

impl TextDetectorManifest {
    /// Reads and checks the manifest at `path`.
    pub fn load(path: &Path) -> Result<Self> {
        let mut manifest: Self = parse_toml(&read(path)?, path)?;
        manifest.base_dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        for (key, value) in [("std", manifest.std), ("mean", [1.0; 3])] {
            for v in value {
                positive(path, key, v)?;
            }
        }
        positive(path, "short_side", manifest.short_side as f32)?;
        if !(manifest.max_upscale >= 1.0 && manifest.max_upscale.is_finite()) {
            return Err(Error::ManifestValue {
                path: path.into(),
                key: "max_upscale".into(),
                message: format!("{} must be at least 1", manifest.max_upscale),
            });
        }
        positive(path, "multiple", manifest.multiple as f32)?;
        positive(path, "unclip_ratio", manifest.unclip_ratio)?;
        for (key, value) in [("binary_threshold", manifest.binary_threshold), ("box_threshold", manifest.box_threshold)]
        {
            if !(0.0..1.0).contains(&value) {
                return Err(Error::ManifestValue {
                    path: path.into(),
                    key: key.into(),
                    message: format!("{value} is outside 0..1"),
                });
            }
        }
        Ok(manifest)
    }

    /// The ONNX file's path.
    pub fn model_path(&self) -> PathBuf {
        self.base_dir.join(&self.file)
    }
}

impl RecogniserManifest {
    /// Reads and checks the manifest at `path`.
    pub fn load(path: &Path) -> Result<Self> {
        let mut manifest: Self = parse_toml(&read(path)?, path)?;
        manifest.base_dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        for v in manifest.std {
            positive(path, "std", v)?;
        }
        positive(path, "height", manifest.height as f32)?;
        positive(path, "min_width", manifest.min_width as f32)?;
        if manifest.max_width < manifest.min_width {
            return Err(Error::ManifestValue {
                path: path.into(),
                key: "max_width".into(),
                message: format!("{} is below min_width {}", manifest.max_width, manifest.min_width),
            });
        }
        Ok(manifest)
    }

    /// The ONNX file's path.
    pub fn model_path(&self) -> PathBuf {
        self.base_dir.join(&self.file)
    }

    /// Reads the dictionary: the characters of output indices `1..=n`.
    pub fn load_dictionary(&self) -> Result<Vec<String>> {
        let path = self.base_dir.join(&self.dictionary);
        let text = read(&path)?;
        let characters: Vec<String> = text.lines().map(str::to_owned).collect();
        if characters.is_empty() {
            return Err(Error::ManifestValue { path, key: "dictionary".into(), message: "the file is empty".into() });
        }
        Ok(characters)
    }
}
