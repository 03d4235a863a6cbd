use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
};

use serde::Deserialize;

use crate::{Error, Result};

/// A detector's manifest (`models/*.toml`): where its weights are and how to feed and read it.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Model name, used in logs and metrics.
    pub name: String,
    /// ONNX file, relative to the manifest.
    pub file: PathBuf,
    /// Output layout.
    pub family: Family,
    /// How frames become the input tensor.
    pub input: InputSpec,
    /// Default score and NMS thresholds.
    #[serde(default)]
    pub thresholds: Thresholds,
    /// Class names in output order.
    pub classes: Vec<String>,
    /// Which classes stand for which case category (`illegal_parking`, `litter`, ...).
    #[serde(default)]
    pub categories: BTreeMap<String, CategoryClasses>,
    /// Directory of the manifest file; `file` is resolved against it.
    #[serde(skip)]
    pub base_dir: PathBuf,
}

/// Output layout of a detector (see [`crate::family`]).
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Family {
    /// YOLOX raw grid output `[B, N, 5 + C]` (`cx, cy, w, h` relative to grid cells at strides 8, 16,
    /// 32; objectness; class scores).
    Yolox,
    /// YOLOv5 / v7: `[B, N, 5 + C]` with boxes in pixels and objectness.
    Yolov5,
    /// YOLOv8 / YOLO11: `[B, 4 + C, N]`, no objectness.
    Yolov8,
    /// NMS-free exports (YOLOv10, RT-DETR style): `[B, N, 6]` of `x1, y1, x2, y2, score, class`.
    End2end,
}

impl Family {
    /// Whether the model's output still needs non-maximum suppression.
    pub const fn needs_nms(self) -> bool {
        !matches!(self, Self::End2end)
    }
}

/// Channel order the model expects.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ChannelOrder {
    /// Red, green, blue.
    #[default]
    Rgb,
    /// Blue, green, red (OpenCV-trained models such as YOLOX).
    Bgr,
}

/// How a frame is fitted into the input size.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ResizeMode {
    /// Keep the aspect ratio, place the image at the top-left, pad the rest with `pad_value`.
    #[default]
    Letterbox,
    /// Stretch to the input size.
    Stretch,
}

/// The model input: size, channel order and normalisation `(pixel * scale - mean) / std`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputSpec {
    /// Input width in pixels.
    pub width: u32,
    /// Input height in pixels.
    pub height: u32,
    /// Channel order.
    #[serde(default)]
    pub channels: ChannelOrder,
    /// Letterbox or stretch.
    #[serde(default)]
    pub resize: ResizeMode,
    /// Pixel value (0..=255) of the letterbox padding.
    #[serde(default = "default_pad_value")]
    pub pad_value: u8,
    /// Factor applied to 0..=255 pixel values (1/255 for models trained on 0..1).
    #[serde(default = "default_scale")]
    pub scale: f32,
    /// Per-channel mean subtracted after scaling, in the model's channel order.
    #[serde(default)]
    pub mean: [f32; 3],
    /// Per-channel standard deviation divided by, in the model's channel order.
    #[serde(default = "default_std")]
    pub std: [f32; 3],
}

const fn default_pad_value() -> u8 {
    114
}
const fn default_scale() -> f32 {
    1.0
}
const fn default_std() -> [f32; 3] {
    [1.0; 3]
}

/// Score and NMS thresholds.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Thresholds {
    /// Detections scoring below this are dropped (0..=1).
    #[serde(default = "default_confidence")]
    pub confidence: f32,
    /// IoU above which a lower-scoring box of the same class is suppressed (0..=1).
    #[serde(default = "default_nms")]
    pub nms: f32,
    /// Score thresholds of single classes, overriding `confidence` (`per_class = { car = 0.4 }`).
    #[serde(default)]
    pub per_class: BTreeMap<String, f32>,
}

const fn default_confidence() -> f32 {
    0.25
}
const fn default_nms() -> f32 {
    0.45
}

impl Default for Thresholds {
    fn default() -> Self {
        Self { confidence: default_confidence(), nms: default_nms(), per_class: BTreeMap::new() }
    }
}

/// The classes that stand for one case category.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CategoryClasses {
    /// Class names (from `classes`).
    pub classes: Vec<String>,
    /// `true` when the classes only stand in for the category (COCO `bottle` for litter) rather than
    /// being trained for it.
    #[serde(default)]
    pub proxy: bool,
}

impl Manifest {
    /// Reads and checks a manifest; errors name the file and the key.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::ManifestRead { path: path.into(), source })?;
        let mut manifest = Self::parse(&text, path)?;
        manifest.base_dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        Ok(manifest)
    }

    /// Parses and checks manifest text; `path` only names the source in errors.
    pub fn parse(text: &str, path: &Path) -> Result<Self> {
        let manifest: Self = parse_toml(text, path)?;
        manifest.check(path)?;
        Ok(manifest)
    }

    /// The ONNX file's path.
    pub fn model_path(&self) -> PathBuf {
        self.base_dir.join(&self.file)
    }

    /// Index of a class name.
    pub fn class_index(&self, name: &str) -> Option<usize> {
        self.classes.iter().position(|class| class == name)
    }

    /// The score threshold of every class: `per_class` where given, else `confidence`.
    pub fn class_thresholds(&self, confidence: f32) -> Vec<f32> {
        self.classes.iter().map(|class| self.thresholds.per_class.get(class).copied().unwrap_or(confidence)).collect()
    }

    /// The classes that stand for `category` (empty when the manifest maps none).
    pub fn category_classes(&self, category: &str) -> &[String] {
        self.categories.get(category).map(|c| c.classes.as_slice()).unwrap_or_default()
    }

    fn check(&self, path: &Path) -> Result<()> {
        let fail =
            |key: &str, message: String| Err(Error::ManifestValue { path: path.into(), key: key.into(), message });
        if self.input.width == 0 || self.input.height == 0 {
            return fail("input", format!("size {}x{} must be positive", self.input.width, self.input.height));
        }
        if !self.input.width.is_multiple_of(32) || !self.input.height.is_multiple_of(32) {
            return fail("input", "width and height must be multiples of 32 (the largest stride)".into());
        }
        if let Some(i) = self.input.std.iter().position(|s| *s == 0.0) {
            return fail(&format!("input.std[{i}]"), "must not be 0".into());
        }
        for (key, value) in
            [("thresholds.confidence", self.thresholds.confidence), ("thresholds.nms", self.thresholds.nms)]
        {
            if !(0.0..=1.0).contains(&value) {
                return fail(key, format!("{value} is outside 0..=1"));
            }
        }
        for (class, value) in &self.thresholds.per_class {
            let key = format!("thresholds.per_class.{class}");
            if self.class_index(class).is_none() {
                return fail(&key, format!("'{class}' is not in `classes`"));
            }
            if !(0.0..=1.0).contains(value) {
                return fail(&key, format!("{value} is outside 0..=1"));
            }
        }
        if self.classes.is_empty() {
            return fail("classes", "at least one class is needed".into());
        }
        for (category, classes) in &self.categories {
            for (i, class) in classes.classes.iter().enumerate() {
                if self.class_index(class).is_none() {
                    return fail(
                        &format!("categories.{category}.classes[{i}]"),
                        format!("'{class}' is not in `classes`"),
                    );
                }
            }
        }
        Ok(())
    }
}

/// Deserialises TOML text; errors name `path` and the key (`a.b[2]`) that is wrong.
pub(crate) fn parse_toml<T: serde::de::DeserializeOwned>(text: &str, path: &Path) -> Result<T> {
    let deserializer = toml::Deserializer::parse(text).map_err(|err| Error::ManifestParse {
        path: path.into(),
        key: "(document)".into(),
        message: err.to_string(),
    })?;
    serde_path_to_error::deserialize(deserializer).map_err(|err| Error::ManifestParse {
        path: path.into(),
        key: err.path().to_string(),
        message: err.inner().message().to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
        name = "tiny"
        file = "tiny.onnx"
        family = "yolox"
        classes = ["person", "car"]
        [input]
        width = 64
        height = 32
        channels = "bgr"
        [categories.illegal_parking]
        classes = ["car"]
    "#;

    #[test]
    fn a_good_manifest_loads_with_defaults() {
        let manifest = Manifest::parse(GOOD, Path::new("tiny.toml")).unwrap();
        assert_eq!(manifest.input.pad_value, 114);
        assert_eq!(manifest.thresholds.confidence, 0.25);
        assert_eq!(manifest.class_index("car"), Some(1));
        assert!(!manifest.categories["illegal_parking"].proxy);
        assert_eq!(manifest.category_classes("illegal_parking"), ["car"]);
        assert!(manifest.category_classes("litter").is_empty());
    }

    #[test]
    fn per_class_thresholds_override_the_default() {
        let text = GOOD.replace("[input]", "[thresholds]\nper_class = { car = 0.6 }\n[input]");
        let manifest = Manifest::parse(&text, Path::new("tiny.toml")).unwrap();
        assert_eq!(manifest.class_thresholds(0.3), vec![0.3, 0.6]);
        let unknown = GOOD.replace("[input]", "[thresholds]\nper_class = { lorry = 0.6 }\n[input]");
        let err = Manifest::parse(&unknown, Path::new("tiny.toml")).unwrap_err().to_string();
        assert!(err.contains("thresholds.per_class.lorry"), "{err}");
    }

    #[test]
    fn errors_name_the_key() {
        let wrong_type = GOOD.replace("width = 64", "width = \"wide\"");
        let err = Manifest::parse(&wrong_type, Path::new("m.toml")).unwrap_err().to_string();
        assert!(err.contains("input.width"), "{err}");

        let unknown = GOOD.replace("channels = \"bgr\"", "chanels = \"bgr\"");
        let err = Manifest::parse(&unknown, Path::new("m.toml")).unwrap_err().to_string();
        assert!(err.contains("input") && err.contains("chanels"), "{err}");

        let bad_class = GOOD.replace("classes = [\"car\"]", "classes = [\"lorry\"]");
        let err = Manifest::parse(&bad_class, Path::new("m.toml")).unwrap_err().to_string();
        assert!(err.contains("categories.illegal_parking.classes[0]") && err.contains("lorry"), "{err}");
    }
}
